//! Public-API tests of `weftwork::channel`: semantics, close, rendezvous,
//! FIFO among waiting senders, and the "nothing lost" stress with random
//! cancellation on every executor.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};

use common::*;
use futures::StreamExt;
use weftwork::channel::{
    self, PollSender, RecvError, SendError, TryRecvError, TrySendError, bounded, oneshot,
};

// ---------------------------------------------------------------- basics

#[test]
fn send_recv_on_all_executors() {
    on_all_executors(|_| async {
        let (tx, rx) = bounded(2);
        assert_eq!(tx.capacity(), 2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(tx.len(), 2);
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.is_empty());
    });
}

/// `is_full` says exactly whether `try_send` would find no room: permits,
/// granted and waiting senders take room; a rendezvous channel has room
/// only while a receiver waits.
#[test]
fn is_full_matches_try_send() {
    let (tx, rx) = bounded::<u8>(2);
    let permit = tx.try_reserve().unwrap();
    assert!(!tx.is_full() && !rx.is_full());
    tx.try_send(1).unwrap();
    assert!(tx.is_full() && rx.is_full());
    assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    drop(permit);
    assert!(!tx.is_full());
    // A parked sender woken for the slot a receive freed does not hold it:
    // the channel is not full (a newcomer may take the slot) until the
    // sender is polled and places its value.
    tx.try_send(2).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut send = Box::pin(tx.send(3));
    assert!(send.as_mut().poll(&mut cx).is_pending());
    assert!(tx.is_full());
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(!tx.is_full(), "the freed slot is woken for, not granted");
    assert!(send.as_mut().poll(&mut cx).is_ready());
    assert!(tx.is_full());

    let (tx, rx) = bounded::<u8>(0);
    assert!(tx.is_full(), "no receiver waits");
    let mut recv = Box::pin(rx.recv());
    assert!(recv.as_mut().poll(&mut cx).is_pending());
    assert!(!tx.is_full(), "a receiver waits");
    tx.try_send(7).unwrap();
    assert!(tx.is_full());
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
}

#[test]
fn futures_and_handles_are_send_sync_unpin() {
    fn unpin<T: Unpin>() {}
    assert_send_sync::<channel::Sender<u8>>();
    assert_send_sync::<channel::Receiver<u8>>();
    assert_send_sync::<channel::WeakSender<u8>>();
    assert_send::<channel::Send<'_, u8>>();
    assert_send::<channel::Recv<'_, u8>>();
    assert_send::<channel::Reserve<'_, u8>>();
    assert_send_sync::<channel::Permit<'_, u8>>();
    assert_send::<channel::ReserveOwned<u8>>();
    assert_send_sync::<channel::OwnedPermit<u8>>();
    assert_send_sync::<PollSender<u8>>();
    unpin::<PollSender<u8>>();
    assert_send_sync::<oneshot::Sender<u8>>();
    assert_send_sync::<oneshot::Receiver<u8>>();
    unpin::<channel::Receiver<u8>>();
    unpin::<oneshot::Receiver<u8>>();
}

#[test]
fn errors_display_and_are_errors() {
    fn is_error<E: std::error::Error>(_: &E) {}
    is_error(&SendError(1));
    is_error(&TrySendError::Full(1));
    is_error(&RecvError);
    is_error(&TryRecvError::Empty);
    assert_eq!(format!("{:?}", SendError(1)), "SendError(..)");
    assert!(!format!("{}", TrySendError::Closed(1)).is_empty());
}

#[test]
fn ring_wraps_around_many_times() {
    let (tx, rx) = bounded(3);
    for i in 0..100u32 {
        tx.try_send(i).unwrap();
        if i % 2 == 1 {
            assert_eq!(rx.try_recv(), Ok(i - 1));
            assert_eq!(rx.try_recv(), Ok(i));
        }
        assert!(tx.len() <= 3);
    }
}

