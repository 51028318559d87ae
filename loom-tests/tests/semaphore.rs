//! Loom models of `weftwork::Semaphore`.
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
//! never hands off · M38 `Waiter::leave` stores `Relaxed` · M39 a grant
//! sets the waiter's `left` flag before unlinking it · M40 a served waiter
//! dropped without the lock keeps its permits · M41 `close` sets the flag
//! before its last touch of the waiter · M60 `forget_permits` takes free
//! permits while the list lock is held.
//!
//! | model                               | mutations it catches |
//! |-------------------------------------|----------------------|
//! | permits_never_over_granted          | M1, M3, M9, M18 |
//! | no_lost_wakeup                      | M1, M3, M9, M18, M27* |
//! | woken_then_dropped_passes_permit_on | M1, M2, M3, M9, M11, M18 |
//! | dropped_with_partial_permits        | M2, M1*, M27* |
//! | close_racing_waiters                | M1, M3, M8, M11, M19, M27 |
//! | add_permits_racing_acquire          | M1, M3, M9, M18, M27* |
//! | fifo_between_two_waiters            | M1, M3, M9, M11, M18, M27 |
//! | served_waiter_polled_without_the_lock | M38, M39 |
//! | served_waiter_dropped_racing_the_grant | M38, M39, M40 |
//! | closed_waiter_polled_racing_the_close | M38, M41 |
//! | forget_racing_a_waiter_that_queues  | M60* |
#![cfg(loom)]

use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use weftwork::{AcquireError, Semaphore};
use weftwork_loom_tests::{Tracked, counting_waker, model, model_bounded, poll_once};

/// One permit, two contenders (one takes it twice, so that it can race a
/// waiter that was just handed the permit): never more than one holder, and
/// the permit comes back.
#[test]
fn permits_never_over_granted() {
    model_bounded(2, || {
        let sem = Arc::new(Semaphore::new(1));
        let held = Arc::new(AtomicUsize::new(0));
        let work = |sem: &Semaphore, held: &AtomicUsize, rounds: usize| {
            for _ in 0..rounds {
                let permit = sem.acquire_blocking().unwrap();
                let now = held.fetch_add(1, SeqCst) + 1;
                assert!(now <= 1, "{now} permits held out of 1");
                held.fetch_sub(1, SeqCst);
                drop(permit);
            }
        };
        let other = {
            let (sem, held) = (sem.clone(), held.clone());
            thread::spawn(move || work(&sem, &held, 2))
        };
        work(&sem, &held, 1);
        other.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
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

/// A queued `acquire_many(2)` on a semaphore of 2 is dropped while another
/// thread releases `released` of the permits held before it (1: a partial
/// hand-off, the waiter stays queued; 2: a grant, the waiter leaves the list
/// and finds that out without the lock, or under it). Every permit comes
/// back exactly once.
fn dropped_racing_a_release(released: usize) {
    model(move || {
        let sem = StdArc::new(Semaphore::new(2));
        let freed = sem.try_acquire_many_arc(released).unwrap();
        let kept = sem.try_acquire_many_arc(2 - released).unwrap();
        let (waker, _wakes) = counting_waker();
        let mut fut = Box::pin(sem.acquire_many(2));
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        let releaser = thread::spawn(move || drop(freed));
        drop(fut);
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), released);
        drop(kept);
        assert_eq!(sem.available_permits(), 2);
    });
}

/// `acquire_many(2)` is handed one of its two permits, then dropped (racing
/// the hand-off): the partial permit must come back.
#[test]
fn dropped_with_partial_permits() {
    dropped_racing_a_release(1);
}

/// `close` (on another thread) races the permits being returned to two
/// queued waiters, one for 2 permits (which may have been handed 1 of them
/// when the close lands) and one for 1: both are woken and resolve to `Ok`
/// or `Err(Closed)`, and every permit, also a partially handed one, comes
/// back.
#[test]
fn close_racing_waiters() {
    model(|| {
        let sem = StdArc::new(Semaphore::new(2));
        let p1 = sem.try_acquire_arc().unwrap();
        let p2 = sem.try_acquire_arc().unwrap();
        let (big_waker, big_wakes) = counting_waker();
        let (small_waker, small_wakes) = counting_waker();
        let mut big = pin!(sem.acquire_many(2));
        let mut small = pin!(sem.acquire());
        assert!(poll_once(big.as_mut(), &big_waker).is_pending());
        assert!(poll_once(small.as_mut(), &small_waker).is_pending());
        let closer = {
            let sem = sem.clone();
            thread::spawn(move || sem.close())
        };
        drop(p1);
        drop(p2);
        closer.join().unwrap();
        assert!(sem.is_closed());
        assert_eq!(big_wakes.get(), 1, "the 2-permit waiter was not woken");
        assert_eq!(small_wakes.get(), 1, "the 1-permit waiter was not woken");
        match poll_once(big.as_mut(), &big_waker) {
            Poll::Ready(Ok(p)) => assert_eq!(p.num_permits(), 2),
            Poll::Ready(Err(e)) => assert_eq!(e, AcquireError::Closed),
            Poll::Pending => panic!("woken but still pending after close"),
        }
        // Both permits went to (or came back from) the head waiter, so the
        // other one can only have been closed out.
        match poll_once(small.as_mut(), &small_waker) {
            Poll::Ready(res) => assert_eq!(res.unwrap_err(), AcquireError::Closed),
            Poll::Pending => panic!("woken but still pending after close"),
        }
        assert_eq!(sem.available_permits(), 2);
    });
}

/// `add_permits` (one at a time, on another thread) races an
/// `acquire_many(2)` on an empty semaphore: the waiter completes and exactly
/// the added permits remain.
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
            thread::spawn(move || {
                sem.add_permits(1);
                sem.add_permits(1);
            })
        };
        adder.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
}

