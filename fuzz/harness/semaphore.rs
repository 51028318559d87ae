//! `Semaphore` against a sequential model: a free counter and a FIFO queue.
//!
//! Shared by `tests/prop_semaphore.rs` (proptest) and
//! `fuzz/fuzz_targets/semaphore.rs` (cargo-fuzz). Everything runs on one
//! thread; futures are polled by hand with counting wakers (or the no-op
//! waker) and kept pending in a `Vec`, so the run is deterministic.
//!
//! The model does not hand partial permits to the head waiter (the
//! implementation does); the two agree on everything observable:
//! `available_permits()` is the model's free count when nobody waits and
//! `0` otherwise, and at `close()` the head waiter keeps the model's free
//! count until it is polled or dropped (it then gives it back).

#[path = "common.rs"]
pub mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use common::{FifoSem, Wakers};

use weftwork::sync::{Acquire, AcquireArc, SemaphorePermitArc};
use weftwork::{AcquireError, Semaphore, SemaphorePermit, TryAcquireError};

/// One step of a run. Indices are taken modulo the length of the list they
/// select from; an op on an empty list does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `try_acquire_many(n)` (or `try_acquire_many_arc`), keeping the permit.
    TryAcquire { n: usize, arc: bool },
    /// `acquire_many(n)` (or `acquire_many_arc`), polled once.
    Start { n: usize, arc: bool },
    /// Polls a started future again with its own waker.
    Poll(usize),
    /// Polls a started future with a new waker (the old one must not be
    /// woken afterwards). `noop` polls with `Waker::noop()` instead; the
    /// wake-up is then not checked.
    PollFresh { idx: usize, noop: bool },
    /// Drops a started future (queued, woken, or closed).
    DropFuture(usize),
    /// Drops a held permit.
    DropPermit(usize),
    /// `forget()`s a held permit.
    Forget(usize),
    /// `split(n)` on a held permit, keeping both parts.
    Split { idx: usize, n: usize },
    /// `merge`s held permit `from` into held permit `into` (when both are
    /// distinct and of the same kind).
    Merge { into: usize, from: usize },
    /// `add_permits(n)`.
    Add(usize),
    /// `forget_permits(n)`: takes at most `n` of the free permits.
    ForgetPermits(usize),
    /// `close()`.
    Close,
}

/// What the model says a started, unfinished future is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the FIFO queue.
    Queued,
    /// Its turn came: its permits are reserved; the next poll returns them.
    Granted,
    /// The semaphore closed while it waited; the next poll fails and gives
    /// back `orphan` permits (the head waiter's partial share).
    Closed { orphan: usize },
}

#[derive(Debug, Default)]
struct Model {
    /// Free permits and the FIFO queue of requests.
    sem: FifoSem,
    closed: bool,
    /// Initial permits plus every `add_permits`.
    total: usize,
    forgotten: usize,
}

impl Model {
    fn available(&self) -> usize {
        if self.sem.queue.is_empty() {
            self.sem.free
        } else {
            0
        }
    }

    fn try_acquire(&mut self, n: usize) -> Result<(), TryAcquireError> {
        if self.closed {
            Err(TryAcquireError::Closed)
        } else if self.sem.try_acquire(n) {
            Ok(())
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }
}

enum Fut<'a> {
    Ref(Pin<Box<Acquire<'a>>>),
    Arc(Pin<Box<AcquireArc>>),
}

enum Permit<'a> {
    Ref(SemaphorePermit<'a>),
    Arc(SemaphorePermitArc),
}

impl Permit<'_> {
    fn num_permits(&self) -> usize {
        match self {
            Permit::Ref(p) => p.num_permits(),
            Permit::Arc(p) => p.num_permits(),
        }
    }

    fn forget(self) {
        match self {
            Permit::Ref(p) => p.forget(),
            Permit::Arc(p) => p.forget(),
        }
    }

    fn split(&mut self, n: usize) -> Option<Self> {
        match self {
            Permit::Ref(p) => p.split(n).map(Permit::Ref),
            Permit::Arc(p) => p.split(n).map(Permit::Arc),
        }
    }

    /// Merges `other` into `self` if both are of the same kind; else gives
    /// it back.
    fn merge(&mut self, other: Self) -> Result<(), Self> {
        match (self, other) {
            (Permit::Ref(a), Permit::Ref(b)) => a.merge(b),
            (Permit::Arc(a), Permit::Arc(b)) => a.merge(b),
            (_, other) => return Err(other),
        }
        Ok(())
    }
}

struct Pending<'a> {
    id: u64,
    n: usize,
    fut: Fut<'a>,
    state: State,
    wakers: Wakers,
}

type Polled<'a> = Poll<Result<Permit<'a>, AcquireError>>;

