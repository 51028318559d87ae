//! `weftwork::channel::oneshot`: the sender's wait for the receiver to go
//! (`closed` / `poll_closed`), waker handling (no clone when the value is
//! already there, only the latest waker kept, wakers released when a side
//! goes), `FusedFuture`, and `recv_blocking`. Futures are polled by hand.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use common::CountingWaker;
use futures::future::FusedFuture;
use weftwork::channel::{RecvError, TryRecvError, oneshot};

/// `closed` is pending while the receiver lives and is woken (once) when it
/// goes, by drop or by `close`.
#[test]
fn closed_is_woken_when_the_receiver_goes() {
    for by_close in [false, true] {
        let (mut tx, rx) = oneshot::<u8>();
        let mut rx = Some(rx);
        let w = CountingWaker::new();
        let mut closed = pin!(tx.closed());
        assert!(w.poll(closed.as_mut()).is_pending());
        assert!(w.poll(closed.as_mut()).is_pending(), "a re-poll waits too");
        assert_eq!(w.count(), 0);
        if by_close {
            rx.as_mut().unwrap().close();
        } else {
            rx = None;
        }
        assert_eq!(w.count(), 1, "by_close: {by_close}");
        assert!(w.poll(closed.as_mut()).is_ready());
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1));
        drop(rx);
    }
}

/// With the receiver already gone, `closed` is ready at once.
#[test]
fn closed_is_ready_when_the_receiver_is_already_gone() {
    let (mut tx, rx) = oneshot::<u8>();
    drop(rx);
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(tx.poll_closed(&mut cx), Poll::Ready(()));
    assert_eq!(pin!(tx.closed()).poll(&mut cx), Poll::Ready(()));
}

/// `poll_closed` keeps the waker of the latest call only.
#[test]
fn poll_closed_wakes_the_latest_waker() {
    let (mut tx, rx) = oneshot::<u8>();
    let (a, b) = (CountingWaker::new(), CountingWaker::new());
    assert!(
        tx.poll_closed(&mut Context::from_waker(a.waker()))
            .is_pending()
    );
    assert!(
        tx.poll_closed(&mut Context::from_waker(b.waker()))
            .is_pending()
    );
    drop(rx);
    assert_eq!((a.count(), b.count()), (0, 1));
}

/// Receiving a sent value does not clone the poll's waker, and a re-poll
/// with the waker already stored does not clone it again: a waker whose
/// `clone` panics shows both.
#[test]
fn receiver_does_not_clone_the_waker_it_needs_not_store() {
    let bad = common::clone_panicking_waker();
    let (tx, rx) = oneshot::<u8>();
    tx.send(4).unwrap();
    let mut rx = pin!(rx);
    assert_eq!(
        rx.as_mut().poll(&mut Context::from_waker(&bad)),
        Poll::Ready(Ok(4))
    );

    let (tx, rx) = oneshot::<u8>();
    let w = CountingWaker::new();
    let mut rx = pin!(rx);
    assert!(w.poll(rx.as_mut()).is_pending());
    assert!(w.poll(rx.as_mut()).is_pending());
    tx.send(5).unwrap();
    assert_eq!(w.count(), 1);
    assert_eq!(w.poll(rx.as_mut()), Poll::Ready(Ok(5)));
}

/// A waker whose `clone` panics reaches the poller and leaves the channel
/// whole: the value still arrives afterwards.
#[test]
fn a_panicking_clone_leaves_the_oneshot_usable() {
    let (tx, rx) = oneshot::<u8>();
    let mut rx = pin!(rx);
    let bad = common::clone_panicking_waker();
    let res = catch_unwind(AssertUnwindSafe(|| {
        rx.as_mut().poll(&mut Context::from_waker(&bad))
    }));
    assert!(res.is_err());
    let w = CountingWaker::new();
    assert!(w.poll(rx.as_mut()).is_pending());
    tx.send(6).unwrap();
    assert_eq!(w.count(), 1);
    assert_eq!(w.poll(rx.as_mut()), Poll::Ready(Ok(6)));
}

