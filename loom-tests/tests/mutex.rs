//! Loom models of `weftwork::Mutex`.
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
//! M31 `unlock_one` fast-path `Release`→`Relaxed` · M34 `try_acquire`
//! ignores `HANDOFF` · M35 `HANDOFF` never set · M37 `HANDOFF` kept when
//! the head changes · M54 `unlock_one` frees the permit with a `fetch_add`
//! before it takes the list lock to count the bypass (the unlock before
//! session 19). (M9 is now "`with_list` does not set `WAITERS`". M29 is now
//! "`bypass_head` takes the head's waker but does not wake it". M33 and M36
//! were about an unlock's add made while `LOCKED` was set; no unlock adds
//! blindly any more. M2 and M3 no longer reach the mutex, which never hands
//! permits over; the semaphore and rwlock models cover them. Session 19
//! re-ran M1, M29, M31, M34, M35, M37 and M54 on every model.)
//!
//! | model                             | mutations it catches |
//! |-----------------------------------|----------------------|
//! | mutual_exclusion                  | M6, M9, M21, M27, M29, M31 |
//! | no_lost_wakeup                    | M1, M6, M9, M21, M27, M29, M31, M37 |
//! | lock_future_dropped_after_wakeup  | M9, M29, M30, M27* |
//! | lock_future_dropped_after_handoff | M29, M30, M37, M27* |
//! | try_lock_racing_unlock            | M6, M21, M31 |
//! | lock_arc_across_threads           | M6, M9, M21, M27, M29, M31 |
//! | mapped_guard_drop                 | M6, M9, M21, M22, M27, M29, M31 |
//! | barging_is_bounded                | M9, M29, M34, M35, M37, M54 |
//! | unlock_racing_enqueue             | M29, M31 |
#![cfg(loom)]

use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;
use weftwork::{Mutex, MutexGuard};
use weftwork_loom_tests::{Tracked, counting_waker, model, model_bounded, poll_once};

/// Two threads increment a loom-tracked cell inside the mutex: loom fails
/// the model with a data race unless unlock → lock is a happens-before
/// edge, on the fast path and on the hand-off to a queued waiter alike.
#[test]
fn mutual_exclusion() {
    model(|| {
        let m = Arc::new(Mutex::new(Tracked::new(0)));
        let other = {
            let m = m.clone();
            thread::spawn(move || m.lock_blocking().incr())
        };
        m.lock_blocking().incr();
        other.join().unwrap();
        assert_eq!(m.try_lock().unwrap().get(), 2);
    });
}

/// Three threads: the first holds the lock while the other two queue for
/// it with `lock().await`; every waiter must be woken (a lost wake-up
/// parks a `block_on` forever: loom reports a deadlock).
#[test]
fn no_lost_wakeup() {
    model_bounded(2, || {
        let m = StdArc::new(Mutex::new(Tracked::new(0)));
        let guard = m.try_lock_arc().unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || block_on(m.lock()).incr())
            })
            .collect();
        guard.incr();
        drop(guard);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(m.try_lock().unwrap().get(), 3);
    });
}

/// A lock future is woken by an unlock that leaves the lock free for it
/// (a bypass) and is dropped without being polled, racing that unlock on
/// another thread: the next queued future must hear that the lock is free.
#[test]
fn lock_future_dropped_after_wakeup() {
    model(|| {
        let m = StdArc::new(Mutex::new(Tracked::new(0)));
        let guard = m.try_lock_arc().unwrap();
        let (w1, _) = counting_waker();
        let (w2, wakes2) = counting_waker();
        let mut first = Box::pin(m.lock());
        let mut second = pin!(m.lock());
        assert!(poll_once(first.as_mut(), &w1).is_pending());
        assert!(poll_once(second.as_mut(), &w2).is_pending());
        let unlocker = thread::spawn(move || drop(guard));
        drop(first); // before or after it was woken
        unlocker.join().unwrap();
        assert_eq!(wakes2.get(), 1, "the next waiter was not woken");
        match poll_once(second.as_mut(), &w2) {
            Poll::Ready(g) => g.incr(),
            Poll::Pending => panic!("the lock was not passed on"),
        }
        assert!(m.try_lock().is_some());
    });
}

/// A lock future that was already bypassed `MAX_BYPASS − 1` times has the
/// lock *kept* for it by an unlock on another thread, racing its own drop:
/// the lock goes to the next queued future.
#[test]
fn lock_future_dropped_after_handoff() {
    model(|| {
        let m = StdArc::new(Mutex::new(Tracked::new(0)));
        let (w1, _) = counting_waker();
        let (w2, wakes2) = counting_waker();
        let mut first = Box::pin(m.lock());
        let mut second = pin!(m.lock());
        let mut guard = m.try_lock_arc().unwrap();
        assert!(poll_once(first.as_mut(), &w1).is_pending());
        assert!(poll_once(second.as_mut(), &w2).is_pending());
        // Barge until the next unlock must hand the lock to `first`.
        for _ in 1..Mutex::<()>::MAX_BYPASS {
            drop(guard);
            guard = m
                .try_lock_arc()
                .expect("a bypassing unlock leaves the lock free");
        }
        let unlocker = thread::spawn(move || drop(guard)); // keeps it for `first`
        drop(first); // before or after the lock was kept for it
        unlocker.join().unwrap();
        assert!(wakes2.get() >= 1, "the next waiter was not woken");
        match poll_once(second.as_mut(), &w2) {
            Poll::Ready(g) => g.incr(),
            Poll::Pending => panic!("the lock was not passed on"),
        }
        assert!(m.try_lock().is_some());
    });
}

