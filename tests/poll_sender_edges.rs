//! Edge cases of `PollSender` found in review. Each test failed before the
//! fix it names.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use weftwork::channel::{PollSender, bounded};

fn poll_with<F: Future + ?Sized>(fut: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(w))
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Bug: `send_item` consumed the reserved slot and only then (after the
/// receiver it handed the value to was woken) left the `Reserved` state. A
/// `wake` that panicked left the handle `Reserved` with no slot behind it:
/// `poll_reserve` then said `Ready` on a full channel, and the next
/// `send_item`, `abort_send` or drop gave back a slot it did not hold (the
/// channel's slot count underflowed).
#[test]
fn send_item_with_panicking_wake_leaves_no_phantom_reservation() {
    let (tx, rx) = bounded::<u32>(1);
    let mut recv = Box::pin(rx.recv());
    let bad = common::panicking_waker();
    assert!(poll_with(recv.as_mut(), &bad).is_pending());
    let mut ps = PollSender::new(tx.clone());
    assert_eq!(ps.poll_reserve(&mut noop_cx()), Poll::Ready(Ok(())));
    let res = catch_unwind(AssertUnwindSafe(|| ps.send_item(1)));
    assert!(
        res.is_err(),
        "the wake panicked (it propagates to the caller)"
    );
    // The value was handed over: it was sent.
    assert_eq!(poll_with(recv.as_mut(), Waker::noop()), Poll::Ready(Ok(1)));
    // Fill the one slot: the handle must now wait for room.
    tx.try_send(2).unwrap();
    if ps.poll_reserve(&mut noop_cx()).is_ready() {
        // Not dropped: its drop would give back the slot once more (the
        // count underflows, a second panic aborts the test binary).
        std::mem::forget(ps);
        panic!("the handle still claims the slot it already used");
    }
    drop(ps);
    assert_eq!(rx.try_recv(), Ok(2));
    assert!(tx.try_send(3).is_ok());
    assert!(tx.try_send(4).is_err(), "capacity 1 is kept");
}

/// Bug: the same in `abort_send`: the slot it gave back woke a parked
/// sender whose `wake` panicked, and the handle stayed `Reserved`.
#[test]
fn abort_send_with_panicking_wake_leaves_no_phantom_reservation() {
    let (tx, rx) = bounded::<u32>(1);
    let mut ps = PollSender::new(tx.clone());
    assert_eq!(ps.poll_reserve(&mut noop_cx()), Poll::Ready(Ok(())));
    let mut send = Box::pin(tx.send(1));
    let bad = common::panicking_waker();
    assert!(poll_with(send.as_mut(), &bad).is_pending(), "full: parked");
    let res = catch_unwind(AssertUnwindSafe(|| ps.abort_send()));
    assert!(
        res.is_err(),
        "the wake panicked (it propagates to the caller)"
    );
    // The parked send was woken for the slot and takes it.
    assert_eq!(poll_with(send.as_mut(), Waker::noop()), Poll::Ready(Ok(())));
    if ps.poll_reserve(&mut noop_cx()).is_ready() {
        // Not dropped: its drop would give back the slot once more (the
        // count underflows, a second panic aborts the test binary).
        std::mem::forget(ps);
        panic!("the handle still claims the slot it gave back");
    }
    drop(ps);
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(tx.try_send(3).is_ok());
    assert!(tx.try_send(4).is_err(), "capacity 1 is kept");
}
