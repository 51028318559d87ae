//! `RwLock` against a sequential model.
//!
//! Shared by `tests/prop_rwlock.rs` (proptest) and
//! `fuzz/fuzz_targets/rwlock.rs` (cargo-fuzz). Single-threaded: futures are
//! polled by hand with counting wakers (or the no-op waker), so the run is
//! deterministic.
//!
//! The model follows the lock's documented structure: one FIFO semaphore of
//! `WRITE = 2·HALF` permits; a reader takes 1, the upgradable reader
//! `HALF + 1` (so there is only one), a writer all of them. An upgrade asks
//! for the missing `HALF − 1` as a priority request: it counts every permit
//! not held by a guard (free, or already handed to the head waiter) and
//! otherwise queues at the head.
//!
//! Besides agreeing with the model on every poll and `try_*`, the test
//! checks the lock's promises directly on the guards it holds: at most one
//! writer and then nobody else, at most one upgradable reader, the value
//! written by the last writer is seen, and **write preference**: no read is
//! granted while a writer that asked before it still waits.

#[path = "common.rs"]
pub mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use common::{FifoSem, Wakers};

use weftwork::RwLock;
use weftwork::sync::{
    LockRef, ReadFuture, ReadGuard, UpgradableGuard, UpgradableReadFuture, UpgradeFuture,
    WriteFuture, WriteGuard,
};

/// One step of a run. Indices are taken modulo the length of the list they
/// select from; an op on an empty list does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    TryRead,
    TryWrite,
    TryUpgradable,
    /// `read()` / `write()` / `upgradable_read()`, polled once.
    StartRead,
    StartWrite,
    StartUpgradable,
    /// `RwLockUpgradableReadGuard::upgrade(g)` on a held upgradable guard,
    /// polled once.
    StartUpgrade,
    /// Polls a started future again with its own waker.
    Poll(usize),
    /// Polls a started future with a new counting waker, or with
    /// `Waker::noop()` (wake-ups are then not checked).
    PollFresh {
        idx: usize,
        noop: bool,
    },
    /// Drops a started future (queued, or woken and handed its permits; an
    /// upgrade future drops its upgradable guard too).
    DropFuture(usize),
    /// Drops a held guard.
    DropGuard(usize),
    /// `try_upgrade` on an upgradable guard.
    TryUpgrade,
    /// `RwLockWriteGuard::downgrade` (to a read guard).
    DowngradeWrite,
    /// `RwLockWriteGuard::downgrade_to_upgradable`.
    DowngradeWriteToUpgradable,
    /// `RwLockUpgradableReadGuard::downgrade` (to a read guard).
    DowngradeUpgradable,
    /// Increments the value through the write guard.
    Write,
}

/// How the lock is reached: `&RwLock` or `Arc<RwLock>`; the harness runs
/// with both.
pub trait Handle: LockRef<Value = u64> + Clone + Sized {
    fn read(&self) -> ReadFuture<Self>;
    fn write(&self) -> WriteFuture<Self>;
    fn upgradable_read(&self) -> UpgradableReadFuture<Self>;
    fn try_read(&self) -> Option<ReadGuard<Self>>;
    fn try_write(&self) -> Option<WriteGuard<Self>>;
    fn try_upgradable_read(&self) -> Option<UpgradableGuard<Self>>;
}

impl Handle for &RwLock<u64> {
    fn read(&self) -> ReadFuture<Self> {
        RwLock::read(self)
    }
    fn write(&self) -> WriteFuture<Self> {
        RwLock::write(self)
    }
    fn upgradable_read(&self) -> UpgradableReadFuture<Self> {
        RwLock::upgradable_read(self)
    }
    fn try_read(&self) -> Option<ReadGuard<Self>> {
        RwLock::try_read(self)
    }
    fn try_write(&self) -> Option<WriteGuard<Self>> {
        RwLock::try_write(self)
    }
    fn try_upgradable_read(&self) -> Option<UpgradableGuard<Self>> {
        RwLock::try_upgradable_read(self)
    }
}

impl Handle for Arc<RwLock<u64>> {
    fn read(&self) -> ReadFuture<Self> {
        RwLock::read_arc(self)
    }
    fn write(&self) -> WriteFuture<Self> {
        RwLock::write_arc(self)
    }
    fn upgradable_read(&self) -> UpgradableReadFuture<Self> {
        RwLock::upgradable_read_arc(self)
    }
    fn try_read(&self) -> Option<ReadGuard<Self>> {
        RwLock::try_read_arc(self)
    }
    fn try_write(&self) -> Option<WriteGuard<Self>> {
        RwLock::try_write_arc(self)
    }
    fn try_upgradable_read(&self) -> Option<UpgradableGuard<Self>> {
        RwLock::try_upgradable_read_arc(self)
    }
}

