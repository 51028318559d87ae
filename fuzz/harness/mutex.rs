//! `Mutex` against a sequential model: a `locked` flag and a FIFO queue.
//!
//! Shared by `tests/prop_mutex.rs` (proptest) and `fuzz/fuzz_targets/mutex.rs`
//! (cargo-fuzz). Single-threaded: futures are polled by hand with counting
//! wakers (or the no-op waker), so the run is deterministic.
//!
//! The model follows the mutex's bounded barging: an unlock wakes the head
//! waiter, counts a bypass against it and leaves the lock free for whoever
//! comes first (the head when polled, or a new `lock()`/`try_lock()`),
//! except that once the head has `Mutex::MAX_BYPASS` bypasses counted, a
//! free lock is for it alone. A free lock inherited from a dropped head
//! counts as a bypass. The test checks the bound itself: a head waiter is
//! overtaken at most `MAX_BYPASS` times.

#[path = "common.rs"]
pub mod common;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use common::Wakers;

use weftwork::Mutex;
use weftwork::sync::{Lock, LockArc, MappedMutexGuard, MutexGuard, MutexGuardArc};

/// One step of a run. Indices are taken modulo the length of the list they
/// select from; an op on an empty list does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `try_lock()` (or `try_lock_arc()`), keeping the guard.
    TryLock { arc: bool },
    /// `lock()` (or `lock_arc()`), polled once.
    Start { arc: bool },
    /// Polls a started future again with its own waker.
    Poll(usize),
    /// Polls a started future with a new counting waker, or with
    /// `Waker::noop()` (wake-ups are then not checked).
    PollFresh { idx: usize, noop: bool },
    /// Drops a started future (queued or already woken).
    DropFuture(usize),
    /// Drops the guard.
    DropGuard,
    /// Increments the value through the guard.
    Write,
    /// `MutexGuard::map` / `MappedMutexGuard::map` on the guard (a no-op
    /// for an `Arc` guard).
    Map,
}

type Value = (u64, u64);

enum Fut<'a> {
    Ref(Pin<Box<Lock<'a, Value>>>),
    Arc(Pin<Box<LockArc<Value>>>),
}

enum Guard<'a> {
    Ref(MutexGuard<'a, Value>),
    Arc(MutexGuardArc<Value>),
    Mapped(MappedMutexGuard<'a, u64>),
}

impl Guard<'_> {
    fn get(&self) -> u64 {
        match self {
            Guard::Ref(g) => g.0,
            Guard::Arc(g) => g.0,
            Guard::Mapped(g) => **g,
        }
    }

    fn incr(&mut self) {
        match self {
            Guard::Ref(g) => g.0 += 1,
            Guard::Arc(g) => g.0 += 1,
            Guard::Mapped(g) => **g += 1,
        }
    }
}

struct Pending<'a> {
    id: u64,
    fut: Fut<'a>,
    wakers: Wakers,
    /// Locks taken by others while this future was the head waiter.
    overtaken: usize,
}

/// A queued waiter in the model.
#[derive(Debug)]
struct Waiting {
    id: u64,
    /// Unlocks (and inherited free locks) while this was the head.
    bypassed: usize,
    /// Its node holds a waker (taken by a wake-up, put back by a poll).
    has_waker: bool,
}

struct Harness<'a> {
    mutex: &'a Arc<Mutex<Value>>,
    /// Model: nobody holds the lock. It can be free while futures wait: an
    /// unlock leaves it free for the woken head or (see [`Harness::open`])
    /// for a barging newcomer.
    free: bool,
    /// Model: FIFO of queued futures.
    queue: VecDeque<Waiting>,
    pending: Vec<Pending<'a>>,
    /// The implementation's guard (the test keeps every guard it gets here,
    /// so a second one would be seen).
    guards: Vec<Guard<'a>>,
    /// Increments made through guards.
    value: u64,
    next_id: u64,
}

