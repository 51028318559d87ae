//! `weftwork::channel::bounded` against a sequential model: a `VecDeque` of
//! buffered values, a FIFO queue of parked senders (with their values) and
//! a FIFO queue of parked receivers, with direct hand-off between them.
//!
//! Shared by `tests/prop_channel.rs` (proptest) and
//! `fuzz/fuzz_targets/channel.rs` (cargo-fuzz). Everything runs on one
//! thread with the no-op waker, so the run is deterministic and every
//! result is predicted exactly: no loss, no duplication, FIFO order of
//! values and of waiting senders, `len() <= cap` (plus values put back by
//! dropped receivers, which may go over), close semantics, no lost wake-up
//! (a future served while parked has been woken), cancellation (a dropped
//! receiver passes its value on or back to the front of the ring; on a
//! buffered channel a parked send is *woken* for a free slot, which another
//! sender may take first (it then queues again by its start order); it
//! places its value only when polled again, so a send dropped before it
//! returned `Ready` never sent: its value leaves with it and the slot
//! passes on), the bypass bounds (a send woken `MAX_BYPASS` times for a
//! slot that another sender took is *granted* the next free one; the eldest
//! waiting sender is passed — another sender takes a slot first —
//! `MAX_BYPASS × cap - 1` times, then it is granted the next free slot and
//! nobody else may take one before), and the rendezvous rules (a send
//! completes only once a receiver took its value: handed to a parked one or
//! taken from the queue; `try_send` succeeds exactly when a receiver is
//! parked, and the oldest one gets the value; `reserve` completes only once
//! a receiver is parked). `reserve_many(n)` takes all `n` slots at once or
//! none, waits at the head of the line for all of them, counts `n` passes,
//! and waits rather than pass the eldest past its bound; the permits it
//! yields are partly kept, and the iterator dropped with the rest.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use weftwork::channel::{
    Permit, PermitIterator, Recv, RecvError, Reserve, ReserveMany, Send, SendError, TryRecvError,
    TrySendError, bounded,
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
    /// Starts a `reserve_many(k % (max(cap, 1) + 1))` and polls it once.
    StartReserveMany(usize),
    /// `try_reserve_many(k % (max(cap, 1) + 1))`.
    TryReserveMany(usize),
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

/// Where a pending send/reserve or recv stands in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Parked in its queue.
    Queued,
    /// Served while parked: a rendezvous send's value was taken, a reserve
    /// granted a slot, a receiver handed `Some(value)`.
    Done(Option<u32>),
    /// A buffered send granted a slot (counted in `reserved`): it still
    /// holds its value and places it when polled.
    Granted,
    /// A buffered send woken for a free slot (counted in `woken`), not
    /// granted it: when polled it places its value if a slot is still free,
    /// else it is queued again at the head.
    Woken,
    /// Taken out of its queue by `close`.
    Closed,
}