/// FIFO where it is observable: the waiter queued first is served first,
/// even when a second waiter (on another thread) queues before the release,
/// and a `try_acquire` never takes a permit that a waiter is owed.
#[test]
fn fifo_between_two_waiters() {
    model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let permit = sem.try_acquire().unwrap();
        let (waker, wakes) = counting_waker();
        let mut first = pin!(sem.acquire());
        assert!(poll_once(first.as_mut(), &waker).is_pending());
        let second = {
            let sem = sem.clone();
            thread::spawn(move || drop(block_on(sem.acquire()).unwrap()))
        };
        drop(permit); // races `second` queueing
        assert!(sem.try_acquire().is_err(), "a newcomer overtook the queue");
        assert_eq!(wakes.get(), 1);
        match poll_once(first.as_mut(), &waker) {
            Poll::Ready(Ok(p)) => drop(p),
            _ => panic!("the first waiter was overtaken"),
        }
        second.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A served waiter sees that it was served without the lock (the flag its
/// granter sets as its last touch): a poll racing the release either finds
/// it still queued or finishes from its node, and the granter's writes —
/// the node and the data the permit guards — are visible when it does.
#[test]
fn served_waiter_polled_without_the_lock() {
    model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let data = Arc::new(Tracked::new(0));
        let permit = sem.try_acquire_arc().unwrap();
        let (waker, _wakes) = counting_waker();
        let mut fut = Box::pin(sem.acquire());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        let releaser = {
            let data = data.clone();
            thread::spawn(move || {
                data.incr();
                drop(permit); // grants `fut`
            })
        };
        // Not woken yet, maybe: polled for some other reason (a `select!`).
        let permit = match poll_once(fut.as_mut(), &waker) {
            Poll::Ready(p) => p.unwrap(),
            Poll::Pending => block_on(fut).unwrap(),
        };
        assert_eq!(data.get(), 1);
        drop(permit);
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A waiter dropped while the release that serves it runs: it gives back
/// the permit it was granted (found without the lock, or under it), so the
/// permit is never lost nor counted twice.
#[test]
fn served_waiter_dropped_racing_the_grant() {
    dropped_racing_a_release(2);
}

/// A waiter holding part of its request, polled by hand while `close` runs
/// on another thread: it finishes with `Closed` from its node (without the
/// lock, once the closer's flag is set, or under it) and gives its partial
/// permit back exactly once.
#[test]
fn closed_waiter_polled_racing_the_close() {
    model(|| {
        let sem = StdArc::new(Semaphore::new(2));
        let a = sem.try_acquire().unwrap();
        let b = sem.try_acquire_arc().unwrap();
        let (waker, _wakes) = counting_waker();
        let mut fut = Box::pin(sem.acquire_many(2));
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        drop(a); // handed to `fut`: it holds 1 of 2
        let closer = {
            let sem = sem.clone();
            thread::spawn(move || sem.close())
        };
        match poll_once(fut.as_mut(), &waker) {
            Poll::Ready(res) => assert!(res.is_err(), "2 permits granted while 1 is held"),
            Poll::Pending => {}
        }
        drop(fut);
        closer.join().unwrap();
        drop(b);
        assert_eq!(sem.available_permits(), 2);
    });
}

/// `forget_permits` racing a waiter that queues with a partial share: the
/// one free permit goes either to the waiter (taken under the list lock,
/// published with a plain store) or to `forget_permits`, never to both.
#[test]
fn forget_racing_a_waiter_that_queues() {
    model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let forgetter = {
            let sem = sem.clone();
            thread::spawn(move || sem.forget_permits(1))
        };
        let (waker, _wakes) = counting_waker();
        let mut fut = Box::pin(sem.acquire_many(2));
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        let forgotten = forgetter.join().unwrap();
        sem.add_permits(2);
        let served = match poll_once(fut.as_mut(), &waker) {
            Poll::Ready(Ok(p)) => p.num_permits(),
            _ => 0,
        };
        // Dropped before any assertion: a queued future dropped while a
        // failed assertion unwinds would take the list lock, which loom
        // cannot schedule then (the model would hang, not fail).
        drop(fut);
        assert_eq!(served, 2, "the waiter was not served in full");
        assert_eq!(
            sem.available_permits() + forgotten,
            3,
            "a permit was both forgotten and handed out"
        );
    });
}