#[test]
fn stream_next_works_and_ends() {
    on_all_executors(|ex| async move {
        let (tx, mut rx) = bounded(1);
        let prod = ex.spawn(async move {
            for i in 0..50 {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(v) = rx.next().await {
            got.push(v);
        }
        prod.await;
        assert_eq!(got, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn recv_many_takes_what_is_there() {
    pollster::block_on(async {
        let (tx, rx) = bounded(8);
        for i in 0..5 {
            tx.send(i).await.unwrap();
        }
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 10).await, 5);
        drop(tx);
        assert_eq!(rx.recv_many(&mut buf, 10).await, 0);
        assert_eq!(buf, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn weak_sender_does_not_keep_channel_open() {
    let (tx, rx) = bounded::<u8>(1);
    let weak = tx.downgrade();
    let tx2 = weak.upgrade().unwrap();
    assert_eq!(rx.sender_count(), 2);
    drop(tx);
    assert!(!rx.is_closed());
    drop(tx2);
    assert!(rx.is_closed());
    assert!(weak.upgrade().is_none());
}

#[test]
fn blocking_variants_across_threads() {
    let (tx, rx) = bounded(2);
    let t = std::thread::spawn(move || {
        for i in 0..200 {
            tx.send_blocking(i).unwrap();
        }
    });
    for i in 0..200 {
        assert_eq!(rx.recv_blocking(), Ok(i));
    }
    t.join().unwrap();
    assert_eq!(rx.recv_blocking(), Err(RecvError));
}

#[test]
fn blocking_inside_runtime_does_not_panic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, rx) = bounded(1);
        tx.send_blocking(1).unwrap();
        assert_eq!(rx.recv_blocking(), Ok(1));
    });
}

// ---------------------------------------------------------------- close

#[test]
fn drain_after_close_then_error() {
    on_all_executors(|_| async {
        let (tx, rx) = bounded(4);
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        assert!(rx.close());
        assert!(!tx.close(), "already closed");
        assert!(tx.is_closed());
        assert_eq!(tx.send(9).await, Err(SendError(9)));
        assert_eq!(tx.try_send(9), Err(TrySendError::Closed(9)));
        assert!(tx.reserve().await.is_err());
        for i in 0..3 {
            assert_eq!(rx.recv().await, Ok(i));
        }
        assert_eq!(rx.recv().await, Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        // Polling a closed receiver again and again never blocks.
        for _ in 0..100 {
            assert_eq!(rx.recv().await, Err(RecvError));
        }
    });
}

#[test]
fn waiting_senders_get_their_values_back_on_close() {
    let (tx, rx) = bounded(1);
    tx.try_send(0).unwrap();
    let w = CountingWaker::new();
    let mut a = Box::pin(tx.send(1));
    let mut b = Box::pin(tx.send(2));
    assert!(w.poll_box(&mut a).is_pending());
    assert!(w.poll_box(&mut b).is_pending());
    drop(rx);
    assert!(w.count() >= 2, "close wakes waiting senders");
    assert_eq!(w.poll_box(&mut a), Poll::Ready(Err(SendError(1))));
    assert_eq!(w.poll_box(&mut b), Poll::Ready(Err(SendError(2))));
}

#[test]
fn last_sender_drop_wakes_receivers() {
    on_all_executors(|ex| async move {
        let (tx, rx) = bounded::<u32>(2);
        let mut hs = Vec::new();
        for _ in 0..3 {
            let rx = rx.clone();
            hs.push(ex.spawn(async move { assert_eq!(rx.recv().await, Err(RecvError)) }));
        }
        yield_now().await;
        let tx2 = tx.clone();
        drop(tx);
        yield_now().await;
        drop(tx2);
        join_all(hs).await;
    });
}

#[test]
fn permit_send_after_close_returns_value() {
    let (tx, rx) = bounded(1);
    let p = tx.try_reserve().unwrap();
    rx.close();
    assert_eq!(p.send(5), Err(SendError(5)));
    // The slot went back: nothing leaked.
    assert_eq!(tx.try_send(6), Err(TrySendError::Closed(6)));
}

// ---------------------------------------------------------------- FIFO

#[test]
fn waiting_senders_are_served_fifo() {
    let (tx, rx) = bounded(1);
    tx.try_send(0).unwrap();
    let w = CountingWaker::new();
    let mut futs: Vec<_> = (1..=4).map(|i| Some(Box::pin(tx.send(i)))).collect();
    for f in futs.iter_mut().flatten() {
        assert!(w.poll_box(f).is_pending());
    }
    for expect in 0..=4 {
        // Poll the later senders first: they must not overtake.
        for slot in futs.iter_mut().rev() {
            if let Some(f) = slot {
                if w.poll_box(f).is_ready() {
                    *slot = None;
                }
            }
        }
        assert_eq!(rx.try_recv(), Ok(expect));
    }
}

/// How many times the eldest waiting sender may be passed: fewer than
/// `MAX_BYPASS` per slot of capacity (with one slot, the mutex's bound).
fn max_passes(cap: usize) -> usize {
    weftwork::Mutex::<()>::MAX_BYPASS * cap - 1
}

/// [`max_passes`] with one slot.
const MAX_PASSES: usize = weftwork::Mutex::<()>::MAX_BYPASS - 1;

/// A newcomer may take the slot a parked sender was woken for, but fewer
/// than `MAX_BYPASS` times: then the next free slot is granted to that
/// sender and newcomers find the channel full until it has sent.
#[test]
fn woken_sender_is_overtaken_fewer_than_max_bypass_times() {
    let (tx, rx) = bounded(1);
    tx.try_send(0).unwrap();
    let w = CountingWaker::new();
    let mut s = Box::pin(tx.send(1000));
    assert!(w.poll_box(&mut s).is_pending());
    let mut expect = 0;
    for i in 1..=MAX_PASSES {
        assert_eq!(rx.try_recv(), Ok(expect));
        assert_eq!(w.count(), i, "each freed slot wakes the parked send");
        tx.try_send(i).expect("a newcomer may take the slot");
        expect = i;
        assert!(w.poll_box(&mut s).is_pending(), "overtaken: queued again");
    }
    assert_eq!(rx.try_recv(), Ok(expect));
    assert!(
        matches!(tx.try_send(99), Err(TrySendError::Full(99))),
        "the slot is now granted to the send overtaken MAX_PASSES times"
    );
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(1000));
}

/// Who takes a freed slot before the eldest waiting sender: a younger
/// sender that waited too...
#[derive(Debug, Clone, Copy)]
enum Younger {
    /// a `send`, woken with the eldest and polled before it;
    Send,
    /// a `reserve`, granted a slot when it frees;
    Reserve,
    /// a `send` woken once and never polled again (it keeps a wake-up):
    /// a newcomer takes its turn.
    Idle,
}

/// ...and a sender that never waited.
#[derive(Debug, Clone, Copy)]
enum Newcomer {
    TrySend,
    Send,
    TryReserve,
    Reserve,
}

const NEWCOMERS: [Newcomer; 4] = [
    Newcomer::TrySend,
    Newcomer::Send,
    Newcomer::TryReserve,
    Newcomer::Reserve,
];

/// Capacities for the pass-bound tests (fewer under Miri: each pass is a
/// few polls).
const CAPS: &[usize] = if cfg!(miri) { &[2] } else { &[2, 3, 8] };

/// A newcomer's attempt: `1` if it took a slot (a pass for the eldest).
fn newcomer_takes_a_slot(tx: &channel::Sender<usize>, how: Newcomer, w: &CountingWaker) -> usize {
    let permit = match how {
        Newcomer::TrySend => return usize::from(tx.try_send(1).is_ok()),
        Newcomer::Send => return usize::from(w.poll_box(&mut Box::pin(tx.send(1))).is_ready()),
        Newcomer::TryReserve => tx.try_reserve().ok(),
        Newcomer::Reserve => match w.poll_box(&mut Box::pin(tx.reserve())) {
            Poll::Ready(p) => Some(p.unwrap()),
            Poll::Pending => None,
        },
    };
    permit.map_or(0, |p| {
        p.send(1).unwrap();
        1
    })
}

/// Parks an eldest `send` on a full channel of capacity `cap`, then runs
/// rounds that each free two slots and let a younger sender and a newcomer
/// (for `Idle`: two newcomers) take them; the eldest is polled after each
/// round if `poll_eldest`, else only once a slot was refused to the
/// others. Returns how many slots the others took before the eldest sent,
/// and how often the eldest was polled for nothing (lost its slot).
fn race_the_eldest(
    cap: usize,
    younger: Younger,
    newcomer: Newcomer,
    poll_eldest: bool,
) -> (usize, usize) {
    let (tx, rx) = bounded(cap);
    for i in 0..cap {
        tx.try_send(i).unwrap();
    }
    let w = CountingWaker::new();
    let mut eldest = Box::pin(tx.send(usize::MAX));
    assert!(w.poll_box(&mut eldest).is_pending(), "full: it parks");
    let mut idle = Box::pin(tx.send(2));
    if matches!(younger, Younger::Idle) {
        assert!(w.poll_box(&mut idle).is_pending(), "parks behind");
    }
    let (mut passes, mut losses) = (0, 0);
    for round in 0.. {
        assert!(
            round <= max_passes(cap),
            "{younger:?}/{newcomer:?}, cap {cap}: never served"
        );
        let mut send = Box::pin(tx.send(3));
        let mut reserve = Box::pin(tx.reserve());
        match younger {
            Younger::Send => assert!(w.poll_box(&mut send).is_pending()),
            Younger::Reserve => assert!(w.poll_box(&mut reserve).is_pending()),
            Younger::Idle => {}
        }
        for _ in 0..2 {
            assert!(rx.try_recv().is_ok_and(|v| v != usize::MAX));
        }
        let took = match younger {
            Younger::Send => usize::from(w.poll_box(&mut send).is_ready()),
            Younger::Reserve => match w.poll_box(&mut reserve) {
                Poll::Ready(p) => usize::from(p.unwrap().send(3).is_ok()),
                Poll::Pending => 0,
            },
            Younger::Idle => newcomer_takes_a_slot(&tx, newcomer, &w),
        } + newcomer_takes_a_slot(&tx, newcomer, &w);
        passes += took;
        if poll_eldest || took < 2 {
            if w.poll_box(&mut eldest).is_ready() {
                break;
            }
            losses += 1;
        }
    }
    let rest: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(rest.contains(&usize::MAX), "its value went in");
    drop(idle);
    // Nothing leaked: a send parked on the full channel is woken by the
    // next freed slot.
    while tx.try_send(0).is_ok() {}
    let mut last = Box::pin(tx.send(4));
    assert!(w.poll_box(&mut last).is_pending());
    rx.try_recv().unwrap();
    assert_eq!(
        w.poll_box(&mut last),
        Poll::Ready(Ok(())),
        "woken for the slot"
    );
    (passes, losses)
}

/// Every sender that takes a slot while the eldest waits passes it: a
/// younger woken `send` that runs before it, a younger `reserve` granted a
/// slot, a newcomer (`try_send`, `send`, `try_reserve` or `reserve`). All
/// count, also while the eldest is woken but its task has not run yet
/// (never polled here): it is passed exactly `MAX_BYPASS × cap - 1` times
/// (each round two others take the two freed slots), then the next free
/// slot is granted to it and the others are refused.
#[test]
fn eldest_sender_is_passed_fewer_than_max_bypass_times_per_slot() {
    for &cap in CAPS {
        for younger in [Younger::Send, Younger::Reserve] {
            for newcomer in NEWCOMERS {
                let (passes, losses) = race_the_eldest(cap, younger, newcomer, false);
                let what = format!("{younger:?}/{newcomer:?}, cap {cap}");
                assert_eq!(passes, max_passes(cap), "{what}");
                assert_eq!(losses, 0, "{what}: granted, not woken for nothing");
            }
        }
    }
}

/// A woken sender that finds its slot taken queues again; after
/// `MAX_BYPASS` such losses the next free slot is granted to it, also when
/// the pass bound is further away (here from `cap == 3` on). Either bound
/// grants it the slot first, and whichever comes first, the pass count
/// stays within its bound. The `Idle` younger sender keeps a wake-up from
/// before the eldest lost its own: the eldest, woken again after it,
/// stays the eldest.
#[test]
fn sender_that_keeps_losing_is_granted_a_slot_after_max_bypass_losses() {
    let max_losses = weftwork::Mutex::<()>::MAX_BYPASS;
    for &cap in CAPS {
        for younger in [Younger::Send, Younger::Reserve, Younger::Idle] {
            for newcomer in NEWCOMERS {
                let (passes, losses) = race_the_eldest(cap, younger, newcomer, true);
                let what = format!("{younger:?}/{newcomer:?}, cap {cap}");
                assert!(passes <= max_passes(cap), "{what}: passed {passes} times");
                // Two passes and one loss per round: at cap 2 the pass
                // bound comes first (15 passes, in the 8th round).
                let expect = if cap == 2 { max_losses - 1 } else { max_losses };
                assert_eq!(losses, expect, "{what}");
            }
        }
    }
}

/// While permits hold every slot, a younger woken send finds a parked
/// receiver: it may not hand its value over while the eldest is owed the
/// next slot. It queues again instead, and the eldest is woken for that
/// receiver.
#[test]
fn younger_woken_send_leaves_a_receiver_to_the_owed_eldest() {
    let (tx, rx) = bounded::<usize>(2);
    let mut permits = vec![tx.try_reserve().unwrap(), tx.try_reserve().unwrap()];
    let (we, wy) = (CountingWaker::new(), CountingWaker::new());
    let mut eldest = Box::pin(tx.send(1000));
    assert!(we.poll_box(&mut eldest).is_pending());
    let mut younger = Box::pin(tx.send(2000));
    assert!(wy.poll_box(&mut younger).is_pending());
    // Passed while woken (its task does not run): no losses.
    for _ in 0..max_passes(2) - 2 {
        drop(permits.pop());
        permits.push(tx.try_reserve().expect("a newcomer passes it"));
    }
    assert!(
        we.poll_box(&mut eldest).is_pending(),
        "no slot: queued again"
    );
    permits.clear(); // both are woken
    assert_eq!(wy.count(), 1);
    permits.push(tx.try_reserve().unwrap());
    permits.push(tx.try_reserve().unwrap()); // the last pass: owed now
    assert!(we.poll_box(&mut eldest).is_pending(), "no slot for it");
    let mut r = Box::pin(rx.recv());
    assert!(
        we.poll_box(&mut r).is_pending(),
        "empty: the receiver parks"
    );
    let woken = we.count();
    assert!(
        wy.poll_box(&mut younger).is_pending(),
        "must leave it to the eldest"
    );
    assert_eq!(
        we.count(),
        woken + 1,
        "the eldest is woken for the receiver"
    );
    assert_eq!(we.poll_box(&mut eldest), Poll::Ready(Ok(())));
    assert_eq!(we.poll_box(&mut r), Poll::Ready(Ok(1000)));
}

/// The slot an owed sender is granted does not wait for the younger
/// senders woken before it to poll: here the eldest lost its slot and
/// queued again while a younger one stays woken (never polled); the next
/// freed slot is granted to the eldest at once, which is woken for it.
#[test]
fn owed_sender_is_granted_without_waiting_for_a_younger_woken_one() {
    let (tx, rx) = bounded(2);
    tx.try_send(0).unwrap();
    tx.try_send(0).unwrap();
    let (we, wy) = (CountingWaker::new(), CountingWaker::new());
    let mut eldest = Box::pin(tx.send(1000));
    assert!(we.poll_box(&mut eldest).is_pending());
    // Passed while woken (its task does not run): no losses.
    for _ in 0..max_passes(2) - 2 {
        assert_eq!(rx.try_recv(), Ok(0));
        tx.try_send(0).expect("a newcomer passes it");
    }
    assert!(
        we.poll_box(&mut eldest).is_pending(),
        "no slot: queued again"
    );
    let mut younger = Box::pin(tx.send(2000));
    assert!(wy.poll_box(&mut younger).is_pending());
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(0), Ok(0)));
    assert_eq!(wy.count(), 1, "both are woken for the two free slots");
    tx.try_send(0).expect("the last pass but one");
    tx.try_send(0).expect("the last pass");
    assert!(we.poll_box(&mut eldest).is_pending(), "no slot left");
    let woken = we.count();
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(we.count(), woken + 1, "granted the freed slot at once");
    assert!(matches!(tx.try_send(7), Err(TrySendError::Full(7))));
    assert_eq!(we.poll_box(&mut eldest), Poll::Ready(Ok(())));
    assert!(wy.poll_box(&mut younger).is_pending(), "no room for it now");
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(0), Ok(1000)));
}

/// While permits hold every slot, a waiting send is woken for a parked
/// receiver. A permit's send may take that receiver, and a newcomer the
/// slot that send frees: a pass like the one above, and after
/// `MAX_PASSES` of them the next slot is granted to the waiting send.
/// (The bound once missed this: a send woken for a receiver was only ever
/// woken, so the cycle below starved it for ever.)
#[test]
fn send_woken_for_a_receiver_is_granted_a_slot_after_max_passes() {
    let max = MAX_PASSES as u32;
    let (tx, rx) = bounded::<u32>(1);
    let mut permit = tx.try_reserve().unwrap();
    let (w, rw) = (CountingWaker::new(), CountingWaker::new());
    let mut s = Box::pin(tx.send(1000));
    assert!(w.poll_box(&mut s).is_pending(), "the permit holds the slot");
    for round in 0..=max {
        let mut r = Box::pin(rx.recv());
        assert!(
            rw.poll_box(&mut r).is_pending(),
            "empty: the receiver parks"
        );
        assert_eq!(w.count(), round as usize + 1, "woken for the receiver");
        permit.send(round).unwrap(); // takes that receiver, frees its slot
        match tx.try_reserve() {
            Ok(p) if round < max => permit = p,
            Ok(_) => panic!("overtaken more than MAX_PASSES times"),
            Err(e) => {
                assert!(matches!(e, TrySendError::Full(())));
                assert_eq!(round, max, "the slot is kept only after the bound");
                assert!(matches!(tx.try_send(7), Err(TrySendError::Full(7))));
                assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())));
                assert_eq!(rw.poll_box(&mut r), Poll::Ready(Ok(round)));
                assert_eq!(rx.try_recv(), Ok(1000));
                return;
            }
        }
        assert!(w.poll_box(&mut s).is_pending(), "lost: queued again");
        assert_eq!(rw.poll_box(&mut r), Poll::Ready(Ok(round)));
    }
    unreachable!();
}

