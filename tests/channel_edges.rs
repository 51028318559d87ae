//! Edge cases of `weftwork::channel` found in review: wakers that panic,
//! permits holding every slot while senders and receivers wait, the close
//! of a channel with values still handed to a receiver, stream
//! termination, and the oneshot's `close`. Futures are polled by hand, so
//! every step is deterministic.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

mod common;

use common::CountingWaker;
use futures::stream::{FusedStream, Stream};
use weftwork::channel::{
    Receiver, RecvError, Send, Sender, TryRecvError, TrySendError, bounded, oneshot,
};

fn poll<F: Future + ?Sized>(f: &mut Pin<Box<F>>, w: &Waker) -> Poll<F::Output> {
    f.as_mut().poll(&mut Context::from_waker(w))
}

// ------------------------------------------------------------ panicking wakers

/// On a cap-1 channel holding 9: a send of 1 that was woken for a free
/// slot, lost it to a newcomer (the 9), and was then polled with a waker
/// whose `clone` panics, as it queued itself again.
fn send_requeued_with_a_panicking_clone<'a>(
    tx: &'a Sender<u32>,
    rx: &Receiver<u32>,
) -> Pin<Box<Send<'a, u32>>> {
    tx.try_send(0).unwrap();
    let mut s = Box::pin(tx.send(1));
    assert!(poll(&mut s, Waker::noop()).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // `s` is woken for the free slot
    tx.try_send(9).unwrap(); // a newcomer takes it first
    let bad = common::clone_panicking_waker();
    assert!(catch_unwind(AssertUnwindSafe(|| poll(&mut s, &bad))).is_err());
    s
}

/// A woken send that lost its slot re-queues itself; if the task's waker
/// panics on `clone` there, the send must still be queued consistently:
/// served once a slot frees, and dropped without a panic.
#[test]
fn woken_send_repolled_with_a_panicking_clone_stays_queued() {
    let (tx, rx) = bounded::<u32>(1);
    let w = Waker::noop();
    let mut s = send_requeued_with_a_panicking_clone(&tx, &rx);
    assert_eq!(rx.try_recv(), Ok(9)); // a slot frees: `s` is served
    assert_eq!(poll(&mut s, w), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(1));
    drop(s);
}

/// Same, but the send is dropped after the panic: its cancel finds it in
/// the queue (it used to remove a node that was not linked, and panic).
#[test]
fn woken_send_dropped_after_a_panicking_clone() {
    let (tx, rx) = bounded::<u32>(1);
    let s = send_requeued_with_a_panicking_clone(&tx, &rx);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(s))).is_ok());
    // The channel still works: the slot the send never used is free again.
    assert_eq!(rx.try_recv(), Ok(9));
    tx.try_send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

/// A receiver that parks serves a parked rendezvous `reserve`, whose `wake`
/// panics (after the lock is released). The receiver must still know it is
/// queued: dropped, it leaves the queue, and a value sent later goes to
/// the ring's slot, not into the freed future.
#[test]
fn parked_receiver_knows_it_is_queued_when_a_wake_panics() {
    let (tx, rx) = bounded::<u32>(0);
    let w = Waker::noop();
    let pw = common::panicking_waker();
    let mut res = Box::pin(tx.reserve());
    assert!(poll(&mut res, &pw).is_pending(), "no receiver yet");
    let mut r = Box::pin(rx.recv());
    assert!(catch_unwind(AssertUnwindSafe(|| poll(&mut r, w))).is_err());
    drop(r);
    let Poll::Ready(Ok(permit)) = poll(&mut res, w) else {
        panic!("the reserve was granted when the receiver parked")
    };
    permit.send(5).unwrap();
    assert_eq!(
        rx.try_recv(),
        Ok(5),
        "the value went to the dropped receiver"
    );
}

/// A woken send hands its value to a parked receiver whose `wake` panics.
/// The send completed: dropping it must not give back its wake-up a
/// second time (the counter used to underflow).
#[test]
fn completed_send_is_unlinked_when_a_wake_panics() {
    let (tx, rx) = bounded::<u32>(1);
    let w = Waker::noop();
    let pw = common::panicking_waker();
    tx.try_send(0).unwrap();
    let mut s = Box::pin(tx.send(1));
    assert!(poll(&mut s, w).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // `s` woken
    let mut r = Box::pin(rx.recv());
    assert!(poll(&mut r, &pw).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| poll(&mut s, w))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| drop(s))).is_ok());
    assert_eq!(poll(&mut r, w), Poll::Ready(Ok(1)));
    // Senders are still woken for slots.
    tx.try_send(2).unwrap();
    let mut s2 = Box::pin(tx.send(3));
    assert!(poll(&mut s2, w).is_pending());
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(poll(&mut s2, w), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(3));
}