fn poll_fut<'a>(fut: &mut Fut<'a>, waker: &Waker) -> Polled<'a> {
    let mut cx = Context::from_waker(waker);
    match fut {
        Fut::Ref(f) => f.as_mut().poll(&mut cx).map(|r| r.map(Permit::Ref)),
        Fut::Arc(f) => f.as_mut().poll(&mut cx).map(|r| r.map(Permit::Arc)),
    }
}

struct Harness<'a> {
    sem: &'a Arc<Semaphore>,
    model: Model,
    pending: Vec<Pending<'a>>,
    permits: Vec<Permit<'a>>,
    next_id: u64,
}

impl<'a> Harness<'a> {
    fn mark_granted(&mut self, ids: Vec<u64>) {
        for id in ids {
            let p = self.pending.iter_mut().find(|p| p.id == id);
            let p = p.expect("granted future is pending");
            assert_eq!(p.state, State::Queued);
            p.state = State::Granted;
            p.wakers.expect_wake();
        }
    }

    /// Handles the result of polling `self.pending[i]`.
    fn polled(&mut self, i: usize, res: Polled<'a>) {
        let p = &self.pending[i];
        match (p.state, res) {
            (State::Queued, Poll::Pending) => {}
            (State::Granted, Poll::Ready(Ok(permit))) => {
                assert_eq!(permit.num_permits(), p.n);
                self.permits.push(permit);
                self.pending.swap_remove(i);
            }
            (State::Closed { orphan }, Poll::Ready(Err(AcquireError::Closed))) => {
                self.model.sem.free += orphan;
                assert!(self.model.sem.queue.is_empty());
                self.pending.swap_remove(i);
            }
            (state, res) => panic!(
                "future {} (n = {}): model says {state:?}, poll gave {:?}",
                p.id,
                p.n,
                res.map(|r| r.map(|p| p.num_permits()))
            ),
        }
    }

    fn step(&mut self, op: Op) {
        let sem = self.sem;
        match op {
            Op::TryAcquire { n, arc } => {
                let got = if arc {
                    sem.try_acquire_many_arc(n).map(Permit::Arc)
                } else {
                    sem.try_acquire_many(n).map(Permit::Ref)
                };
                let want = self.model.try_acquire(n);
                match got {
                    Ok(permit) => {
                        assert_eq!(want, Ok(()), "try_acquire_many({n}) succeeded");
                        assert_eq!(permit.num_permits(), n);
                        self.permits.push(permit);
                    }
                    Err(e) => assert_eq!(want, Err(e), "try_acquire_many({n})"),
                }
            }
            Op::Start { n, arc } => {
                let mut fut = if arc {
                    Fut::Arc(Box::pin(sem.acquire_many_arc(n)))
                } else {
                    Fut::Ref(Box::pin(sem.acquire_many(n)))
                };
                let wakers = Wakers::new();
                let res = poll_fut(&mut fut, &wakers.waker());
                let id = self.next_id;
                self.next_id += 1;
                let state = match self.model.try_acquire(n) {
                    Ok(()) => State::Granted,
                    Err(TryAcquireError::Closed) => State::Closed { orphan: 0 },
                    Err(TryAcquireError::NoPermits) => {
                        self.model.sem.queue.push_back((id, n));
                        State::Queued
                    }
                };
                self.pending.push(Pending {
                    id,
                    n,
                    fut,
                    state,
                    wakers,
                });
                let last = self.pending.len() - 1;
                self.polled(last, res);
            }
            Op::Poll(i) | Op::PollFresh { idx: i, .. } => {
                if self.pending.is_empty() {
                    return;
                }
                let i = i % self.pending.len();
                let p = &mut self.pending[i];
                if let Op::PollFresh { noop, .. } = op {
                    p.wakers.replace(noop);
                }
                let res = poll_fut(&mut p.fut, &p.wakers.waker());
                self.polled(i, res);
            }
            Op::DropFuture(i) => {
                if self.pending.is_empty() {
                    return;
                }
                let p = self.pending.swap_remove(i % self.pending.len());
                drop(p.fut);
                let granted = match p.state {
                    State::Queued => self.model.sem.cancel(p.id),
                    State::Granted => self.model.sem.release(p.n),
                    State::Closed { orphan } => self.model.sem.release(orphan),
                };
                self.mark_granted(granted);
            }
            Op::DropPermit(i) => {
                if self.permits.is_empty() {
                    return;
                }
                let permit = self.permits.swap_remove(i % self.permits.len());
                let n = permit.num_permits();
                drop(permit);
                let granted = self.model.sem.release(n);
                self.mark_granted(granted);
            }
            Op::Forget(i) => {
                if self.permits.is_empty() {
                    return;
                }
                let permit = self.permits.swap_remove(i % self.permits.len());
                self.model.forgotten += permit.num_permits();
                permit.forget();
            }
            Op::Split { idx, n } => {
                if self.permits.is_empty() {
                    return;
                }
                let len = self.permits.len();
                let permit = &mut self.permits[idx % len];
                let held = permit.num_permits();
                match permit.split(n) {
                    Some(part) => {
                        assert!(n <= held, "split {n} off a permit of {held}");
                        assert_eq!((permit.num_permits(), part.num_permits()), (held - n, n));
                        self.permits.push(part);
                    }
                    None => {
                        assert!(n > held, "split {n} off a permit of {held} failed");
                        assert_eq!(permit.num_permits(), held);
                    }
                }
            }
            Op::Merge { into, from } => {
                let len = self.permits.len();
                let (into, from) = (into % len.max(1), from % len.max(1));
                if into == from {
                    return;
                }
                let other = self.permits.swap_remove(from);
                // `swap_remove` moved the last permit to `from`.
                let into = if into == len - 1 { from } else { into };
                let (a, b) = (self.permits[into].num_permits(), other.num_permits());
                match self.permits[into].merge(other) {
                    Ok(()) => assert_eq!(self.permits[into].num_permits(), a + b),
                    Err(other) => self.permits.push(other),
                }
            }
            Op::Add(n) => {
                sem.add_permits(n);
                self.model.total += n;
                let granted = self.model.sem.release(n);
                self.mark_granted(granted);
            }
            Op::ForgetPermits(n) => {
                let took = sem.forget_permits(n);
                // With waiters no permit is free (the model's `free` is then
                // the head waiter's share, which stays its own).
                let expect = n.min(self.model.available());
                assert_eq!(took, expect, "forget_permits({n})");
                self.model.sem.free -= took;
                self.model.forgotten += took;
            }
            Op::Close => {
                sem.close();
                let model = &mut self.model;
                model.closed = true;
                // The head waiter holds the free permits as a partial share.
                let mut orphan = if model.sem.queue.is_empty() {
                    0
                } else {
                    model.sem.free
                };
                model.sem.free -= orphan;
                for (id, _) in model.sem.queue.drain(..) {
                    let p = self.pending.iter_mut().find(|p| p.id == id).unwrap();
                    p.state = State::Closed { orphan };
                    p.wakers.expect_wake();
                    orphan = 0;
                }
            }
        }
    }

