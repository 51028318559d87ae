//! Public-API tests of `weftwork::RwLock`.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use weftwork::RwLock;
use weftwork::sync::{
    Read, ReadArc, RwLockReadGuard, RwLockReadGuardArc, RwLockUpgradableReadGuard,
    RwLockUpgradableReadGuardArc, RwLockWriteGuard, RwLockWriteGuardArc, UpgradableRead,
    UpgradableReadArc, Upgrade, UpgradeArc, Write, WriteArc,
};

// ---------------------------------------------------------------- basics

#[test]
fn read_write_on_all_executors() {
    on_all_executors(|_| async {
        let lock = RwLock::new(5);
        {
            let r1 = lock.read().await;
            let r2 = lock.read().await;
            assert_eq!(*r1 + *r2, 10);
            assert!(lock.try_write().is_none());
            assert!(lock.try_read().is_some());
        }
        {
            let mut w = lock.write().await;
            *w += 1;
            assert!(lock.try_read().is_none());
            assert!(lock.try_write().is_none());
            assert!(lock.try_upgradable_read().is_none());
        }
        assert_eq!(*lock.read().await, 6);
        assert_eq!(lock.into_inner(), 6);
    });
}

#[test]
fn upgradable_on_all_executors() {
    on_all_executors(|_| async {
        let lock = RwLock::new(1);
        let up = lock.upgradable_read().await;
        // Coexists with readers, excludes writers and other upgradables.
        let r = lock.read().await;
        assert_eq!(*up + *r, 2);
        assert!(lock.try_read().is_some());
        assert!(lock.try_upgradable_read().is_none());
        assert!(lock.try_write().is_none());
        // try_upgrade fails while a reader is there, gives the guard back.
        let up = RwLockUpgradableReadGuard::try_upgrade(up).unwrap_err();
        drop(r);
        let mut w = RwLockUpgradableReadGuard::upgrade(up).await;
        *w = 2;
        assert!(lock.try_read().is_none());
        // write → upgradable → write (try_upgrade) → read
        let up = RwLockWriteGuard::downgrade_to_upgradable(w);
        assert_eq!(*up, 2);
        assert!(lock.try_read().is_some());
        assert!(lock.try_upgradable_read().is_none());
        assert!(lock.try_write().is_none());
        let w = RwLockUpgradableReadGuard::try_upgrade(up).ok().unwrap();
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, 2);
        assert!(lock.try_read().is_some());
        assert!(lock.try_upgradable_read().is_some());
        assert!(lock.try_write().is_none());
        drop(r);
        // upgradable → read
        let up = lock.upgradable_read().await;
        let r = RwLockUpgradableReadGuard::downgrade(up);
        let up2 = lock.try_upgradable_read().unwrap();
        assert!(lock.try_write().is_none());
        drop((r, up2));
        assert!(lock.try_write().is_some());
    });
}

#[test]
fn arc_variants_on_all_executors() {
    on_all_executors(|ex| async move {
        let lock = Arc::new(RwLock::new(0u32));
        let r: RwLockReadGuardArc<u32> = lock.read_arc().await;
        let r2 = lock.try_read_arc().unwrap();
        assert!(lock.try_write_arc().is_none());
        ex.spawn(async move { drop(r) }).await;
        std::thread::spawn(move || assert_eq!(*r2, 0))
            .join()
            .unwrap();
        let mut w: RwLockWriteGuardArc<u32> = lock.write_arc().await;
        *w += 1;
        assert!(lock.try_read_arc().is_none());
        assert!(lock.try_upgradable_read_arc().is_none());
        drop(w);
        let w = lock.try_write_arc().unwrap();
        let up: RwLockUpgradableReadGuardArc<u32> = RwLockWriteGuardArc::downgrade_to_upgradable(w);
        let mut w = RwLockUpgradableReadGuardArc::upgrade(up).await;
        *w += 1;
        let r = RwLockWriteGuardArc::downgrade(w);
        assert_eq!(*r, 2);
        drop(r);
        let up = lock.upgradable_read_arc().await;
        assert!(lock.try_upgradable_read_arc().is_none());
        let up = ex
            .spawn(async move {
                let w = RwLockUpgradableReadGuardArc::try_upgrade(up).ok().unwrap();
                drop(RwLockWriteGuardArc::downgrade_to_upgradable(w));
            })
            .await;
        let () = up;
        let up = lock.try_upgradable_read_arc().unwrap();
        let r = RwLockUpgradableReadGuardArc::downgrade(up);
        assert_eq!(*r, 2);
        drop(r);
        assert_eq!(Arc::strong_count(&lock), 1, "guards released their Arc");
    });
}