const HALF: usize = weftwork::Semaphore::MAX_PERMITS / 2;
/// Every permit: what a writer takes.
const WRITE: usize = 2 * HALF;
/// The upgradable reader's permits.
const UPGRADABLE: usize = HALF + 1;
/// What an upgrade adds.
const UPGRADE: usize = WRITE - UPGRADABLE;

/// The lock's semaphore in the model: the shared FIFO semaphore plus the
/// priority requests an upgrade makes.
impl FifoSem {
    /// Takes `n` at once or queues `id`; returns whether it got them.
    fn acquire(&mut self, id: u64, n: usize) -> bool {
        let ok = self.try_acquire(n);
        if !ok {
            self.queue.push_back((id, n));
        }
        ok
    }

    /// A priority request: every permit not held by a guard counts (the
    /// model hands no partial permits, so that is `free`).
    fn can_front(&self, n: usize) -> bool {
        self.free >= n
    }

    /// Priority acquire: takes `n` at once or queues `id` at the head.
    fn acquire_front(&mut self, id: u64, n: usize) -> bool {
        let ok = self.can_front(n);
        if ok {
            self.free -= n;
        } else {
            self.queue.push_front((id, n));
        }
        ok
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Upgradable,
    Upgrade,
}

impl Kind {
    /// Reader permits it needs.
    fn need(self) -> usize {
        match self {
            Kind::Read => 1,
            Kind::Upgradable => UPGRADABLE,
            Kind::Write => WRITE,
            Kind::Upgrade => UPGRADE,
        }
    }
}

/// What the model says a started, unfinished future is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the queue.
    Queued,
    /// Handed its permits: the next poll returns the guard.
    Granted,
}

enum Fut<H: Handle> {
    Read(Pin<Box<ReadFuture<H>>>),
    Write(Pin<Box<WriteFuture<H>>>),
    Upgradable(Pin<Box<UpgradableReadFuture<H>>>),
    Upgrade(Pin<Box<UpgradeFuture<H>>>),
}

enum Guard<H: Handle> {
    Read(ReadGuard<H>),
    Write(WriteGuard<H>),
    Upgradable(UpgradableGuard<H>),
}

impl<H: Handle> Guard<H> {
    fn kind(&self) -> Kind {
        match self {
            Guard::Read(_) => Kind::Read,
            Guard::Write(_) => Kind::Write,
            Guard::Upgradable(_) => Kind::Upgradable,
        }
    }

    fn value(&self) -> u64 {
        match self {
            Guard::Read(g) => **g,
            Guard::Write(g) => **g,
            Guard::Upgradable(g) => **g,
        }
    }
}

fn poll_fut<H: Handle>(fut: &mut Fut<H>, waker: &Waker) -> Poll<Guard<H>> {
    let mut cx = Context::from_waker(waker);
    match fut {
        Fut::Read(f) => f.as_mut().poll(&mut cx).map(Guard::Read),
        Fut::Write(f) => f.as_mut().poll(&mut cx).map(Guard::Write),
        Fut::Upgradable(f) => f.as_mut().poll(&mut cx).map(Guard::Upgradable),
        Fut::Upgrade(f) => f.as_mut().poll(&mut cx).map(Guard::Write),
    }
}

struct Pending<H: Handle> {
    id: u64,
    kind: Kind,
    fut: Fut<H>,
    state: State,
    wakers: Wakers,
    /// When it asked for permits.
    seq: u64,
}

struct Harness<H: Handle> {
    lock: H,
    sem: FifoSem,
    pending: Vec<Pending<H>>,
    guards: Vec<Guard<H>>,
    /// Increments made through write guards.
    value: u64,
    next_id: u64,
    /// Orders requests for reader permits.
    seq: u64,
}

impl<H: Handle> Harness<H> {
    fn granted(&mut self, ids: Vec<u64>) {
        for id in ids {
            let p = self.pending.iter_mut().find(|p| p.id == id).unwrap();
            p.state = State::Granted;
            p.wakers.expect_wake();
        }
    }

    fn release(&mut self, n: usize) {
        let ids = self.sem.release(n);
        self.granted(ids);
    }

    /// Write preference: a read may not complete while a writer (or an
    /// upgrade) that was already waiting when the read asked (`read_seq`;
    /// `None`: now) still waits.
    fn check_no_writer_ahead(&self, read_seq: Option<u64>) {
        for p in &self.pending {
            let blocks = matches!(p.kind, Kind::Write | Kind::Upgrade)
                && p.state == State::Queued
                && read_seq.is_none_or(|r| p.seq < r);
            assert!(
                !blocks,
                "a read got in while {:?} future {} waits for readers",
                p.kind, p.id
            );
        }
    }

    fn got_guard(&mut self, guard: Guard<H>) {
        assert_eq!(guard.value(), self.value, "a write was lost");
        self.guards.push(guard);
    }

