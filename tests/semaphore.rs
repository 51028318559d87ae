//! Public-API tests of `weftwork::Semaphore`.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use common::*;
use weftwork::sync::{Acquire, AcquireArc, SemaphorePermitArc};
use weftwork::{AcquireError, Semaphore, SemaphorePermit, TryAcquireError};

// ---------------------------------------------------------------- basics

#[test]
fn acquire_release_on_all_executors() {
    on_all_executors(|_| async {
        let sem = Semaphore::new(3);
        assert_eq!(sem.available_permits(), 3);
        let a = sem.acquire().await.unwrap();
        assert_eq!(a.num_permits(), 1);
        assert_eq!(sem.available_permits(), 2);
        let b = sem.acquire_many(2).await.unwrap();
        assert_eq!(b.num_permits(), 2);
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        drop(a);
        assert_eq!(sem.available_permits(), 1);
        drop(b);
        assert_eq!(sem.available_permits(), 3);
        // Zero permits: completes at once, holds nothing.
        let z = sem.acquire_many(0).await.unwrap();
        assert_eq!(z.num_permits(), 0);
        assert_eq!(sem.available_permits(), 3);
        drop(z);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn try_acquire_variants() {
    let sem = Arc::new(Semaphore::new(3));
    let p = sem.try_acquire().unwrap();
    assert_eq!(p.num_permits(), 1);
    let q = sem.try_acquire_many(2).unwrap();
    assert_eq!(q.num_permits(), 2);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert!(matches!(
        sem.try_acquire_arc(),
        Err(TryAcquireError::NoPermits)
    ));
    drop(q);
    assert!(matches!(
        sem.try_acquire_many_arc(3),
        Err(TryAcquireError::NoPermits)
    ));
    let pa = sem.try_acquire_many_arc(2).unwrap();
    assert_eq!(pa.num_permits(), 2);
    assert!(Arc::ptr_eq(pa.semaphore(), &sem));
    assert_eq!(sem.available_permits(), 0);
    drop(pa);
    drop(p);
    let one = sem.try_acquire_arc().unwrap();
    assert_eq!(one.num_permits(), 1);
    assert_eq!(sem.available_permits(), 2);
    drop(one);
    // More than MAX_PERMITS through try_*: simply "no permits", no panic.
    assert_eq!(
        sem.try_acquire_many(Semaphore::MAX_PERMITS + 1)
            .unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert_eq!(sem.try_acquire_many(0).unwrap().num_permits(), 0);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn arc_variants_on_all_executors() {
    on_all_executors(|ex| async move {
        let sem = Arc::new(Semaphore::new(2));
        let p = sem.acquire_arc().await.unwrap();
        assert_eq!(p.num_permits(), 1);
        let q = sem.acquire_many_arc(1).await.unwrap();
        assert_eq!(sem.available_permits(), 0);
        // An owned permit is 'static: drop it in another task.
        ex.spawn(async move { drop(p) }).await;
        assert_eq!(sem.available_permits(), 1);
        std::thread::spawn(move || drop(q)).join().unwrap();
        assert_eq!(sem.available_permits(), 2);
        let all = sem.acquire_many_arc(2).await.unwrap();
        assert_eq!(all.num_permits(), 2);
        assert!(Arc::ptr_eq(all.semaphore(), &sem));
    });
}

#[test]
fn add_permits_wakes_waiters_on_all_executors() {
    on_all_executors(|ex| async move {
        let sem = Arc::new(Semaphore::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for _ in 0..3 {
            let (sem, done) = (sem.clone(), done.clone());
            hs.push(ex.spawn(async move {
                sem.acquire_many(2).await.unwrap().forget();
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        sem.add_permits(6);
        join_all(hs).await;
        assert_eq!(done.load(Ordering::SeqCst), 3);
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(4);
        assert_eq!(sem.available_permits(), 4);
    });
}

#[test]
fn forget_shrinks_the_semaphore() {
    let sem = Arc::new(Semaphore::new(5));
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available_permits(), 4);
    sem.try_acquire_many(2).unwrap().forget();
    assert_eq!(sem.available_permits(), 2);
    sem.try_acquire_arc().unwrap().forget();
    assert_eq!(sem.available_permits(), 1);
    let pa = sem.try_acquire_many_arc(1).unwrap();
    pa.forget();
    assert_eq!(sem.available_permits(), 0);
    // The Arc clone held by the forgotten permit was released.
    assert_eq!(Arc::strong_count(&sem), 1);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn close_on_all_executors() {
    on_all_executors(|_| async {
        let sem = Semaphore::new(2);
        assert!(!sem.is_closed());
        let held = sem.acquire().await.unwrap();
        sem.close();
        assert!(sem.is_closed());
        assert_eq!(sem.acquire().await.unwrap_err(), AcquireError::Closed);
        assert_eq!(sem.acquire_many(0).await.unwrap_err(), AcquireError::Closed);
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
        assert_eq!(
            sem.try_acquire_many(1).unwrap_err(),
            TryAcquireError::Closed
        );
        // Held permits stay valid and still come back.
        assert_eq!(held.num_permits(), 1);
        drop(held);
        assert_eq!(sem.available_permits(), 2);
        // Closing twice is fine.
        sem.close();
        assert!(sem.is_closed());
        let sem = Arc::new(sem);
        assert!(matches!(sem.acquire_arc().await, Err(AcquireError::Closed)));
        assert!(matches!(
            sem.acquire_many_arc(1).await,
            Err(AcquireError::Closed)
        ));
        assert!(matches!(
            sem.try_acquire_arc(),
            Err(TryAcquireError::Closed)
        ));
    });
}

#[test]
fn blocking_variants() {
    let sem = Arc::new(Semaphore::new(2));
    let p = sem.acquire_blocking().unwrap();
    assert_eq!(p.num_permits(), 1);
    let q = sem.acquire_many_blocking(1).unwrap();
    assert_eq!(sem.available_permits(), 0);
    // A blocked thread is woken by a release on another thread.
    let t = {
        let sem = sem.clone();
        std::thread::spawn(move || sem.acquire_many_blocking(2).unwrap().num_permits())
    };
    std::thread::sleep(Duration::from_millis(20));
    drop(p);
    std::thread::sleep(Duration::from_millis(5));
    drop(q);
    assert_eq!(t.join().unwrap(), 2);
    assert_eq!(sem.available_permits(), 2);
    // A blocked thread sees close.
    let _all = sem.try_acquire_many(2).unwrap();
    let t = {
        let sem = sem.clone();
        std::thread::spawn(move || sem.acquire_blocking().map(|_| ()))
    };
    std::thread::sleep(Duration::from_millis(20));
    sem.close();
    assert_eq!(t.join().unwrap(), Err(AcquireError::Closed));
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_inside_tokio_does_not_panic() {
    let rt = common::tokio_mt();
    rt.block_on(async {
        let sem = Arc::new(Semaphore::new(1));
        // Directly inside an async task, permits free.
        let s = sem.clone();
        tokio::spawn(async move {
            let p = s.acquire_blocking().unwrap();
            assert_eq!(p.num_permits(), 1);
            drop(p);
            let p = s.acquire_many_blocking(1).unwrap();
            drop(p);
        })
        .await
        .unwrap();
        // Inside an async task, released by a plain thread while blocked.
        let held = sem.clone().try_acquire_arc().unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(held);
        });
        let s = sem.clone();
        tokio::spawn(async move { s.acquire_blocking().unwrap().num_permits() })
            .await
            .map(|n| assert_eq!(n, 1))
            .unwrap();
        releaser.join().unwrap();
        // In spawn_blocking, released by an async task.
        let held = sem.clone().acquire_arc().await.unwrap();
        let s = sem.clone();
        let blocked =
            tokio::task::spawn_blocking(move || s.acquire_blocking().unwrap().num_permits());
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        assert_eq!(blocked.await.unwrap(), 1);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn blocking_inside_other_executors_does_not_panic() {
    let sem = Semaphore::new(1);
    futures::executor::block_on(async {
        drop(sem.acquire_blocking().unwrap());
    });
    pollster::block_on(async {
        drop(sem.acquire_many_blocking(1).unwrap());
    });
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn debug_and_display() {
    let sem = Arc::new(Semaphore::new(3));
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 3, closed: false }"
    );
    let p = sem.try_acquire_many(2).unwrap();
    assert_eq!(format!("{p:?}"), "SemaphorePermit { permits: 2 }");
    let pa = sem.try_acquire_arc().unwrap();
    assert_eq!(format!("{pa:?}"), "SemaphorePermitArc { permits: 1 }");
    let fut = sem.acquire_many(3);
    assert_eq!(format!("{fut:?}"), "Acquire { permits: 3, .. }");
    let fut_arc = sem.acquire_many_arc(2);
    assert_eq!(format!("{fut_arc:?}"), "AcquireArc { permits: 2, .. }");
    drop((fut, fut_arc, p, pa));
    sem.close();
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 3, closed: true }"
    );
    assert_eq!(AcquireError::Closed.to_string(), "semaphore closed");
    assert_eq!(TryAcquireError::Closed.to_string(), "semaphore closed");
    assert_eq!(
        TryAcquireError::NoPermits.to_string(),
        "no permits available"
    );
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(AcquireError::Closed);
    assert_eq!(e.to_string(), "semaphore closed");
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(TryAcquireError::NoPermits);
    assert!(e.source().is_none());
}

#[test]
fn send_sync() {
    assert_send_sync::<Semaphore>();
    assert_send_sync::<SemaphorePermit<'static>>();
    assert_send_sync::<SemaphorePermitArc>();
    assert_send_sync::<AcquireError>();
    assert_send_sync::<TryAcquireError>();
    assert_send::<Acquire<'static>>();
    assert_sync::<Acquire<'static>>();
    assert_send::<AcquireArc>();
    assert_sync::<AcquireArc>();
    fn is_static<T: 'static>(_: &T) {}
    let sem = Arc::new(Semaphore::new(1));
    is_static(&sem.acquire_arc());
}

#[test]
#[should_panic(expected = "a semaphore holds at most")]
fn new_over_max_panics() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

#[test]
fn new_at_max_is_fine() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    let p = sem.try_acquire_many(Semaphore::MAX_PERMITS).unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(p);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
}

#[test]
#[should_panic(expected = "cannot acquire")]
fn acquire_many_over_max_panics() {
    let sem = Semaphore::new(1);
    drop(sem.acquire_many(Semaphore::MAX_PERMITS + 1));
}

#[test]
#[should_panic(expected = "cannot acquire")]
fn acquire_many_arc_over_max_panics() {
    let sem = Arc::new(Semaphore::new(1));
    drop(sem.acquire_many_arc(Semaphore::MAX_PERMITS + 1));
}

#[test]
#[should_panic(expected = "semaphore permit count overflow")]
fn add_permits_overflow_panics() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    sem.add_permits(1);
}

#[test]
#[should_panic(expected = "semaphore permit count overflow")]
fn add_permits_overflow_with_waiters_panics() {
    let sem = Semaphore::new(0);
    let mut w = Box::pin(sem.acquire());
    assert!(poll_box(&mut w).is_pending());
    // One permit goes to the waiter; the rest still exceeds the maximum.
    sem.add_permits(Semaphore::MAX_PERMITS + 2);
}

#[test]
fn add_permits_to_max_is_fine() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    sem.add_permits(0);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
}

// ---------------------------------------------------------------- stress

#[test]
#[cfg_attr(miri, ignore)]
fn stress_concurrent_holders_never_exceed_permits() {
    const PERMITS: usize = 3;
    on_all_executors(|ex| async move {
        let sem = Arc::new(Semaphore::new(PERMITS));
        let in_use = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for t in 0..TASKS {
            let (sem, in_use, max_seen) = (sem.clone(), in_use.clone(), max_seen.clone());
            hs.push(ex.spawn(async move {
                for i in 0..ITERS {
                    let n = 1 + (t + i) % PERMITS;
                    let permit = match i % 4 {
                        0 => sem.acquire_many(n).await.unwrap(),
                        1 => match sem.try_acquire_many(n) {
                            Ok(p) => p,
                            Err(e) => {
                                assert_eq!(e, TryAcquireError::NoPermits);
                                sem.acquire_many(n).await.unwrap()
                            }
                        },
                        _ => sem.acquire_many(n).await.unwrap(),
                    };
                    assert_eq!(permit.num_permits(), n);
                    let now = in_use.fetch_add(n, Ordering::SeqCst) + n;
                    assert!(now <= PERMITS, "{now} permits in use of {PERMITS}");
                    max_seen.fetch_max(now, Ordering::SeqCst);
                    if i % 2 == 0 {
                        yield_now().await;
                    }
                    in_use.fetch_sub(n, Ordering::SeqCst);
                    drop(permit);
                }
            }));
        }
        // Owned permits too.
        for _ in 0..2 {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            hs.push(ex.spawn(async move {
                for _ in 0..ITERS {
                    let p = sem.acquire_arc().await.unwrap();
                    let now = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(now <= PERMITS, "{now} permits in use of {PERMITS}");
                    yield_now().await;
                    in_use.fetch_sub(1, Ordering::SeqCst);
                    drop(p);
                }
            }));
        }
        join_all(hs).await;
        assert_eq!(in_use.load(Ordering::SeqCst), 0);
        assert!(max_seen.load(Ordering::SeqCst) >= 1);
        assert_eq!(sem.available_permits(), PERMITS);
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_counter_under_single_permit() {
    struct Shared(std::cell::UnsafeCell<u64>);
    // SAFETY: only touched while holding the one permit.
    unsafe impl Sync for Shared {}
    on_all_executors(|ex| async move {
        let sem = Arc::new(Semaphore::new(1));
        let value = Arc::new(Shared(std::cell::UnsafeCell::new(0)));
        let mut hs = Vec::new();
        for _ in 0..TASKS {
            let (sem, value) = (sem.clone(), value.clone());
            hs.push(ex.spawn(async move {
                for _ in 0..ITERS {
                    let _p = sem.acquire().await.unwrap();
                    // SAFETY: the single permit gives exclusive access.
                    let v = unsafe { *value.0.get() };
                    yield_now().await;
                    // SAFETY: as above.
                    unsafe { *value.0.get() = v + 1 };
                }
            }));
        }
        join_all(hs).await;
        let _p = sem.acquire().await.unwrap();
        // SAFETY: permit held, every task finished.
        assert_eq!(unsafe { *value.0.get() }, (TASKS * ITERS) as u64);
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_close_racing_waiters() {
    on_all_executors(|ex| async move {
        for round in 0..if cfg!(miri) { 2 } else { 20 } {
            let sem = Arc::new(Semaphore::new(4));
            let mut hs = Vec::new();
            let closed = Arc::new(AtomicUsize::new(0));
            for t in 0..TASKS {
                let (sem, closed) = (sem.clone(), closed.clone());
                hs.push(ex.spawn(async move {
                    loop {
                        match sem.acquire_many(1 + t % 3).await {
                            Ok(p) => {
                                yield_now().await;
                                drop(p);
                            }
                            Err(e) => {
                                assert_eq!(e, AcquireError::Closed);
                                closed.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                }));
            }
            for _ in 0..round % 5 {
                yield_now().await;
            }
            sem.close();
            join_all(hs).await;
            assert_eq!(closed.load(Ordering::SeqCst), TASKS);
            assert!(sem.is_closed());
            assert_eq!(sem.available_permits(), 4, "permits lost in round {round}");
        }
    });
}

// ---------------------------------------------------------------- FIFO

#[test]
fn waiters_are_served_fifo() {
    let sem = Semaphore::new(0);
    let wakers: Vec<CountingWaker> = (0..5).map(|_| CountingWaker::new()).collect();
    let mut futs: Vec<_> = (0..5).map(|_| Box::pin(sem.acquire())).collect();
    for (f, w) in futs.iter_mut().zip(&wakers) {
        assert!(w.poll_box(f).is_pending());
    }
    let mut order = Vec::new();
    let mut permits = Vec::new();
    for round in 0..5 {
        sem.add_permits(1);
        // Exactly the next waiter in line was woken.
        for (i, w) in wakers.iter().enumerate() {
            assert_eq!(
                w.count(),
                usize::from(i <= round),
                "round {round}, waiter {i}"
            );
        }
        for (i, f) in futs.iter_mut().enumerate() {
            if order.contains(&i) {
                continue;
            }
            if let Poll::Ready(p) = wakers[i].poll_box(f) {
                order.push(i);
                permits.push(p.unwrap());
            }
        }
    }
    assert_eq!(order, [0, 1, 2, 3, 4]);
    drop(permits);
    drop(futs);
    assert_eq!(sem.available_permits(), 5);
}

#[test]
#[cfg_attr(miri, ignore)]
fn waiters_are_served_fifo_on_executors() {
    on_all_executors(|ex| async move {
        let sem = Arc::new(Semaphore::new(0));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut hs = Vec::new();
        for i in 0..6 {
            // Queue waiter `i` and make sure it is queued before the next.
            let (sem2, order2) = (sem.clone(), order.clone());
            let queued = Arc::new(AtomicUsize::new(0));
            let q2 = queued.clone();
            hs.push(ex.spawn(async move {
                let mut fut = Box::pin(sem2.acquire());
                // Register with a first poll, then await normally.
                let first = std::future::poll_fn(|cx| {
                    let r = fut.as_mut().poll(cx);
                    q2.store(1, Ordering::SeqCst);
                    Poll::Ready(r)
                })
                .await;
                let permit = match first {
                    Poll::Ready(p) => p,
                    Poll::Pending => fut.await,
                }
                .unwrap();
                order2.lock().unwrap().push(i);
                permit.forget();
            }));
            while queued.load(Ordering::SeqCst) == 0 {
                yield_now().await;
                std::thread::yield_now();
            }
        }
        assert_eq!(sem.available_permits(), 0);
        // One permit at a time: whoever records next is the one it was
        // granted to (the task forgets it).
        for k in 0..6 {
            sem.add_permits(1);
            while order.lock().unwrap().len() == k {
                yield_now().await;
                std::thread::yield_now();
            }
        }
        join_all(hs).await;
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
    });
}

#[test]
fn large_request_at_head_is_not_starved() {
    let sem = Semaphore::new(2);
    let h0 = sem.try_acquire().unwrap();
    let h1 = sem.try_acquire().unwrap();
    let big_w = CountingWaker::new();
    let mut big = Box::pin(sem.acquire_many(2));
    assert!(big_w.poll_box(&mut big).is_pending());

    // A permit comes back: it goes to the big waiter, not to newcomers.
    drop(h0);
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(big_w.count(), 0, "partially served waiter is not woken");
    assert!(big_w.poll_box(&mut big).is_pending());
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    let small_w = CountingWaker::new();
    let mut small = Box::pin(sem.acquire());
    assert!(small_w.poll_box(&mut small).is_pending());

    drop(h1);
    assert_eq!(big_w.count(), 1);
    assert_eq!(small_w.count(), 0);
    let big_p = ready(big_w.poll_box(&mut big), "big acquire").unwrap();
    assert_eq!(big_p.num_permits(), 2);
    assert!(small_w.poll_box(&mut small).is_pending());
    drop(big_p);
    assert_eq!(small_w.count(), 1);
    let small_p = ready(small_w.poll_box(&mut small), "small acquire").unwrap();
    assert_eq!(sem.available_permits(), 1);
    drop(small_p);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn stream_of_small_requests_does_not_overtake_large_waiter() {
    // 4 permits; small holders keep cycling; a request for all 4 queues.
    let sem = Semaphore::new(4);
    let mut holders: Vec<_> = (0..4).map(|_| sem.try_acquire().unwrap()).collect();
    let big_w = CountingWaker::new();
    let mut big = Box::pin(sem.acquire_many(4));
    assert!(big_w.poll_box(&mut big).is_pending());
    let mut queued_small = Vec::new();
    let mut releases = 0;
    while !holders.is_empty() {
        drop(holders.remove(0));
        releases += 1;
        // Newcomers can neither barge nor complete.
        assert!(sem.try_acquire().is_err());
        let mut f = Box::pin(sem.acquire());
        assert!(poll_box(&mut f).is_pending());
        queued_small.push(f);
        assert_eq!(sem.available_permits(), 0);
    }
    assert_eq!(releases, 4);
    let p = ready(big_w.poll_box(&mut big), "big acquire").unwrap();
    assert_eq!(p.num_permits(), 4);
    for f in &mut queued_small {
        assert!(poll_box(f).is_pending());
    }
    drop(p);
    for f in &mut queued_small {
        ready(poll_box(f), "small acquire").unwrap().forget();
    }
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn partial_assignment_hides_free_permits() {
    let sem = Semaphore::new(1);
    let w = CountingWaker::new();
    let mut big = Box::pin(sem.acquire_many(3));
    assert!(w.poll_box(&mut big).is_pending());
    assert_eq!(sem.available_permits(), 0);
    assert!(sem.try_acquire().is_err());
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(w.count(), 0);
    assert!(w.poll_box(&mut big).is_pending());
    sem.add_permits(2); // one more than needed
    assert_eq!(w.count(), 1);
    assert_eq!(sem.available_permits(), 1);
    let p = ready(w.poll_box(&mut big), "acquire_many(3)").unwrap();
    assert_eq!(p.num_permits(), 3);
    drop(p);
    assert_eq!(sem.available_permits(), 4);
}

// ---------------------------------------------------------------- cancellation

/// Which future to test: builds it for a semaphore.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Acquire,
    AcquireMany,
    AcquireArc,
    AcquireManyArc,
}

const KINDS: [Kind; 4] = [
    Kind::Acquire,
    Kind::AcquireMany,
    Kind::AcquireArc,
    Kind::AcquireManyArc,
];

type PermitFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, AcquireError>> + 'a>>;

/// A future for `n` permits of `sem` (1 for the single forms) that
/// forgets nothing: it resolves to the permit count and releases them.
fn make(kind: Kind, sem: &Arc<Semaphore>, n: usize) -> (PermitFuture<'_>, usize) {
    match kind {
        Kind::Acquire => (
            Box::pin(async move { sem.acquire().await.map(|p| p.num_permits()) }),
            1,
        ),
        Kind::AcquireMany => (
            Box::pin(async move { sem.acquire_many(n).await.map(|p| p.num_permits()) }),
            n,
        ),
        Kind::AcquireArc => (
            Box::pin(async move { sem.acquire_arc().await.map(|p| p.num_permits()) }),
            1,
        ),
        Kind::AcquireManyArc => (
            Box::pin(async move { sem.acquire_many_arc(n).await.map(|p| p.num_permits()) }),
            n,
        ),
    }
}

/// (a) Polled once while blocked, then dropped: the next waiter still gets
/// in and no permit is lost.
#[test]
fn cancel_while_queued() {
    for kind in KINDS {
        let sem = Arc::new(Semaphore::new(3));
        let all = sem.try_acquire_many(3).unwrap();
        let (mut fut, _) = make(kind, &sem, 2);
        assert!(poll_box(&mut fut).is_pending(), "{kind:?}");
        let next_w = CountingWaker::new();
        let mut next = Box::pin(sem.acquire_many(3));
        assert!(next_w.poll_box(&mut next).is_pending());
        drop(fut);
        drop(all);
        assert_eq!(next_w.count(), 1, "{kind:?}: next waiter woken");
        let p = ready(next_w.poll_box(&mut next), "next waiter").unwrap();
        assert_eq!(p.num_permits(), 3);
        drop(p);
        assert_eq!(sem.available_permits(), 3, "{kind:?}: permits lost");
    }
}

/// (a') Dropped while holding part of its permits: they pass on.
#[test]
fn cancel_while_partially_served() {
    for kind in [Kind::AcquireMany, Kind::AcquireManyArc] {
        let sem = Arc::new(Semaphore::new(3));
        let held = sem.try_acquire_many(2).unwrap();
        let (mut fut, n) = make(kind, &sem, 3);
        assert_eq!(n, 3);
        assert!(poll_box(&mut fut).is_pending());
        // It took the 1 free permit and waits for 2 more.
        assert_eq!(sem.available_permits(), 0);
        let next_w = CountingWaker::new();
        let mut next = Box::pin(sem.acquire());
        assert!(next_w.poll_box(&mut next).is_pending());
        drop(fut);
        // Its partial permit went to the next waiter.
        assert_eq!(next_w.count(), 1, "{kind:?}");
        let p = ready(next_w.poll_box(&mut next), "next waiter").unwrap();
        drop(p);
        drop(held);
        assert_eq!(sem.available_permits(), 3, "{kind:?}: permits lost");
    }
}

/// (b) Woken and handed its permits, then dropped without being polled
/// again: the permits pass to the next waiter, which is woken.
#[test]
fn cancel_after_being_handed_permits() {
    for kind in KINDS {
        let sem = Arc::new(Semaphore::new(2));
        let all = sem.try_acquire_many(2).unwrap();
        let w = CountingWaker::new();
        let (mut fut, _) = make(kind, &sem, 2);
        assert!(w.poll_box(&mut fut).is_pending(), "{kind:?}");
        let next_w = CountingWaker::new();
        let mut next = Box::pin(sem.acquire_many(2));
        assert!(next_w.poll_box(&mut next).is_pending());
        drop(all);
        assert_eq!(w.count(), 1, "{kind:?}: first waiter woken");
        // Handed its permits (the rest went to the next waiter, partially).
        assert_eq!(sem.available_permits(), 0);
        assert!(next_w.poll_box(&mut next).is_pending());
        let before = next_w.count();
        drop(fut);
        assert!(next_w.count() > before, "{kind:?}: next waiter woken");
        let p = ready(next_w.poll_box(&mut next), "next waiter").unwrap();
        assert_eq!(p.num_permits(), 2);
        drop(p);
        assert_eq!(sem.available_permits(), 2, "{kind:?}: permits lost");
    }
}

/// Dropped after completing (never polled to take the output twice) and
/// dropped before ever being polled: nothing is held.
#[test]
fn cancel_before_first_poll_and_after_completion() {
    for kind in KINDS {
        let sem = Arc::new(Semaphore::new(2));
        let (fut, _) = make(kind, &sem, 2);
        drop(fut);
        assert_eq!(sem.available_permits(), 2);
        let (mut fut, n) = make(kind, &sem, 2);
        assert_eq!(ready(poll_box(&mut fut), "free permits"), Ok(n));
        drop(fut);
        assert_eq!(sem.available_permits(), 2, "{kind:?}");
    }
}

/// Many futures polled and dropped in different orders: no permit lost.
#[test]
fn cancel_many_in_every_order() {
    for skip in 0..4 {
        let sem = Arc::new(Semaphore::new(3));
        let holder = sem.try_acquire_many(2).unwrap();
        // Needs 2, 3, 2, 3; the first one takes the free permit (partial).
        let mut futs: Vec<_> = (0..4)
            .map(|i| Box::pin(sem.acquire_many(2 + i % 2)))
            .collect();
        for f in &mut futs {
            assert!(poll_box(f).is_pending());
        }
        assert_eq!(sem.available_permits(), 0);
        // Drop all but one (`skip`), in reverse order.
        let keep = futs.remove(skip);
        while let Some(f) = futs.pop() {
            drop(f);
        }
        drop(holder);
        let mut keep = keep;
        let p = ready(poll_box(&mut keep), "remaining waiter").unwrap();
        assert_eq!(p.num_permits(), 2 + skip % 2);
        drop(p);
        drop(keep);
        assert_eq!(sem.available_permits(), 3, "skip {skip}");
    }
}

#[test]
fn close_wakes_waiters_and_returns_partial_permits() {
    let sem = Arc::new(Semaphore::new(3));
    let held = sem.try_acquire_many(2).unwrap();
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let w3 = CountingWaker::new();
    let mut big = Box::pin(sem.acquire_many(3)); // takes 1, needs 2 more
    let mut small = Box::pin(sem.acquire_arc());
    let mut dropped = Box::pin(sem.acquire_many(2));
    assert!(w1.poll_box(&mut big).is_pending());
    assert!(w2.poll_box(&mut small).is_pending());
    assert!(w3.poll_box(&mut dropped).is_pending());
    assert_eq!(sem.available_permits(), 0);
    sem.close();
    assert_eq!((w1.count(), w2.count(), w3.count()), (1, 1, 1));
    assert_eq!(
        ready(w1.poll_box(&mut big), "closed").unwrap_err(),
        AcquireError::Closed
    );
    assert_eq!(sem.available_permits(), 1, "partial permit returned");
    assert!(matches!(
        ready(w2.poll_box(&mut small), "closed"),
        Err(AcquireError::Closed)
    ));
    drop(dropped);
    drop(held);
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
}

#[test]
fn close_then_drop_partially_served_waiter_without_polling() {
    let sem = Semaphore::new(3);
    let held = sem.try_acquire_many(2).unwrap();
    let mut big = Box::pin(sem.acquire_many(3));
    assert!(poll_box(&mut big).is_pending());
    sem.close();
    drop(big);
    assert_eq!(sem.available_permits(), 1);
    drop(held);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn acquire_after_completion_panics_instead_of_leaking() {
    let sem = Semaphore::new(1);
    let mut fut = Box::pin(sem.acquire());
    let p = ready(poll_box(&mut fut), "acquire").unwrap();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_box(&mut fut)));
    assert!(res.is_err(), "polling after completion must panic");
    drop(fut);
    drop(p);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn dropping_the_permit_of_an_arc_keeps_semaphore_alive() {
    let sem = Arc::new(Semaphore::new(1));
    let p = sem.try_acquire_arc().unwrap();
    let weak = Arc::downgrade(&sem);
    drop(sem);
    assert!(
        weak.upgrade().is_some(),
        "the permit keeps the semaphore alive"
    );
    assert_eq!(p.semaphore().available_permits(), 0);
    drop(p);
    assert!(weak.upgrade().is_none());
}

#[test]
fn reregistering_with_a_new_waker_is_honoured() {
    let sem = Semaphore::new(0);
    let first = CountingWaker::new();
    let second = CountingWaker::new();
    let mut fut = Box::pin(sem.acquire());
    assert!(first.poll_box(&mut fut).is_pending());
    assert!(second.poll_box(&mut fut).is_pending());
    sem.add_permits(1);
    assert_eq!((first.count(), second.count()), (0, 1));
    ready(second.poll_box(&mut fut), "acquire")
        .unwrap()
        .forget();
}

/// More waiters than fit in one wake-up batch: a single `add_permits`
/// serves (and wakes) all of them, in order.
#[test]
fn add_permits_serves_more_waiters_than_one_batch() {
    const N: usize = 40;
    let sem = Semaphore::new(0);
    let wakers: Vec<_> = (0..N).map(|_| CountingWaker::new()).collect();
    let mut futs: Vec<_> = (0..N)
        .map(|i| Box::pin(sem.acquire_many(1 + i % 2)))
        .collect();
    for (f, w) in futs.iter_mut().zip(&wakers) {
        assert!(w.poll_box(f).is_pending());
    }
    let total: usize = (0..N).map(|i| 1 + i % 2).sum();
    // All but the last waiter's last permit.
    sem.add_permits(total - 1);
    for (i, w) in wakers.iter().enumerate() {
        assert_eq!(w.count(), usize::from(i < N - 1), "waiter {i}");
    }
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(2);
    assert_eq!(wakers[N - 1].count(), 1);
    for (f, w) in futs.iter_mut().zip(&wakers) {
        ready(w.poll_box(f), "served waiter").unwrap().forget();
    }
    assert_eq!(sem.available_permits(), 1);
}

/// More waiters than fit in one wake-up batch: `close` wakes all of them.
#[test]
fn close_wakes_more_waiters_than_one_batch() {
    const N: usize = 40;
    let sem = Semaphore::new(1);
    let wakers: Vec<_> = (0..N).map(|_| CountingWaker::new()).collect();
    let mut futs: Vec<_> = (0..N).map(|_| Box::pin(sem.acquire_many(2))).collect();
    for (f, w) in futs.iter_mut().zip(&wakers) {
        assert!(w.poll_box(f).is_pending());
    }
    sem.close();
    for (i, (f, w)) in futs.iter_mut().zip(&wakers).enumerate() {
        assert_eq!(w.count(), 1, "waiter {i} not woken by close");
        assert_eq!(
            ready(w.poll_box(f), "closed waiter").unwrap_err(),
            AcquireError::Closed
        );
    }
    assert_eq!(sem.available_permits(), 1, "partial permit returned");
}