#[test]
fn get_mut_into_inner_default_from_unsized() {
    let mut lock = RwLock::new(vec![1]);
    lock.get_mut().push(2);
    assert_eq!(*lock.try_read().unwrap(), [1, 2]);
    assert_eq!(lock.into_inner(), [1, 2]);
    let d: RwLock<String> = RwLock::default();
    assert!(d.try_read().unwrap().is_empty());
    let f = RwLock::from(3);
    assert_eq!(*f.try_read().unwrap(), 3);
    let arr = RwLock::new([1u8, 2, 3]);
    let s: &RwLock<[u8]> = &arr;
    pollster::block_on(async {
        s.write().await[1] = 7;
        assert_eq!(&*s.read().await, &[1, 7, 3]);
    });
}

#[test]
fn debug() {
    let lock = RwLock::new(1);
    assert_eq!(format!("{lock:?}"), "RwLock { value: 1 }");
    let r = lock.try_read().unwrap();
    assert_eq!(format!("{lock:?}"), "RwLock { value: 1 }");
    assert_eq!(format!("{r:?}"), "1");
    drop(r);
    let w = lock.try_write().unwrap();
    assert_eq!(format!("{lock:?}"), "RwLock { value: <locked> }");
    assert_eq!(format!("{w:?}"), "1");
    drop(w);
    let up = lock.try_upgradable_read().unwrap();
    assert_eq!(format!("{up:?}"), "1");
    drop(up);
    assert_eq!(format!("{:?}", lock.read()), "ReadFuture { .. }");
    assert_eq!(format!("{:?}", lock.write()), "WriteFuture { .. }");
    assert_eq!(
        format!("{:?}", lock.upgradable_read()),
        "UpgradableReadFuture { .. }"
    );
    let up = lock.try_upgradable_read().unwrap();
    assert_eq!(
        format!("{:?}", RwLockUpgradableReadGuard::upgrade(up)),
        "UpgradeFuture { .. }"
    );
    assert!(lock.try_write().is_some(), "dropped upgrade released all");
}

#[test]
fn send_sync() {
    type L = RwLock<u8>;
    assert_send_sync::<L>();
    assert_send_sync::<RwLockReadGuard<'static, u8>>();
    assert_send_sync::<RwLockUpgradableReadGuard<'static, u8>>();
    assert_send_sync::<RwLockWriteGuard<'static, u8>>();
    assert_send_sync::<RwLockReadGuardArc<u8>>();
    assert_send_sync::<RwLockUpgradableReadGuardArc<u8>>();
    assert_send_sync::<RwLockWriteGuardArc<u8>>();
    assert_send_sync::<Read<'static, u8>>();
    assert_send_sync::<Write<'static, u8>>();
    assert_send_sync::<UpgradableRead<'static, u8>>();
    assert_send_sync::<Upgrade<'static, u8>>();
    assert_send_sync::<ReadArc<u8>>();
    assert_send_sync::<WriteArc<u8>>();
    assert_send_sync::<UpgradableReadArc<u8>>();
    assert_send_sync::<UpgradeArc<u8>>();
}

