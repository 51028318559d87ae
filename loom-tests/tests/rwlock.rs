//! Loom models of `weftwork::RwLock`.
//!
//! Mutations used to prove the models can fail (applied to a copy of
//! `src/`, never to the real one; `*` = caught only by a hang/timeout):
//! M1 `with_list` store `Release`→`Relaxed` · M2 `Acquire::cancel` keeps
//! handed permits · M3 `release` does not wake granted waiters · M4 `release`
//! grants without unlinking · M5 write-guard drop keeps the slot · M6
//! `try_acquire` CAS `Acquire`→`Relaxed` · M7 `release` fast-path CAS
//! `Release`→`Relaxed` · M8 `close` does not wake · M9 enqueue does not set
//! `WAITERS` · M11 LIFO queue · M13 write `downgrade` keeps the slot · M14
//! `upgrade` waits for all read permits · M15 write-future drop keeps a held
//! slot · M18 `release` adds `n`, not the remainder · M19 closed waiter's
//! partial permits lost · M20 writer leaves one read permit · M21 shim uses
//! `core` atomics/cells under `cfg(loom)` · M22 mapped-guard drop does not
//! unlock · M26 read-guard drop does not release · M27 internal `lock()` CAS
//! `Acquire`→`Relaxed` · M28 upgradable `downgrade` keeps the slot · M29
//! `unlock_one` does not wake · M30 `cancel` does not pass a freed lock on ·
//! M31 `unlock_one` fast-path CAS `Release`→`Relaxed` · M32 `unlock_one`
//! never hands off · M33 an upgrade does not take over the permits of the
//! writer queued at the head (steals none).
//!
//! | model                              | mutations it catches |
//! |------------------------------------|----------------------|
//! | readers_writer_exclusion           | M1, M3, M4, M6, M7, M9, M18, M20, M21, M26, M27 |
//! | writer_waits_for_readers           | M1, M3, M6, M7, M9, M18, M20, M21, M26, M27 |
//! | upgrade_racing_reader              | M1, M3, M4, M5, M6, M7, M9, M14, M18, M21, M26, M27 |
//! | downgrade_racing_waiters           | M1, M3, M6, M7, M9, M13, M18, M20, M21, M26, M27, M4* |
//! | write_future_dropped_holding_slot  | M1, M2, M15, M18, M20, M26, M27 |
//! | read_future_dropped_after_handoff  | M1, M2, M3, M4, M5, M9, M18, M20, M27 |
//! | upgradable_downgrade_racing_writer | M1, M3, M6, M7, M9, M18, M20, M21, M26, M27, M28 |
//! | upgrade_overtakes_queued_writer    | M33 (others not run) |
//! | upgrade_racing_writer_and_reader   | M33 (others not run) |
#![cfg(loom)]

use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;
use weftwork::RwLock;
use weftwork::sync::{RwLockUpgradableReadGuard, RwLockWriteGuard};
use weftwork_loom_tests::{Tracked, counting_waker, model, model_bounded, poll_once};

/// A writer and a reader on two threads, the value in a loom-tracked cell:
/// the reader sees the value before or after the write, never during it
/// (loom would report the overlap as a data race).
#[test]
fn readers_writer_exclusion() {
    model(|| {
        let lock = Arc::new(RwLock::new(Tracked::new(0)));
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.write_blocking().incr())
        };
        let seen = lock.read_blocking().get();
        assert!(seen <= 1);
        writer.join().unwrap();
        assert_eq!(lock.try_read().unwrap().get(), 1);
    });
}

/// A writer arriving while a reader holds the lock waits for it, then gets
/// in (and is woken: a lost wake-up deadlocks `write_blocking`).
#[test]
fn writer_waits_for_readers() {
    model(|| {
        let lock = StdArc::new(RwLock::new(Tracked::new(0)));
        let read = lock.try_read_arc().unwrap();
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.write_blocking().incr())
        };
        assert_eq!(
            read.get(),
            0,
            "the writer got in while a reader held the lock"
        );
        drop(read);
        writer.join().unwrap();
        assert_eq!(lock.try_read().unwrap().get(), 1);
    });
}

/// An upgradable reader upgrades while a plain reader comes and goes on
/// another thread: the upgrade waits for that reader, and the reader never
/// overlaps the upgraded write.
#[test]
fn upgrade_racing_reader() {
    model(|| {
        let lock = Arc::new(RwLock::new(Tracked::new(0)));
        let up = lock.try_upgradable_read().unwrap();
        let reader = {
            let lock = lock.clone();
            thread::spawn(move || assert!(lock.read_blocking().get() <= 1))
        };
        assert_eq!(up.get(), 0);
        let w = block_on(RwLockUpgradableReadGuard::upgrade(up));
        w.incr();
        drop(w);
        reader.join().unwrap();
        assert!(lock.try_write().is_some());
        assert_eq!(lock.try_read().unwrap().get(), 1);
    });
}