/// Parks `s` (permits hold every slot), then `rounds` times: a receiver
/// parks and `s` is woken for it, `permit`'s `send` takes that receiver
/// and a newcomer's `try_reserve` the slot it frees, so `s` finds both
/// gone and queues again. Then a last receiver parks, `s` is woken for it
/// and no newcomer may send. Returns the newcomer's permit and that
/// receiver.
fn lose_to_permits<'a>(
    tx: &'a channel::Sender<u32>,
    rx: &'a channel::Receiver<u32>,
    mut permit: channel::Permit<'a, u32>,
    s: &mut Pin<Box<impl Future<Output = Result<(), SendError<u32>>>>>,
    w: &CountingWaker,
    rounds: u32,
) -> (
    channel::Permit<'a, u32>,
    Pin<Box<impl Future<Output = Result<u32, RecvError>> + 'a>>,
) {
    assert!(w.poll_box(s).is_pending(), "the permits hold every slot");
    for round in 0..rounds {
        let mut r = Box::pin(rx.recv());
        assert!(w.poll_box(&mut r).is_pending());
        permit.send(round).unwrap();
        permit = tx.try_reserve().unwrap();
        assert!(w.poll_box(s).is_pending(), "lost {round}");
        assert_eq!(w.poll_box(&mut r), Poll::Ready(Ok(round)));
    }
    let mut r = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r).is_pending(), "the send is woken for it");
    assert!(matches!(tx.try_send(7), Err(TrySendError::Full(7))));
    (permit, r)
}

/// A send owed a slot (passed `MAX_PASSES` times) while permits hold
/// every slot is still woken for a parked receiver, and no newcomer may
/// take that receiver; dropped, it frees everything, and polled, it hands
/// its value over.
#[test]
fn owed_send_woken_for_a_receiver_hands_over_or_gives_back() {
    let max = MAX_PASSES as u32;
    for drop_it in [false, true] {
        let (tx, rx) = bounded::<u32>(1);
        let permit = tx.try_reserve().unwrap();
        let w = CountingWaker::new();
        let mut s = Box::pin(tx.send(1000));
        let (permit, mut r) = lose_to_permits(&tx, &rx, permit, &mut s, &w, max);
        if drop_it {
            drop(s);
            drop(permit);
            assert_eq!(tx.try_send(7), Ok(()), "both slots' worth given back");
            assert_eq!(w.poll_box(&mut r), Poll::Ready(Ok(7)));
            assert_eq!(tx.try_send(8), Ok(()));
            assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        } else {
            assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())), "hands it over");
            assert_eq!(w.poll_box(&mut r), Poll::Ready(Ok(1000)));
            drop(permit);
            assert_eq!(tx.try_send(8), Ok(()));
            assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        }
        assert_eq!(rx.try_recv(), Ok(8));
    }
}

