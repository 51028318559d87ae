//! Edge cases of `weftwork::Semaphore` from a review: what its docs promise
//! for bad or extreme input (a request above what the semaphore holds, an
//! `add_permits` that overflows) and for a `close` that races a grant.
//! Hand-polled with wakers the test controls: no threads, no timing.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{CountingWaker, ready};
use weftwork::{AcquireError, Semaphore, TryAcquireError};

/// `close` fails the waiters still owed permits, gives back what a
/// partially served one held, and lets a waiter that was already handed
/// all of its permits complete with them.
#[test]
fn close_fails_unserved_waiters_but_not_a_served_one() {
    let sem = Semaphore::new(0);
    let (w_served, w_partial) = (CountingWaker::new(), CountingWaker::new());
    let mut served = Box::pin(sem.acquire_many(2));
    let mut partial = Box::pin(sem.acquire_many(2));
    assert!(w_served.poll_box(&mut served).is_pending());
    assert!(w_partial.poll_box(&mut partial).is_pending());
    sem.add_permits(3); // 2 to the first, 1 to the second
    assert_eq!((w_served.count(), w_partial.count()), (1, 0));
    sem.close();
    assert_eq!(w_partial.count(), 1, "close wakes the unserved waiter");
    let p = ready(w_served.poll_box(&mut served), "served waiter").unwrap();
    assert_eq!(p.num_permits(), 2);
    assert_eq!(
        ready(w_partial.poll_box(&mut partial), "closed waiter").unwrap_err(),
        AcquireError::Closed
    );
    assert_eq!(sem.available_permits(), 1, "the partial permit came back");
    drop(p);
    assert_eq!(sem.available_permits(), 3);
}

/// A request above what the semaphore holds is not an error: it waits,
/// the waiters behind it wait too (FIFO), and `add_permits` serves it.
#[test]
fn a_request_above_the_semaphores_size_waits_and_holds_the_queue() {
    let sem = Semaphore::new(2);
    let (w_big, w_small) = (CountingWaker::new(), CountingWaker::new());
    let mut big = Box::pin(sem.acquire_many(3));
    let mut small = Box::pin(sem.acquire());
    assert!(w_big.poll_box(&mut big).is_pending());
    assert!(w_small.poll_box(&mut small).is_pending());
    assert_eq!(sem.available_permits(), 0, "the head holds the 2 permits");
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    sem.add_permits(2);
    assert_eq!((w_big.count(), w_small.count()), (1, 1));
    let b = ready(w_big.poll_box(&mut big), "big request").unwrap();
    let s = ready(w_small.poll_box(&mut small), "small request").unwrap();
    assert_eq!((b.num_permits(), s.num_permits()), (3, 1));
    drop((b, s));
    assert_eq!(sem.available_permits(), 4);
}

/// `add_permits` that overflows serves (and wakes) the queued waiters
/// first; only the rest panics, and the semaphore stays usable.
#[test]
fn add_permits_overflow_serves_the_waiters_first() {
    let sem = Semaphore::new(0);
    let w = CountingWaker::new();
    let mut fut = Box::pin(sem.acquire_many(2));
    assert!(w.poll_box(&mut fut).is_pending());
    let res = catch_unwind(AssertUnwindSafe(|| sem.add_permits(usize::MAX)));
    assert!(res.is_err(), "the overflow panics");
    assert_eq!(w.count(), 1, "the served waiter was woken");
    let p = ready(w.poll_box(&mut fut), "served waiter").unwrap();
    assert_eq!(p.num_permits(), 2);
    assert_eq!(sem.available_permits(), 0, "the rest was not added");
    drop(p);
    assert_eq!(sem.available_permits(), 2);
}

/// A permit given back into a semaphore that `add_permits` filled to the
/// maximum meanwhile panics (documented on `add_permits`).
#[test]
#[should_panic(expected = "semaphore permit count overflow")]
fn dropping_a_permit_into_a_full_semaphore_panics() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    let p = sem.try_acquire().unwrap();
    sem.add_permits(1);
    drop(p);
}

/// `forget_permits` takes only free permits, at most `n` of them, and
/// reports how many: held permits come back as usual, and a closed
/// semaphore shrinks the same way.
#[test]
fn forget_permits_takes_only_free_permits() {
    let sem = Semaphore::new(6);
    let held = sem.try_acquire_many(2).unwrap();
    assert_eq!(sem.forget_permits(0), 0);
    assert_eq!(sem.forget_permits(1), 1);
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(sem.forget_permits(10), 3, "only the free permits go");
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.forget_permits(1), 0);
    drop(held);
    assert_eq!(sem.available_permits(), 2);
    sem.close();
    assert_eq!(sem.forget_permits(1), 1);
    assert_eq!(sem.available_permits(), 1);
}

/// While a waiter is queued no permit is free, so `forget_permits` takes
/// none, not even the share the head waiter was already handed; the
/// waiter is served in full by the next release.
#[test]
fn forget_permits_leaves_a_queued_waiters_share_alone() {
    let sem = Semaphore::new(1);
    let w = CountingWaker::new();
    let mut waiter = Box::pin(sem.acquire_many(3));
    assert!(
        w.poll_box(&mut waiter).is_pending(),
        "1 of 3 free: it queues"
    );
    assert_eq!(sem.forget_permits(5), 0);
    sem.add_permits(2);
    assert_eq!(w.count(), 1);
    let p = ready(w.poll_box(&mut waiter), "served waiter").unwrap();
    assert_eq!(p.num_permits(), 3);
    drop(p);
    assert_eq!(sem.forget_permits(5), 3);
    assert_eq!(sem.available_permits(), 0);
}

/// `forget_permits` racing `add_permits`, acquires and releases on other
/// threads: every permit is either forgotten (counted by the calls'
/// results) or back in the semaphore at the end.
#[test]
#[cfg_attr(miri, ignore = "thread stress")]
fn forget_permits_racing_acquire_and_release_loses_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const PERMITS: usize = 16;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let (forgotten, added) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (sem, forgotten, added) = (sem.clone(), forgotten.clone(), added.clone());
            std::thread::spawn(move || {
                for i in 0..3000 {
                    match (i + t) % 5 {
                        0 => {
                            forgotten.fetch_add(sem.forget_permits(2), Ordering::Relaxed);
                        }
                        1 => {
                            sem.add_permits(1);
                            added.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            if let Ok(p) = sem.try_acquire_many(1 + i % 3) {
                                std::hint::black_box(&p);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let (forgotten, added) = (
        forgotten.load(Ordering::Relaxed),
        added.load(Ordering::Relaxed),
    );
    assert!(forgotten > 0, "some calls found free permits");
    assert_eq!(sem.available_permits() + forgotten, PERMITS + added);
}