// ------------------------------------------------------------ permits hold every slot

/// Every slot is held by a permit, a send waits, then a receiver parks:
/// the send is woken to hand its value over, as a newcomer's would be
/// (they used to wait for each other). Newcomers may not take that
/// receiver from it (the send, never granted a slot, was passed without
/// bound): they are told `Full` until it is served.
#[test]
fn waiting_send_meets_a_parked_receiver_while_permits_hold_the_slots() {
    let (tx, rx) = bounded::<u32>(1);
    let w = Waker::noop();
    let permit = tx.try_reserve().unwrap();
    let mut s = Box::pin(tx.send(1000));
    assert!(poll(&mut s, w).is_pending());
    let mut r = Box::pin(rx.recv());
    assert!(poll(&mut r, w).is_pending());
    assert_eq!(tx.try_send(0), Err(TrySendError::Full(0)));
    assert!(tx.is_full());
    assert_eq!(poll(&mut s, w), Poll::Ready(Ok(())));
    assert_eq!(poll(&mut r, w), Poll::Ready(Ok(1000)));
    // With no sender waiting, a newcomer meets a parked receiver as before.
    let mut r = Box::pin(rx.recv());
    assert!(poll(&mut r, w).is_pending());
    assert_eq!(tx.try_send(1), Ok(()));
    assert_eq!(poll(&mut r, w), Poll::Ready(Ok(1)));
    permit.send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

/// A reserve waits for a free slot: a parked receiver does not stand in
/// for one (the permit must be a slot), and a send queued behind the
/// reserve waits its turn.
#[test]
fn waiting_reserve_is_not_granted_a_parked_receiver() {
    let (tx, rx) = bounded::<u32>(1);
    let w = Waker::noop();
    let permit = tx.try_reserve().unwrap();
    let mut res = Box::pin(tx.reserve());
    assert!(poll(&mut res, w).is_pending());
    let mut s = Box::pin(tx.send(1));
    assert!(poll(&mut s, w).is_pending());
    let mut r = Box::pin(rx.recv());
    assert!(poll(&mut r, w).is_pending());
    assert!(poll(&mut res, w).is_pending());
    assert!(
        poll(&mut s, w).is_pending(),
        "a send passed the reserve before it"
    );
    drop(permit); // the slot frees: the reserve is granted it
    let Poll::Ready(Ok(p)) = poll(&mut res, w) else {
        panic!("the freed slot goes to the reserve")
    };
    p.send(7).unwrap();
    assert_eq!(poll(&mut r, w), Poll::Ready(Ok(7)));
}

// ------------------------------------------------------------ close

/// Two receivers wait; a value is handed to the first; the channel closes.
/// The second does not report the close while that value may still come
/// back: when the first is dropped, the second gets it, and only then is
/// the channel drained.
#[test]
fn recv_waits_for_a_value_handed_to_another_receiver_after_close() {
    let (tx, rx) = bounded::<u32>(1);
    let w = Waker::noop();
    let mut r1 = Box::pin(rx.recv());
    let mut r2 = Box::pin(rx.recv());
    assert!(poll(&mut r1, w).is_pending());
    assert!(poll(&mut r2, w).is_pending());
    tx.try_send(1).unwrap(); // handed to r1
    drop(tx); // closes
    assert!(
        poll(&mut r2, w).is_pending(),
        "RecvError while a value is in flight"
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(r1); // passes the value on to r2
    assert_eq!(poll(&mut r2, w), Poll::Ready(Ok(1)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

/// Same, but the first receiver takes its value: the second is woken and
/// reports the close.
#[test]
fn recv_reports_the_close_once_the_handed_value_is_taken() {
    let (tx, rx) = bounded::<u32>(0);
    let counting = CountingWaker::new();
    let w = Waker::noop();
    let mut r1 = Box::pin(rx.recv());
    assert!(poll(&mut r1, w).is_pending());
    tx.try_send(1).unwrap(); // rendezvous: handed to r1
    rx.close();
    let mut r2 = Box::pin(rx.recv());
    assert!(counting.poll_box(&mut r2).is_pending());
    assert_eq!(poll(&mut r1, w), Poll::Ready(Ok(1)));
    assert!(counting.count() > 0, "the waiting receiver was not woken");
    assert_eq!(poll(&mut r2, w), Poll::Ready(Err(RecvError)));
}

/// `is_terminated` is `false` while the stream's own kept wait holds a
/// value handed to it before the close.
#[test]
fn stream_is_not_terminated_while_it_holds_a_handed_value() {
    let (tx, mut rx) = bounded::<u32>(1);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
    tx.try_send(7).unwrap(); // handed to the stream's kept wait
    drop(tx); // closes
    assert!(!rx.is_terminated());
    assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(Some(7)));
    assert!(rx.is_terminated());
    assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(None));
}

/// oneshot: after `Receiver::close` nothing can arrive, so awaiting the
/// receiver fails at once (it used to wait for the sender to be dropped);
/// a value sent before the close is still received.
#[test]
fn oneshot_close_ends_the_wait() {
    let (tx, mut rx) = oneshot::<u32>();
    rx.close();
    assert!(tx.is_closed());
    assert_eq!(
        poll(&mut Box::pin(&mut rx), Waker::noop()),
        Poll::Ready(Err(RecvError))
    );
    drop(tx);

    let (tx, mut rx) = oneshot::<u32>();
    rx.close();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    drop(tx);

    let (tx, mut rx) = oneshot::<u32>();
    tx.send(3).unwrap();
    rx.close();
    assert_eq!(
        poll(&mut Box::pin(&mut rx), Waker::noop()),
        Poll::Ready(Ok(3))
    );
}

/// `close` wakes parked waiters in batches; a `wake` that panics must not
/// leave the later ones queued in a closed channel (pending for ever): they
/// are all closed, and those after the panicking batch are woken.
#[test]
#[cfg_attr(
    miri,
    ignore = "leaks the wakers of the panicking batch (see `WakeBatch::wake_all`)"
)]
fn close_with_a_panicking_wake_still_closes_every_waiter() {
    const N: usize = 9; // more than two of the channel's wake batches
    let (tx, rx) = bounded::<u32>(1);
    let pw = common::panicking_waker();
    let counts: Vec<CountingWaker> = (0..N).map(|_| CountingWaker::new()).collect();
    let mut rs: Vec<_> = (0..N).map(|_| Box::pin(rx.recv())).collect();
    assert!(poll(&mut rs[0], &pw).is_pending());
    for (r, c) in rs.iter_mut().zip(&counts).skip(1) {
        assert!(c.poll_box(r).is_pending());
    }
    assert!(catch_unwind(AssertUnwindSafe(|| rx.close())).is_err());
    for (i, r) in rs.iter_mut().enumerate() {
        // Those in the panicking waker's batch (the first 4) lose their
        // wake-up (see `WakeBatch::wake_all`); the later ones do not.
        if i >= 4 {
            assert!(counts[i].count() > 0, "waiter {i} was not woken");
        }
        assert_eq!(
            poll(r, Waker::noop()),
            Poll::Ready(Err(RecvError)),
            "waiter {i}"
        );
    }
    drop(tx);
}

// ------------------------------------------------------------ Sender::closed

/// `Sender::closed` waits while a receiver lives and completes (woken
/// once, then fused) when the channel closes, whichever way it closes.
#[test]
fn sender_closed_completes_when_the_channel_closes() {
    type Closer = fn(&Sender<u8>, Sender<u8>, Receiver<u8>, Receiver<u8>);
    let ways: [(&str, Closer); 3] = [
        ("every receiver dropped", |_, _, rx, rx2| drop((rx, rx2))),
        ("a receiver's close", |_, _, rx, _| assert!(rx.close())),
        ("another sender's close", |_, tx2, _, _| {
            assert!(tx2.close())
        }),
    ];
    for (way, close) in ways {
        let (tx, rx) = bounded::<u8>(1);
        let (tx2, rx2) = (tx.clone(), rx.clone());
        let w = CountingWaker::new();
        let mut closed = Box::pin(tx.closed());
        assert!(w.poll_box(&mut closed).is_pending(), "{way}");
        drop(rx.clone()); // not the last receiver: still open
        assert!(w.poll_box(&mut closed).is_pending(), "{way}");
        assert_eq!(w.count(), 0, "{way}");
        close(&tx, tx2, rx, rx2);
        assert_eq!(w.count(), 1, "{way}: woken once");
        assert!(w.poll_box(&mut closed).is_ready(), "{way}");
        assert!(w.poll_box(&mut closed).is_ready(), "{way}: fused");
        assert!(tx.is_closed());
    }
}

/// Many `closed` waiters (more than one wake batch) are all woken, and one
/// dropped while waiting is unlinked (the close does not touch it).
#[test]
fn every_closed_waiter_is_woken_and_a_dropped_one_leaves() {
    let (tx, rx) = bounded::<u8>(0);
    let ws: Vec<CountingWaker> = (0..40).map(|_| CountingWaker::new()).collect();
    let mut futs: Vec<_> = (0..40).map(|_| Box::pin(tx.closed())).collect();
    for (f, w) in futs.iter_mut().zip(&ws) {
        assert!(w.poll_box(f).is_pending());
    }
    drop(futs.remove(7));
    drop(rx);
    for (i, w) in ws.iter().enumerate() {
        assert_eq!(w.count(), usize::from(i != 7), "waiter {i}");
    }
    for f in &mut futs {
        assert!(poll(f, Waker::noop()).is_ready());
    }
}

/// The close fires `closed` even when waking a parked receiver panics.
#[test]
#[cfg_attr(
    miri,
    ignore = "leaks the wakers of the panicking batch (see `WakeBatch::wake_all`)"
)]
fn closed_fires_when_a_wake_of_the_close_panics() {
    let (tx, rx) = bounded::<u8>(1);
    let mut r = Box::pin(rx.recv());
    assert!(poll(&mut r, &common::panicking_waker()).is_pending());
    let w = CountingWaker::new();
    let mut closed = Box::pin(tx.closed());
    assert!(w.poll_box(&mut closed).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| tx.close())).is_err());
    assert_eq!(w.count(), 1);
    assert!(w.poll_box(&mut closed).is_ready());
    assert_eq!(poll(&mut r, Waker::noop()), Poll::Ready(Err(RecvError)));
}