/// The loss bound grants only a free slot: a send that lost `MAX_BYPASS`
/// times, at the head while permits hold every slot, is still woken for a
/// parked receiver (no slot to grant) and hands its value over. At cap 2
/// the pass bound (15) is still far: one pass per round.
#[test]
fn send_past_its_loss_bound_is_woken_for_a_receiver_when_no_slot_is_free() {
    let max = weftwork::Mutex::<()>::MAX_BYPASS as u32;
    let (tx, rx) = bounded::<u32>(2);
    let (permit, idle) = (tx.try_reserve().unwrap(), tx.try_reserve().unwrap());
    let w = CountingWaker::new();
    let mut s = Box::pin(tx.send(1000));
    let (permit, mut r) = lose_to_permits(&tx, &rx, permit, &mut s, &w, max);
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())), "hands it over");
    assert_eq!(w.poll_box(&mut r), Poll::Ready(Ok(1000)));
    assert_eq!(tx.len(), 0);
    drop((permit, idle));
    assert_eq!((tx.try_send(8), tx.try_send(9)), (Ok(()), Ok(())));
    assert!(matches!(tx.try_send(10), Err(TrySendError::Full(10))));
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(8), Ok(9)));
}

/// A woken send dropped before it was polled again passes the free slot's
/// wake-up on to the next parked sender.
#[test]
fn woken_send_dropped_wakes_the_next() {
    let (tx, rx) = bounded(1);
    tx.try_send(0).unwrap();
    let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
    let mut s1 = Box::pin(tx.send(1));
    let mut s2 = Box::pin(tx.send(2));
    assert!(w1.poll_box(&mut s1).is_pending());
    assert!(w2.poll_box(&mut s2).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!((w1.count(), w2.count()), (1, 0), "the head is woken first");
    drop(s1);
    assert_eq!(w2.count(), 1, "the wake-up passed on");
    assert_eq!(w2.poll_box(&mut s2), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn reserve_waits_and_is_cancel_safe() {
    let (tx, rx) = bounded(1);
    tx.try_send(0).unwrap();
    let w = CountingWaker::new();
    let mut r1 = Box::pin(tx.reserve());
    let mut s2 = Box::pin(tx.send(2));
    assert!(w.poll_box(&mut r1).is_pending());
    assert!(w.poll_box(&mut s2).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // the slot goes to r1
    drop(r1); // ...which passes it on
    assert_eq!(w.poll_box(&mut s2), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

/// tokio's promise for `select!`: a buffered `send` dropped before it
/// returned `Ready` did not send. A parked send is woken for a freed slot
/// (its value stays in the future) or, once overtaken `MAX_PASSES` times,
/// granted one; dropped before its next poll, it sent nothing and the slot
/// is free again.
#[test]
fn woken_or_granted_send_dropped_before_repoll_did_not_send() {
    for overtaken in [0, MAX_PASSES] {
        let (tx, rx) = bounded(1);
        tx.try_send(0).unwrap();
        let w = CountingWaker::new();
        let mut s = Box::pin(tx.send(1));
        assert!(w.poll_box(&mut s).is_pending(), "full: the send parks");
        for i in 0..overtaken {
            assert_eq!(rx.try_recv(), Ok(0));
            tx.try_send(0).unwrap();
            assert!(w.poll_box(&mut s).is_pending(), "overtaken {i}");
        }
        assert_eq!(rx.try_recv(), Ok(0)); // frees the slot
        assert_eq!(w.count(), overtaken + 1, "the parked send is woken");
        assert_eq!(tx.len(), 0, "the value stays in the send future");
        assert_eq!(tx.is_full(), overtaken > 0, "granted only after the bound");
        drop(s); // never polled again: the value was not sent
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "1 was not sent");
        assert_eq!(tx.try_send(2), Ok(()), "the slot is free again");
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

/// A waiting future re-polled with another task's waker (it moved to
/// another task, e.g. inside `select!` or a combinator) wakes that waker,
/// not the old one: for a parked receiver and a parked sender.
#[test]
fn a_waiting_future_repolled_with_a_new_waker_wakes_the_new_one() {
    let (tx, rx) = bounded(1);
    let (old, new) = (CountingWaker::new(), CountingWaker::new());
    let mut r = Box::pin(rx.recv());
    assert!(old.poll_box(&mut r).is_pending());
    assert!(new.poll_box(&mut r).is_pending(), "still empty");
    tx.try_send(1).unwrap();
    assert_eq!((old.count(), new.count()), (0, 1), "receiver: new waker");
    assert_eq!(new.poll_box(&mut r), Poll::Ready(Ok(1)));

    tx.try_send(2).unwrap();
    let mut s = Box::pin(tx.send(3));
    assert!(old.poll_box(&mut s).is_pending());
    assert!(new.poll_box(&mut s).is_pending(), "still full");
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!((old.count(), new.count()), (0, 2), "sender: new waker");
    assert_eq!(new.poll_box(&mut s), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(3));
}

/// A waker whose `clone` panics (the one piece of user code the channel
/// runs under its lock) leaves the channel usable: the panic reaches the
/// poller, the lock is released, nothing was queued.
#[test]
fn a_panicking_waker_clone_leaves_the_channel_usable() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let bad = common::clone_panicking_waker();

    let (tx, rx) = bounded::<u32>(1);
    let mut r = Box::pin(rx.recv());
    let res = catch_unwind(AssertUnwindSafe(|| {
        r.as_mut().poll(&mut Context::from_waker(&bad))
    }));
    assert!(res.is_err(), "the clone's panic reaches the poller");
    drop(r);
    assert_eq!(tx.try_send(1), Ok(()), "the lock was released");
    assert_eq!(rx.try_recv(), Ok(1), "no ghost receiver took the value");

    tx.try_send(2).unwrap();
    let mut s = Box::pin(tx.send(3));
    let res = catch_unwind(AssertUnwindSafe(|| {
        s.as_mut().poll(&mut Context::from_waker(&bad))
    }));
    assert!(res.is_err());
    drop(s);
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "3 was not sent");
    assert_eq!(tx.try_send(4), Ok(()), "no ghost sender holds the slot");
}

/// A value handed to a parked receiver does not take one of the `cap`
/// slots: with a receiver waiting, a `cap == 1` channel takes one value
/// for it and buffers one more.
#[test]
fn a_handed_value_does_not_take_a_slot() {
    let (tx, rx) = bounded(1);
    let w = CountingWaker::new();
    let mut r = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r).is_pending());
    assert_eq!(tx.try_send(1), Ok(()), "handed to the parked receiver");
    assert_eq!(tx.len(), 0, "a handed value is not buffered");
    assert_eq!(tx.try_send(2), Ok(()), "the slot is still free");
    assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
    assert_eq!(w.poll_box(&mut r), Poll::Ready(Ok(1)));
    assert_eq!(rx.try_recv(), Ok(2));
}

/// Receivers dropped while holding handed values put them back into the
/// ring even when it is full (the ring keeps spare slots for them): `len`
/// goes over `cap`, sends see `Full` until it is back under, and nothing is
/// lost. Hand-offs stop when the spare slots are used up.
#[test]
fn dropped_receivers_put_handed_values_back_over_capacity() {
    let (tx, rx) = bounded(1);
    let w = CountingWaker::new();
    let mut r1 = Box::pin(rx.recv());
    let mut r2 = Box::pin(rx.recv());
    let mut r3 = Box::pin(rx.recv());
    for r in [&mut r1, &mut r2, &mut r3] {
        assert!(w.poll_box(r).is_pending());
    }
    assert_eq!(tx.try_send(1), Ok(())); // to r1
    assert_eq!(tx.try_send(2), Ok(())); // to r2: the one spare slot
    assert!(
        matches!(tx.try_send(3), Err(TrySendError::Full(3))),
        "no spare slot left for a third hand-off (r3 still waits)"
    );
    drop(r3);
    drop(r1);
    drop(r2);
    assert_eq!(tx.len(), 2, "both values are back, one over the capacity");
    assert!(matches!(tx.try_send(4), Err(TrySendError::Full(4))));
    let mut got = [rx.try_recv().unwrap(), rx.try_recv().unwrap()];
    got.sort();
    assert_eq!(got, [1, 2]);
    assert_eq!(tx.try_send(5), Ok(()), "back under the capacity");
}

/// A dropped woken send passes its wake-up (and the free slot) to the next
/// parked sender; a woken send that is polled places its value (straight
/// into a parked receiver if one waits).
#[test]
fn woken_send_dropped_passes_wake_on_and_polled_one_places_value() {
    let (tx, rx) = bounded(1);
    tx.try_send(0).unwrap();
    let w = CountingWaker::new();
    let mut s1 = Box::pin(tx.send(1));
    let mut s2 = Box::pin(tx.send(2));
    assert!(w.poll_box(&mut s1).is_pending());
    assert!(w.poll_box(&mut s2).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // s1 is woken for the free slot
    assert!(w.poll_box(&mut s2).is_pending(), "s2 does not overtake s1");
    drop(s1); // the wake-up passes to s2
    assert_eq!(w.count(), 2, "s2 is woken with the slot");
    let mut r = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r).is_pending(), "2 is not in the ring yet");
    assert_eq!(w.poll_box(&mut s2), Poll::Ready(Ok(())));
    assert_eq!(w.poll_box(&mut r), Poll::Ready(Ok(2)), "handed directly");
    assert_eq!(tx.try_send(3), Ok(()));
    // Closed between the grant and the next poll: the value comes back.
    let mut s4 = Box::pin(tx.send(4));
    assert!(w.poll_box(&mut s4).is_pending());
    assert_eq!(rx.try_recv(), Ok(3)); // s4 is woken
    rx.close();
    assert_eq!(w.poll_box(&mut s4), Poll::Ready(Err(SendError(4))));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

// ---------------------------------------------------------------- rendezvous

#[test]
fn rendezvous_send_completes_only_after_take() {
    let (tx, rx) = bounded(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    let w = CountingWaker::new();
    let mut s = Box::pin(tx.send(7));
    for _ in 0..3 {
        assert!(w.poll_box(&mut s).is_pending(), "no receiver took it yet");
    }
    assert_eq!(rx.try_recv(), Ok(7));
    assert!(w.count() >= 1, "the taker wakes the sender");
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())));
}

#[test]
fn rendezvous_dropped_recv_never_swallows() {
    let (tx, rx) = bounded(0);
    let w = CountingWaker::new();
    let mut r1 = Box::pin(rx.recv());
    let mut r2 = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r1).is_pending());
    assert!(w.poll_box(&mut r2).is_pending());
    // Handed straight to the parked r1: the send is complete.
    assert_eq!(w.poll_box(&mut Box::pin(tx.send(3))), Poll::Ready(Ok(())));
    assert!(tx.is_empty());
    drop(r1); // was handed the value: it passes to r2
    assert_eq!(w.poll_box(&mut r2), Poll::Ready(Ok(3)));
    // With nobody parked, a dropped receiver's value goes back into the
    // channel for the next receiver.
    let mut r3 = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r3).is_pending());
    assert_eq!(w.poll_box(&mut Box::pin(tx.send(4))), Poll::Ready(Ok(())));
    drop(r3);
    assert_eq!(tx.len(), 1);
    let mut s = Box::pin(tx.send(5));
    assert!(w.poll_box(&mut s).is_pending(), "the one slot is in use");
    assert_eq!(rx.try_recv(), Ok(4));
    assert_eq!(rx.try_recv(), Ok(5), "taken from the parked sender");
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())));
}