fn poll_fut<'a>(fut: &mut Fut<'a>, waker: &Waker) -> Poll<Guard<'a>> {
    let mut cx = Context::from_waker(waker);
    match fut {
        Fut::Ref(f) => f.as_mut().poll(&mut cx).map(Guard::Ref),
        Fut::Arc(f) => f.as_mut().poll(&mut cx).map(Guard::Arc),
    }
}

const MAX_BYPASS: usize = Mutex::<()>::MAX_BYPASS;

impl<'a> Harness<'a> {
    fn pending_mut(&mut self, id: u64) -> &mut Pending<'a> {
        self.pending.iter_mut().find(|p| p.id == id).unwrap()
    }

    /// The model wakes the head waiter's node (if it holds a waker).
    fn wake_head(&mut self) {
        if let Some(head) = self.queue.front_mut().filter(|h| h.has_waker) {
            head.has_waker = false;
            let id = head.id;
            self.pending_mut(id).wakers.expect_wake();
        }
    }

    /// The model's `unlock_one`: free the lock, wake the head and count a
    /// bypass against it.
    fn unlock(&mut self) {
        assert!(!self.free);
        self.wake_head();
        if let Some(head) = self.queue.front_mut() {
            head.bypassed += 1;
        }
        self.free = true;
    }

    /// The lock is free for a newcomer: free, and not kept for a head that
    /// has been bypassed `MAX_BYPASS` times.
    fn open(&self) -> bool {
        self.free && self.queue.front().is_none_or(|h| h.bypassed < MAX_BYPASS)
    }

    /// Someone not waiting (or the head itself, `by_head`) took the lock.
    fn got_guard(&mut self, guard: Guard<'a>, by_head: bool) {
        assert!(
            self.guards.is_empty(),
            "two guards at once: mutual exclusion broken"
        );
        assert_eq!(guard.get(), self.value, "a previous write was lost");
        if let Some(id) = self.queue.front().map(|h| h.id).filter(|_| !by_head) {
            let p = self.pending_mut(id);
            p.overtaken += 1;
            assert!(
                p.overtaken <= MAX_BYPASS,
                "head waiter overtaken {} times",
                p.overtaken
            );
        }
        self.guards.push(guard);
    }

    fn polled(&mut self, i: usize, res: Poll<Guard<'a>>) {
        let id = self.pending[i].id;
        let is_head = self.queue.front().is_some_and(|w| w.id == id);
        let ready = if is_head && self.free {
            // The lock was left free for the woken head: it takes it.
            self.queue.pop_front();
            self.free = false;
            true
        } else {
            if let Some(w) = self.queue.iter_mut().find(|w| w.id == id) {
                w.has_waker = true;
            }
            false
        };
        match (ready, res) {
            (false, Poll::Pending) => {}
            (true, Poll::Ready(guard)) => {
                self.pending.swap_remove(i);
                self.got_guard(guard, true);
            }
            (ready, res) => panic!(
                "future {id}: model says ready = {ready}, poll gave ready = {}",
                res.is_ready()
            ),
        }
    }

    fn step(&mut self, op: Op) {
        let mutex = self.mutex;
        match op {
            Op::TryLock { arc } => {
                let got = if arc {
                    mutex.try_lock_arc().map(Guard::Arc)
                } else {
                    mutex.try_lock().map(Guard::Ref)
                };
                assert_eq!(got.is_some(), self.open(), "try_lock");
                if let Some(g) = got {
                    self.free = false;
                    self.got_guard(g, false);
                }
            }
            Op::Start { arc } => {
                let mut fut = if arc {
                    Fut::Arc(Box::pin(mutex.lock_arc()))
                } else {
                    Fut::Ref(Box::pin(mutex.lock()))
                };
                let wakers = Wakers::new();
                let res = poll_fut(&mut fut, &wakers.waker());
                let id = self.next_id;
                self.next_id += 1;
                if self.open() {
                    // The fast path barges, even past a woken head.
                    self.free = false;
                    let Poll::Ready(guard) = res else {
                        panic!("lock() pending on a free mutex")
                    };
                    self.got_guard(guard, false);
                    return;
                }
                self.queue.push_back(Waiting {
                    id,
                    bypassed: 0,
                    has_waker: true,
                });
                self.pending.push(Pending {
                    id,
                    fut,
                    wakers,
                    overtaken: 0,
                });
                assert!(res.is_pending(), "lock() ready on a locked mutex");
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
                let pos = self.queue.iter().position(|w| w.id == p.id).unwrap();
                self.queue.remove(pos);
                if self.free {
                    // A lock left free for the old head: tell the new one,
                    // which counts it as one bypass.
                    // (A tuple, not a let chain: this file also builds in
                    // the crate's tests, whose MSRV predates let chains.)
                    if let (0, Some(head)) = (pos, self.queue.front_mut()) {
                        head.bypassed += 1;
                    }
                    self.wake_head();
                }
            }
            Op::DropGuard => {
                if let Some(g) = self.guards.pop() {
                    drop(g);
                    self.unlock();
                }
            }
            Op::Write => {
                if let Some(g) = self.guards.last_mut() {
                    g.incr();
                    self.value += 1;
                }
            }
            Op::Map => match self.guards.pop() {
                Some(Guard::Ref(g)) => {
                    let m = MutexGuard::map(g, |v| &mut v.0);
                    self.guards.push(Guard::Mapped(m));
                }
                Some(Guard::Mapped(g)) => {
                    let m = MappedMutexGuard::map(g, |v| v);
                    self.guards.push(Guard::Mapped(m));
                }
                Some(g @ Guard::Arc(_)) => self.guards.push(g),
                None => {}
            },
        }
    }

    fn check(&self) {
        // At most one holder, and only while the lock is not free.
        assert!(self.guards.len() <= 1);
        assert_eq!(self.guards.len(), usize::from(!self.free));
        // With nobody waiting, a `try_lock` probe (released at once) changes
        // nothing, so the implementation can be asked whether it is free.
        if self.queue.is_empty() {
            assert_eq!(self.mutex.try_lock().is_some(), self.free, "try_lock probe");
        }
        for p in &self.pending {
            let queued = self.queue.iter().filter(|w| w.id == p.id).count();
            assert_eq!(queued, 1, "a pending future is queued once");
            p.wakers.check(format_args!("future {}", p.id));
        }
    }
}