/// A writer downgrades while a reader future (queued first) and a writer
/// thread (queued for the slot) wait: the reader is let in at once, the
/// writer only after every reader is gone.
#[test]
fn downgrade_racing_waiters() {
    model_bounded(2, || {
        let lock = Arc::new(RwLock::new(Tracked::new(0)));
        let w = lock.try_write().unwrap();
        let (waker, wakes) = counting_waker();
        let mut read = pin!(lock.read());
        assert!(poll_once(read.as_mut(), &waker).is_pending());
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.write_blocking().incr())
        };
        w.incr();
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(
            wakes.get(),
            1,
            "the queued reader was not woken by the downgrade"
        );
        let r2 = match poll_once(read.as_mut(), &waker) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("a reader waits although the lock is only read-held"),
        };
        assert_eq!((r.get(), r2.get()), (1, 1));
        drop(r);
        drop(r2);
        writer.join().unwrap();
        assert_eq!(lock.try_read().unwrap().get(), 2);
    });
}

/// A write future that holds the writer slot and was handed some of the
/// read permits is dropped while its last reader leaves (on another
/// thread): nothing leaks, `try_write` succeeds afterwards.
#[test]
fn write_future_dropped_holding_slot() {
    model(|| {
        let lock = StdArc::new(RwLock::new(Tracked::new(0)));
        let read = lock.try_read_arc().unwrap();
        let (waker, _) = counting_waker();
        let mut write = Box::pin(lock.write());
        assert!(poll_once(write.as_mut(), &waker).is_pending());
        assert!(lock.try_upgradable_read().is_none(), "the slot is taken");
        let reader = thread::spawn(move || drop(read));
        drop(write); // before or after the reader left
        reader.join().unwrap();
        let w = lock.try_write().expect("the dropped write future leaked");
        w.incr();
    });
}

/// A read future is handed its permit by a writer unlocking on another
/// thread and dropped without being polled: the permit comes back, so a
/// queued writer behind it is woken and gets in.
#[test]
fn read_future_dropped_after_handoff() {
    model(|| {
        let lock = StdArc::new(RwLock::new(Tracked::new(0)));
        let w = lock.try_write_arc().unwrap();
        let (rw, _) = counting_waker();
        let (ww, wwakes) = counting_waker();
        let mut read = Box::pin(lock.read());
        let mut write = pin!(lock.write());
        assert!(poll_once(read.as_mut(), &rw).is_pending());
        assert!(poll_once(write.as_mut(), &ww).is_pending());
        let unlocker = thread::spawn(move || drop(w));
        drop(read); // before or after it was handed a read permit
        unlocker.join().unwrap();
        assert_eq!(wwakes.get(), 1, "the queued writer was not woken");
        match poll_once(write.as_mut(), &ww) {
            Poll::Ready(g) => g.incr(),
            Poll::Pending => panic!("the dropped read future leaked its permit"),
        }
        assert_eq!(lock.try_read().unwrap().get(), 1);
    });
}

/// An upgradable reader downgrades to a plain reader while a writer waits
/// on another thread: the downgrade frees the upgradable slot, so the
/// writer gets in once the read guard is gone, and never before.
#[test]
fn upgradable_downgrade_racing_writer() {
    model(|| {
        let lock = Arc::new(RwLock::new(Tracked::new(0)));
        let up = lock.try_upgradable_read().unwrap();
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.write_blocking().incr())
        };
        let read = RwLockUpgradableReadGuard::downgrade(up);
        assert_eq!(
            read.get(),
            0,
            "the writer got in while a reader held the lock"
        );
        drop(read);
        writer.join().unwrap();
        assert_eq!(lock.try_read().unwrap().get(), 1);
    });
}

/// An upgrade while a writer waits (queued, holding the read permits freed
/// so far) and the last plain reader leaves on another thread: the upgrade
/// takes over the writer's permits and completes (no deadlock: the writer
/// waits for the upgradable reader), the writer is woken after it.
#[test]
fn upgrade_overtakes_queued_writer() {
    model(|| {
        let lock = StdArc::new(RwLock::new(Tracked::new(0)));
        let up = lock.try_upgradable_read().unwrap();
        let read = lock.try_read_arc().unwrap();
        let (ww, wwakes) = counting_waker();
        let mut write = pin!(lock.write());
        assert!(poll_once(write.as_mut(), &ww).is_pending());
        let reader = thread::spawn(move || drop(read));
        let w = block_on(RwLockUpgradableReadGuard::upgrade(up));
        w.incr();
        drop(w);
        reader.join().unwrap();
        assert_eq!(wwakes.get(), 1, "the queued writer was not woken");
        match poll_once(write.as_mut(), &ww) {
            Poll::Ready(g) => g.incr(),
            Poll::Pending => panic!("the writer waits on a free lock"),
        }
        assert_eq!(lock.try_read().unwrap().get(), 2);
    });
}

/// The same with the writer on a thread of its own, queueing while the
/// upgrade waits or after it queued: both get in, one after the other.
/// (Bound 1 keeps it near 8 k executions; at bound 2 it passes too, in
/// about 480 k.)
#[test]
fn upgrade_racing_writer_and_reader() {
    model_bounded(1, || {
        let lock = StdArc::new(RwLock::new(Tracked::new(0)));
        let up = lock.try_upgradable_read().unwrap();
        let read = lock.try_read_arc().unwrap();
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.write_blocking().incr())
        };
        let reader = thread::spawn(move || drop(read));
        let w = block_on(RwLockUpgradableReadGuard::upgrade(up));
        w.incr();
        drop(w);
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(lock.try_read().unwrap().get(), 2);
    });
}
