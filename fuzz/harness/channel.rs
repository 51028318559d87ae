//! `weftwork::channel::bounded` against a sequential model: a `VecDeque` of
//! buffered values, a FIFO queue of waiting senders (the `space` slots) and
//! a FIFO queue of waiting receivers.
//!
//! Shared by `tests/prop_channel.rs` (proptest) and
//! `fuzz/fuzz_targets/channel.rs` (cargo-fuzz). Everything runs on one
//! thread with the no-op waker, so the run is deterministic and every
//! result is predicted exactly: no loss, no duplication, FIFO order of
//! values and of waiting senders, `len() <= cap`, close semantics, and the
//! rendezvous rules (a send completes only after its value was taken; a
//! dropped send takes an untaken value back; `try_send` succeeds exactly
//! when a receiver is queued in `recv`, and the oldest one gets the value;
//! `reserve` completes only once a receiver is parked).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use weftwork::channel::{
    Permit, Recv, RecvError, Reserve, Send, SendError, TryRecvError, TrySendError, bounded,
};

/// One step. Indices are taken modulo the length of the list they select
/// from; an op on an empty list does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    TrySend,
    /// Starts a `send` and polls it once.
    StartSend,
    /// Starts a `reserve` and polls it once.
    StartReserve,
    /// `try_reserve`; a permit it gives is kept.
    TryReserve,
    PollSend(usize),
    DropSend(usize),
    /// `Permit::send` on a held permit.
    PermitSend(usize),
    DropPermit(usize),
    TryRecv,
    /// Starts a `recv` and polls it once.
    StartRecv,
    PollRecv(usize),
    DropRecv(usize),
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    /// Waiting in the sender queue.
    Queued,
    /// Handed a slot; the next poll writes the value.
    Granted,
    /// Rendezvous: the value is in the channel, not yet taken.
    Offered,
    /// Rendezvous: a receiver took the value.
    Taken,
    /// Rendezvous reserve: holds the offer right, waits for a parked
    /// receiver.
    WaitingTaker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvState {
    Queued,
    /// Handed an item permit (possibly a phantom one).
    Granted,
}

struct Model {
    cap: usize,
    buf: VecDeque<u32>,
    /// Free `space` slots.
    free: usize,
    /// Free `items` permits.
    items: usize,
    closed: bool,
}

enum Fut<'a> {
    Send(Pin<Box<Send<'a, u32>>>, u32),
    Reserve(Pin<Box<Reserve<'a, u32>>>),
}

struct PendingSend<'a> {
    fut: Fut<'a>,
    state: SendState,
    /// Arrival order in the sender queue.
    ticket: u64,
}

struct PendingRecv<'a> {
    fut: Pin<Box<Recv<'a, u32>>>,
    state: RecvState,
    ticket: u64,
    /// Its last poll returned `Pending` (a rendezvous "parked" receiver).
    parked: bool,
}