/// Counts the live clones of a waker (its `Arc`'s strong count).
struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// A side that goes releases the other side's stored waker and its own at
/// once (not when the shared state is freed), so a finished task is not
/// kept alive by a channel still referenced elsewhere.
#[test]
fn wakers_are_released_when_a_side_goes() {
    let arc = Arc::new(Noop);
    let waker = Waker::from(arc.clone());
    let mut cx = Context::from_waker(&waker);

    // The sender's `closed` waker goes with `send`.
    let (mut tx, rx) = oneshot::<u8>();
    assert!(tx.poll_closed(&mut cx).is_pending());
    assert_eq!(Arc::strong_count(&arc), 3);
    tx.send(1).unwrap();
    assert_eq!(Arc::strong_count(&arc), 2, "send releases it");
    drop(rx);

    // ... and with the sender's drop, which also releases the receiver's.
    let (mut tx, rx) = oneshot::<u8>();
    let mut rx = pin!(rx);
    assert!(tx.poll_closed(&mut cx).is_pending());
    assert!(rx.as_mut().poll(&mut cx).is_pending());
    assert_eq!(Arc::strong_count(&arc), 4);
    drop(tx);
    assert_eq!(
        Arc::strong_count(&arc),
        2,
        "the drop wakes and releases both"
    );
    assert_eq!(rx.as_mut().poll(&mut cx), Poll::Ready(Err(RecvError)));
}

/// A waker whose clones panic when dropped (the original does not).
fn clones_panic_on_drop_waker() -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    const CLONE: *const () = std::ptr::dangling::<()>();
    static VTABLE: RawWakerVTable = RawWakerVTable::new(
        |_| RawWaker::new(CLONE, &VTABLE),
        |p| assert!(p != CLONE, "waker clone's drop panics"),
        |_| {},
        |p| assert!(p != CLONE, "waker clone's drop panics"),
    );
    // SAFETY: no vtable function dereferences the data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// The receiver's drop wakes the sender's `closed` wait before it drops
/// its own stored waker, whose drop may panic.
#[test]
fn receiver_drop_wakes_closed_even_if_its_waker_drop_panics() {
    let (mut tx, rx) = oneshot::<u8>();
    let w = CountingWaker::new();
    assert!(
        tx.poll_closed(&mut Context::from_waker(w.waker()))
            .is_pending()
    );
    let mut rx = Box::pin(rx);
    let bad = clones_panic_on_drop_waker();
    assert!(
        rx.as_mut()
            .poll(&mut Context::from_waker(&bad))
            .is_pending()
    );
    assert!(catch_unwind(AssertUnwindSafe(|| drop(rx))).is_err());
    assert_eq!(w.count(), 1);
    assert!(tx.is_closed());
}

/// `is_terminated` turns true with the result, whichever way it is taken.
#[test]
fn receiver_is_fused_once_it_has_its_result() {
    let (tx, rx) = oneshot::<u8>();
    let mut rx = pin!(rx);
    assert!(!rx.is_terminated());
    assert!(common::poll_once(rx.as_mut()).is_pending());
    assert!(!rx.is_terminated());
    drop(tx);
    assert_eq!(common::poll_once(rx.as_mut()), Poll::Ready(Err(RecvError)));
    assert!(rx.is_terminated());

    let (tx, mut rx) = oneshot::<u8>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(!rx.is_terminated());
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert!(rx.is_terminated());
}

/// `recv_blocking` waits for a value sent from another thread, and returns
/// `RecvError` when the sender is dropped instead.
#[test]
fn recv_blocking_waits_for_the_value_or_the_sender_drop() {
    let (tx, rx) = oneshot::<u8>();
    let t = std::thread::spawn(move || tx.send(9));
    assert_eq!(rx.recv_blocking(), Ok(9));
    t.join().unwrap().unwrap();

    let (tx, rx) = oneshot::<u8>();
    let t = std::thread::spawn(move || drop(tx));
    assert_eq!(rx.recv_blocking(), Err(RecvError));
    t.join().unwrap();
}