/// Runs `ops` on a fresh mutex, checking the model after every step; then
/// drops everything and checks that the lock is free and the value intact.
pub fn run(ops: &[Op]) {
    let mutex = Arc::new(Mutex::new((0, 0)));
    let mut h = Harness {
        mutex: &mutex,
        free: true,
        queue: VecDeque::new(),
        pending: Vec::new(),
        guards: Vec::new(),
        value: 0,
        next_id: 0,
    };
    h.check();
    for &op in ops {
        h.step(op);
        h.check();
    }
    // Drain: whoever may take the lock polls; otherwise drop the oldest.
    while !h.pending.is_empty() || !h.guards.is_empty() {
        h.step(Op::Write);
        h.step(Op::DropGuard);
        h.check();
        let head = h.queue.front().map(|w| w.id).filter(|_| h.free);
        let next = h.pending.iter().position(|p| Some(p.id) == head);
        if let Some(i) = next {
            h.step(Op::Poll(i));
        } else if let Some(i) = (0..h.pending.len()).min_by_key(|&i| h.pending[i].id) {
            h.step(Op::DropFuture(i));
        }
        h.check();
    }
    let value = h.value;
    drop(h);
    assert_eq!(
        Arc::strong_count(&mutex),
        1,
        "an Arc future or guard leaked"
    );
    let mutex = Arc::into_inner(mutex).unwrap();
    assert_eq!(mutex.try_lock().map(|g| g.0), Some(value));
    assert_eq!(mutex.into_inner(), (value, 0));
}
