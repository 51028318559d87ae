//! `Sender::reserve_many` / `try_reserve_many`: `n` slots at once, all or
//! none, FIFO at the head of the line, the pass bound counted per slot,
//! cancel safety and close, on hand-polled futures (no timing).

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use common::*;
use weftwork::channel::{
    Receiver, ReserveMany, SendError, Sender, TryRecvError, TrySendError, bounded,
};

/// `MAX_BYPASS × cap - 1`: how often the eldest waiting sender may be
/// passed.
fn max_passes(cap: usize) -> usize {
    weftwork::Mutex::<()>::MAX_BYPASS * cap - 1
}

/// A channel of `cap` slots holding `0..cap`.
fn full(cap: usize) -> (Sender<usize>, Receiver<usize>) {
    let (tx, rx) = bounded(cap);
    for i in 0..cap {
        tx.try_send(i).unwrap();
    }
    (tx, rx)
}

/// A `reserve_many(n)` polled once with `w`'s waker: it must park.
#[track_caller]
fn parked_reserve<'a>(
    tx: &'a Sender<usize>,
    n: usize,
    w: &CountingWaker,
) -> Pin<Box<ReserveMany<'a, usize>>> {
    let mut fut = Box::pin(tx.reserve_many(n));
    assert!(w.poll_box(&mut fut).is_pending(), "no room yet: it parks");
    fut
}

#[test]
fn try_reserve_many_takes_all_or_nothing() {
    let (tx, rx) = bounded(4);
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    assert!(matches!(
        tx.try_reserve_many(3),
        Err(TrySendError::Full(()))
    ));
    assert_eq!(tx.len(), 2, "a refused reservation holds nothing");
    let mut permits = tx.try_reserve_many(2).unwrap();
    assert_eq!(permits.len(), 2);
    assert_eq!(permits.size_hint(), (2, Some(2)));
    assert!(tx.is_full(), "both free slots are reserved");
    assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
    permits.next().unwrap().send(2).unwrap();
    assert_eq!(permits.len(), 1);
    drop(permits); // frees the one slot it still held
    tx.try_send(3).unwrap();
    assert!(tx.is_full());
    for v in 0..4 {
        assert_eq!(rx.try_recv(), Ok(v));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn permits_taken_from_the_iterator_outlive_it() {
    let (tx, rx) = bounded(3);
    let mut it = tx.try_reserve_many(3).unwrap();
    let (a, b) = (it.next().unwrap(), it.next().unwrap());
    let c = it.next().unwrap();
    assert!(it.next().is_none(), "exhausted");
    assert!(it.next().is_none(), "fused");
    drop(it); // holds nothing any more
    assert!(tx.is_full(), "the three permits still hold their slots");
    c.send(3).unwrap();
    drop(a);
    b.send(2).unwrap();
    assert_eq!(tx.len(), 2);
    tx.try_send(4).unwrap();
    assert_eq!(
        [rx.try_recv(), rx.try_recv(), rx.try_recv()],
        [Ok(3), Ok(2), Ok(4)]
    );
}

#[test]
fn zero_slots_need_no_room_but_an_open_channel() {
    let (tx, rx) = bounded(1);
    tx.try_send(1).unwrap();
    assert_eq!(tx.try_reserve_many(0).unwrap().len(), 0, "full, yet ready");
    let mut fut = Box::pin(tx.reserve_many(0));
    let permits = ready(poll_box(&mut fut), "zero slots never wait").unwrap();
    assert_eq!(permits.len(), 0);
    drop(permits);
    assert_eq!(rx.try_recv(), Ok(1), "nothing was freed or taken");
    rx.close();
    assert!(matches!(
        tx.try_reserve_many(0),
        Err(TrySendError::Closed(()))
    ));
    let mut fut = Box::pin(tx.reserve_many(0));
    assert_eq!(
        poll_box(&mut fut).map(|r| r.err()),
        Poll::Ready(Some(SendError(())))
    );
}

#[test]
fn more_slots_than_the_capacity_panic_with_the_counts() {
    for (cap, n) in [(2, 3), (0, 2)] {
        let (tx, _rx) = bounded::<u8>(cap);
        for call in 0..2 {
            let err = catch_unwind(AssertUnwindSafe(|| {
                if call == 0 {
                    drop(tx.reserve_many(n));
                } else {
                    drop(tx.try_reserve_many(n));
                }
            }))
            .expect_err("n above the capacity");
            let msg = err.downcast_ref::<String>().expect("a formatted message");
            assert!(
                msg.contains(&format!("cannot reserve {n} slots"))
                    && msg.contains(&format!("capacity {cap}")),
                "{msg}"
            );
        }
        assert_eq!(tx.len(), 0);
        assert!(tx.try_reserve_many(cap.max(1)).is_ok() || cap == 0);
    }
}

/// A parked `reserve_many(2)` at the head of the line is not served one
/// slot at a time, and the send parked behind it is not served first; once
/// both slots are free they are granted together.
#[test]
fn parked_reserve_many_waits_for_all_its_slots_at_the_head() {
    let (tx, rx) = full(2);
    let (wr, ws) = (CountingWaker::new(), CountingWaker::new());
    let mut many = parked_reserve(&tx, 2, &wr);
    let mut send = Box::pin(tx.send(2));
    assert!(ws.poll_box(&mut send).is_pending(), "parks behind it");
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!((wr.count(), ws.count()), (0, 0), "one slot serves neither");
    assert!(wr.poll_box(&mut many).is_pending());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!((wr.count(), ws.count()), (1, 0), "two slots: granted");
    assert!(tx.is_full(), "the grant holds both slots");
    let permits = ready(wr.poll_box(&mut many), "granted").unwrap();
    assert_eq!(permits.len(), 2);
    assert!(ws.poll_box(&mut send).is_pending());
    drop(permits);
    assert_eq!(ws.count(), 1, "the freed slots serve the send");
    assert_eq!(ws.poll_box(&mut send), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

/// Granted both slots and dropped before its next poll, a `reserve_many`
/// passes them on: both parked sends behind it are served.
#[test]
fn granted_reserve_many_dropped_passes_every_slot_on() {
    let (tx, rx) = full(2);
    let w = CountingWaker::new();
    let many = parked_reserve(&tx, 2, &w);
    let mut sends = [Box::pin(tx.send(2)), Box::pin(tx.send(3))];
    for s in &mut sends {
        assert!(w.poll_box(s).is_pending());
    }
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(0), Ok(1)));
    assert_eq!(w.count(), 1, "the grant woke the reserve only");
    drop(many);
    assert_eq!(w.count(), 3, "both sends woken for the two slots");
    for s in &mut sends {
        assert_eq!(w.poll_box(s), Poll::Ready(Ok(())));
    }
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(2), Ok(3)));
}