/// `try_lock` on one thread races the holder's writes and unlock on
/// another: when it succeeds it must see those writes (the fast-path
/// unlock's `Release` pairs with `try_lock`'s `Acquire`).
#[test]
fn try_lock_racing_unlock() {
    model(|| {
        let m = Arc::new(Mutex::new(Tracked::new(0)));
        let guard = m.try_lock().unwrap();
        let other = {
            let m = m.clone();
            thread::spawn(move || {
                if let Some(g) = m.try_lock() {
                    assert_eq!(g.get(), 1, "try_lock got the lock before the unlock");
                    g.incr();
                }
            })
        };
        guard.incr();
        drop(guard);
        other.join().unwrap();
        let v = m.try_lock().unwrap().get();
        assert!(v == 1 || v == 2);
    });
}

/// `lock_arc` guards are `'static`: one is taken on a thread and dropped on
/// another (main), whose unlock hands the lock to a third thread waiting in
/// `lock_arc().await`.
#[test]
fn lock_arc_across_threads() {
    model(|| {
        let m = StdArc::new(Mutex::new(Tracked::new(0)));
        let taker = {
            let m = m.clone();
            thread::spawn(move || {
                let g = block_on(m.lock_arc());
                g.incr();
                g
            })
        };
        let waiter = {
            let m = m.clone();
            thread::spawn(move || block_on(m.lock_arc()).incr())
        };
        let g = taker.join().unwrap();
        assert!(StdArc::ptr_eq(g.source(), &m));
        drop(g); // unlocks on a thread other than the one that locked
        waiter.join().unwrap();
        assert_eq!(m.try_lock().unwrap().get(), 2);
    });
}

/// A `MappedMutexGuard` holds the lock until it is dropped, and its drop
/// unlocks (waking a queued thread) with the right ordering.
#[test]
fn mapped_guard_drop() {
    model(|| {
        let m = Arc::new(Mutex::new([Tracked::new(0), Tracked::new(0)]));
        let other = {
            let m = m.clone();
            thread::spawn(move || {
                let g = m.lock_blocking();
                g[1].incr();
            })
        };
        let mapped = MutexGuard::map(m.lock_blocking(), |pair| &mut pair[1]);
        mapped.incr();
        drop(mapped);
        other.join().unwrap();
        let g = m.try_lock().expect("the mapped guard leaked the lock");
        assert_eq!((g[0].get(), g[1].get()), (0, 2));
    });
}

/// Barging is bounded exactly, also when the unlock races the barger: a
/// queued waiter is overtaken fewer than `Mutex::MAX_BYPASS` times (2 under
/// loom). The first unlock frees the lock for a newcomer; the second races
/// a barging `try_lock` on another thread, which must lose at every point
/// of that unlock: `HANDOFF` keeps the lock for the waiter, set in the same
/// store that frees it. (The unlocks run on the main thread so that each
/// window costs loom one preemption.)
#[test]
fn barging_is_bounded() {
    assert_eq!(Mutex::<()>::MAX_BYPASS, 2, "the model counts two bypasses");
    model(|| {
        let m = StdArc::new(Mutex::new(Tracked::new(0)));
        let guard = m.try_lock_arc().unwrap();
        let (waker, wakes) = counting_waker();
        let mut waiter = pin!(m.lock());
        assert!(poll_once(waiter.as_mut(), &waker).is_pending());
        drop(guard); // bypass 1: free for anyone
        let guard = m.try_lock_arc().expect("the first unlock leaves it free");
        guard.incr();
        let barger = {
            let m = m.clone();
            thread::spawn(move || m.try_lock_arc().is_none())
        };
        drop(guard); // bypass 2: kept for the waiter, racing the barger
        let lost = barger.join().unwrap();
        assert!(lost, "the waiter was overtaken MAX_BYPASS times");
        assert!(m.try_lock().is_none(), "the lock was not kept");
        assert!(wakes.get() >= 1);
        match poll_once(waiter.as_mut(), &waker) {
            Poll::Ready(g) => g.incr(),
            Poll::Pending => panic!("the lock was not handed over"),
        }
        assert_eq!(m.try_lock().unwrap().get(), 2);
    });
}

/// An unlock races a `lock()` that is queueing (holding the list's lock
/// bit): the unlock's permit must not be lost to the queueing thread's
/// publish, and the queued waiter must be woken.
#[test]
fn unlock_racing_enqueue() {
    model(|| {
        let m = StdArc::new(Mutex::new(Tracked::new(0)));
        let guard = m.try_lock_arc().unwrap();
        let locker = {
            let m = m.clone();
            thread::spawn(move || block_on(m.lock()).incr())
        };
        guard.incr();
        drop(guard);
        locker.join().unwrap();
        assert_eq!(m.try_lock().expect("the permit was lost").get(), 2);
    });
}