fn poll<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs `ops` on a channel of capacity `cap`, asserting the model's
/// prediction at every step, then closes and drains it.
pub fn run(cap: usize, ops: &[Op]) {
    let (tx, rx) = bounded::<u32>(cap);
    let mut m = Model {
        cap,
        buf: VecDeque::new(),
        free: cap.max(1),
        items: 0,
        closed: false,
    };
    let mut sends: Vec<PendingSend<'_>> = Vec::new();
    let mut recvs: Vec<PendingRecv<'_>> = Vec::new();
    let mut permits: Vec<Permit<'_, u32>> = Vec::new();
    let mut next_value = 0u32;
    let mut ticket = 0u64;

    // Hands a freed slot to the oldest queued sender, or frees it.
    fn slot_freed(m: &mut Model, sends: &mut [PendingSend<'_>]) {
        let head = sends
            .iter_mut()
            .filter(|s| s.state == SendState::Queued)
            .min_by_key(|s| s.ticket);
        match head {
            Some(s) if !m.closed => s.state = SendState::Granted,
            _ => m.free += 1,
        }
    }
    // Hands a new item permit to the oldest queued receiver, or frees it.
    fn item_added(m: &mut Model, recvs: &mut [PendingRecv<'_>]) {
        let head = recvs
            .iter_mut()
            .filter(|r| r.state == RecvState::Queued)
            .min_by_key(|r| r.ticket);
        match head {
            Some(r) => r.state = RecvState::Granted,
            None => m.items += 1,
        }
    }
    // A receiver took the front value.
    fn taken(m: &mut Model, sends: &mut [PendingSend<'_>], v: u32) {
        assert_eq!(m.buf.pop_front(), Some(v), "values come out in FIFO order");
        for s in sends.iter_mut() {
            if s.state == SendState::Offered {
                if let Fut::Send(_, sv) = s.fut {
                    if sv == v {
                        s.state = SendState::Taken;
                    }
                }
            }
        }
        slot_freed(m, sends);
    }
    let queued_sends =
        |sends: &[PendingSend<'_>]| sends.iter().any(|s| s.state == SendState::Queued);

    for &op in ops {
        match op {
            Op::TrySend => {
                let v = next_value;
                next_value += 1;
                let res = tx.try_send(v);
                let waiting_recv = recvs.iter().any(|r| r.state == RecvState::Queued);
                if m.closed {
                    assert_eq!(res, Err(TrySendError::Closed(v)));
                } else if (cap == 0 && !waiting_recv) || m.free == 0 || queued_sends(&sends) {
                    assert_eq!(res, Err(TrySendError::Full(v)));
                } else {
                    // Rendezvous: handed to the oldest queued receiver.
                    assert_eq!(res, Ok(()));
                    m.free -= 1;
                    m.buf.push_back(v);
                    item_added(&mut m, &mut recvs);
                }
            }
            Op::StartSend | Op::StartReserve => {
                let fut = if op == Op::StartSend {
                    let v = next_value;
                    next_value += 1;
                    Fut::Send(Box::pin(tx.send(v)), v)
                } else {
                    Fut::Reserve(Box::pin(tx.reserve()))
                };
                let state = if m.free > 0 && !queued_sends(&sends) && !m.closed {
                    m.free -= 1;
                    SendState::Granted
                } else {
                    SendState::Queued
                };
                ticket += 1;
                sends.push(PendingSend { fut, state, ticket });
                let i = sends.len() - 1;
                poll_send(&mut m, &mut sends, &mut recvs, &mut permits, i);
            }
            Op::TryReserve => {
                let res = tx.try_reserve();
                let taker = cap > 0 || recvs.iter().any(|r| r.parked);
                if m.closed {
                    assert!(matches!(res, Err(TrySendError::Closed(()))));
                } else if m.free == 0 || queued_sends(&sends) || !taker {
                    assert!(matches!(res, Err(TrySendError::Full(()))));
                } else {
                    permits.push(res.expect("a free slot (and a parked receiver)"));
                    m.free -= 1;
                }
            }
            Op::PollSend(i) if !sends.is_empty() => {
                let i = i % sends.len();
                poll_send(&mut m, &mut sends, &mut recvs, &mut permits, i);
            }
            Op::DropSend(i) if !sends.is_empty() => {
                let s = sends.remove(i % sends.len());
                drop(s.fut);
                match s.state {
                    SendState::Queued | SendState::Taken => {}
                    SendState::Granted | SendState::WaitingTaker => slot_freed(&mut m, &mut sends),
                    SendState::Offered => {
                        // Retracted: the value leaves the channel.
                        m.buf.pop_back().expect("offered value is buffered");
                        assert!(m.buf.is_empty());
                        slot_freed(&mut m, &mut sends);
                        m.items = m.items.saturating_sub(1);
                    }
                }
            }
            Op::PermitSend(i) if !permits.is_empty() => {
                let p = permits.remove(i % permits.len());
                let v = next_value;
                next_value += 1;
                let res = p.send(v);
                if m.closed {
                    assert_eq!(res, Err(SendError(v)));
                    m.free += 1;
                } else {
                    assert_eq!(res, Ok(()));
                    m.buf.push_back(v);
                    item_added(&mut m, &mut recvs);
                }
            }
            Op::DropPermit(i) if !permits.is_empty() => {
                drop(permits.remove(i % permits.len()));
                slot_freed(&mut m, &mut sends);
            }
            Op::TryRecv => {
                let res = rx.try_recv();
                if m.items > 0 {
                    if let Some(&front) = m.buf.front() {
                        assert_eq!(res, Ok(front));
                        m.items -= 1;
                        taken(&mut m, &mut sends, front);
                    } else if m.closed {
                        assert_eq!(res, Err(TryRecvError::Closed));
                    } else {
                        // A phantom permit, consumed.
                        assert_eq!(res, Err(TryRecvError::Empty));
                        m.items -= 1;
                    }
                } else {
                    assert_eq!(res, Err(TryRecvError::Empty));
                }
            }
            Op::StartRecv => {
                ticket += 1;
                let state = if m.items > 0 && !recvs.iter().any(|r| r.state == RecvState::Queued) {
                    m.items -= 1;
                    RecvState::Granted
                } else {
                    RecvState::Queued
                };
                recvs.push(PendingRecv {
                    fut: Box::pin(rx.recv()),
                    state,
                    ticket,
                    parked: false,
                });
                let i = recvs.len() - 1;
                poll_recv(&mut m, &mut sends, &mut recvs, &mut ticket, i);
            }
            Op::PollRecv(i) if !recvs.is_empty() => {
                let i = i % recvs.len();
                poll_recv(&mut m, &mut sends, &mut recvs, &mut ticket, i);
            }
            Op::DropRecv(i) if !recvs.is_empty() => {
                let r = recvs.remove(i % recvs.len());
                drop(r.fut);
                if r.state == RecvState::Granted {
                    item_added(&mut m, &mut recvs);
                }
            }
            Op::Close => {
                let first = rx.close();
                assert_eq!(first, !m.closed);
                if !m.closed {
                    m.closed = true;
                    // Every queued receiver wakes.
                    for r in recvs.iter_mut() {
                        r.state = RecvState::Granted;
                    }
                    m.items += 1 << 20; // "plenty"
                }
            }
            _ => {}
        }
        assert!(tx.len() <= cap.max(1), "len {} > cap {cap}", tx.len());
        assert_eq!(tx.len(), m.buf.len());
        assert_eq!(tx.is_closed(), m.closed);

        fn poll_send<'a>(
            m: &mut Model,
            sends: &mut Vec<PendingSend<'a>>,
            recvs: &mut [PendingRecv<'a>],
            permits: &mut Vec<Permit<'a, u32>>,
            i: usize,
        ) {
            let s = &mut sends[i];
            let state = s.state;
            let mut done = true;
            match &mut s.fut {
                Fut::Reserve(f) => {
                    let res = poll(f.as_mut());
                    match state {
                        SendState::Queued if m.closed => {
                            assert!(matches!(res, Poll::Ready(Err(SendError(())))));
                        }
                        SendState::Queued => {
                            assert!(res.is_pending());
                            done = false;
                        }
                        SendState::Granted | SendState::WaitingTaker if m.cap == 0 && m.closed => {
                            assert!(matches!(res, Poll::Ready(Err(SendError(())))));
                            m.free += 1;
                        }
                        SendState::Granted | SendState::WaitingTaker
                            if m.cap == 0 && !recvs.iter().any(|r| r.parked) =>
                        {
                            assert!(res.is_pending(), "rendezvous reserve without a taker");
                            s.state = SendState::WaitingTaker;
                            done = false;
                        }
                        SendState::Granted | SendState::WaitingTaker => match res {
                            Poll::Ready(Ok(p)) => permits.push(p),
                            other => panic!("granted reserve: {:?}", other.map(|r| r.is_ok())),
                        },
                        _ => unreachable!(),
                    }
                }
                Fut::Send(f, v) => {
                    let v = *v;
                    let res = poll(f.as_mut());
                    match state {
                        SendState::Queued if m.closed => {
                            assert_eq!(res, Poll::Ready(Err(SendError(v))));
                        }
                        SendState::Queued => {
                            assert!(res.is_pending(), "queued send overtook");
                            done = false;
                        }
                        SendState::Granted if m.closed => {
                            assert_eq!(res, Poll::Ready(Err(SendError(v))));
                            m.free += 1;
                        }
                        SendState::Granted => {
                            m.buf.push_back(v);
                            if m.cap == 0 {
                                assert!(res.is_pending(), "rendezvous send completed early");
                                s.state = SendState::Offered;
                                done = false;
                            } else {
                                assert_eq!(res, Poll::Ready(Ok(())));
                            }
                            item_added(m, recvs);
                        }
                        SendState::Offered if m.closed => {
                            assert_eq!(res, Poll::Ready(Err(SendError(v))));
                            m.buf.pop_back();
                            m.free += 1;
                            m.items = m.items.saturating_sub(1);
                        }
                        SendState::Offered => {
                            assert!(res.is_pending());
                            done = false;
                        }
                        SendState::Taken => assert_eq!(res, Poll::Ready(Ok(()))),
                        SendState::WaitingTaker => unreachable!("only reserves wait for takers"),
                    }
                }
            }
            if done {
                sends.remove(i);
            }
        }

        fn poll_recv<'a>(
            m: &mut Model,
            sends: &mut [PendingSend<'a>],
            recvs: &mut Vec<PendingRecv<'a>>,
            ticket: &mut u64,
            i: usize,
        ) {
            let res = poll(recvs[i].fut.as_mut());
            recvs[i].parked = res.is_pending();
            if recvs[i].state == RecvState::Queued {
                assert!(res.is_pending(), "a queued receiver overtook");
                return;
            }
            loop {
                if let Some(&front) = m.buf.front() {
                    assert_eq!(res, Poll::Ready(Ok(front)));
                    recvs.remove(i);
                    taken(m, sends, front);
                } else if m.closed {
                    assert_eq!(res, Poll::Ready(Err(RecvError)));
                    m.items += 1;
                    recvs.remove(i);
                } else if m.items > 0 && !recvs.iter().any(|r| r.state == RecvState::Queued) {
                    // A phantom, consumed; the re-acquire succeeds at once.
                    m.items -= 1;
                    continue;
                } else {
                    // A phantom, consumed: it waits again, at the back.
                    assert!(res.is_pending());
                    *ticket += 1;
                    recvs[i].state = RecvState::Queued;
                    recvs[i].ticket = *ticket;
                }
                return;
            }
        }
    }

    // Close, fail or finish every future, and drain: everything buffered
    // comes out in order, then the channel reports closed.
    drop(sends);
    drop(permits);
    drop(recvs);
    rx.close();
    let mut rest = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(v) => rest.push(v),
            Err(TryRecvError::Closed) => break,
            Err(TryRecvError::Empty) => panic!("empty after close"),
        }
    }
    if cap > 0 {
        assert_eq!(rest, Vec::from(m.buf.clone()), "drain after close");
    } else {
        // Offered values were retracted when their sends were dropped;
        // only values placed through a permit remain.
        assert!(rest.iter().all(|v| m.buf.contains(v)));
    }
}