#[test]
fn rendezvous_dropped_send_takes_its_value_with_it() {
    let (tx, rx) = bounded(0);
    let w = CountingWaker::new();
    let mut s = Box::pin(tx.send(3));
    assert!(w.poll_box(&mut s).is_pending(), "no receiver yet");
    drop(s); // not taken: the send did not happen
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let mut r = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r).is_pending());
    // The channel still works.
    let mut s = Box::pin(tx.send(4));
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())));
    assert_eq!(w.poll_box(&mut r), Poll::Ready(Ok(4)));
}

#[test]
fn rendezvous_send_completes_when_a_parked_receiver_is_handed_the_value() {
    let (tx, rx) = bounded(0);
    let wr = CountingWaker::new();
    let ws = CountingWaker::new();
    let mut r = Box::pin(rx.recv());
    assert!(wr.poll_box(&mut r).is_pending());
    let mut s = Box::pin(tx.send(1));
    assert_eq!(ws.poll_box(&mut s), Poll::Ready(Ok(())));
    assert_eq!(wr.count(), 1, "the receiver is woken with its value");
    // A second send waits: no receiver is parked now.
    let mut s2 = Box::pin(tx.send(2));
    assert!(ws.poll_box(&mut s2).is_pending());
    assert_eq!(wr.poll_box(&mut r), Poll::Ready(Ok(1)));
    // The next receive takes the parked sender's value directly.
    assert_eq!(pollster::block_on(rx.recv()), Ok(2));
    assert_eq!(ws.count(), 1);
    assert_eq!(ws.poll_box(&mut s2), Poll::Ready(Ok(())));
}

#[test]
fn rendezvous_close_hands_offered_value_back() {
    let (tx, rx) = bounded(0);
    let w = CountingWaker::new();
    let mut s = Box::pin(tx.send(3));
    assert!(w.poll_box(&mut s).is_pending());
    rx.close();
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Err(SendError(3))));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn rendezvous_ping_pong_on_all_executors() {
    on_all_executors(|ex| async move {
        let (tx, rx) = bounded(0);
        let (back_tx, back_rx) = bounded(0);
        let n = ITERS / 4;
        let echo = ex.spawn(async move {
            while let Ok(v) = rx.recv().await {
                back_tx.send(v + 1).await.unwrap();
            }
        });
        for i in 0..n {
            tx.send(i).await.unwrap();
            assert_eq!(back_rx.recv().await, Ok(i + 1));
        }
        drop(tx);
        echo.await;
    });
}

// ---------------------------------------------------------------- rendezvous try_send

#[test]
fn rendezvous_try_send_hands_value_to_the_parked_receiver() {
    let (tx, rx) = bounded(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)), "nobody waits");
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut r1 = Box::pin(rx.recv());
    let mut r2 = Box::pin(rx.recv());
    assert!(w1.poll_box(&mut r1).is_pending());
    assert!(w2.poll_box(&mut r2).is_pending());
    assert_eq!(tx.try_send(5), Ok(()));
    assert_eq!(w1.count(), 1, "the longest-waiting receiver is woken");
    assert_eq!(w2.count(), 0);
    // A receiver arriving later cannot barge in: the value is r1's.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(w2.poll_box(&mut r2).is_pending());
    // Only one offer at a time: r2 still waits, but the slot is taken.
    assert_eq!(tx.try_send(6), Err(TrySendError::Full(6)));
    assert_eq!(w1.poll_box(&mut r1), Poll::Ready(Ok(5)));
    assert_eq!(tx.try_send(7), Ok(()));
    assert_eq!(w2.poll_box(&mut r2), Poll::Ready(Ok(7)));
    assert!(tx.is_empty());
}

#[test]
fn rendezvous_try_send_to_a_dropped_receiver_passes_on() {
    let (tx, rx) = bounded(0);
    let w = CountingWaker::new();
    let mut r1 = Box::pin(rx.recv());
    let mut r2 = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r1).is_pending());
    assert!(w.poll_box(&mut r2).is_pending());
    assert_eq!(tx.try_send(5), Ok(()));
    drop(r1); // handed the value, never ran: it passes to r2
    assert_eq!(w.poll_box(&mut r2), Poll::Ready(Ok(5)));
    // With no receiver left waiting, the value would have stayed for the
    // next receiver: never lost.
    let mut r3 = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r3).is_pending());
    assert_eq!(tx.try_send(6), Ok(()));
    drop(r3);
    assert_eq!(tx.len(), 1);
    assert_eq!(rx.try_recv(), Ok(6));
}

#[test]
fn rendezvous_try_send_is_full_once_receivers_left() {
    let (tx, rx) = bounded(0);
    let w = CountingWaker::new();
    let mut r = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r).is_pending());
    drop(r);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    // try_recv never parks, so it never makes try_send succeed.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    assert!(tx.is_empty());
    // A blocked `send` offering its value also makes try_send Full.
    let mut s = Box::pin(tx.send(3));
    assert!(w.poll_box(&mut s).is_pending());
    assert_eq!(tx.try_send(4), Err(TrySendError::Full(4)));
    rx.close();
    assert_eq!(tx.try_send(5), Err(TrySendError::Closed(5)));
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Err(SendError(3))));
}

#[test]
fn rendezvous_try_send_reaches_stream_and_blocking_receivers() {
    let (tx, mut rx) = bounded(0);
    let w = CountingWaker::new();
    {
        let mut next = rx.next();
        assert!(w.poll(Pin::new(&mut next)).is_pending());
    }
    // The dropped `next()` keeps its wait inside the receiver: still parked.
    assert_eq!(tx.try_send(1), Ok(()));
    assert_eq!(w.poll(Pin::new(&mut rx.next())), Poll::Ready(Some(1)));
    let t = std::thread::spawn(move || rx.recv_blocking());
    let mut v = 2;
    loop {
        match tx.try_send(v) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) => v = back,
            Err(e) => panic!("{e:?}"),
        }
        std::thread::yield_now();
    }
    assert_eq!(t.join().unwrap(), Ok(2));
}

