//! Loom models of `weftwork::channel` (bounded, rendezvous and oneshot).
//!
//! Each model is small enough for `LOOM_MAX_PREEMPTIONS=2`. Every one was
//! checked to fail under a mutation of the implementation (applied to a
//! copy of the crate, never to the real one; each model run in its own
//! process, since a loom deadlock report aborts the test binary; none of
//! them needed a timeout to be caught):
//! M1 ring head wraps to the last slot, not 0 · M2 `pop` does not give the
//! slot back (`space.release`) · M3 `push` does not re-check `closed` under
//! the ring lock · M4 `pop` trusts `closed` before looking at the ring · M5
//! `close` does not close `space` (waiting senders never wake) · M6 `close`
//! releases no `items` permits · M7 the taker of a rendezvous value does not
//! wake its sender · M8 a dropped `Recv` does not cancel its wait · M9
//! retraction ignores the pop counter · M10 a dropped `Send` does not cancel
//! its wait · M11 a dropped `Reserve`/`ReserveOwned` does not cancel its
//! wait · M12 the oneshot receiver's drop forgets a sent value · M13
//! oneshot `send` does not wake the receiver · M14 rendezvous `try_send`
//! keeps its value in after taking the permit back · M15 `try_recv` pops
//! without an `items` permit · M16 a parking receiver does not wake the
//! rendezvous reserve · M17 `ReserveOwned`'s drop does nothing · M18
//! receivers are never counted as parked.
//!
//! | model                                             | mutations it catches |
//! |---------------------------------------------------|----------------------|
//! | spsc_wraps_around_in_order                        | M1, M2, M4, M6 |
//! | full_channel_sender_waits_for_slot                | M2, M4, M6 |
//! | close_races_send                                  | M3, M4, M6 |
//! | close_races_recv_and_drains                       | M4, M6 |
//! | close_wakes_waiting_sender                        | M4, M5, M6 |
//! | last_sender_drop_wakes_receivers                  | M6 |
//! | drain_after_close                                 | M4, M6 |
//! | rendezvous_handoff                                | M7 |
//! | rendezvous_receiver_dropped_midway                | M7, M8 |
//! | rendezvous_send_dropped_while_receiver_races      | M2, M7, M9 |
//! | send_future_dropped_while_receiver_frees_slot     | M2, M10 |
//! | woken_receiver_dropped_passes_value_on            | M8 |
//! | reserve_dropped_passes_slot_on                    | M2, M11 |
//! | oneshot_send_races_receiver_drop                  | M12 |
//! | oneshot_wakes_receiver                            | M13 |
//! | rendezvous_try_send_races_receiver_drop           | M8, M14 |
//! | rendezvous_try_send_not_stolen_by_barging_try_recv| M15, M18 |
//! | rendezvous_reserve_woken_by_parking_receiver      | M4, M6, M16, M18 |
//! | reserve_owned_dropped_while_slot_is_handed        | M2, M11, M17 |
#![cfg(loom)]

use std::pin::pin;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use weftwork::channel::{RecvError, SendError, TryRecvError, bounded, oneshot};
use weftwork_loom_tests::{counting_waker, model, poll_once};

/// A value that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Ring wrap-around: the head is moved to the last slot first, then a
/// producer writes across the end of the ring while the consumer races it;
/// FIFO order, nothing lost, and loom checks every slot access against the
/// ring lock's happens-before edges.
/// Fails if: the head index wraps to the wrong slot.
#[test]
fn spsc_wraps_around_in_order() {
    model(|| {
        let (tx, rx) = bounded(2);
        tx.try_send(0).unwrap();
        assert_eq!(rx.try_recv(), Ok(0)); // head is now at slot 1
        let p = thread::spawn(move || {
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap(); // slot 0: wrapped
        });
        assert_eq!(rx.recv_blocking(), Ok(1));
        assert_eq!(rx.recv_blocking(), Ok(2));
        assert_eq!(rx.recv_blocking(), Err(RecvError));
        p.join().unwrap();
    });
}

/// Back-pressure: a second producer waits on the full slot until the
/// consumer, racing it, frees it; every value arrives once, in order.
/// Fails if: a receiver does not give its slot back (`space.release`).
#[test]
fn full_channel_sender_waits_for_slot() {
    model(|| {
        let (tx, rx) = bounded(1);
        tx.try_send(1).unwrap();
        let p = thread::spawn(move || tx.send_blocking(2).unwrap());
        assert_eq!(rx.recv_blocking(), Ok(1));
        assert_eq!(rx.recv_blocking(), Ok(2));
        assert_eq!(rx.recv_blocking(), Err(RecvError));
        p.join().unwrap();
    });
}