    fn check(&self) {
        let sem = self.sem;
        assert_eq!(sem.available_permits(), self.model.available());
        assert_eq!(sem.is_closed(), self.model.closed);
        for p in &self.pending {
            // The queue holds exactly the futures the model calls queued, in
            // start order (FIFO).
            p.wakers
                .check(format_args!("future {} ({:?})", p.id, p.state));
        }
        let queued: Vec<u64> = self.model.sem.queue.iter().map(|&(id, _)| id).collect();
        assert!(queued.windows(2).all(|w| w[0] < w[1]), "queue is FIFO");
        // No duplication: the implementation never shows more permits than
        // exist. (Exact conservation is checked after the final drain.)
        let held: usize = self.permits.iter().map(Permit::num_permits).sum();
        let reserved: usize = self
            .pending
            .iter()
            .map(|p| match p.state {
                State::Queued => 0,
                State::Granted => p.n,
                State::Closed { orphan } => orphan,
            })
            .sum();
        assert!(held + sem.available_permits() <= self.model.total - self.model.forgotten);
        assert_eq!(
            held + self.model.sem.free + reserved,
            self.model.total - self.model.forgotten,
            "model lost permits"
        );
    }
}

/// Runs `ops` on a semaphore with `initial` permits, checking the model after
/// every step; then drops everything and checks that no permit was lost.
pub fn run(initial: usize, ops: &[Op]) {
    let sem = Arc::new(Semaphore::new(initial));
    let mut h = Harness {
        sem: &sem,
        model: Model {
            sem: FifoSem::new(initial),
            total: initial,
            ..Model::default()
        },
        pending: Vec::new(),
        permits: Vec::new(),
        next_id: 0,
    };
    h.check();
    for &op in ops {
        h.step(op);
        h.check();
    }
    // Drain: drop futures oldest first (each drop may grant later ones),
    // then every permit.
    while !h.pending.is_empty() {
        let oldest = (0..h.pending.len()).min_by_key(|&i| h.pending[i].id);
        h.step(Op::DropFuture(oldest.unwrap()));
        h.check();
    }
    while !h.permits.is_empty() {
        h.step(Op::DropPermit(0));
        h.check();
    }
    let expected = h.model.total - h.model.forgotten;
    drop(h);
    assert_eq!(
        sem.available_permits(),
        expected,
        "permits lost or duplicated"
    );
    if !sem.is_closed() {
        let all = sem
            .try_acquire_many(expected)
            .expect("every permit is free");
        assert_eq!(
            sem.try_acquire_many(1).err(),
            Some(TryAcquireError::NoPermits)
        );
        drop(all);
    }
    assert_eq!(Arc::strong_count(&sem), 1, "an Arc future or permit leaked");
}