#[test]
fn rendezvous_try_send_on_all_executors() {
    on_all_executors(|ex| async move {
        let (tx, rx) = bounded(0);
        let n = ITERS / 10;
        let consumer = ex.spawn(async move {
            for i in 0..n {
                assert_eq!(rx.recv().await, Ok(i));
            }
            assert_eq!(rx.recv().await, Err(RecvError));
        });
        for i in 0..n {
            let mut v = i;
            loop {
                match tx.try_send(v) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        v = back;
                        yield_now().await;
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        drop(tx);
        consumer.await;
    });
}

// ---------------------------------------------------------------- rendezvous reserve

#[test]
fn rendezvous_reserve_waits_for_a_receiver() {
    let (tx, rx) = bounded(0);
    let ws = CountingWaker::new();
    let wr = CountingWaker::new();
    let mut res = Box::pin(tx.reserve());
    assert!(ws.poll_box(&mut res).is_pending(), "no receiver yet");
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    let mut r = Box::pin(rx.recv());
    assert!(wr.poll_box(&mut r).is_pending());
    assert_eq!(ws.count(), 1, "a parking receiver wakes the reserve");
    let permit = ready(ws.poll_box(&mut res), "reserve").unwrap();
    assert!(tx.try_send(0).is_err(), "the offer right is held");
    permit.send(9).unwrap();
    assert_eq!(wr.count(), 1);
    assert_eq!(wr.poll_box(&mut r), Poll::Ready(Ok(9)));
    assert!(tx.is_empty());
}

#[test]
fn rendezvous_try_reserve_needs_a_parked_receiver() {
    let (tx, rx) = bounded(0);
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    let w = CountingWaker::new();
    let mut r = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r).is_pending());
    let p = tx.try_reserve().unwrap();
    p.send(1).unwrap();
    assert_eq!(w.poll_box(&mut r), Poll::Ready(Ok(1)));
    rx.close();
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Closed(()))));
}

#[test]
fn rendezvous_reserve_dropped_or_closed_frees_the_offer_right() {
    let (tx, rx) = bounded(0);
    let w = CountingWaker::new();
    let mut res = Box::pin(tx.reserve());
    assert!(w.poll_box(&mut res).is_pending()); // holds the offer right
    let mut s = Box::pin(tx.send(1));
    assert!(w.poll_box(&mut s).is_pending(), "queued behind the reserve");
    drop(res);
    assert!(
        w.poll_box(&mut s).is_pending(),
        "offered, waits for a taker"
    );
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())));
    // Close wakes a reserve waiting for a taker and fails it.
    let w2 = CountingWaker::new();
    let mut res = Box::pin(tx.reserve());
    assert!(w2.poll_box(&mut res).is_pending());
    rx.close();
    assert_eq!(w2.count(), 1);
    assert!(matches!(
        w2.poll_box(&mut res),
        Poll::Ready(Err(SendError(())))
    ));
}

#[test]
fn rendezvous_permit_send_after_the_receiver_left_stays_offered() {
    let (tx, rx) = bounded(0);
    let w = CountingWaker::new();
    let mut r = Box::pin(rx.recv());
    assert!(w.poll_box(&mut r).is_pending());
    let permit = tx.try_reserve().unwrap();
    drop(r); // the taker leaves before the permit is used
    permit.send(4).unwrap();
    assert_eq!(tx.len(), 1, "offered for the next receiver");
    assert_eq!(rx.try_recv(), Ok(4));
}

#[test]
fn rendezvous_reserve_completes_only_when_a_receiver_waits_on_all_executors() {
    on_all_executors(|ex| async move {
        let (tx, rx) = bounded(0);
        let receiving = Arc::new(AtomicBool::new(false));
        let flag = receiving.clone();
        let n = ITERS / 10;
        let consumer = ex.spawn(async move {
            for i in 0..n {
                yield_now().await;
                flag.store(true, SeqCst);
                assert_eq!(rx.recv().await, Ok(i));
                flag.store(false, SeqCst);
            }
        });
        for i in 0..n {
            let permit = tx.reserve().await.unwrap();
            assert!(
                receiving.load(SeqCst),
                "{}: reserve completed with no receiver waiting",
                ex.name()
            );
            permit.send(i).unwrap();
        }
        consumer.await;
    });
}

// ---------------------------------------------------------------- owned permits

#[test]
fn reserve_owned_moves_to_another_task_on_all_executors() {
    on_all_executors(|ex| async move {
        let (tx, rx) = bounded(2);
        let mut hs = Vec::new();
        let mut tx = tx;
        for i in 0..ITERS / 10 {
            let permit = tx.reserve_owned().await.unwrap();
            let (back_tx, back_rx) = oneshot();
            hs.push(ex.spawn(async move {
                yield_now().await;
                let _ = back_tx.send(permit.send(i).unwrap());
            }));
            assert_eq!(rx.recv().await, Ok(i));
            tx = back_rx.await.unwrap();
        }
        join_all(hs).await;
        assert_eq!(tx.sender_count(), 1, "every sender came back or dropped");
    });
}