enum Fut<'a> {
    Send(Pin<Box<Send<'a, u32>>>, u32),
    Reserve(Pin<Box<Reserve<'a, u32>>>),
    ReserveMany(Pin<Box<ReserveMany<'a, u32>>>, usize),
}

impl Fut<'_> {
    /// The slots it waits for.
    fn want(&self) -> usize {
        match self {
            Fut::ReserveMany(_, n) => *n,
            _ => 1,
        }
    }

    fn is_reserve(&self) -> bool {
        !matches!(self, Fut::Send(..))
    }
}

/// Counts wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

struct Pending<F> {
    fut: F,
    st: St,
    waker: Arc<Count>,
    /// Wake-ups seen when it last (re)entered its queue: serving it must
    /// wake it again.
    parked_at: usize,
    /// A send's wake-ups that found their slot taken.
    lost: usize,
    /// Start order (sends and reserves): one that lost its slot queues
    /// again by it.
    seq: usize,
}

impl<F> Pending<F> {
    fn new(fut: F) -> Self {
        Self {
            fut,
            st: St::Queued,
            waker: Arc::default(),
            parked_at: 0,
            lost: 0,
            seq: 0,
        }
    }
}

/// How often the eldest waiting sender may be passed before it is granted
/// the next free slot: fewer than `MAX_BYPASS` per slot of capacity.
const MAX_BYPASS: usize = weftwork::Mutex::<()>::MAX_BYPASS;

/// The ring's extra slots for values handed to parked receivers (the
/// channel docs: `min(cap, 64)` on a buffered channel).
const SLACK: usize = 64;

struct Model {
    cap: usize,
    buf: VecDeque<u32>,
    /// How many of `buf`'s front values were put back by dropped receivers
    /// (always a prefix: the only values that may push `len` over `cap`).
    back: usize,
    handed: usize,
    reserved: usize,
    /// Sends in `St::Woken`.
    woken: usize,
    /// How often the waiting sender that started `eldest`-th was passed
    /// (stale once it left: the next pass starts afresh), and the bound.
    passed: usize,
    eldest: usize,
    max_passes: usize,
    closed: bool,
}

impl Model {
    /// Free logical slots: buffered plus reserved values stay within
    /// `max(cap, 1)` (put-backs aside).
    fn room(&self) -> usize {
        self.cap
            .max(1)
            .saturating_sub(self.buf.len() + self.reserved)
    }

    /// Free physical slots: buffered, handed and reserved values.
    fn spare(&self) -> usize {
        let slots = if self.cap == 0 {
            1
        } else {
            self.cap + self.cap.min(SLACK)
        };
        slots - self.buf.len() - self.handed - self.reserved
    }

    /// A value could go in now, whoever waits: a parked receiver or,
    /// buffered, a free slot; and a physical slot.
    fn has_room(&self, recvs: &mut Recvs<'_>) -> bool {
        self.spare() > 0 && (parked(recvs).is_some() || (self.cap > 0 && self.room() > 0))
    }

    fn pop_front(&mut self) -> Option<u32> {
        let v = self.buf.pop_front()?;
        self.back = self.back.saturating_sub(1);
        Some(v)
    }
}

type Sends<'a> = Vec<Pending<Fut<'a>>>;
type Recvs<'a> = Vec<Pending<Pin<Box<Recv<'a, u32>>>>>;

fn parked<F>(v: &mut [Pending<F>]) -> Option<&mut Pending<F>> {
    v.iter_mut().find(|p| p.st == St::Queued)
}

/// The eldest waiting (parked or woken) sender's index: `sends` is sorted
/// by start order.
fn eldest(sends: &Sends<'_>) -> Option<usize> {
    sends
        .iter()
        .position(|p| matches!(p.st, St::Queued | St::Woken))
}

/// The eldest waiting sender was passed `max_passes` times: the next free
/// slot is its.
fn owed(m: &Model, sends: &Sends<'_>) -> bool {
    m.passed >= m.max_passes && counted(m, sends)
}

/// The pass count is the eldest waiting sender's (not stale).
fn counted(m: &Model, sends: &Sends<'_>) -> bool {
    eldest(sends).is_some_and(|e| sends[e].seq == m.eldest)
}

/// Another sender may take `n` slots without passing the eldest past its
/// bound.
fn may_pass(m: &Model, sends: &Sends<'_>, n: usize) -> bool {
    m.passed + n <= m.max_passes || !counted(m, sends)
}

/// [`took_slot_n`] for one slot.
fn took_slot(m: &mut Model, sends: &Sends<'_>, seq: Option<usize>) {
    took_slot_n(m, sends, seq, 1);
}

/// A sender that started `seq`-th (a newcomer: `None`) took `n` slots or
/// placed its value: `n` passes for the eldest waiting sender if it is
/// older; if it is that sender, its count is done.
fn took_slot_n(m: &mut Model, sends: &Sends<'_>, seq: Option<usize>, n: usize) {
    if seq == Some(m.eldest) {
        m.passed = 0; // the eldest itself: its count is done
        return;
    }
    let Some(e) = eldest(sends).map(|e| sends[e].seq) else {
        return;
    };
    if seq.is_none_or(|s| e < s) {
        if e != m.eldest {
            m.eldest = e;
            m.passed = 0;
        }
        m.passed += n;
        assert!(m.passed <= m.max_passes, "the eldest passed too often");
    }
}

/// A newcomer's value goes in now: buffered, a free slot (parked senders
/// may be passed, unless the eldest is owed it); else a parked receiver
/// (hand-off needs no logical slot), but only if no sender is parked or
/// woken (they get it first).
fn can_send(m: &Model, sends: &mut Sends<'_>, recvs: &mut Recvs<'_>) -> bool {
    if m.cap > 0 && m.room() > 0 {
        m.spare() > 0 && !owed(m, sends)
    } else {
        parked(sends).is_none() && m.woken == 0 && m.has_room(recvs)
    }
}

/// A newcomer gets `n >= 1` permits now: `n` free slots; rendezvous, also
/// a parked receiver and nobody queued before it.
fn can_reserve(m: &Model, sends: &mut Sends<'_>, recvs: &mut Recvs<'_>, n: usize) -> bool {
    m.room() >= n
        && m.spare() >= n
        && may_pass(m, sends, n)
        && (m.cap > 0 || (parked(sends).is_none() && parked(recvs).is_some()))
}

/// To the oldest parked receiver, else the back of the ring.
fn deliver(m: &mut Model, recvs: &mut Recvs<'_>, v: u32) {
    match parked(recvs) {
        Some(r) => {
            r.st = St::Done(Some(v));
            m.handed += 1;
        }
        None => m.buf.push_back(v),
    }
}

/// The ring's front, else (rendezvous only) the value of the oldest parked
/// send (if it is a send and not a reserve).
fn take(m: &mut Model, sends: &mut Sends<'_>, recvs: &mut Recvs<'_>) -> Option<u32> {
    if let Some(v) = m.pop_front() {
        return Some(v);
    }
    // Rendezvous: a parked receiver gets the parked sender's value first.
    if m.cap > 0 || parked(recvs).is_some() {
        return None;
    }
    let s = parked(sends)?;
    match s.fut {
        Fut::Send(_, v) => {
            s.st = St::Done(None);
            Some(v)
        }
        Fut::Reserve(_) | Fut::ReserveMany(..) => None,
    }
}

/// Serves parked senders while a slot is free beyond those woken for
/// (rendezvous: and a receiver is parked): buffered, a send is woken and a
/// reserve granted the slot; rendezvous, a send's value goes to the parked
/// receiver. Buffered, with no free slot and no send woken, a parked
/// receiver stands in for the slot, for a send only, which is woken for
/// it; a send that lost its slot `MAX_BYPASS` times is granted a free one
/// instead of woken. A reserve at the head waits for all the slots it
/// wants (and, younger than the eldest, while taking them would pass the
/// eldest past its bound). Before all that, an owed eldest sender is
/// granted the free slots it wants; until it has them, nobody else is
/// served.
fn pump(m: &mut Model, sends: &mut Sends<'_>, recvs: &mut Recvs<'_>) {
    loop {
        if let Some(e) = eldest(sends).filter(|_| owed(m, sends)) {
            let s = &mut sends[e];
            let want = s.fut.want();
            if m.room() >= want && m.spare() >= want {
                if s.st == St::Woken {
                    m.woken -= 1;
                }
                s.st = match s.fut {
                    Fut::Send(..) => St::Granted,
                    _ => St::Done(None),
                };
                m.reserved += want;
                m.passed = 0;
                continue;
            }
        }
        let handoff = m.cap > 0 && m.woken == 0 && parked(recvs).is_some();
        if (m.room() <= m.woken && !handoff)
            || m.spare() <= m.woken
            || (m.cap == 0 && parked(recvs).is_none())
        {
            return;
        }
        let slot = m.room() > m.woken;
        let Some(i) = sends.iter().position(|p| p.st == St::Queued) else {
            return;
        };
        let want = sends[i].fut.want();
        if (sends[i].fut.is_reserve()
            && (m.room() < m.woken + want
                || m.spare() < m.woken + want
                || (eldest(sends) != Some(i) && !may_pass(m, sends, want))))
            || (owed(m, sends) && eldest(sends) != Some(i))
        {
            return;
        }
        let seq = sends[i].seq;
        let s = &mut sends[i];
        match s.fut {
            Fut::Send(_, v) if m.cap == 0 => {
                s.st = St::Done(None);
                deliver(m, recvs, v);
            }
            Fut::Send(..) if s.lost < MAX_BYPASS || !slot => {
                s.st = St::Woken;
                m.woken += 1;
            }
            // Lost its slot `MAX_BYPASS` times: granted the free one.
            Fut::Send(..) => {
                s.st = St::Granted;
                m.reserved += 1;
                took_slot(m, sends, Some(seq));
            }
            Fut::Reserve(_) | Fut::ReserveMany(..) => {
                s.st = St::Done(None);
                m.reserved += want;
                took_slot_n(m, sends, Some(seq), want);
            }
        }
    }
}

enum Polled<'a> {
    Pending,
    Sent(Result<(), SendError<u32>>),
    Reserved(Result<Permit<'a, u32>, SendError<()>>),
    ReservedMany(Result<PermitIterator<'a, u32>, SendError<()>>),
}

fn poll_send<'a>(p: &mut Pending<Fut<'a>>) -> Polled<'a> {
    let waker = Waker::from(p.waker.clone());
    let mut cx = Context::from_waker(&waker);
    match &mut p.fut {
        Fut::Send(f, _) => match f.as_mut().poll(&mut cx) {
            Poll::Pending => Polled::Pending,
            Poll::Ready(r) => Polled::Sent(r),
        },
        Fut::Reserve(f) => match f.as_mut().poll(&mut cx) {
            Poll::Pending => Polled::Pending,
            Poll::Ready(r) => Polled::Reserved(r),
        },
        Fut::ReserveMany(f, _) => match f.as_mut().poll(&mut cx) {
            Poll::Pending => Polled::Pending,
            Poll::Ready(r) => Polled::ReservedMany(r),
        },
    }
}

