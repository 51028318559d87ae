//! Loom models of `Sender::reserve_many` / `try_reserve_many`: `n` slots
//! granted together to a waiting reservation, a permit iterator giving its
//! slots back, and a granted reservation dropped while the grant races it.
//!
//! Each model was checked against a mutation planted in the real crate
//! (backed up and restored), one model run per process:
//!
//! | model                                          | mutation it catches |
//! |------------------------------------------------|---------------------|
//! | waiting_reserve_many_is_granted_every_slot     | M57 a reservation granted with one slot free (the permit count passes the capacity) |
//! | permit_iterator_dropped_wakes_a_waiting_send   | M58 the iterator's drop frees its slots without serving parked senders (a loom deadlock) |
//! | granted_reserve_many_dropped_frees_every_slot  | M59 a granted reservation dropped gives back one slot, not `n` |
#![cfg(loom)]

use loom::future::block_on;
use loom::thread;
use weftwork::channel::{TrySendError, bounded};
use weftwork_loom_tests::{counting_waker, model, poll_once};

/// A reservation of both slots of a full channel waits while a receiver
/// frees them one at a time; it is granted both at once, and never holds a
/// slot beyond the capacity: while it holds its permits, no slot is left
/// (a `try_send` could still hand a value to the parked receiver).
#[test]
fn waiting_reserve_many_is_granted_every_slot() {
    model(|| {
        let (tx, rx) = bounded(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        let tx2 = tx.clone();
        let t = thread::spawn(move || {
            let mut permits = block_on(tx2.reserve_many(2)).unwrap();
            // Granted only once both slots were free; the receiver waits
            // on the empty ring meanwhile.
            assert_eq!(tx2.len(), 0, "granted with a value still buffered");
            assert!(
                matches!(tx2.try_reserve(), Err(TrySendError::Full(()))),
                "two permits on two slots: no slot left"
            );
            permits.next().unwrap().send(10).unwrap();
            permits.next().unwrap().send(20).unwrap();
        });
        let got: Vec<_> = (0..4).map(|_| rx.recv_blocking().unwrap()).collect();
        assert_eq!(got, [1, 2, 10, 20]);
        t.join().unwrap();
        drop(tx);
    });
}

/// A sender waits on a channel whose slots a permit iterator holds; one
/// permit from it is used, then the iterator is dropped, racing the send
/// as it parks: the slot the drop frees must serve that send (nothing
/// else frees one after it).
#[test]
fn permit_iterator_dropped_wakes_a_waiting_send() {
    model(|| {
        let (tx, rx) = bounded(2);
        let mut permits = tx.try_reserve_many(2).unwrap();
        let tx2 = tx.clone();
        let t = thread::spawn(move || tx2.send_blocking(5).unwrap());
        permits.next().unwrap().send(4).unwrap();
        drop(permits);
        t.join().unwrap();
        let mut got = [rx.try_recv().unwrap(), rx.try_recv().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [4, 5]);
    });
}

/// A parked reservation of two slots is dropped while a receiver frees
/// both (and so grants them to it): before the grant it takes nothing,
/// after it gives both back. Either way both slots are free at the end.
#[test]
fn granted_reserve_many_dropped_frees_every_slot() {
    model(|| {
        let (tx, rx) = bounded(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        let (waker, _) = counting_waker();
        let mut r = Box::pin(tx.reserve_many(2));
        assert!(poll_once(r.as_mut(), &waker).is_pending());
        let t = thread::spawn(move || {
            assert_eq!(rx.try_recv(), Ok(1));
            assert_eq!(rx.try_recv(), Ok(2));
            rx
        });
        drop(r);
        let _rx = t.join().unwrap();
        let permits = tx.try_reserve_many(2).expect("a slot leaked");
        assert_eq!(permits.len(), 2);
    });
}