// ------------------------------------------------------------ poll_recv

/// `poll_recv` queues the receiver (FIFO with the others) and registers the
/// task's waker; the value handed to it is returned by the next poll, and
/// a receiver dropped with a value handed to its poll passes it on.
#[test]
fn poll_recv_waits_in_line_and_passes_a_handed_value_on_when_dropped() {
    let (tx, mut rx1) = bounded(1);
    let mut rx2 = rx1.clone();
    let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
    let mut cx1 = Context::from_waker(w1.waker());
    let mut cx2 = Context::from_waker(w2.waker());
    assert_eq!(rx1.poll_recv(&mut cx1), Poll::Pending);
    assert_eq!(rx2.poll_recv(&mut cx2), Poll::Pending);
    tx.try_send(1).unwrap();
    assert_eq!((w1.count(), w2.count()), (1, 0), "the first in line");
    assert_eq!(rx1.poll_recv(&mut cx1), Poll::Ready(Some(1)));
    assert_eq!(rx1.poll_recv(&mut cx1), Poll::Pending, "in line again");
    tx.try_send(2).unwrap();
    assert_eq!(w2.count(), 1, "the second was next");
    drop(rx2); // never polled again: its value goes to rx1
    assert_eq!(w1.count(), 2);
    assert_eq!(rx1.poll_recv(&mut cx1), Poll::Ready(Some(2)));
    drop(tx);
    assert_eq!(rx1.poll_recv(&mut cx1), Poll::Ready(None));
}

/// `poll_recv_many` waits for one value, then takes what is there up to
/// the limit; a limit of 0 returns at once without queueing.
#[test]
fn poll_recv_many_waits_for_one_then_takes_up_to_the_limit() {
    let (tx, mut rx) = bounded(4);
    let w = CountingWaker::new();
    let mut cx = Context::from_waker(w.waker());
    let mut buf = vec![9];
    assert_eq!(rx.poll_recv_many(&mut cx, &mut buf, 0), Poll::Ready(0));
    assert_eq!(rx.poll_recv_many(&mut cx, &mut buf, 3), Poll::Pending);
    for v in 0..4 {
        tx.try_send(v).unwrap();
    }
    assert_eq!(w.count(), 1, "woken by the first value");
    assert_eq!(rx.poll_recv_many(&mut cx, &mut buf, 3), Poll::Ready(3));
    assert_eq!(buf, [9, 0, 1, 2], "appended, in order");
    rx.close();
    assert_eq!(rx.poll_recv_many(&mut cx, &mut buf, 3), Poll::Ready(1));
    assert_eq!(rx.poll_recv_many(&mut cx, &mut buf, 3), Poll::Ready(0));
    assert_eq!(buf, [9, 0, 1, 2, 3]);
}