/// `n` permits granted: the first half is kept, the rest is freed with the
/// iterator.
fn keep_half<'a>(
    m: &mut Model,
    permits: &mut Vec<Permit<'a, u32>>,
    mut it: PermitIterator<'a, u32>,
    n: usize,
) {
    assert_eq!(it.len(), n);
    permits.extend(it.by_ref().take(n / 2));
    drop(it);
    m.reserved -= n - n / 2;
}

fn poll_recv(p: &mut Pending<Pin<Box<Recv<'_, u32>>>>) -> Poll<Result<u32, RecvError>> {
    let waker = Waker::from(p.waker.clone());
    p.fut.as_mut().poll(&mut Context::from_waker(&waker))
}

/// Runs `ops` on a channel of capacity `cap`, asserting the model's
/// prediction at every step, then drops every future and permit (oldest
/// first), closes the channel and drains it.
pub fn run(cap: usize, ops: &[Op]) {
    let (tx, rx) = bounded::<u32>(cap);
    let mut m = Model {
        cap,
        buf: VecDeque::new(),
        back: 0,
        handed: 0,
        reserved: 0,
        woken: 0,
        passed: 0,
        eldest: 0,
        max_passes: MAX_BYPASS * cap.max(1) - 1,
        closed: false,
    };
    let mut sends: Sends<'_> = Vec::new();
    let mut recvs: Recvs<'_> = Vec::new();
    let mut permits: Vec<Permit<'_, u32>> = Vec::new();
    let mut next_value = 0u32;
    let mut next_seq = 0usize;
    // `Sender::closed`, waiting from the start: woken once, exactly when
    // the channel closes.
    let closed_count = Arc::new(Count::default());
    let closed_waker = Waker::from(closed_count.clone());
    let mut closed = Box::pin(tx.closed());
    let mut poll_closed = || {
        let ready = closed
            .as_mut()
            .poll(&mut Context::from_waker(&closed_waker));
        ready.is_ready()
    };
    assert!(!poll_closed());

    let mut ops = ops.iter().copied();
    loop {
        let op = match ops.next() {
            Some(op) => op,
            // The tail: drop what is left, oldest first.
            None if !sends.is_empty() => Op::DropSend(0),
            None if !permits.is_empty() => Op::DropPermit(0),
            None if !recvs.is_empty() => Op::DropRecv(0),
            None => break,
        };
        match op {
            Op::TrySend => {
                let v = next_value;
                next_value += 1;
                let res = tx.try_send(v);
                if m.closed {
                    assert_eq!(res, Err(TrySendError::Closed(v)));
                } else if can_send(&m, &mut sends, &mut recvs) {
                    assert_eq!(res, Ok(()));
                    deliver(&mut m, &mut recvs, v);
                    took_slot(&mut m, &sends, None);
                } else {
                    assert_eq!(res, Err(TrySendError::Full(v)));
                }
            }
            Op::StartSend | Op::StartReserve => {
                let v = next_value;
                let mut p = Pending::new(if op == Op::StartSend {
                    next_value += 1;
                    Fut::Send(Box::pin(tx.send(v)), v)
                } else {
                    Fut::Reserve(Box::pin(tx.reserve()))
                });
                let res = poll_send(&mut p);
                if m.closed {
                    match res {
                        Polled::Sent(r) => assert_eq!(r, Err(SendError(v))),
                        Polled::Reserved(r) => assert!(r.is_err()),
                        Polled::Pending | Polled::ReservedMany(_) => {
                            panic!("pending on a closed channel")
                        }
                    }
                } else if if op == Op::StartSend {
                    can_send(&m, &mut sends, &mut recvs)
                } else {
                    can_reserve(&m, &mut sends, &mut recvs, 1)
                } {
                    match res {
                        Polled::Sent(r) => {
                            assert_eq!(r, Ok(()));
                            deliver(&mut m, &mut recvs, v);
                        }
                        Polled::Reserved(r) => {
                            permits.push(r.expect("reserve with room"));
                            m.reserved += 1;
                        }
                        Polled::Pending | Polled::ReservedMany(_) => {
                            panic!("{op:?} pending with room")
                        }
                    }
                    took_slot(&mut m, &sends, None);
                } else {
                    assert!(matches!(res, Polled::Pending), "{op:?} without room");
                    p.seq = next_seq;
                    next_seq += 1;
                    sends.push(p);
                }
            }
            Op::TryReserve => {
                let res = tx.try_reserve();
                if m.closed {
                    assert!(matches!(res, Err(TrySendError::Closed(()))));
                } else if can_reserve(&m, &mut sends, &mut recvs, 1) {
                    permits.push(res.expect("a free slot (and a parked receiver)"));
                    m.reserved += 1;
                    took_slot(&mut m, &sends, None);
                } else {
                    assert!(matches!(res, Err(TrySendError::Full(()))));
                }
            }
            Op::StartReserveMany(k) => {
                let n = k % (cap.max(1) + 1);
                let mut p = Pending::new(Fut::ReserveMany(Box::pin(tx.reserve_many(n)), n));
                let res = poll_send(&mut p);
                if m.closed {
                    assert!(matches!(res, Polled::ReservedMany(Err(_))), "closed");
                } else if n == 0 || can_reserve(&m, &mut sends, &mut recvs, n) {
                    let Polled::ReservedMany(Ok(it)) = res else {
                        panic!("reserve_many({n}) pending with room");
                    };
                    m.reserved += n;
                    if n > 0 {
                        took_slot_n(&mut m, &sends, None, n);
                    }
                    keep_half(&mut m, &mut permits, it, n);
                } else {
                    assert!(
                        matches!(res, Polled::Pending),
                        "reserve_many({n}) without room"
                    );
                    p.seq = next_seq;
                    next_seq += 1;
                    sends.push(p);
                }
            }
            Op::TryReserveMany(k) => {
                let n = k % (cap.max(1) + 1);
                let res = tx.try_reserve_many(n);
                if m.closed {
                    assert!(matches!(res, Err(TrySendError::Closed(()))));
                } else if n == 0 || can_reserve(&m, &mut sends, &mut recvs, n) {
                    let it = res.expect("n free slots");
                    m.reserved += n;
                    if n > 0 {
                        took_slot_n(&mut m, &sends, None, n);
                    }
                    keep_half(&mut m, &mut permits, it, n);
                } else {
                    assert!(matches!(res, Err(TrySendError::Full(()))));
                }
            }
            Op::PollSend(i) if !sends.is_empty() => {
                let i = i % sends.len();
                let st = sends[i].st;
                let res = poll_send(&mut sends[i]);
                let mut requeued = false;
                match (st, res, &sends[i].fut) {
                    (St::Queued, Polled::Pending, _) => {}
                    (St::Queued, _, _) => panic!("a parked send overtook"),
                    (St::Woken, res, Fut::Send(_, v)) => {
                        let v = *v;
                        let seq = sends[i].seq;
                        m.woken -= 1;
                        // It stops waiting whatever it finds.
                        sends[i].st = St::Closed;
                        let owed = owed(&m, &sends);
                        match res {
                            Polled::Sent(r) if m.closed => assert_eq!(r, Err(SendError(v))),
                            Polled::Sent(r) if m.has_room(&mut recvs) && !owed => {
                                assert_eq!(r, Ok(()));
                                deliver(&mut m, &mut recvs, v);
                                took_slot(&mut m, &sends, Some(seq));
                            }
                            Polled::Pending if !m.closed && (!m.has_room(&mut recvs) || owed) => {
                                // Its slot was taken, or an older sender
                                // is owed the next: queued again.
                                let mut p = sends.remove(i);
                                p.st = St::Queued;
                                p.lost += 1;
                                p.parked_at = p.waker.0.load(SeqCst);
                                // In start order: `sends` is kept sorted by it.
                                let at = sends.partition_point(|q| q.seq < p.seq);
                                sends.insert(at, p);
                                requeued = true;
                            }
                            _ => panic!("woken send: unexpected result"),
                        }
                    }
                    (St::Done(_), Polled::Sent(r), _) => assert_eq!(r, Ok(())),
                    (St::Granted, Polled::Sent(r), Fut::Send(_, v)) => {
                        // Places its value into the granted slot now.
                        m.reserved -= 1;
                        if m.closed {
                            assert_eq!(r, Err(SendError(*v)), "closed after the grant");
                        } else {
                            assert_eq!(r, Ok(()));
                            deliver(&mut m, &mut recvs, *v);
                        }
                    }
                    (St::Done(_), Polled::Reserved(r), _) => {
                        // The slot was counted when it was granted.
                        permits.push(r.expect("granted reserve"));
                    }
                    (St::Closed, Polled::Sent(r), Fut::Send(_, v)) => {
                        assert_eq!(r, Err(SendError(*v)), "the value comes back");
                    }
                    (St::Closed, Polled::Reserved(r), _) => assert!(r.is_err()),
                    (St::Done(_), Polled::ReservedMany(r), &Fut::ReserveMany(_, n)) => {
                        // The slots were counted when they were granted.
                        keep_half(&mut m, &mut permits, r.expect("granted"), n);
                    }
                    (St::Closed, Polled::ReservedMany(r), _) => assert!(r.is_err()),
                    (st, _, _) => panic!("served send ({st:?}) still pending"),
                }
                if st != St::Queued && !requeued {
                    sends.remove(i);
                }
            }
            Op::DropSend(i) if !sends.is_empty() => {
                let p = sends.remove(i % sends.len());
                let (reserve, want) = (p.fut.is_reserve(), p.fut.want());
                drop(p.fut);
                if (reserve && matches!(p.st, St::Done(_))) || p.st == St::Granted {
                    m.reserved -= want; // granted slots pass on
                }
                if p.st == St::Woken {
                    m.woken -= 1; // the wake-up passes on
                }
                // A parked or granted send takes its value with it (it was
                // not sent); only a rendezvous send whose value a receiver
                // took did send.
            }
            Op::PermitSend(i) if !permits.is_empty() => {
                let p = permits.remove(i % permits.len());
                let v = next_value;
                next_value += 1;
                let res = p.send(v);
                m.reserved -= 1;
                if m.closed {
                    assert_eq!(res, Err(SendError(v)));
                } else {
                    assert_eq!(res, Ok(()));
                    deliver(&mut m, &mut recvs, v);
                }
            }
            Op::DropPermit(i) if !permits.is_empty() => {
                drop(permits.remove(i % permits.len()));
                m.reserved -= 1;
            }
            Op::TryRecv => {
                let res = rx.try_recv();
                match take(&mut m, &mut sends, &mut recvs) {
                    Some(v) => assert_eq!(res, Ok(v), "FIFO"),
                    // Closed means drained: nothing handed to another
                    // receiver either (it may come back).
                    None if m.closed && m.handed == 0 => {
                        assert_eq!(res, Err(TryRecvError::Closed))
                    }
                    None => assert_eq!(res, Err(TryRecvError::Empty)),
                }
            }
            Op::StartRecv => {
                let mut p = Pending::new(Box::pin(rx.recv()));
                let res = poll_recv(&mut p);
                match take(&mut m, &mut sends, &mut recvs) {
                    Some(v) => assert_eq!(res, Poll::Ready(Ok(v)), "FIFO"),
                    None if m.closed && m.handed == 0 => {
                        assert_eq!(res, Poll::Ready(Err(RecvError)))
                    }
                    None => {
                        assert!(res.is_pending());
                        recvs.push(p);
                    }
                }
            }
            Op::PollRecv(i) if !recvs.is_empty() => {
                let i = i % recvs.len();
                let st = recvs[i].st;
                let res = poll_recv(&mut recvs[i]);
                let mut requeued = false;
                match st {
                    St::Queued => assert!(res.is_pending(), "a parked receiver overtook"),
                    St::Done(v) => {
                        let v = v.expect("a served receiver holds a value");
                        assert_eq!(res, Poll::Ready(Ok(v)));
                        m.handed -= 1;
                        if m.closed && m.handed == 0 {
                            // Nothing can come back now: the receivers
                            // parked after the close see it.
                            for p in recvs.iter_mut().filter(|p| p.st == St::Queued) {
                                p.st = St::Closed;
                            }
                        }
                    }
                    St::Closed => match take(&mut m, &mut sends, &mut recvs) {
                        Some(v) => assert_eq!(res, Poll::Ready(Ok(v))),
                        None if m.handed == 0 => assert_eq!(res, Poll::Ready(Err(RecvError))),
                        None => {
                            // A value handed to another receiver may come
                            // back: parked again, at the head.
                            assert!(res.is_pending());
                            let mut p = recvs.remove(i);
                            p.st = St::Queued;
                            p.parked_at = p.waker.0.load(SeqCst);
                            recvs.insert(0, p);
                            requeued = true;
                        }
                    },
                    St::Granted | St::Woken => unreachable!("only a send is granted or woken"),
                }
                if st != St::Queued && !requeued {
                    recvs.remove(i);
                }
            }
            Op::DropRecv(i) if !recvs.is_empty() => {
                let p = recvs.remove(i % recvs.len());
                drop(p.fut);
                if let St::Done(Some(v)) = p.st {
                    // Passed on to the next parked receiver, or back to the
                    // front of the ring.
                    match parked(&mut recvs) {
                        Some(r) => r.st = St::Done(Some(v)),
                        None => {
                            m.handed -= 1;
                            m.back += 1;
                            m.buf.push_front(v);
                        }
                    }
                }
            }
            Op::Close => {
                let first = rx.close();
                assert_eq!(first, !m.closed);
                m.closed = true;
                for p in sends.iter_mut().filter(|p| p.st == St::Queued) {
                    p.st = St::Closed;
                }
                for p in recvs.iter_mut().filter(|p| p.st == St::Queued) {
                    p.st = St::Closed;
                }
            }
            _ => {}
        }
        pump(&mut m, &mut sends, &mut recvs);
        // Only values put back by dropped receivers go over `cap`.
        assert!(
            tx.len() <= cap.max(1) + m.back,
            "len {} > cap {cap}",
            tx.len()
        );
        assert!(m.buf.len() + m.reserved <= cap.max(1) + m.back);
        let _ = m.spare(); // buffered + handed + reserved fit the ring (no underflow)
        assert_eq!(tx.len(), m.buf.len(), "values in the ring");
        assert_eq!(tx.is_closed(), m.closed);
        assert_eq!(closed_count.0.load(SeqCst), usize::from(m.closed));
        assert_eq!(poll_closed(), m.closed);
        // No lost wake-up: every future served (or woken for a slot) since
        // it last parked was woken since.
        for (st, w, at) in sends
            .iter()
            .map(|p| (p.st, &p.waker, p.parked_at))
            .chain(recvs.iter().map(|p| (p.st, &p.waker, p.parked_at)))
        {
            if st != St::Queued {
                assert!(w.0.load(SeqCst) > at, "a served future was not woken");
            }
        }
    }

    // Drain after close: everything still in the channel comes out in
    // order, then the channel reports closed.
    rx.close();
    let mut rest = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(v) => rest.push(v),
            Err(TryRecvError::Closed) => break,
            Err(TryRecvError::Empty) => panic!("empty after close"),
        }
    }
    assert_eq!(rest, Vec::from(m.buf.clone()), "drain after close");
}
