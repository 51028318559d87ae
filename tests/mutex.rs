//! Public-API tests of `weftwork::Mutex`.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use common::*;
use weftwork::Mutex;
use weftwork::sync::{Lock, LockArc, MappedMutexGuard, MutexGuard, MutexGuardArc};

// ---------------------------------------------------------------- basics

#[test]
fn lock_try_lock_on_all_executors() {
    on_all_executors(|_| async {
        let m = Mutex::new(1);
        {
            let mut g = m.lock().await;
            *g += 1;
            assert!(m.try_lock().is_none());
        }
        let g = m.try_lock().unwrap();
        assert_eq!(*g, 2);
        drop(g);
        assert_eq!(*m.lock().await, 2);
        assert_eq!(m.into_inner(), 2);
    });
}

#[test]
fn get_mut_into_inner_default_from() {
    let mut m = Mutex::new(String::from("a"));
    m.get_mut().push('b');
    assert_eq!(*m.try_lock().unwrap(), "ab");
    assert_eq!(m.into_inner(), "ab");
    let d: Mutex<Vec<u8>> = Mutex::default();
    assert!(d.try_lock().unwrap().is_empty());
    let f: Mutex<u8> = Mutex::from(7);
    assert_eq!(f.into_inner(), 7);
}

#[test]
fn unsized_value() {
    pollster::block_on(async {
        let m = Mutex::new([1u8, 2, 3]);
        let m: &Mutex<[u8]> = &m;
        m.lock().await[0] = 9;
        assert_eq!(&*m.try_lock().unwrap(), &[9, 2, 3]);
        let boxed: Box<Mutex<dyn std::fmt::Debug + Send>> = Box::new(Mutex::new(5u32));
        assert_eq!(format!("{:?}", &*boxed.lock().await), "5");
    });
}

#[test]
fn lock_arc_on_all_executors() {
    on_all_executors(|ex| async move {
        let m = Arc::new(Mutex::new(0u32));
        let mut g: MutexGuardArc<u32> = m.lock_arc().await;
        *g += 1;
        assert!(Arc::ptr_eq(g.source(), &m));
        assert!(m.try_lock_arc().is_none());
        assert!(m.try_lock().is_none());
        // 'static guard: released in another task.
        ex.spawn(async move { drop(g) }).await;
        let g = m.try_lock_arc().unwrap();
        assert_eq!(*g, 1);
        std::thread::spawn(move || drop(g)).join().unwrap();
        assert_eq!(*m.lock().await, 1);
    });
}

#[test]
fn map_and_mapped_guard() {
    pollster::block_on(async {
        let m = Mutex::new((1, (String::from("x"), 3)));
        let mut s: MappedMutexGuard<'_, (String, i32)> =
            MutexGuard::map(m.lock().await, |v| &mut v.1);
        s.0.push('y');
        assert!(m.try_lock().is_none(), "mapped guard holds the lock");
        let mut last: MappedMutexGuard<'_, i32> = MappedMutexGuard::map(s, |v| &mut v.1);
        *last += 10;
        assert!(m.try_lock().is_none(), "re-mapped guard holds the lock");
        assert_eq!(format!("{last:?}"), "13");
        drop(last);
        let g = m.try_lock().unwrap();
        assert_eq!(*g, (1, (String::from("xy"), 13)));
    });
}

#[test]
fn mapped_guard_wakes_waiter_on_drop() {
    let m = Mutex::new([0u8; 2]);
    let mapped = MutexGuard::map(m.try_lock().unwrap(), |a| &mut a[1]);
    let w = CountingWaker::new();
    let mut fut = Box::pin(m.lock());
    assert!(w.poll_box(&mut fut).is_pending());
    drop(mapped);
    assert_eq!(w.count(), 1);
    assert!(w.poll_box(&mut fut).is_ready());
}

#[test]
fn debug_and_display() {
    let m = Mutex::new(5);
    assert_eq!(format!("{m:?}"), "Mutex { value: 5 }");
    let g = m.try_lock().unwrap();
    assert_eq!(format!("{m:?}"), "Mutex { value: <locked> }");
    assert_eq!(format!("{g:?}"), "5");
    assert_eq!(format!("{g}"), "5");
    let fut = m.lock();
    assert_eq!(format!("{fut:?}"), "Lock { .. }");
    drop(fut);
    drop(g);
    let a = Arc::new(Mutex::new("s"));
    let fut = a.lock_arc();
    assert_eq!(format!("{fut:?}"), "LockArc { .. }");
    drop(fut);
    let g = a.try_lock_arc().unwrap();
    assert_eq!(format!("{g:?}"), "\"s\"");
    let mapped = MutexGuard::map(m.try_lock().unwrap(), |v| v);
    assert_eq!(format!("{mapped:?}"), "5");
}