    fn polled(&mut self, i: usize, res: Poll<Guard<H>>) {
        let ready = self.pending[i].state == State::Granted;
        let (id, kind) = (self.pending[i].id, self.pending[i].kind);
        match (ready, res) {
            (false, Poll::Pending) => {}
            (true, Poll::Ready(guard)) => {
                let want = if kind == Kind::Upgrade {
                    Kind::Write
                } else {
                    kind
                };
                assert_eq!(guard.kind(), want);
                if kind == Kind::Read {
                    self.check_no_writer_ahead(Some(self.pending[i].seq));
                }
                self.pending.swap_remove(i);
                self.got_guard(guard);
            }
            (ready, res) => panic!(
                "{kind:?} future {id}: model says ready = {ready} ({:?}), poll gave ready = {}",
                self.pending[i].state,
                res.is_ready()
            ),
        }
    }

    fn start(&mut self, kind: Kind, fut: Fut<H>) {
        let id = self.next_id;
        self.next_id += 1;
        self.seq += 1;
        let got = if kind == Kind::Upgrade {
            self.sem.acquire_front(id, kind.need())
        } else {
            self.sem.acquire(id, kind.need())
        };
        let state = if got { State::Granted } else { State::Queued };
        self.pending.push(Pending {
            id,
            kind,
            fut,
            state,
            wakers: Wakers::new(),
            seq: self.seq,
        });
        let i = self.pending.len() - 1;
        let p = &mut self.pending[i];
        let res = poll_fut(&mut p.fut, &p.wakers.waker());
        self.polled(i, res);
    }

    /// Index of the `n`-th (mod count) held guard of `kind`.
    fn guard_of(&self, kind: Kind) -> Option<usize> {
        self.guards.iter().position(|g| g.kind() == kind)
    }

    fn step(&mut self, op: Op) {
        let lock = self.lock.clone();
        match op {
            Op::TryRead => {
                let want = self.sem.try_acquire(1);
                let got = lock.try_read();
                assert_eq!(got.is_some(), want, "try_read");
                if let Some(g) = got {
                    self.check_no_writer_ahead(None);
                    self.got_guard(Guard::Read(g));
                }
            }
            Op::TryWrite | Op::TryUpgradable => {
                let kind = if op == Op::TryWrite {
                    Kind::Write
                } else {
                    Kind::Upgradable
                };
                let want = self.sem.can(kind.need());
                let got = if kind == Kind::Write {
                    lock.try_write().map(Guard::Write)
                } else {
                    lock.try_upgradable_read().map(Guard::Upgradable)
                };
                assert_eq!(got.is_some(), want, "{op:?}");
                if let Some(g) = got {
                    self.sem.try_acquire(kind.need());
                    self.got_guard(g);
                }
            }
            Op::StartRead => self.start(Kind::Read, Fut::Read(Box::pin(lock.read()))),
            Op::StartWrite => self.start(Kind::Write, Fut::Write(Box::pin(lock.write()))),
            Op::StartUpgradable => self.start(
                Kind::Upgradable,
                Fut::Upgradable(Box::pin(lock.upgradable_read())),
            ),
            Op::StartUpgrade => {
                if let Some(i) = self.guard_of(Kind::Upgradable) {
                    let Guard::Upgradable(g) = self.guards.swap_remove(i) else {
                        unreachable!()
                    };
                    let fut = Box::pin(UpgradableGuard::upgrade(g));
                    self.start(Kind::Upgrade, Fut::Upgrade(fut));
                }
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
                match p.state {
                    State::Queued => {
                        let ids = self.sem.cancel(p.id);
                        self.granted(ids);
                    }
                    State::Granted => self.release(p.kind.need()),
                }
                if p.kind == Kind::Upgrade {
                    // The upgradable guard inside is dropped too.
                    self.release(UPGRADABLE);
                }
            }
            Op::DropGuard(i) => {
                if self.guards.is_empty() {
                    return;
                }
                let g = self.guards.swap_remove(i % self.guards.len());
                let kind = g.kind();
                drop(g);
                self.release(kind.need());
            }
            Op::TryUpgrade => {
                if let Some(i) = self.guard_of(Kind::Upgradable) {
                    let Guard::Upgradable(g) = self.guards.swap_remove(i) else {
                        unreachable!()
                    };
                    let want = self.sem.can_front(UPGRADE);
                    if want {
                        self.sem.free -= UPGRADE;
                    }
                    match UpgradableGuard::try_upgrade(g) {
                        Ok(w) => {
                            assert!(want, "try_upgrade succeeded");
                            self.guards.push(Guard::Write(w));
                        }
                        Err(g) => {
                            assert!(!want, "try_upgrade failed");
                            self.guards.push(Guard::Upgradable(g));
                        }
                    }
                }
            }
            Op::DowngradeWrite | Op::DowngradeWriteToUpgradable => {
                if let Some(i) = self.guard_of(Kind::Write) {
                    let Guard::Write(g) = self.guards.swap_remove(i) else {
                        unreachable!()
                    };
                    if op == Op::DowngradeWrite {
                        let r = WriteGuard::downgrade(g);
                        self.release(WRITE - 1);
                        self.got_guard(Guard::Read(r));
                    } else {
                        let u = WriteGuard::downgrade_to_upgradable(g);
                        self.release(UPGRADE);
                        self.got_guard(Guard::Upgradable(u));
                    }
                }
            }
            Op::DowngradeUpgradable => {
                if let Some(i) = self.guard_of(Kind::Upgradable) {
                    let Guard::Upgradable(g) = self.guards.swap_remove(i) else {
                        unreachable!()
                    };
                    let r = UpgradableGuard::downgrade(g);
                    self.release(UPGRADABLE - 1);
                    self.got_guard(Guard::Read(r));
                }
            }
            Op::Write => {
                if let Some(Guard::Write(g)) =
                    self.guards.iter_mut().find(|g| g.kind() == Kind::Write)
                {
                    **g += 1;
                    self.value += 1;
                }
            }
        }
    }