/// `close` races a `send`, and a receiver looks right after the close:
/// either the send succeeded and the value is drained, or the receiver
/// saw the close and the send failed with its value — never a send that
/// succeeded after a receiver was told the channel is closed and empty.
/// Fails if: `push` does not re-check `closed` under the ring lock.
#[test]
fn close_races_send() {
    model(|| {
        let (tx, rx) = bounded(1);
        let t = thread::spawn(move || tx.send_blocking(7));
        rx.close();
        let first = rx.recv_blocking();
        match (first, t.join().unwrap()) {
            (Ok(7), Ok(())) | (Err(RecvError), Err(SendError(7))) => {}
            other => panic!("close raced send badly: {other:?}"),
        }
        assert_eq!(rx.recv_blocking(), Err(RecvError));
    });
}

/// `close` races a waiting `recv` on a channel holding one value: the value
/// is drained (never reported as closed first), then the close is seen.
/// Fails if: a receiver trusts the `closed` flag before looking at the ring.
#[test]
fn close_races_recv_and_drains() {
    model(|| {
        let (tx, rx) = bounded(2);
        tx.try_send(1).unwrap();
        let rx2 = rx.clone();
        let t = thread::spawn(move || {
            assert_eq!(rx2.recv_blocking(), Ok(1));
            assert_eq!(rx2.recv_blocking(), Err(RecvError));
        });
        tx.close();
        t.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

/// A sender waits on a full channel while it is closed: it must wake and
/// get its value back; the buffered value is still drained.
/// Fails if: `close` does not close (and so wake) the sender queue.
#[test]
fn close_wakes_waiting_sender() {
    model(|| {
        let (tx, rx) = bounded(1);
        tx.try_send(1).unwrap();
        let t = thread::spawn(move || tx.send_blocking(2));
        rx.close();
        assert_eq!(t.join().unwrap(), Err(SendError(2)));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

/// The last sender is dropped while two receivers wait: both wake with
/// `RecvError` (a lost wake-up is a loom deadlock).
/// Fails if: closing does not release `items` permits to wake receivers.
#[test]
fn last_sender_drop_wakes_receivers() {
    model(|| {
        let (tx, rx) = bounded::<u8>(1);
        let rx2 = rx.clone();
        let t = thread::spawn(move || assert_eq!(rx2.recv_blocking(), Err(RecvError)));
        drop(tx);
        assert_eq!(rx.recv_blocking(), Err(RecvError));
        t.join().unwrap();
    });
}

/// Drain after close: the producer sends two values and closes; the
/// consumer, racing it, gets both in order and then the close.
/// Fails if: a receiver trusts the `closed` flag before looking at the ring.
#[test]
fn drain_after_close() {
    model(|| {
        let (tx, rx) = bounded(2);
        let p = thread::spawn(move || {
            tx.send_blocking(1).unwrap();
            tx.send_blocking(2).unwrap();
            tx.close();
        });
        assert_eq!(rx.recv_blocking(), Ok(1));
        assert_eq!(rx.recv_blocking(), Ok(2));
        assert_eq!(rx.recv_blocking(), Err(RecvError));
        assert_eq!(rx.recv_blocking(), Err(RecvError));
        p.join().unwrap();
    });
}

/// Rendezvous hand-off: the send completes only after the receiver took
/// the value (the ring is empty by then).
/// Fails if: the taker does not wake the offering sender (deadlock).
#[test]
fn rendezvous_handoff() {
    model(|| {
        let (tx, rx) = bounded(0);
        let t = thread::spawn(move || {
            tx.send_blocking(5).unwrap();
            assert_eq!(tx.len(), 0, "send completed before the value was taken");
        });
        assert_eq!(rx.recv_blocking(), Ok(5));
        t.join().unwrap();
    });
}

/// Rendezvous: a receiver future is polled (queued), then dropped while a
/// sender offers concurrently; the value must reach the next `recv` and the
/// sender must complete.
/// Fails if: a dropped `Recv` does not cancel its wait (the wake-up it was
/// handed is lost and the second receiver never learns of the value).
#[test]
fn rendezvous_receiver_dropped_midway() {
    model(|| {
        let (tx, rx) = bounded(0);
        let (waker, _) = counting_waker();
        let mut r1 = Box::pin(rx.recv());
        assert!(poll_once(r1.as_mut(), &waker).is_pending());
        let t = thread::spawn(move || tx.send_blocking(3));
        drop(r1);
        assert_eq!(rx.recv_blocking(), Ok(3));
        assert_eq!(t.join().unwrap(), Ok(()));
    });
}

/// Rendezvous: a send future offers its value and is dropped while a
/// receiver races to take it. Exactly one of them gets the value: either
/// the receiver took it, or it was retracted and dropped with the future;
/// it is dropped exactly once and the channel is empty and usable after.
/// Fails if: retraction ignores the pop counter (value taken twice).
#[test]
fn rendezvous_send_dropped_while_receiver_races() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(0);
        let rx2 = rx.clone();
        let t = thread::spawn(move || match rx2.try_recv() {
            Ok(v) => {
                drop(v);
                true
            }
            Err(e) => {
                assert_eq!(e, TryRecvError::Empty);
                false
            }
        });
        let (waker, _) = counting_waker();
        {
            let mut s = pin!(tx.send(Counted(drops.clone())));
            assert!(poll_once(s.as_mut(), &waker).is_pending());
        }
        let _taken = t.join().unwrap();
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the value must be dropped exactly once"
        );
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
        // Capacity was not leaked: a new offer can be made and taken.
        let t = thread::spawn(move || rx.recv_blocking().map(drop));
        assert!(block_on(tx.send(Counted(drops.clone()))).is_ok());
        assert_eq!(t.join().unwrap(), Ok(()));
    });
}

/// Buffered: a send future waiting on a full channel is dropped while a
/// receiver frees the slot; the slot must not leak.
/// Fails if: a dropped `Send` does not cancel its wait (a handed slot is
/// lost and the final `try_send` fails).
#[test]
fn send_future_dropped_while_receiver_frees_slot() {
    model(|| {
        let (tx, rx) = bounded(1);
        tx.try_send(1).unwrap();
        let t = thread::spawn(move || {
            assert_eq!(rx.recv_blocking(), Ok(1));
            rx
        });
        let (waker, _) = counting_waker();
        {
            let mut s = pin!(tx.send(2));
            if let Poll::Ready(res) = poll_once(s.as_mut(), &waker) {
                res.unwrap();
            }
        }
        let rx = t.join().unwrap();
        // Either the send went through (then its value is there), or the
        // slot is free again.
        match rx.try_recv() {
            Ok(v) => assert_eq!(v, 2),
            Err(e) => assert_eq!(e, TryRecvError::Empty),
        }
        assert!(tx.try_send(3).is_ok(), "the slot leaked");
    });
}

/// A queued receiver is handed a value and dropped before it polls again:
/// the value must go to the other receiver.
/// Fails if: `Recv` forgets to cancel (the handed permit is lost).
#[test]
fn woken_receiver_dropped_passes_value_on() {
    model(|| {
        let (tx, rx) = bounded(1);
        let rx2 = rx.clone();
        let (waker, _) = counting_waker();
        let mut r1 = Box::pin(rx.recv());
        assert!(poll_once(r1.as_mut(), &waker).is_pending());
        let t = thread::spawn(move || assert_eq!(rx2.recv_blocking(), Ok(9)));
        tx.try_send(9).unwrap();
        drop(r1);
        t.join().unwrap();
    });
}

/// A reserve future waits on a full channel; the slot frees and is handed
/// to it; it is dropped: the slot passes on to the waiting sender.
/// Fails if: `Reserve` forgets to cancel.
#[test]
fn reserve_dropped_passes_slot_on() {
    model(|| {
        let (tx, rx) = bounded(1);
        tx.try_send(1).unwrap();
        let (waker, _) = counting_waker();
        let mut r = Box::pin(tx.reserve());
        assert!(poll_once(r.as_mut(), &waker).is_pending());
        let tx2 = tx.clone();
        let t = thread::spawn(move || tx2.send_blocking(2).unwrap());
        assert_eq!(rx.try_recv(), Ok(1));
        drop(r);
        t.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(2));
    });
}

/// Oneshot: `send` races the receiver's drop; the value is dropped exactly
/// once, and `send` fails only if the receiver was gone.
/// Fails if: the receiver's drop forgets a value that was sent.
#[test]
fn oneshot_send_races_receiver_drop() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot();
        let d = drops.clone();
        let t = thread::spawn(move || tx.send(Counted(d)).is_ok());
        drop(rx);
        let _ = t.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// Oneshot: the receiver waits while the sender sends (or is dropped).
/// Fails if: `send` does not wake the stored waker.
#[test]
fn oneshot_wakes_receiver() {
    model(|| {
        let (tx, rx) = oneshot();
        let (tx2, rx2) = oneshot::<u8>();
        let t = thread::spawn(move || {
            tx.send(1u8).unwrap();
            drop(tx2);
        });
        assert_eq!(block_on(rx), Ok(1));
        assert_eq!(block_on(rx2), Err(RecvError));
        t.join().unwrap();
    });
}

/// Rendezvous `try_send` races the drop of the one parked receiver. Either
/// it handed the value over (`Ok`: the receiver was still queued, and the
/// value passes on from the dropped future, so a later `try_recv` gets it)
/// or it found nobody (`Full`, value back); never a value stuck in the
/// channel without a permit announcing it, and dropped exactly once.
/// Fails if: the dropped `Recv` does not pass its handed permit on (M8);
/// `try_send` keeps the value in after taking the permit back (M14).
#[test]
fn rendezvous_try_send_races_receiver_drop() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(0);
        let (waker, _) = counting_waker();
        let mut r = Box::pin(rx.recv());
        assert!(poll_once(r.as_mut(), &waker).is_pending());
        let d = drops.clone();
        let t = thread::spawn(move || {
            let res = tx.try_send(Counted(d)).map_err(|e| {
                assert!(e.is_full(), "the channel is open");
            });
            (tx, res.is_ok())
        });
        drop(r);
        let (tx, sent) = t.join().unwrap();
        if sent {
            assert!(
                rx.try_recv().is_ok(),
                "a value sent to a dropped receiver was lost"
            );
        }
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
        assert_eq!(drops.load(SeqCst), 1);
        assert!(tx.is_empty());
    });
}