#[test]
fn reserve_owned_is_fifo_and_cancel_safe() {
    let (tx, rx) = bounded(1);
    tx.try_send(0).unwrap();
    let w = CountingWaker::new();
    let mut r1 = Box::pin(tx.clone().reserve_owned());
    let mut s2 = Box::pin(tx.send(2));
    assert!(w.poll_box(&mut r1).is_pending());
    assert!(w.poll_box(&mut s2).is_pending());
    assert_eq!(tx.sender_count(), 2, "the future owns a sender");
    assert_eq!(rx.try_recv(), Ok(0)); // the slot goes to r1 (FIFO)
    assert!(w.poll_box(&mut s2).is_pending(), "s2 must not overtake");
    drop(r1); // ...which passes it on, and drops its sender
    assert_eq!(tx.sender_count(), 1);
    assert_eq!(w.poll_box(&mut s2), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn owned_permit_release_drop_and_close() {
    let (tx, rx) = bounded(1);
    let p = tx.clone().try_reserve_owned().unwrap();
    let tx2 = match tx.clone().try_reserve_owned() {
        Err(TrySendError::Full(tx2)) => tx2,
        other => panic!("expected Full with the sender back: {other:?}"),
    };
    let tx3 = p.release();
    assert!(tx3.same_channel(&tx));
    let p = tx2.try_reserve_owned().unwrap();
    drop(p); // frees the slot and drops its sender
    assert_eq!(tx.sender_count(), 2);
    let p = tx3.try_reserve_owned().unwrap();
    rx.close();
    assert_eq!(p.send(5).unwrap_err(), SendError(5));
    assert!(matches!(
        tx.clone().try_reserve_owned(),
        Err(TrySendError::Closed(_))
    ));
    assert!(pollster::block_on(tx.clone().reserve_owned()).is_err());
    assert_eq!(tx.sender_count(), 1);
}

#[test]
fn reserve_owned_fails_when_closed_while_waiting() {
    let (tx, rx) = bounded::<u8>(1);
    tx.try_send(1).unwrap();
    let w = CountingWaker::new();
    let mut r = Box::pin(tx.clone().reserve_owned());
    assert!(w.poll_box(&mut r).is_pending());
    rx.close();
    assert_eq!(w.count(), 1);
    assert!(matches!(
        w.poll_box(&mut r),
        Poll::Ready(Err(SendError(())))
    ));
    assert_eq!(tx.sender_count(), 1, "the future's sender was dropped");
}

// ---------------------------------------------------------------- PollSender

/// The whole `Sink` adapter a user writes over `PollSender`.
struct ChanSink<T>(PollSender<T>);

impl<T> futures::Sink<T> for ChanSink<T> {
    type Error = SendError<()>;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_reserve(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        self.0.send_item(item).map_err(|_| SendError(()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.close();
        Poll::Ready(Ok(()))
    }
}

#[test]
fn poll_sender_as_sink_on_all_executors() {
    use futures::SinkExt;
    for cap in [0, 1, 8] {
        on_all_executors(move |ex| async move {
            let (tx, rx) = bounded(cap);
            let n = ITERS / 4;
            let mut hs = Vec::new();
            for p in 0..2 {
                let mut sink = ChanSink(PollSender::new(tx.clone()));
                hs.push(ex.spawn(async move {
                    let mut items = futures::stream::iter((0..n).map(move |i| Ok((p, i))));
                    sink.send_all(&mut items).await.unwrap();
                    sink.close().await.unwrap();
                    assert!(sink.0.is_closed());
                }));
            }
            drop(tx);
            let mut next = [0, 0];
            while let Ok((p, i)) = rx.recv().await {
                assert_eq!(i, next[p], "FIFO per producer");
                next[p] += 1;
            }
            assert_eq!(next, [n, n]);
            join_all(hs).await;
        });
    }
}

#[test]
fn poll_sender_waits_fifo_and_abort_passes_the_slot_on() {
    let (tx, rx) = bounded(1);
    let w = CountingWaker::new();
    let mut cx = Context::from_waker(w.waker());
    let mut ps = PollSender::new(tx.clone());
    assert_eq!(ps.poll_reserve(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(ps.poll_reserve(&mut cx), Poll::Ready(Ok(())), "idempotent");
    ps.send_item(1).unwrap();
    assert!(ps.poll_reserve(&mut cx).is_pending(), "full");
    let mut s = Box::pin(tx.send(2));
    assert!(w.poll_box(&mut s).is_pending(), "queued behind ps");
    assert_eq!(rx.try_recv(), Ok(1)); // slot handed to ps
    assert!(w.count() >= 1);
    assert!(w.poll_box(&mut s).is_pending(), "must not overtake ps");
    assert!(ps.abort_send()); // the handed slot passes on
    assert!(!ps.abort_send(), "nothing left to abort");
    assert_eq!(w.poll_box(&mut s), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
    // A reserved slot is given up the same way.
    assert_eq!(ps.poll_reserve(&mut cx), Poll::Ready(Ok(())));
    assert!(tx.try_send(3).is_err());
    assert!(ps.abort_send());
    assert_eq!(tx.try_send(3), Ok(()));
    assert_eq!(rx.try_recv(), Ok(3));
    // Reuse after abort: the boxed wait works again.
    assert_eq!(ps.poll_reserve(&mut cx), Poll::Ready(Ok(())));
    ps.send_item(4).unwrap();
    assert!(ps.poll_reserve(&mut cx).is_pending());
    drop(ps); // dropping a queued PollSender loses no slot
    assert_eq!(rx.try_recv(), Ok(4));
    assert_eq!(tx.try_send(5), Ok(()));
}

#[test]
fn poll_sender_close_and_channel_close() {
    let (tx, rx) = bounded(1);
    let mut cx = Context::from_waker(Waker::noop());
    let mut ps = PollSender::new(tx);
    let mut ps2 = ps.clone();
    assert!(ps.get_ref().unwrap().same_channel(ps2.get_ref().unwrap()));
    assert_eq!(ps.poll_reserve(&mut cx), Poll::Ready(Ok(())));
    ps.close(); // gives up the reservation, drops its sender
    assert!(ps.is_closed() && ps.get_ref().is_none());
    assert!(!rx.is_closed(), "ps2 still holds a sender");
    assert_eq!(ps.poll_reserve(&mut cx), Poll::Ready(Err(SendError(()))));
    assert_eq!(ps.send_item(1), Err(SendError(1)));
    assert!(ps.clone().is_closed());
    // ps2 gets the slot ps gave up; then the receiver closes.
    assert_eq!(ps2.poll_reserve(&mut cx), Poll::Ready(Ok(())));
    rx.close();
    assert!(ps2.is_closed());
    assert_eq!(ps2.send_item(2), Err(SendError(2)));
    assert_eq!(ps2.poll_reserve(&mut cx), Poll::Ready(Err(SendError(()))));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
#[should_panic(expected = "without a slot reserved")]
fn poll_sender_send_item_without_reserve_panics() {
    let (tx, _rx) = bounded(1);
    let mut ps = PollSender::new(tx);
    let _ = ps.send_item(1);
}

#[test]
fn poll_sender_rendezvous_waits_for_a_receiver() {
    let (tx, rx) = bounded(0);
    let w = CountingWaker::new();
    let mut cx = Context::from_waker(w.waker());
    let mut ps = PollSender::new(tx);
    assert!(ps.poll_reserve(&mut cx).is_pending());
    let mut r = Box::pin(rx.recv());
    assert!(poll_box(&mut r).is_pending());
    assert_eq!(w.count(), 1);
    assert_eq!(ps.poll_reserve(&mut cx), Poll::Ready(Ok(())));
    ps.send_item(8).unwrap();
    assert_eq!(poll_box(&mut r), Poll::Ready(Ok(8)));
    // Aborting while waiting for a taker frees the offer right.
    assert!(ps.poll_reserve(&mut cx).is_pending());
    assert!(ps.abort_send());
    let mut r = Box::pin(rx.recv());
    assert!(poll_box(&mut r).is_pending());
    assert_eq!(ps.get_ref().unwrap().try_send(9), Ok(()));
    assert_eq!(poll_box(&mut r), Poll::Ready(Ok(9)));
}

// ---------------------------------------------------------------- oneshot

#[test]
fn oneshot_on_all_executors() {
    on_all_executors(|ex| async move {
        let (tx, rx) = oneshot();
        let h = ex.spawn(async move {
            yield_now().await;
            tx.send(5u32).unwrap();
        });
        assert_eq!(rx.await, Ok(5));
        h.await;
        let (tx, rx) = oneshot::<u8>();
        drop(tx);
        assert_eq!(rx.await, Err(RecvError));
        let (tx, rx) = oneshot::<u8>();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1));
    });
}

// ---------------------------------------------------------------- nothing lost

const OK: usize = 1;
const RETURNED: usize = 2;
const CANCELLED: usize = 4;

/// Per value: how it ended, how often it was received and dropped.
struct Ledger {
    flags: Vec<AtomicUsize>,
    received: Vec<AtomicUsize>,
    drops: Vec<AtomicUsize>,
    dropped_with_channel: Vec<AtomicBool>,
    final_phase: AtomicBool,
}

impl Ledger {
    fn new(n: usize) -> Arc<Self> {
        let v = || (0..n).map(|_| AtomicUsize::new(0)).collect();
        Arc::new(Self {
            flags: v(),
            received: v(),
            drops: v(),
            dropped_with_channel: (0..n).map(|_| AtomicBool::new(false)).collect(),
            final_phase: AtomicBool::new(false),
        })
    }
}

/// A value that reports its drop to the ledger.
struct Counted {
    id: usize,
    ledger: Arc<Ledger>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.ledger.drops[self.id].fetch_add(1, SeqCst);
        if self.ledger.final_phase.load(SeqCst) {
            self.ledger.dropped_with_channel[self.id].store(true, SeqCst);
        }
    }
}

/// Polls a future at most `budget` times that return `Pending`, then
/// gives up (and drops it): `None`.
struct Budget<F> {
    fut: Pin<Box<F>>,
    budget: u32,
}

impl<F: Future> Future for Budget<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if self.budget == 0 {
            return Poll::Ready(None);
        }
        self.budget -= 1;
        Poll::Pending
    }
}

fn budget<F: Future>(fut: F, budget: u32) -> Budget<F> {
    Budget {
        fut: Box::pin(fut),
        budget,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
}

/// `producers` × `per` values through a channel of `cap`, with random
/// cancellation of sends and receives; consumers stop early if
/// `consumers_quit`, and one producer closes the channel half-way if
/// `close_early`. Every value ends exactly one way.
async fn nothing_lost(
    ex: Executor,
    cap: usize,
    producers: usize,
    consumers: usize,
    per: usize,
    consumers_quit: bool,
    close_early: bool,
) {
    let n = producers * per;
    let ledger = Ledger::new(n);
    let (tx, rx) = bounded::<Counted>(cap);
    let keep_alive = tx.downgrade();
    let mut hs = Vec::new();
    for p in 0..producers {
        let tx = tx.clone();
        let ledger = ledger.clone();
        hs.push(ex.spawn(async move {
            let mut rng = Rng(0x9E37_79B9 + p as u64 * 7919);
            for k in 0..per {
                let id = p * per + k;
                let v = Counted {
                    id,
                    ledger: ledger.clone(),
                };
                let flag = match rng.next() % 8 {
                    0 => match tx.try_send(v) {
                        Ok(()) => OK,
                        Err(e) => {
                            drop(e.into_inner());
                            RETURNED
                        }
                    },
                    1 if rng.next() % 2 == 0 => match tx.reserve().await {
                        Ok(permit) => match permit.send(v) {
                            Ok(()) => OK,
                            Err(_) => RETURNED,
                        },
                        Err(_) => RETURNED,
                    },
                    1 => match budget(tx.clone().reserve_owned(), rng.next() % 3).await {
                        Some(Ok(permit)) => match permit.send(v) {
                            Ok(_tx) => OK,
                            Err(_) => RETURNED,
                        },
                        Some(Err(_)) => RETURNED,
                        None => {
                            drop(v); // cancelled before a slot was reserved
                            RETURNED
                        }
                    },
                    r => {
                        let b = if r < 5 { rng.next() % 3 } else { 1000 };
                        match budget(tx.send(v), b).await {
                            Some(Ok(())) => OK,
                            Some(Err(_)) => RETURNED,
                            None => CANCELLED,
                        }
                    }
                };
                ledger.flags[id].fetch_or(flag, SeqCst);
                if close_early && p == 0 && k == per / 2 {
                    tx.close();
                }
                if rng.next() % 4 == 0 {
                    yield_now().await;
                }
            }
        }));
    }
    drop(tx);
    for c in 0..consumers {
        let rx = rx.clone();
        let ledger = ledger.clone();
        hs.push(ex.spawn(async move {
            let mut rng = Rng(0xDEAD_BEEF + c as u64 * 104_729);
            let quit_after = if consumers_quit { per / 2 } else { usize::MAX };
            let mut got = 0;
            while got < quit_after {
                let v = match rng.next() % 4 {
                    0 => match rx.try_recv() {
                        Ok(v) => v,
                        Err(TryRecvError::Empty) => {
                            yield_now().await;
                            continue;
                        }
                        Err(TryRecvError::Closed) => break,
                    },
                    1 => match budget(rx.recv(), rng.next() % 3).await {
                        None => continue,
                        Some(Ok(v)) => v,
                        Some(Err(_)) => break,
                    },
                    _ => match rx.recv().await {
                        Ok(v) => v,
                        Err(_) => break,
                    },
                };
                ledger.received[v.id].fetch_add(1, SeqCst);
                got += 1;
            }
        }));
    }
    drop(rx);
    join_all(hs).await;
    ledger.final_phase.store(true, SeqCst);
    drop(keep_alive); // the channel's storage goes with the last handle
    for id in 0..n {
        let flags = ledger.flags[id].load(SeqCst);
        let received = ledger.received[id].load(SeqCst);
        let drops = ledger.drops[id].load(SeqCst);
        let in_channel = ledger.dropped_with_channel[id].load(SeqCst);
        let what = format!(
            "value {id} (cap {cap}): flags {flags:#b}, received {received}, drops {drops}, in channel {in_channel}"
        );
        assert_eq!(drops, 1, "{what}: dropped exactly once");
        assert!(received <= 1, "{what}: duplicated");
        assert!(flags.count_ones() == 1, "{what}: one outcome");
        match flags {
            OK => assert!(
                (received == 1) != in_channel,
                "{what}: a sent value is received or still in the channel"
            ),
            RETURNED => assert!(received == 0 && !in_channel, "{what}"),
            // A buffered send dropped before `Ready` never sent: its value
            // was dropped with the future. Only a rendezvous send whose value
            // a receiver took (and maybe dropped back into the channel) did
            // send: received or still in the channel, never both.
            _ if cap > 0 => assert!(received == 0 && !in_channel, "{what}"),
            _ => assert!(!(received == 1 && in_channel), "{what}"),
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn nothing_lost_under_random_cancellation() {
    for cap in [0, 1, 3, 64] {
        on_all_executors(move |ex| nothing_lost(ex, cap, 4, 3, ITERS / 4, false, false));
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn nothing_lost_when_consumers_quit_or_channel_closes() {
    for cap in [0, 2, 16] {
        on_all_executors(move |ex| nothing_lost(ex, cap, 3, 2, ITERS / 4, true, false));
        on_all_executors(move |ex| nothing_lost(ex, cap, 3, 2, ITERS / 4, false, true));
    }
}

#[test]
fn nothing_lost_small() {
    // The same checks, small enough for Miri.
    for cap in [0, 1, 2] {
        on_all_executors(move |ex| nothing_lost(ex, cap, 2, 2, 8, cap == 1, cap == 2));
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn mpmc_fifo_per_sender() {
    on_all_executors(|ex| async move {
        let (tx, rx) = bounded::<(usize, usize)>(4);
        let mut hs = Vec::new();
        for p in 0..TASKS {
            let tx = tx.clone();
            hs.push(ex.spawn(async move {
                for i in 0..ITERS {
                    tx.send((p, i)).await.unwrap();
                }
            }));
        }
        drop(tx);
        let seen = Arc::new(std::sync::Mutex::new(vec![Vec::new(); TASKS]));
        for _ in 0..3 {
            let rx = rx.clone();
            let seen = seen.clone();
            hs.push(ex.spawn(async move {
                let mut mine = vec![Vec::new(); TASKS];
                while let Ok((p, i)) = rx.recv().await {
                    mine[p].push(i);
                }
                let mut s = seen.lock().unwrap();
                for (p, v) in mine.into_iter().enumerate() {
                    // One consumer sees each sender's values in order.
                    assert!(v.windows(2).all(|w| w[0] < w[1]));
                    s[p].extend(v);
                }
            }));
        }
        join_all(hs).await;
        for mut v in seen.lock().unwrap().drain(..) {
            v.sort_unstable();
            assert_eq!(v, (0..ITERS).collect::<Vec<_>>());
        }
    });
}

/// With `cap >= 2` several parked senders are woken at once. If newcomers
/// take both slots, the woken senders queue again: in arrival order,
/// whichever is polled first, so the next free slot wakes the one that
/// waited longest (it used to be the one polled last).
#[test]
fn woken_senders_that_lose_queue_again_in_arrival_order() {
    let (tx, rx) = bounded::<u32>(2);
    tx.try_send(0).unwrap();
    tx.try_send(0).unwrap();
    let (wa, wb, wc) = (
        CountingWaker::new(),
        CountingWaker::new(),
        CountingWaker::new(),
    );
    let (mut a, mut b, mut c) = (
        Box::pin(tx.send(1)),
        Box::pin(tx.send(2)),
        Box::pin(tx.send(3)),
    );
    assert!(wa.poll_box(&mut a).is_pending());
    assert!(wb.poll_box(&mut b).is_pending());
    assert!(wc.poll_box(&mut c).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(
        (wa.count(), wb.count(), wc.count()),
        (1, 1, 0),
        "a and b woken"
    );
    tx.try_send(10).unwrap(); // newcomers take both slots
    tx.try_send(11).unwrap();
    // Polled oldest first, so that queueing each at the head would put b
    // ahead of a.
    assert!(wa.poll_box(&mut a).is_pending(), "a lost its slot");
    assert!(wb.poll_box(&mut b).is_pending(), "b lost its slot");
    assert_eq!(rx.try_recv(), Ok(10));
    assert_eq!(
        (wa.count(), wb.count(), wc.count()),
        (2, 1, 0),
        "a is first again"
    );
    assert_eq!(wa.poll_box(&mut a), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(11));
    assert_eq!((wb.count(), wc.count()), (2, 0), "then b, then c");
    assert_eq!(wb.poll_box(&mut b), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(wc.count(), 1);
    assert_eq!(wc.poll_box(&mut c), Poll::Ready(Ok(())));
    assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(2), Ok(3)));
}

/// Rendezvous: while the one hand-off slot is in use (a value handed to a
/// receiver that has not polled yet), a second receiver and a sender both
/// park. A receiver that did not wait must not take that sender's value
/// ahead of the parked receiver: receivers are served FIFO.
#[test]
fn rendezvous_newcomer_receiver_does_not_overtake_a_parked_one() {
    let (tx, rx) = bounded::<u32>(0);
    let (w1, w2, ws) = (
        CountingWaker::new(),
        CountingWaker::new(),
        CountingWaker::new(),
    );
    let mut r1 = Box::pin(rx.recv());
    assert!(w1.poll_box(&mut r1).is_pending());
    let mut s1 = Box::pin(tx.send(1));
    assert!(ws.poll_box(&mut s1).is_ready(), "handed to r1");
    let mut r2 = Box::pin(rx.recv());
    assert!(w2.poll_box(&mut r2).is_pending(), "r2 parks");
    let mut s2 = Box::pin(tx.send(2));
    assert!(
        ws.poll_box(&mut s2).is_pending(),
        "the hand-off slot is in use"
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "r2 is first");
    let mut r3 = Box::pin(rx.recv());
    assert!(poll_box(&mut r3).is_pending(), "a newcomer parks behind r2");
    assert_eq!(w1.poll_box(&mut r1), Poll::Ready(Ok(1)));
    assert_eq!(w2.count(), 1, "r2 is handed s2's value");
    assert_eq!(w2.poll_box(&mut r2), Poll::Ready(Ok(2)));
    assert_eq!(ws.poll_box(&mut s2), Poll::Ready(Ok(())));
    drop(r3);
}