/// Newcomers may pass a waiting `reserve_many`, each slot they take
/// counting one pass; after `max_passes` the free slots are kept for it
/// (newcomers see `Full`) until it has all it asked for.
#[test]
fn reserve_many_is_granted_after_the_pass_bound() {
    let cap = 3;
    let (tx, rx) = full(cap);
    let w = CountingWaker::new();
    let mut many = parked_reserve(&tx, cap, &w);
    let mut passes = 0;
    loop {
        assert!(passes <= max_passes(cap), "never kept for it");
        rx.try_recv().unwrap(); // one slot free: not enough for it
        match tx.try_send(100) {
            Ok(()) => passes += 1,
            Err(TrySendError::Full(_)) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(passes, max_passes(cap));
    assert_eq!(w.count(), 0, "not all its slots are free yet");
    while w.count() == 0 {
        assert!(
            matches!(tx.try_send(7), Err(TrySendError::Full(7))),
            "a newcomer takes a slot kept for the owed reserve"
        );
        rx.try_recv().expect("the buffered values drain");
    }
    assert_eq!(tx.len(), 0);
    assert_eq!(ready(w.poll_box(&mut many), "granted").unwrap().len(), cap);
}

/// A newcomer's `try_reserve_many(n)` counts `n` passes against the eldest
/// waiting sender: the bound is per slot taken, not per call, and exact (a
/// reservation that would take the eldest past it is refused).
#[test]
fn a_newcomer_reserving_many_counts_one_pass_per_slot() {
    let cap = 2;
    let (tx, rx) = full(cap);
    let w = CountingWaker::new();
    let mut eldest = Box::pin(tx.send(usize::MAX));
    assert!(w.poll_box(&mut eldest).is_pending());
    let mut rounds = 0;
    loop {
        assert!(rounds <= max_passes(cap), "never granted");
        for _ in 0..cap {
            rx.try_recv().unwrap();
        }
        // The eldest is woken for a slot but does not run: a newcomer
        // takes both.
        let Ok(permits) = tx.try_reserve_many(cap) else {
            break;
        };
        for p in permits {
            p.send(rounds).unwrap();
        }
        rounds += 1;
    }
    assert_eq!(rounds, max_passes(cap) / cap, "{cap} passes a round");
    assert!(!tx.is_full(), "refused with both slots free");
    assert_eq!(ready(w.poll_box(&mut eldest), "woken for a slot"), Ok(()));
    assert_eq!(rx.try_recv(), Ok(usize::MAX));
}

/// A parked `reserve_many` served from the queue passes the eldest (a
/// woken send) once per slot too: with the eldest one pass short of its
/// bound, two slots would take it past, so the reservation waits for the
/// eldest to send first, though every slot is free.
#[test]
fn younger_reserve_many_waits_rather_than_pass_the_eldest_past_its_bound() {
    let cap = 3;
    let (tx, rx) = full(cap);
    let (we, wr) = (CountingWaker::new(), CountingWaker::new());
    let mut eldest = Box::pin(tx.send(usize::MAX));
    assert!(we.poll_box(&mut eldest).is_pending());
    let mut many = parked_reserve(&tx, 2, &wr);
    // The eldest is woken for the first freed slot, then newcomers pass
    // it (its task does not run) until it is one pass short.
    for _ in 0..max_passes(cap) - 1 {
        rx.try_recv().unwrap();
        tx.try_send(100)
            .expect("a newcomer passes the woken eldest");
    }
    assert_eq!(we.count(), 1, "woken once, never polled");
    for _ in 0..cap {
        rx.try_recv().unwrap();
    }
    assert_eq!(tx.len(), 0);
    assert_eq!(wr.count(), 0, "two passes would break the eldest's bound");
    assert_eq!(we.poll_box(&mut eldest), Poll::Ready(Ok(())));
    assert_eq!(wr.count(), 1, "the eldest sent: the reservation's turn");
    assert_eq!(ready(wr.poll_box(&mut many), "granted").unwrap().len(), 2);
    assert_eq!(rx.try_recv(), Ok(usize::MAX));
}

#[test]
fn close_fails_a_parked_reserve_many_and_a_granted_one_sends_nothing() {
    let (tx, rx) = full(2);
    let w = CountingWaker::new();
    let mut parked = parked_reserve(&tx, 2, &w);
    tx.close();
    assert_eq!(w.count(), 1, "close wakes it");
    assert!(matches!(
        w.poll_box(&mut parked),
        Poll::Ready(Err(SendError(())))
    ));

    let (tx, rx2) = bounded(2);
    tx.try_send(0).unwrap();
    let mut granted = parked_reserve(&tx, 2, &w);
    assert_eq!(rx2.try_recv(), Ok(0)); // granted both
    rx2.close();
    let mut permits = ready(w.poll_box(&mut granted), "granted before the close").unwrap();
    let p = permits.next().unwrap();
    assert_eq!(p.send(5), Err(SendError(5)), "closed: the value comes back");
    drop(permits);
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Closed));
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(0), Ok(1)), "drained");
}