/// Rendezvous `try_send` to a parked receiver while another receiver
/// barges in with `try_recv`: the parked one gets the value, the barger
/// finds nothing.
/// Fails if: `try_recv` pops without holding an `items` permit (M15), or
/// receivers are never counted as parked (M18).
#[test]
fn rendezvous_try_send_not_stolen_by_barging_try_recv() {
    model(|| {
        let (tx, rx) = bounded(0);
        let rx2 = rx.clone();
        let (waker, count) = counting_waker();
        let mut r = Box::pin(rx.recv());
        assert!(poll_once(r.as_mut(), &waker).is_pending());
        let t = thread::spawn(move || rx2.try_recv());
        assert_eq!(tx.try_send(5), Ok(()), "a receiver is parked");
        assert_eq!(t.join().unwrap(), Err(TryRecvError::Empty));
        assert_eq!(count.get(), 1);
        assert_eq!(poll_once(r.as_mut(), &waker), Poll::Ready(Ok(5)));
    });
}

/// Rendezvous `reserve` waits for a receiver: the receiver parks on
/// another thread and must wake it; the permit's value reaches it.
/// Fails if: a parking receiver does not wake the waiting reserve (M16:
/// a lost wake-up, which loom reports as a deadlock).
#[test]
fn rendezvous_reserve_woken_by_parking_receiver() {
    model(|| {
        let (tx, rx) = bounded(0);
        let t = thread::spawn(move || {
            let permit = block_on(tx.reserve()).unwrap();
            permit.send(1).unwrap();
        });
        assert_eq!(rx.recv_blocking(), Ok(1));
        t.join().unwrap();
        assert_eq!(rx.recv_blocking(), Err(RecvError));
    });
}

/// A `reserve_owned` future queued on a full channel is dropped while a
/// receiver, racing it, frees the slot (which may be handed to it): the
/// slot must pass on, not leak.
/// Fails if: a dropped `ReserveOwned` does not cancel its wait (M17).
#[test]
fn reserve_owned_dropped_while_slot_is_handed() {
    model(|| {
        let (tx, rx) = bounded(1);
        tx.try_send(1).unwrap();
        let (waker, _) = counting_waker();
        let mut r = Box::pin(tx.clone().reserve_owned());
        assert!(poll_once(r.as_mut(), &waker).is_pending());
        let t = thread::spawn(move || {
            assert_eq!(rx.try_recv(), Ok(1));
            rx
        });
        drop(r);
        let _rx = t.join().unwrap();
        let permit = tx.try_reserve_owned().expect("the slot leaked");
        assert_eq!(permit.send(2).unwrap().sender_count(), 1);
    });
}
