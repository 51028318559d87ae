//! Loom models of `weftwork::Semaphore`.
//!
//! MUTATION TABLE
#![cfg(loom)]

use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use weftwork::{AcquireError, Semaphore};
use weftwork_loom_tests::{counting_waker, model, model_bounded, poll_once};

/// Two permits, three contenders (one wants both at once): the number of
/// permits held at any moment never exceeds two, and all come back.
#[test]
fn permits_never_over_granted() {
    model_bounded(2, || {
        let sem = Arc::new(Semaphore::new(2));
        let held = Arc::new(AtomicUsize::new(0));
        let work = |sem: &Semaphore, held: &AtomicUsize, n: usize| {
            let permit = block_on(sem.acquire_many(n)).unwrap();
            let now = held.fetch_add(n, SeqCst) + n;
            assert!(now <= 2, "{now} permits held out of 2");
            held.fetch_sub(n, SeqCst);
            drop(permit);
        };
        let threads: Vec<_> = [1, 1]
            .into_iter()
            .map(|n| {
                let (sem, held) = (sem.clone(), held.clone());
                thread::spawn(move || work(&sem, &held, n))
            })
            .collect();
        work(&sem, &held, 2);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 2);
    });
}

/// A waiter blocks on an empty semaphore; another thread releases. If the
/// wake-up were lost, `block_on` would park forever and loom would report a
/// deadlock.
#[test]
fn no_lost_wakeup() {
    model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let permit = sem.try_acquire_arc().unwrap();
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || {
                let p = sem.acquire_blocking().unwrap();
                assert_eq!(p.num_permits(), 1);
            })
        };
        drop(permit);
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// The head waiter is handed the permit (it is woken), then dropped without
/// being polled again: the permit must move on to the waiter behind it.
#[test]
fn woken_then_dropped_passes_permit_on() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let permit = sem.try_acquire().unwrap();
        let (waker, wakes) = counting_waker();
        let mut first = Box::pin(sem.acquire());
        assert!(poll_once(first.as_mut(), &waker).is_pending());
        let second = {
            let sem = sem.clone();
            thread::spawn(move || drop(block_on(sem.acquire()).unwrap()))
        };
        drop(permit); // hands the permit to `first`, the head
        assert_eq!(wakes.get(), 1, "the head waiter was not woken");
        drop(first); // must pass it to `second` (or back to the pool)
        second.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// `acquire_many(2)` is handed one of its two permits, then dropped (racing
/// the hand-off): the partial permit must come back.
#[test]
fn dropped_with_partial_permits() {
    model(|| {
        let sem = StdArc::new(Semaphore::new(2));
        let a = sem.try_acquire_arc().unwrap();
        let b = sem.try_acquire_arc().unwrap();
        let (waker, _wakes) = counting_waker();
        let mut fut = Box::pin(sem.acquire_many(2));
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        let releaser = thread::spawn(move || drop(a)); // hands 1 of 2
        drop(fut);
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        drop(b);
        assert_eq!(sem.available_permits(), 2);
    });
}

/// Two waiters (one for 2 permits, one for 1) race `close` and permit
/// returns: each sees `Ok` or `Err(Closed)`, nobody hangs, and every permit
/// (including ones handed to a waiter before the close) comes back.
#[test]
fn close_racing_waiters() {
    model_bounded(2, || {
        let sem = StdArc::new(Semaphore::new(2));
        let p1 = sem.try_acquire_arc().unwrap();
        let p2 = sem.try_acquire_arc().unwrap();
        let waiters: Vec<_> = [2, 1]
            .into_iter()
            .map(|n| {
                let sem = sem.clone();
                thread::spawn(move || match block_on(sem.acquire_many(n)) {
                    Ok(p) => assert_eq!(p.num_permits(), n),
                    Err(AcquireError::Closed) => assert!(sem.is_closed()),
                })
            })
            .collect();
        drop(p1);
        sem.close();
        drop(p2);
        for w in waiters {
            w.join().unwrap();
        }
        assert!(sem.is_closed());
        assert_eq!(sem.available_permits(), 2);
    });
}

/// `add_permits` from two threads races an `acquire_many(2)` on an empty
/// semaphore: the waiter completes and exactly the added permits remain.
#[test]
fn add_permits_racing_acquire() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || drop(block_on(sem.acquire_many(2)).unwrap()))
        };
        let adder = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        sem.add_permits(1);
        adder.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
}

/// FIFO where it is observable: a waiter queued first is served first even
/// if a second waiter queues (on another thread) before the release, and a
/// `try_acquire` never overtakes the queue.
#[test]
fn fifo_between_two_waiters() {
    model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let permit = sem.try_acquire_arc().unwrap();
        let (waker, wakes) = counting_waker();
        let mut first = pin!(sem.acquire());
        assert!(poll_once(first.as_mut(), &waker).is_pending());
        let second = {
            let sem = sem.clone();
            thread::spawn(move || drop(block_on(sem.acquire()).unwrap()))
        };
        let releaser = thread::spawn(move || drop(permit));
        // Whether or not the permit was released yet, it is not free for a
        // newcomer: it is held, or handed to `first`.
        assert!(sem.try_acquire().is_err());
        releaser.join().unwrap();
        assert_eq!(wakes.get(), 1);
        match poll_once(first.as_mut(), &waker) {
            Poll::Ready(Ok(p)) => drop(p),
            _ => panic!("the first waiter was overtaken"),
        }
        second.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}