#[test]
fn send_sync_and_size() {
    assert_send_sync::<Mutex<u8>>();
    assert_send_sync::<Mutex<std::cell::Cell<u8>>>(); // Sync needs only T: Send
    assert_send_sync::<MutexGuard<'static, u8>>();
    assert_send::<MutexGuard<'static, std::cell::Cell<u8>>>();
    assert_send_sync::<MappedMutexGuard<'static, u8>>();
    assert_send_sync::<MutexGuardArc<u8>>();
    assert_send::<Lock<'static, u8>>();
    assert_sync::<Lock<'static, u8>>();
    assert_send::<LockArc<u8>>();
    assert_sync::<LockArc<u8>>();
    #[cfg(target_pointer_width = "64")]
    assert!(std::mem::size_of::<Mutex<()>>() <= 16);
    assert!(std::mem::size_of::<Mutex<()>>() <= 2 * std::mem::size_of::<usize>());
}

#[test]
fn blocking_variant() {
    let m = Arc::new(Mutex::new(0));
    *m.lock_blocking() += 1;
    let g = m.lock_blocking();
    let t = {
        let m = m.clone();
        std::thread::spawn(move || {
            *m.lock_blocking() += 1;
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(*g, 1);
    drop(g);
    t.join().unwrap();
    assert_eq!(*m.lock_blocking(), 2);
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_inside_tokio_does_not_panic() {
    let rt = common::tokio_mt();
    rt.block_on(async {
        let m = Arc::new(Mutex::new(0));
        // Directly in an async task with the lock free.
        let m2 = m.clone();
        tokio::spawn(async move {
            *m2.lock_blocking() += 1;
        })
        .await
        .unwrap();
        // Directly in an async task, released by a plain thread.
        let held = m.clone().try_lock_arc().unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(held);
        });
        let m2 = m.clone();
        tokio::spawn(async move {
            *m2.lock_blocking() += 1;
        })
        .await
        .unwrap();
        releaser.join().unwrap();
        // In spawn_blocking, released by an async task.
        let held = m.lock_arc().await;
        let m2 = m.clone();
        let t = tokio::task::spawn_blocking(move || {
            *m2.lock_blocking() += 1;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        t.await.unwrap();
        assert_eq!(*m.lock().await, 3);
    });
}

#[test]
fn blocking_inside_other_executors_does_not_panic() {
    let m = Mutex::new(0);
    futures::executor::block_on(async { *m.lock_blocking() += 1 });
    pollster::block_on(async { *m.lock_blocking() += 1 });
    let mut pool = futures::executor::LocalPool::new();
    pool.run_until(async { *m.lock_blocking() += 1 });
    assert_eq!(m.into_inner(), 3);
}

// ---------------------------------------------------------------- stress

/// A value that is deliberately not atomic: a lost update shows a broken
/// mutual exclusion.
#[test]
#[cfg_attr(miri, ignore)]
fn stress_counter_is_exact() {
    on_all_executors(|ex| async move {
        let m = Arc::new(Mutex::new(0u64));
        let inside = Arc::new(AtomicBool::new(false));
        let mut hs = Vec::new();
        for t in 0..TASKS {
            let (m, inside) = (m.clone(), inside.clone());
            hs.push(ex.spawn(async move {
                for i in 0..ITERS {
                    // Mix every way of taking the lock.
                    match (t + i) % 4 {
                        0 => {
                            let mut g = m.lock().await;
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            let v = *g;
                            yield_now().await;
                            *g = v + 1;
                            inside.store(false, Ordering::SeqCst);
                        }
                        1 => {
                            let mut g = m.lock_arc().await;
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            let v = *g;
                            yield_now().await;
                            *g = v + 1;
                            inside.store(false, Ordering::SeqCst);
                        }
                        2 => {
                            let g = match m.try_lock() {
                                Some(g) => g,
                                None => m.lock().await,
                            };
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            let mut g = MutexGuard::map(g, |v| v);
                            let v = *g;
                            yield_now().await;
                            *g = v + 1;
                            inside.store(false, Ordering::SeqCst);
                        }
                        _ => {
                            let mut g = m.lock().await;
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            *g += 1;
                            inside.store(false, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
        join_all(hs).await;
        assert_eq!(*m.lock().await, (TASKS * ITERS) as u64);
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_with_blocking_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..ITERS {
                    let mut g = m.lock_blocking();
                    let v = *g;
                    std::thread::yield_now();
                    *g = v + 1;
                }
            })
        })
        .collect();
    rt.block_on(async {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move {
                    for _ in 0..ITERS {
                        let mut g = m.lock().await;
                        let v = *g;
                        tokio::task::yield_now().await;
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock_blocking(), 6 * ITERS as u64);
}

// ---------------------------------------------------------------- fairness

/// Manual polling, adversarial order: after every release the relocker
/// barges first (`try_lock`, else a fresh `lock()` polled once), and only
/// then is the (woken) waiter polled. The waiter must own the lock after at
/// most `MAX_BYPASS` releases (the last one hands it over).
#[test]
fn waiter_is_not_starved_by_relocking() {
    let bound = Mutex::<()>::MAX_BYPASS;
    let m = Mutex::new(0u32);
    let waiter_w = CountingWaker::new();
    let mut held = m.try_lock().unwrap();
    let mut waiter = Box::pin(m.lock());
    assert!(waiter_w.poll_box(&mut waiter).is_pending());
    let mut releases = 0;
    let mut wakes = 0;
    let got = loop {
        *held += 1;
        drop(held);
        releases += 1;
        assert!(
            waiter_w.count() > wakes,
            "release {releases} did not wake the waiting head"
        );
        wakes = waiter_w.count();
        // The relocker tries to barge in before the waiter runs.
        let barged = m.try_lock().or_else(|| {
            let mut again = Box::pin(m.lock());
            match poll_box(&mut again) {
                Poll::Ready(g) => Some(g),
                Poll::Pending => None,
            }
        });
        match barged {
            Some(g) => {
                // The waiter runs now and finds the lock taken.
                assert!(waiter_w.poll_box(&mut waiter).is_pending());
                held = g;
            }
            None => break ready(waiter_w.poll_box(&mut waiter), "starved waiter"),
        }
        assert!(
            releases <= bound,
            "waiter bypassed {releases} times, bound {bound}"
        );
    };
    assert!(
        releases <= bound,
        "waiter got the lock after {releases} releases, bound is {bound}"
    );
    assert_eq!(*got, releases as u32);
    drop(got);
    assert!(m.try_lock().is_some());
}

/// The waiter polls as soon as it is woken: it never needs more than one
/// release.
#[test]
fn woken_waiter_that_runs_first_gets_the_lock() {
    let m = Mutex::new(());
    let w = CountingWaker::new();
    let g = m.try_lock().unwrap();
    let mut fut = Box::pin(m.lock());
    assert!(w.poll_box(&mut fut).is_pending());
    drop(g);
    assert_eq!(w.count(), 1);
    let g = ready(w.poll_box(&mut fut), "woken waiter");
    assert!(m.try_lock().is_none());
    drop(g);
}

/// The same on a current-thread runtime with real tasks: the relocker
/// holds the lock across a yield (so the waiter gets to queue) and counts
/// its releases.
#[test]
#[cfg_attr(miri, ignore)]
fn waiter_is_not_starved_on_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = Arc::new(Mutex::new(()));
        let releases = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let relocker = {
            let (m, releases, stop) = (m.clone(), releases.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let g = m.lock().await;
                    tokio::task::yield_now().await;
                    drop(g);
                    releases.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        // Let the relocker get going.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        let bound = Mutex::<()>::MAX_BYPASS + 1;
        for _ in 0..if cfg!(miri) { 3 } else { 50 } {
            let before = releases.load(Ordering::SeqCst);
            let g = m.lock().await;
            let waited = releases.load(Ordering::SeqCst) - before;
            assert!(
                waited <= bound,
                "waiter bypassed: got the lock after {waited} releases (bound {bound})"
            );
            drop(g);
            tokio::task::yield_now().await;
        }
        stop.store(true, Ordering::SeqCst);
        relocker.await.unwrap();
    });
}

/// Waiters queued in order get the lock in order.
#[test]
fn lock_is_handed_over_fifo() {
    let m = Mutex::new(Vec::new());
    let g = m.try_lock().unwrap();
    let wakers: Vec<_> = (0..4).map(|_| CountingWaker::new()).collect();
    let mut futs: Vec<_> = (0..4).map(|_| Box::pin(m.lock())).collect();
    for (f, w) in futs.iter_mut().zip(&wakers) {
        assert!(w.poll_box(f).is_pending());
    }
    drop(g);
    for i in 0..4 {
        for (j, w) in wakers.iter().enumerate() {
            assert_eq!(w.count(), usize::from(j <= i), "step {i}, waiter {j}");
        }
        // Only waiter i can complete.
        for (j, f) in futs.iter_mut().enumerate().skip(i + 1) {
            assert!(
                wakers[j].poll_box(f).is_pending(),
                "waiter {j} overtook {i}"
            );
        }
        let mut g = ready(wakers[i].poll_box(&mut futs[i]), "head waiter");
        g.push(i);
        assert!(m.try_lock().is_none());
    }
    drop(futs);
    assert_eq!(*m.try_lock().unwrap(), [0, 1, 2, 3]);
}

// ---------------------------------------------------------------- cancellation

type GuardFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// `lock()` or `lock_arc()`; the guard is dropped on completion.
fn make(arc: bool, m: &Arc<Mutex<u32>>) -> GuardFuture<'_> {
    if arc {
        Box::pin(async move { *m.lock_arc().await += 1 })
    } else {
        Box::pin(async move { *m.lock().await += 1 })
    }
}

/// (a) Polled once while blocked, then dropped: the next waiter gets in.
#[test]
fn cancel_while_queued() {
    for arc in [false, true] {
        let m = Arc::new(Mutex::new(0));
        let g = m.try_lock().unwrap();
        let mut fut = make(arc, &m);
        assert!(poll_box(&mut fut).is_pending());
        let next_w = CountingWaker::new();
        let mut next = Box::pin(m.lock());
        assert!(next_w.poll_box(&mut next).is_pending());
        drop(fut);
        assert_eq!(next_w.count(), 0);
        drop(g);
        assert_eq!(next_w.count(), 1, "arc={arc}");
        let g = ready(next_w.poll_box(&mut next), "next waiter");
        assert_eq!(*g, 0, "the dropped future never ran");
        drop(g);
        assert!(m.try_lock().is_some(), "arc={arc}: lock lost");
    }
}

/// Releases `held` and lets a barger relock until a release hands the
/// lock to the waiting head instead of freeing it. Returns the number of
/// releases (at most `MAX_BYPASS + 1`).
fn release_until_handed<T>(m: &Mutex<T>, held: weftwork::MutexGuard<'_, T>) -> usize {
    let mut held = held;
    let mut releases = 0;
    loop {
        drop(held);
        releases += 1;
        assert!(releases <= Mutex::<()>::MAX_BYPASS + 1, "never handed over");
        match m.try_lock() {
            Some(g) => held = g,
            None => return releases,
        }
    }
}

/// (b) Woken by a release (lock left free for it), then dropped without
/// being polled: the next waiter is woken and gets the lock.
#[test]
fn cancel_after_being_woken() {
    for arc in [false, true] {
        let m = Arc::new(Mutex::new(0));
        let g = m.try_lock().unwrap();
        let w = CountingWaker::new();
        let mut fut = make(arc, &m);
        assert!(w.poll_box(&mut fut).is_pending());
        let next_w = CountingWaker::new();
        let mut next = Box::pin(m.lock_arc());
        assert!(next_w.poll_box(&mut next).is_pending());
        drop(g);
        assert_eq!(w.count(), 1, "arc={arc}: first waiter woken");
        assert_eq!(next_w.count(), 0);
        drop(fut);
        assert_eq!(next_w.count(), 1, "arc={arc}: next waiter woken");
        let g = ready(next_w.poll_box(&mut next), "next waiter");
        assert_eq!(*g, 0, "the dropped future never ran");
        drop(g);
        assert!(m.try_lock().is_some(), "arc={arc}: lock lost");
    }
}

/// (b') Handed the lock outright (after the barging budget ran out), then
/// dropped without being polled: the lock passes to the next waiter.
#[test]
fn cancel_after_being_handed_the_lock() {
    for arc in [false, true] {
        let m = Arc::new(Mutex::new(0));
        let g = m.try_lock().unwrap();
        let w = CountingWaker::new();
        let mut fut = make(arc, &m);
        assert!(w.poll_box(&mut fut).is_pending());
        let next_w = CountingWaker::new();
        let mut next = Box::pin(m.lock_arc());
        assert!(next_w.poll_box(&mut next).is_pending());
        release_until_handed(&m, g);
        assert!(w.count() >= 1, "arc={arc}: first waiter woken");
        assert!(m.try_lock().is_none(), "the lock was handed over");
        let before = next_w.count();
        drop(fut);
        assert!(next_w.count() > before, "arc={arc}: next waiter woken");
        let g = ready(next_w.poll_box(&mut next), "next waiter");
        assert_eq!(*g, 0, "the dropped future never ran");
        drop(g);
        assert!(m.try_lock().is_some(), "arc={arc}: lock lost");
    }
}

/// Handed the lock with no one behind: dropping frees the lock.
#[test]
fn cancel_after_being_handed_the_lock_alone() {
    let m = Arc::new(Mutex::new(0));
    let g = m.try_lock().unwrap();
    let mut fut = Box::pin(m.lock_arc());
    assert!(poll_box(&mut fut).is_pending());
    release_until_handed(&m, g);
    assert!(m.try_lock().is_none());
    drop(fut);
    assert!(m.try_lock().is_some());
    // The Arc clone inside the future was released too.
    assert_eq!(Arc::strong_count(&m), 1);
}

/// A woken head that is dropped while a barger holds the lock: the next
/// waiter must still be woken by the barger's release.
#[test]
fn cancel_woken_head_while_barger_holds() {
    let m = Mutex::new(());
    let g = m.try_lock().unwrap();
    let mut head = Box::pin(m.lock());
    assert!(poll_box(&mut head).is_pending());
    let next_w = CountingWaker::new();
    let mut next = Box::pin(m.lock());
    assert!(next_w.poll_box(&mut next).is_pending());
    drop(g); // frees the lock (or hands it over), wakes the head
    let barger = m.try_lock();
    drop(head);
    drop(barger);
    assert!(next_w.count() >= 1, "next waiter never woken");
    let g = ready(next_w.poll_box(&mut next), "next waiter");
    drop(g);
    assert!(m.try_lock().is_some());
}

/// Cancellation under real contention: tasks race `lock()` against a
/// short timer and drop it half the time; the lock stays usable and the
/// count of completed critical sections is exact.
#[test]
#[cfg_attr(miri, ignore)]
fn stress_cancellation() {
    on_all_executors(|ex| async move {
        let m = Arc::new(Mutex::new(0u64));
        let done = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for t in 0..TASKS {
            let (m, done) = (m.clone(), done.clone());
            hs.push(ex.spawn(async move {
                for i in 0..ITERS / 4 {
                    let mut fut = Box::pin(m.lock());
                    // Poll a few times, then maybe give up.
                    let mut got = None;
                    for _ in 0..(t + i) % 3 {
                        if let Poll::Ready(g) = poll_once(fut.as_mut()) {
                            got = Some(g);
                            break;
                        }
                        yield_now().await;
                    }
                    let g = match got {
                        Some(g) => Some(g),
                        None if i % 2 == 0 => None, // cancel
                        None => Some(fut.as_mut().await),
                    };
                    if let Some(mut g) = g {
                        let v = *g;
                        yield_now().await;
                        *g = v + 1;
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    drop(fut);
                }
            }));
        }
        join_all(hs).await;
        let g = m.try_lock().expect("lock lost by a cancelled future");
        assert_eq!(*g, done.load(Ordering::SeqCst) as u64);
    });
}

/// Many waiters, every other one cancelled at a different stage: each
/// surviving waiter gets the lock exactly once and it ends up free.
#[test]
fn many_waiters_with_cancellations() {
    const N: usize = 40;
    let m = Mutex::new(0usize);
    let g = m.try_lock().unwrap();
    let wakers: Vec<_> = (0..N).map(|_| CountingWaker::new()).collect();
    let mut futs: Vec<_> = (0..N).map(|_| Some(Box::pin(m.lock()))).collect();
    for (f, w) in futs.iter_mut().zip(&wakers) {
        assert!(w.poll_box(f.as_mut().unwrap()).is_pending());
    }
    // Drop every third before anything happens.
    for f in futs.iter_mut().step_by(3) {
        *f = None;
    }
    drop(g);
    let mut served = 0;
    let mut rounds = 0;
    while futs.iter().any(Option::is_some) {
        rounds += 1;
        assert!(rounds <= 4 * N, "no progress: lost wake-up?");
        for (i, (slot, w)) in futs.iter_mut().zip(&wakers).enumerate() {
            let Some(f) = slot else { continue };
            if w.count() == 0 {
                continue; // not woken: must not be polled spuriously here
            }
            if i % 3 == 1 && rounds % 2 == 1 {
                // Woken, maybe even handed the lock: drop without polling.
                *slot = None;
                continue;
            }
            if let Poll::Ready(mut g) = w.poll_box(f) {
                *g += 1;
                served += 1;
                *slot = None;
            }
        }
    }
    assert!(served > 0);
    assert_eq!(*m.try_lock().expect("lock leaked"), served);
}