    fn check(&self) {
        // Exclusion, from the guards the implementation handed out (plus the
        // upgradable guards inside pending upgrade futures).
        let count = |k: Kind| self.guards.iter().filter(|g| g.kind() == k).count();
        let (reads, writes) = (count(Kind::Read), count(Kind::Write));
        let upgrading = self.pending.iter().filter(|p| p.kind == Kind::Upgrade);
        let upgradables = count(Kind::Upgradable) + upgrading.count();
        assert!(writes <= 1, "{writes} writers");
        assert!(upgradables <= 1, "{upgradables} upgradable readers");
        if writes == 1 {
            assert_eq!((reads, upgradables), (0, 0), "a writer with readers");
        }
        // The implementation agrees with the model on what `try_*` would do
        // (a successful probe is dropped at once and, nobody being queued
        // where it took permits, changes nothing).
        let lock = &self.lock;
        assert_eq!(lock.try_read().is_some(), self.sem.can(1), "try_read probe");
        let can_write = self.sem.can(WRITE);
        assert_eq!(lock.try_write().is_some(), can_write, "try_write probe");
        let can_upgradable = self.sem.can(UPGRADABLE);
        assert_eq!(
            lock.try_upgradable_read().is_some(),
            can_upgradable,
            "try_upgradable_read probe"
        );
        if self
            .pending
            .iter()
            .any(|p| matches!(p.kind, Kind::Write | Kind::Upgrade) && p.state == State::Queued)
        {
            assert!(!self.sem.can(1), "write preference: readers must queue");
        }
        for p in &self.pending {
            p.wakers
                .check(format_args!("{:?} future {} ({:?})", p.kind, p.id, p.state));
        }
    }
}

fn run_with<H: Handle>(lock: H, ops: &[Op]) -> u64 {
    let mut h = Harness {
        lock,
        sem: FifoSem::new(WRITE),
        pending: Vec::new(),
        guards: Vec::new(),
        value: 0,
        next_id: 0,
        seq: 0,
    };
    h.check();
    for &op in ops {
        h.step(op);
        h.check();
    }
    // Drain: poll what is granted, else drop the oldest future, else a guard.
    loop {
        h.step(Op::Write);
        let ready = h.pending.iter().position(|p| p.state == State::Granted);
        if let Some(i) = ready {
            h.step(Op::Poll(i));
        } else if let Some(i) = (0..h.pending.len()).min_by_key(|&i| h.pending[i].id) {
            h.step(Op::DropFuture(i));
        } else if !h.guards.is_empty() {
            h.step(Op::DropGuard(0));
        } else {
            break;
        }
        h.check();
    }
    assert_eq!(h.sem.free, WRITE);
    h.value
}

/// Runs `ops` on a fresh lock (through `&RwLock` or, with `arc`, through
/// `Arc<RwLock>`), checking after every step; then drains everything and
/// checks that the lock is free again and no write was lost.
pub fn run(arc: bool, ops: &[Op]) {
    if arc {
        let lock = Arc::new(RwLock::new(0));
        let value = run_with(lock.clone(), ops);
        assert_eq!(Arc::strong_count(&lock), 1, "an Arc future or guard leaked");
        let lock = Arc::into_inner(lock).unwrap();
        assert_eq!(lock.try_write().as_deref(), Some(&value));
    } else {
        let lock = RwLock::new(0);
        let value = run_with(&lock, ops);
        assert_eq!(lock.try_write().as_deref(), Some(&value));
        assert_eq!(lock.into_inner(), value);
    }
}
