//! Why weftwork's wait core is not built on `event-listener`
//! (see the module docs of `src/wait/mod.rs`).
//!
//! An event-listener based semaphore *wakes* a waiter when a permit comes
//! back, but does not *give* it the permit: the woken waiter has to compete
//! for it with every newcomer's fast path. A newcomer that runs before the
//! woken waiter takes the permit, the waiter finds nothing and goes back to
//! sleep. With a steady stream of small requests, a request that needs more
//! than one permit can wait forever.
//!
//! Both tests below run the identical, deterministic sequence (one thread,
//! futures polled by hand with counting wakers):
//!
//! 1. a semaphore with 2 permits, both held by small holders;
//! 2. a *large* request for 2 permits queues (is polled once → `Pending`);
//! 3. then, round after round: the oldest small holder releases its
//!    permit, and before the large request runs again a newcomer asks for
//!    one permit (`try_acquire` on even rounds, a fresh `acquire()` polled
//!    once on odd rounds); then the large request is polled.
//!
//! `async-lock` 3.x (event-listener 5.x) lets every newcomer overtake the
//! queued large request, round after round: it is starved. weftwork hands
//! released permits to the head waiter, so newcomers fail/queue and the
//! large request completes as soon as the two original holders are gone.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use common::{CountingWaker, poll_once};

const ROUNDS: usize = if cfg!(miri) { 8 } else { 100 };

/// Records `async-lock` 3.x behaviour (a documented limitation, not a bug
/// of that crate): a waiting request is woken but overtaken every round.
#[test]
fn async_lock_semaphore_lets_small_requests_starve_a_large_one() {
    let sem = async_lock::Semaphore::new(2);
    let mut holders = vec![sem.try_acquire().unwrap(), sem.try_acquire().unwrap()];

    // async-lock has no `acquire_many`: a request for 2 permits is two
    // acquires in a row, keeping the first while waiting for the second.
    let large_waker = CountingWaker::new();
    let mut large: Pin<Box<dyn Future<Output = _>>> = Box::pin(async {
        let first = sem.acquire().await;
        let second = sem.acquire().await;
        (first, second)
    });
    assert!(large_waker.poll_box(&mut large).is_pending());

    let mut overtaken = 0;
    for round in 0..ROUNDS {
        drop(holders.remove(0)); // a permit comes back
        // A newcomer runs before the woken large request does.
        let newcomer = if round % 2 == 0 {
            sem.try_acquire()
        } else {
            let mut acq = Box::pin(sem.acquire());
            match poll_once(acq.as_mut()) {
                Poll::Ready(g) => Some(g),
                Poll::Pending => None,
            }
        };
        let newcomer = newcomer.expect("async-lock: the newcomer takes the freed permit");
        holders.push(newcomer);
        overtaken += 1;
        // The large request was woken for that permit but finds it gone.
        assert!(
            large_waker.poll_box(&mut large).is_pending(),
            "async-lock: large request completed in round {round}"
        );
    }
    assert_eq!(overtaken, ROUNDS);
    assert!(
        large_waker.count() >= ROUNDS,
        "the large request was woken {} times in {ROUNDS} rounds, yet never served",
        large_waker.count()
    );
    assert_eq!(sem.available_permits(), 0);
}

/// The identical sequence on weftwork: permits go to the queued large
/// request; newcomers can neither barge (`try_acquire` fails) nor overtake
/// (`acquire` queues behind it), and it completes after 2 releases.
#[test]
fn weftwork_semaphore_serves_the_large_request_first() {
    let sem = weftwork::Semaphore::new(2);
    let mut holders = vec![sem.try_acquire().unwrap(), sem.try_acquire().unwrap()];

    let large_waker = CountingWaker::new();
    let mut large = Box::pin(sem.acquire_many(2));
    assert!(large_waker.poll_box(&mut large).is_pending());

    let mut queued_newcomers = Vec::new();
    let mut failed_try = 0;
    let mut done_in_round = None;
    for round in 0..ROUNDS {
        if !holders.is_empty() {
            drop(holders.remove(0)); // a permit comes back
        }
        if round % 2 == 0 {
            match sem.try_acquire() {
                Ok(p) => holders.push(p),
                Err(e) => {
                    assert_eq!(e, weftwork::TryAcquireError::NoPermits);
                    failed_try += 1;
                }
            }
        } else {
            let w = CountingWaker::new();
            let mut acq = Box::pin(sem.acquire());
            match w.poll_box(&mut acq) {
                Poll::Ready(p) => holders.push(p.unwrap()),
                Poll::Pending => queued_newcomers.push((w, acq)),
            }
        }
        if let Poll::Ready(p) = large_waker.poll_box(&mut large) {
            done_in_round = Some((round, p.unwrap()));
            break;
        }
    }
    let (round, permit) = done_in_round.expect("weftwork: large request starved");
    assert_eq!(round, 1, "served as soon as both original holders left");
    assert_eq!(permit.num_permits(), 2);
    assert_eq!(large_waker.count(), 1, "woken once, when it was served");
    assert!(holders.is_empty(), "no newcomer got a permit before it");
    assert_eq!(failed_try, 1);
    assert_eq!(queued_newcomers.len(), 1);
    // The newcomer that queued behind it is served next.
    drop(permit);
    let (w, mut acq) = queued_newcomers.pop().unwrap();
    assert_eq!(w.count(), 1);
    let p = common::ready(w.poll_box(&mut acq), "queued newcomer").unwrap();
    assert_eq!(sem.available_permits(), 1);
    drop(p);
    assert_eq!(sem.available_permits(), 2);
}