#[test]
fn blocking_variants() {
    let lock = Arc::new(RwLock::new(0));
    *lock.write_blocking() += 1;
    assert_eq!(*lock.read_blocking(), 1);
    let up = lock.upgradable_read_blocking();
    let r = lock.read_blocking();
    let t = {
        let r_lock = lock.clone();
        std::thread::spawn(move || {
            // Waits for the upgradable and the reader.
            *r_lock.write_blocking() += 10;
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    drop(r);
    let mut w = RwLockUpgradableReadGuard::upgrade_blocking(up);
    *w += 1;
    drop(w);
    t.join().unwrap();
    assert_eq!(*lock.read_blocking(), 12);
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_inside_tokio_does_not_panic() {
    let rt = common::tokio_mt();
    rt.block_on(async {
        let lock = Arc::new(RwLock::new(0));
        // Directly in async tasks, lock free.
        let l = lock.clone();
        tokio::spawn(async move {
            *l.write_blocking() += 1;
            assert_eq!(*l.read_blocking(), 1);
            let up = l.upgradable_read_blocking();
            *RwLockUpgradableReadGuard::upgrade_blocking(up) += 1;
        })
        .await
        .unwrap();
        // In spawn_blocking while an async task holds a read guard.
        let r = lock.read_arc().await;
        let l = lock.clone();
        let t = tokio::task::spawn_blocking(move || {
            *l.write_blocking() += 1;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(*r, 2);
        drop(r);
        t.await.unwrap();
        assert_eq!(*lock.read().await, 3);
    });
}

#[test]
fn blocking_inside_other_executors_does_not_panic() {
    let lock = RwLock::new(0);
    futures::executor::block_on(async { *lock.write_blocking() += 1 });
    pollster::block_on(async {
        let up = lock.upgradable_read_blocking();
        *RwLockUpgradableReadGuard::upgrade_blocking(up) += 1;
        assert_eq!(*lock.read_blocking(), 2);
    });
}

// ---------------------------------------------------------------- stress

/// Writers update a pair with a yield in the middle (non-atomic on
/// purpose); readers must never see it half-updated, and the final count
/// must be exact.
#[test]
#[cfg_attr(miri, ignore)]
fn stress_readers_writers_upgraders() {
    on_all_executors(|ex| async move {
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        let writes = Arc::new(AtomicUsize::new(0));
        let writer_in = Arc::new(AtomicBool::new(false));
        let readers_in = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for t in 0..TASKS {
            let (lock, writes) = (lock.clone(), writes.clone());
            let (writer_in, readers_in) = (writer_in.clone(), readers_in.clone());
            hs.push(ex.spawn(async move {
                for i in 0..ITERS {
                    match (t + i) % 8 {
                        0 | 1 => {
                            let mut w = if i % 2 == 0 {
                                lock.write().await
                            } else {
                                RwLockUpgradableReadGuard::upgrade(lock.upgradable_read().await)
                                    .await
                            };
                            assert!(!writer_in.swap(true, Ordering::SeqCst), "two writers");
                            assert_eq!(readers_in.load(Ordering::SeqCst), 0, "reader+writer");
                            let v = w.0;
                            w.0 = v + 1;
                            yield_now().await;
                            w.1 = v + 1;
                            writer_in.store(false, Ordering::SeqCst);
                            writes.fetch_add(1, Ordering::SeqCst);
                        }
                        2 => {
                            let mut w = lock.write_arc().await;
                            assert!(!writer_in.swap(true, Ordering::SeqCst), "two writers");
                            let v = w.1;
                            yield_now().await;
                            *w = (v + 1, v + 1);
                            writer_in.store(false, Ordering::SeqCst);
                            writes.fetch_add(1, Ordering::SeqCst);
                            // Downgrade: readers may come back in.
                            let r = RwLockWriteGuardArc::downgrade(w);
                            assert_eq!(r.0, r.1);
                        }
                        3 => {
                            let up = lock.upgradable_read_arc().await;
                            assert_eq!(up.0, up.1);
                            yield_now().await;
                            assert_eq!(up.0, up.1);
                        }
                        _ => {
                            let r = if i % 2 == 0 {
                                lock.read().await
                            } else {
                                match lock.try_read() {
                                    Some(r) => r,
                                    None => lock.read().await,
                                }
                            };
                            readers_in.fetch_add(1, Ordering::SeqCst);
                            assert!(!writer_in.load(Ordering::SeqCst), "reader+writer");
                            let a = r.0;
                            yield_now().await;
                            assert_eq!(a, r.1, "torn read");
                            readers_in.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
        join_all(hs).await;
        let total = writes.load(Ordering::SeqCst) as u64;
        assert!(total > 0);
        assert_eq!(*lock.read().await, (total, total));
        assert!(lock.try_write().is_some(), "lock left held");
    });
}

// ---------------------------------------------------------------- write preference

#[test]
fn waiting_writer_blocks_new_readers() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let ww = CountingWaker::new();
    let mut w = Box::pin(lock.write());
    assert!(ww.poll_box(&mut w).is_pending());
    // New readers queue behind the writer.
    assert!(lock.try_read().is_none());
    let rw = CountingWaker::new();
    let mut r2 = Box::pin(lock.read());
    assert!(rw.poll_box(&mut r2).is_pending());
    assert!(lock.try_upgradable_read().is_none());
    drop(r1);
    assert_eq!(ww.count(), 1);
    assert_eq!(rw.count(), 0);
    let mut g = ready(ww.poll_box(&mut w), "writer");
    *g = 1;
    assert!(rw.poll_box(&mut r2).is_pending());
    drop(g);
    assert_eq!(rw.count(), 1);
    assert_eq!(*ready(rw.poll_box(&mut r2), "reader"), 1);
    // Writer gone: readers get in freely again.
    assert!(lock.try_read().is_some());
}

/// A writer queued behind the upgradable reader already blocks readers that
/// arrive after it (write preference holds in every case); readers that
/// were there before keep reading alongside the upgradable reader.
#[test]
fn writer_waits_for_upgradable_and_blocks_later_readers() {
    let lock = RwLock::new(0);
    let up = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().expect("reader alongside upgradable");
    let ww = CountingWaker::new();
    let mut w = Box::pin(lock.write());
    assert!(ww.poll_box(&mut w).is_pending());
    assert!(
        lock.try_read().is_none(),
        "a waiting writer blocks new readers"
    );
    let rw = CountingWaker::new();
    let mut r_fut = Box::pin(lock.read());
    assert!(rw.poll_box(&mut r_fut).is_pending());
    // Only one upgradable.
    assert!(lock.try_upgradable_read().is_none());
    let uw = CountingWaker::new();
    let mut up2 = Box::pin(lock.upgradable_read());
    assert!(uw.poll_box(&mut up2).is_pending());
    drop(up);
    assert_eq!(ww.count(), 0, "the earlier reader still reads");
    assert!(ww.poll_box(&mut w).is_pending());
    drop(r);
    assert_eq!(ww.count(), 1);
    let mut g = ready(ww.poll_box(&mut w), "writer");
    *g = 1;
    assert!(rw.poll_box(&mut r_fut).is_pending());
    assert!(uw.poll_box(&mut up2).is_pending());
    drop(g);
    // The reader and the upgradable reader queued behind the writer coexist.
    assert_eq!((rw.count(), uw.count()), (1, 1));
    let r2 = ready(rw.poll_box(&mut r_fut), "reader");
    let up2 = ready(uw.poll_box(&mut up2), "second upgradable");
    assert_eq!(*r2 + *up2, 2);
    drop((r2, up2));
    assert!(lock.try_write().is_some());
}

#[test]
fn upgrade_waits_for_readers_and_blocks_new_ones() {
    let lock = RwLock::new(0);
    let up = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let uw = CountingWaker::new();
    let mut upgrade = Box::pin(RwLockUpgradableReadGuard::upgrade(up));
    assert!(uw.poll_box(&mut upgrade).is_pending());
    assert!(
        lock.try_read().is_none(),
        "upgrade in progress blocks readers"
    );
    let rw = CountingWaker::new();
    let mut r2 = Box::pin(lock.read());
    assert!(rw.poll_box(&mut r2).is_pending());
    drop(r);
    assert_eq!(uw.count(), 1);
    let mut w = ready(uw.poll_box(&mut upgrade), "upgrade");
    *w = 5;
    assert!(rw.poll_box(&mut r2).is_pending());
    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(rw.count(), 1, "downgrade lets queued readers in");
    assert_eq!(*ready(rw.poll_box(&mut r2), "reader"), 5);
    assert_eq!(*r, 5);
}

/// Readers that queued while a writer held the lock, before a second
/// writer arrived, get in when the first writer leaves; the second writer
/// then waits for them, and readers arriving now queue behind it.
#[test]
fn readers_queued_before_second_writer_go_first() {
    let lock = RwLock::new(Vec::new());
    let w0 = lock.try_write().unwrap();
    let (aw, bw, cw) = (
        CountingWaker::new(),
        CountingWaker::new(),
        CountingWaker::new(),
    );
    let mut r_a = Box::pin(lock.read());
    assert!(aw.poll_box(&mut r_a).is_pending());
    let mut w_b = Box::pin(lock.write());
    assert!(bw.poll_box(&mut w_b).is_pending());
    drop(w0);
    assert_eq!((aw.count(), bw.count()), (1, 0), "b still waits for a");
    let a = ready(aw.poll_box(&mut r_a), "reader a");
    assert!(bw.poll_box(&mut w_b).is_pending(), "writer b waits for a");
    let mut r_c = Box::pin(lock.read());
    assert!(
        cw.poll_box(&mut r_c).is_pending(),
        "reader c queues behind b"
    );
    assert!(lock.try_read().is_none());
    drop(a);
    assert_eq!(bw.count(), 1);
    let mut b = ready(bw.poll_box(&mut w_b), "writer b");
    b.push('b');
    assert!(cw.poll_box(&mut r_c).is_pending());
    drop(b);
    assert_eq!(*ready(cw.poll_box(&mut r_c), "reader c"), ['b']);
}

/// DESIGN.md §2: "Write-preferring: once a writer waits, new readers queue
/// behind it." Here writer `b` waits (for writer `a`)
/// before reader `c` arrives, so `c` must not get in before `b`.
///
/// (This failed on the first design, which queued writers on a separate
/// "slot" semaphore; one FIFO semaphore for everyone fixed it.)
#[test]
fn reader_arriving_after_waiting_writer_does_not_overtake_it() {
    let lock = RwLock::new(Vec::new());
    let w_a = lock.try_write().unwrap();
    let (bw, cw) = (CountingWaker::new(), CountingWaker::new());
    let mut w_b = Box::pin(lock.write());
    assert!(bw.poll_box(&mut w_b).is_pending());
    // `b` waits now; `c` arrives after it.
    let mut r_c = Box::pin(lock.read());
    assert!(cw.poll_box(&mut r_c).is_pending());
    drop(w_a);
    let c_first = cw.poll_box(&mut r_c).is_ready();
    assert!(
        !c_first,
        "reader c, which arrived after writer b started waiting, got in before b"
    );
    let mut b = ready(bw.poll_box(&mut w_b), "writer b");
    b.push('b');
    drop(b);
    assert_eq!(*ready(cw.poll_box(&mut r_c), "reader c"), ['b']);
}

// ---------------------------------------------------------------- cancellation

#[derive(Clone, Copy, Debug)]
enum Kind {
    Read,
    Write,
    Upgradable,
    ReadArc,
    WriteArc,
    UpgradableArc,
}

const KINDS: [Kind; 6] = [
    Kind::Read,
    Kind::Write,
    Kind::Upgradable,
    Kind::ReadArc,
    Kind::WriteArc,
    Kind::UpgradableArc,
];

type UnitFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// A lock future of `kind`; on completion it drops its guard at once.
fn make(kind: Kind, lock: &Arc<RwLock<u32>>) -> UnitFuture<'_> {
    match kind {
        Kind::Read => Box::pin(async move { drop(lock.read().await) }),
        Kind::Write => Box::pin(async move { *lock.write().await += 1 }),
        Kind::Upgradable => Box::pin(async move { drop(lock.upgradable_read().await) }),
        Kind::ReadArc => Box::pin(async move { drop(lock.read_arc().await) }),
        Kind::WriteArc => Box::pin(async move { *lock.write_arc().await += 1 }),
        Kind::UpgradableArc => Box::pin(async move { drop(lock.upgradable_read_arc().await) }),
    }
}

/// The lock is completely free: a writer gets in at once.
#[track_caller]
fn assert_free(lock: &RwLock<u32>) {
    let w = lock.try_write().expect("lock not free: something leaked");
    drop(w);
}

/// (a) Blocked by a writer, polled once, dropped: whoever is next gets in.
#[test]
fn cancel_while_queued() {
    for kind in KINDS {
        for next_is_writer in [false, true] {
            let lock = Arc::new(RwLock::new(0));
            let w0 = lock.try_write().unwrap();
            let mut fut = make(kind, &lock);
            assert!(poll_box(&mut fut).is_pending(), "{kind:?}");
            let nw = CountingWaker::new();
            let mut next = if next_is_writer {
                make(Kind::Write, &lock)
            } else {
                make(Kind::Read, &lock)
            };
            assert!(nw.poll_box(&mut next).is_pending());
            drop(fut);
            drop(w0);
            assert!(nw.count() >= 1, "{kind:?}: next not woken");
            ready(nw.poll_box(&mut next), "next waiter");
            assert_eq!(*lock.try_read().unwrap(), u32::from(next_is_writer));
            assert_free(&lock);
        }
    }
}

/// (b) Woken (handed what it waited for), then dropped without being
/// polled: the lock passes on to the next waiter.
#[test]
fn cancel_after_being_woken() {
    for kind in KINDS {
        let lock = Arc::new(RwLock::new(0));
        let w0 = lock.try_write().unwrap();
        let fw = CountingWaker::new();
        let mut fut = make(kind, &lock);
        assert!(fw.poll_box(&mut fut).is_pending(), "{kind:?}");
        // A writer behind it: conflicts with every kind.
        let nw = CountingWaker::new();
        let mut next = make(Kind::Write, &lock);
        assert!(nw.poll_box(&mut next).is_pending());
        drop(w0);
        assert_eq!(fw.count(), 1, "{kind:?}: first waiter woken");
        assert!(nw.poll_box(&mut next).is_pending(), "{kind:?}");
        let before = nw.count();
        drop(fut);
        assert!(nw.count() > before, "{kind:?}: next waiter not woken");
        ready(nw.poll_box(&mut next), "next writer");
        assert_eq!(*lock.try_read().unwrap(), 1);
        assert_free(&lock);
    }
}

/// (b') A writer (or an upgrade) waiting for a reader is handed all the
/// permits when the reader leaves, then dropped without being polled: the
/// reader queued behind it gets in.
#[test]
fn cancel_writer_after_handed_the_readers_permits() {
    for which in 0..3 {
        let lock = Arc::new(RwLock::new(0));
        let r1 = lock.try_read().unwrap();
        let fw = CountingWaker::new();
        let mut fut: UnitFuture<'_> = match which {
            0 => make(Kind::Write, &lock),
            1 => make(Kind::WriteArc, &lock),
            _ => {
                let up = lock.try_upgradable_read().unwrap();
                Box::pin(async move { *RwLockUpgradableReadGuard::upgrade(up).await += 1 })
            }
        };
        assert!(fw.poll_box(&mut fut).is_pending());
        let rw = CountingWaker::new();
        let mut r2 = make(Kind::Read, &lock);
        assert!(
            rw.poll_box(&mut r2).is_pending(),
            "queued behind the writer"
        );
        drop(r1);
        assert_eq!(fw.count(), 1, "case {which}: writer woken");
        assert_eq!(rw.count(), 0, "case {which}: reader still queued");
        drop(fut);
        assert_eq!(rw.count(), 1, "case {which}: reader woken");
        ready(rw.poll_box(&mut r2), "reader");
        assert_eq!(*lock.try_read().unwrap(), 0);
        assert_free(&lock);
    }
}

/// (c) A writer partly served (it holds every permit but r1's) is dropped:
/// the reader queued behind it gets in, and the next writer waits for the
/// readers only.
#[test]
fn cancel_writer_waiting_for_readers() {
    for arc in [false, true] {
        let lock = Arc::new(RwLock::new(0));
        let r1 = lock.try_read().unwrap();
        let mut w = make(if arc { Kind::WriteArc } else { Kind::Write }, &lock);
        assert!(poll_box(&mut w).is_pending());
        // It holds all free permits: no upgradable reader now, readers queue.
        assert!(lock.try_upgradable_read().is_none());
        assert!(lock.try_read().is_none());
        let rw = CountingWaker::new();
        let mut r2 = make(Kind::Read, &lock);
        assert!(rw.poll_box(&mut r2).is_pending());
        let w2w = CountingWaker::new();
        let mut w2 = make(Kind::Write, &lock);
        assert!(w2w.poll_box(&mut w2).is_pending());
        drop(w);
        assert_eq!(rw.count(), 1, "arc={arc}: queued reader woken");
        assert_eq!(w2w.count(), 0, "arc={arc}: next writer waits for r1, r2");
        // (`make`'s futures drop their guard on completion.)
        ready(rw.poll_box(&mut r2), "queued reader");
        assert!(w2w.poll_box(&mut w2).is_pending(), "r1 still reads");
        drop(r1);
        assert_eq!(w2w.count(), 1);
        ready(w2w.poll_box(&mut w2), "second writer");
        assert_eq!(*lock.try_read().unwrap(), 1);
        assert_free(&lock);
    }
}

/// (c') `upgradable_read` and `write` dropped after they were handed the
/// lock (woken) but before polling again: it passes on.
#[test]
fn cancel_after_handed_the_lock() {
    for kind in [
        Kind::Write,
        Kind::Upgradable,
        Kind::WriteArc,
        Kind::UpgradableArc,
    ] {
        let lock = Arc::new(RwLock::new(0));
        let up = lock.try_upgradable_read().unwrap();
        let fw = CountingWaker::new();
        let mut fut = make(kind, &lock);
        assert!(fw.poll_box(&mut fut).is_pending());
        let nw = CountingWaker::new();
        let mut next = make(Kind::Upgradable, &lock);
        assert!(nw.poll_box(&mut next).is_pending());
        drop(up); // lock handed to `fut`
        assert_eq!(fw.count(), 1, "{kind:?}");
        assert!(lock.try_upgradable_read().is_none());
        drop(fut);
        assert_eq!(nw.count(), 1, "{kind:?}: lock passed on");
        ready(nw.poll_box(&mut next), "next upgradable");
        assert_free(&lock);
    }
}

/// Upgrade futures: (a) dropped while waiting for readers → the whole
/// upgradable guard is released; (b) dropped after being handed the write
/// permits → all passes on.
#[test]
fn cancel_upgrade() {
    for arc in [false, true] {
        // (a)
        let lock = Arc::new(RwLock::new(0));
        let r = lock.try_read().unwrap();
        let mut up_fut: UnitFuture<'_> = if arc {
            let up = lock.try_upgradable_read_arc().unwrap();
            Box::pin(async move { *RwLockUpgradableReadGuardArc::upgrade(up).await += 1 })
        } else {
            let up = lock.try_upgradable_read().unwrap();
            Box::pin(async move { *RwLockUpgradableReadGuard::upgrade(up).await += 1 })
        };
        assert!(poll_box(&mut up_fut).is_pending());
        let rw = CountingWaker::new();
        let mut r2 = make(Kind::Read, &lock);
        assert!(rw.poll_box(&mut r2).is_pending(), "queued behind upgrade");
        drop(up_fut);
        assert_eq!(rw.count(), 1, "arc={arc}: reader behind upgrade woken");
        ready(rw.poll_box(&mut r2), "reader");
        assert!(
            lock.try_upgradable_read().is_some(),
            "upgradable right released"
        );
        drop(r);
        assert_free(&lock);
        assert_eq!(*lock.try_read().unwrap(), 0);

        // (b)
        let r = lock.try_read().unwrap();
        let fw = CountingWaker::new();
        let mut up_fut: UnitFuture<'_> = if arc {
            let up = lock.try_upgradable_read_arc().unwrap();
            Box::pin(async move { drop(RwLockUpgradableReadGuardArc::upgrade(up).await) })
        } else {
            let up = lock.try_upgradable_read().unwrap();
            Box::pin(async move { drop(RwLockUpgradableReadGuard::upgrade(up).await) })
        };
        assert!(fw.poll_box(&mut up_fut).is_pending());
        let nw = CountingWaker::new();
        let mut next = make(Kind::Write, &lock);
        assert!(nw.poll_box(&mut next).is_pending());
        drop(r);
        assert_eq!(fw.count(), 1, "upgrade woken");
        drop(up_fut);
        assert_eq!(nw.count(), 1, "next writer woken");
        ready(nw.poll_box(&mut next), "next writer");
        assert_eq!(*lock.try_read().unwrap(), 1);
        assert_free(&lock);
    }
}

/// Cancellation under contention on every executor: futures are raced
/// against a few polls and dropped half the time; at the end the lock is
/// free and the write count exact.
#[test]
#[cfg_attr(miri, ignore)]
fn stress_cancellation() {
    on_all_executors(|ex| async move {
        let lock = Arc::new(RwLock::new(0u64));
        let done = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for t in 0..TASKS {
            let (lock, done) = (lock.clone(), done.clone());
            hs.push(ex.spawn(async move {
                for i in 0..ITERS / 4 {
                    let kind = KINDS[(t + i) % KINDS.len()];
                    let mut fut: Pin<Box<dyn Future<Output = bool> + Send + '_>> = match kind {
                        Kind::Read | Kind::ReadArc => Box::pin(async {
                            let r = lock.read().await;
                            yield_now().await;
                            drop(r);
                            false
                        }),
                        Kind::Write | Kind::WriteArc => Box::pin(async {
                            let mut w = lock.write_arc().await;
                            let v = *w;
                            yield_now().await;
                            *w = v + 1;
                            true
                        }),
                        Kind::Upgradable | Kind::UpgradableArc => Box::pin(async {
                            let up = lock.upgradable_read().await;
                            yield_now().await;
                            let mut w = RwLockUpgradableReadGuard::upgrade(up).await;
                            *w += 1;
                            true
                        }),
                    };
                    let mut out = None;
                    for _ in 0..1 + i % 3 {
                        if let std::task::Poll::Ready(v) = poll_once(fut.as_mut()) {
                            out = Some(v);
                            break;
                        }
                        yield_now().await;
                    }
                    if out.is_none() && i % 2 == 1 {
                        out = Some(fut.as_mut().await);
                    }
                    if out == Some(true) {
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    // Dropped here, possibly mid-way (holding a guard that
                    // was written to or not: only count completed writes).
                    drop(fut);
                }
            }));
        }
        join_all(hs).await;
        let w = lock.try_write().expect("lock leaked by a cancelled future");
        assert_eq!(*w, done.load(Ordering::SeqCst) as u64);
    });
}

/// More readers than fit in one wake-up batch queue behind a writer: its
/// release lets all of them in at once.
#[test]
fn writer_release_wakes_more_readers_than_one_batch() {
    const N: usize = 40;
    let lock = RwLock::new(7);
    let w = lock.try_write().unwrap();
    let wakers: Vec<_> = (0..N).map(|_| CountingWaker::new()).collect();
    let mut futs: Vec<_> = (0..N).map(|_| Box::pin(lock.read())).collect();
    for (f, wk) in futs.iter_mut().zip(&wakers) {
        assert!(wk.poll_box(f).is_pending());
    }
    drop(w);
    let guards: Vec<_> = futs
        .iter_mut()
        .zip(&wakers)
        .enumerate()
        .map(|(i, (f, wk))| {
            assert_eq!(wk.count(), 1, "reader {i} not woken");
            ready(wk.poll_box(f), "reader")
        })
        .collect();
    assert!(guards.iter().all(|g| **g == 7));
    assert!(lock.try_write().is_none());
    drop(guards);
    assert!(lock.try_write().is_some());
}