/// On a rendezvous channel one slot is all there is: `reserve_many(1)`
/// waits for a parked receiver, as `reserve` does.
#[test]
fn rendezvous_reserve_many_of_one_waits_for_a_receiver() {
    let (tx, rx) = bounded(0);
    assert!(matches!(
        tx.try_reserve_many(1),
        Err(TrySendError::Full(()))
    ));
    let (ws, wr) = (CountingWaker::new(), CountingWaker::new());
    let mut many = parked_reserve(&tx, 1, &ws);
    let mut recv = Box::pin(rx.recv());
    assert!(wr.poll_box(&mut recv).is_pending());
    assert_eq!(ws.count(), 1, "a parked receiver is the slot");
    let mut permits = ready(ws.poll_box(&mut many), "a receiver waits").unwrap();
    permits.next().unwrap().send(7).unwrap();
    assert_eq!(wr.poll_box(&mut recv), Poll::Ready(Ok(7)));
}

/// Producers reserving batches on a shared channel while consumers drain
/// it, some reservations cancelled after one poll: every value arrives
/// exactly once, and no slot leaks (a leak would hang a producer).
#[test]
fn batches_reserved_concurrently_lose_nothing_on_all_executors() {
    on_all_executors(|ex| async move {
        let (tx, rx) = bounded::<usize>(4);
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let tx = tx.clone();
                ex.spawn(async move {
                    for batch in 0..20 {
                        let n = 1 + (p + batch) % 4;
                        if batch % 3 == p {
                            // A reservation cancelled after one poll and a few
                            // yields (still parked, or granted meanwhile and
                            // dropped unpolled): nothing leaks.
                            let mut first = Box::pin(tx.reserve_many(n));
                            if futures::poll!(first.as_mut()).is_pending() {
                                for _ in 0..batch % 4 {
                                    yield_now().await;
                                }
                            }
                        }
                        let permits = tx.reserve_many(n).await.unwrap();
                        for (k, permit) in permits.enumerate() {
                            permit.send(p * 1000 + batch * 10 + k).unwrap();
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let got = Arc::new(Mutex::new(Vec::new()));
        let consumer = {
            let (rx, got) = (rx.clone(), got.clone());
            ex.spawn(async move {
                while let Ok(v) = rx.recv().await {
                    got.lock().unwrap().push(v);
                }
            })
        };
        while let Ok(v) = rx.recv().await {
            got.lock().unwrap().push(v);
        }
        for p in producers {
            p.await;
        }
        consumer.await;
        let mut got = std::mem::take(&mut *got.lock().unwrap());
        got.sort_unstable();
        let mut want: Vec<usize> = (0..3)
            .flat_map(|p| {
                (0..20).flat_map(move |b| (0..1 + (p + b) % 4).map(move |k| p * 1000 + b * 10 + k))
            })
            .collect();
        want.sort_unstable();
        assert_eq!(got, want);
    });
}
