//! The scope's children: a slab of child cells (`task.rs`), the
//! concurrency limit, join hand-off and teardown. The driver (`drive.rs`)
//! polls them.
//!
//! Every child is polled only by the driver, from inside the scope future's
//! own `poll`, and only while its slot says `Runnable`; the driver takes the
//! cell out of the slot for the poll (so a child may spawn, join or abort
//! siblings) and puts it back. Once the scope is torn down no child is polled again, and
//! every child future is dropped by the teardown — or, if the scope future
//! was leaked, never touched again. That is what makes borrowing `'env`
//! data sound.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::task::{Context, Poll, Waker};

use super::ready::Ready;
use super::task::TaskRef;
use crate::cancel::CancelToken;
use crate::wait::SpinLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    /// Over the concurrency limit: not polled until admitted.
    Waiting,
    Runnable,
    /// Out of the slab for a poll.
    Polling,
    /// Finished; the output waits for the `JoinHandle`.
    Done,
    /// Dropped by the teardown before it finished; a `JoinHandle` is left.
    Dropped,
}

struct Slot {
    state: State,
    task: Option<TaskRef>,
    /// The waker of a `JoinHandle` waiting for this child.
    join: Option<Waker>,
    /// A `JoinHandle` refers to this slot: it is freed by the handle.
    handle: bool,
    /// `abort` was called while the child was being polled.
    aborted: bool,
    /// Counts towards `live` and the limit (a deadline does not).
    counted: bool,
}

/// How the scope was closed to new children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    Open,
    /// Finished normally: spawning now is a bug in the caller.
    Finished,
    /// Torn down (stopped, panicked or dropped).
    TornDown,
}

struct Slab {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Children over the limit, in spawn order.
    waiting: VecDeque<usize>,
    /// Counted children admitted and not finished.
    running: usize,
    /// Counted children not finished (admitted or waiting).
    live: usize,
    limit: usize,
    closed: Closed,
}

/// What a state change left to do once the slab lock is released.
#[must_use]
#[derive(Default)]
struct After {
    drop: Option<TaskRef>,
    wake: Option<Waker>,
    admit: Option<usize>,
}

impl Slab {
    fn free_slot(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.state = State::Free;
        slot.handle = false;
        slot.aborted = false;
        self.free.push(i);
    }

    /// Frees the slot of a finished (or torn-down) child whose handle is
    /// gone; its output is dropped once the lock is released.
    fn free_finished(&mut self, i: usize) -> After {
        let task = self.slots[i].task.take();
        self.free_slot(i);
        After {
            drop: task,
            ..After::default()
        }
    }

    /// A counted child stopped running: let the next waiting one in.
    fn admit_next(&mut self) -> Option<usize> {
        self.running -= 1;
        while let Some(i) = self.waiting.pop_front() {
            if self.slots[i].state == State::Waiting {
                self.slots[i].state = State::Runnable;
                self.running += 1;
                return Some(i);
            }
        }
        None
    }

    /// Child `i` is finished (ran to completion, or is being dropped).
    /// `keep` keeps the box (holding the output) for the handle.
    fn retire(&mut self, i: usize, task: Option<TaskRef>, keep: bool) -> After {
        let mut after = After::default();
        let was = self.slots[i].state;
        if self.slots[i].counted {
            self.live -= 1;
            if was != State::Waiting {
                after.admit = self.admit_next();
            } else {
                self.waiting.retain(|&w| w != i);
            }
        }
        let slot = &mut self.slots[i];
        after.wake = slot.join.take();
        if keep && slot.handle {
            slot.state = State::Done;
            slot.task = task;
        } else {
            after.drop = task.or_else(|| slot.task.take());
            self.free_slot(i);
        }
        after
    }
}

/// The children of one scope.
pub(crate) struct Core<'env> {
    slab: SpinLock<Slab>,
    pub(crate) ready: Arc<Ready>,
    token: CancelToken,
    /// The children borrow `'env` data; invariant, so a `Scope<'env>`
    /// cannot be turned into one for a shorter `'env` (whose children could
    /// then borrow data that dies before they are joined).
    _env: PhantomData<fn(&'env ()) -> &'env ()>,
}

impl core::fmt::Debug for Core<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (live, limit) = self.slab.with(|s| (s.live, s.limit));
        f.debug_struct("Scope")
            .field("live_children", &live)
            .field("limit", &limit)
            .field("token", &self.token)
            .finish()
    }
}

impl<'env> Core<'env> {
    pub(crate) fn new(limit: usize, token: CancelToken) -> Self {
        Self {
            slab: SpinLock::new(Slab {
                slots: Vec::new(),
                free: Vec::new(),
                waiting: VecDeque::new(),
                running: 0,
                live: 0,
                limit,
                closed: Closed::Open,
            }),
            ready: Arc::new(Ready::default()),
            token,
            _env: PhantomData,
        }
    }

    pub(crate) fn token(&self) -> &CancelToken {
        &self.token
    }

    /// Children not finished yet (running or waiting for a slot).
    pub(crate) fn live(&self) -> usize {
        self.slab.with(|s| s.live)
    }

    /// Adds a child. `counted == false` makes a background child (a
    /// deadline) that neither keeps the scope open nor takes a limit slot.
    /// Returns its slot, or `None` if the scope was torn down (the child is
    /// dropped unpolled).
    ///
    /// # Panics
    /// If the scope has already finished.
    pub(crate) fn spawn<F>(&self, fut: F, counted: bool, handle: bool) -> Option<usize>
    where
        F: core::future::Future + Send + 'env,
        F::Output: Send + 'env,
    {
        let mut task = Some(TaskRef::new(fut, &self.ready));
        let res = self.slab.with(|s| {
            match s.closed {
                Closed::Open => {}
                Closed::Finished => return Err(true),
                Closed::TornDown => return Err(false),
            }
            let i = s.free.pop().unwrap_or_else(|| {
                s.slots.push(Slot {
                    state: State::Free,
                    task: None,
                    join: None,
                    handle: false,
                    aborted: false,
                    counted: false,
                });
                s.slots.len() - 1
            });
            let admitted = !counted || s.running < s.limit;
            if counted {
                s.live += 1;
                if admitted {
                    s.running += 1;
                } else {
                    s.waiting.push_back(i);
                }
            }
            let slot = &mut s.slots[i];
            let mut t = task.take().expect("taken once");
            t.set_index(i);
            slot.task = Some(t);
            slot.handle = handle;
            slot.counted = counted;
            // A new child is marked queued: it is pushed below, or when it
            // is admitted (it has no waker before its first poll).
            slot.state = if admitted {
                State::Runnable
            } else {
                State::Waiting
            };
            Ok((i, admitted))
        });
        match res {
            Ok((i, admitted)) => {
                if admitted {
                    self.ready.push(i);
                }
                Some(i)
            }
            Err(finished) => {
                drop(task);
                assert!(
                    !finished,
                    "weftwork::scope: spawn on a scope that has already finished \
                     (a `Scope` handle was kept past the end of its scope)"
                );
                None
            }
        }
    }

    /// Takes child `i` out for a poll, if it is runnable.
    pub(crate) fn begin_poll(&self, i: usize) -> Option<TaskRef> {
        self.slab.with(|s| {
            let slot = s.slots.get_mut(i)?;
            if slot.state != State::Runnable {
                return None;
            }
            slot.state = State::Polling;
            slot.task.take()
        })
    }

    /// Puts child `i` back after a poll that returned `done`.
    pub(crate) fn end_poll(&self, i: usize, task: TaskRef, done: bool) {
        let after = self.slab.with(|s| {
            let slot = &mut s.slots[i];
            debug_assert_eq!(slot.state, State::Polling);
            if done || slot.aborted {
                s.retire(i, Some(task), done)
            } else {
                slot.state = State::Runnable;
                slot.task = Some(task);
                After::default()
            }
        });
        self.finish_after(after);
    }

    fn finish_after(&self, after: After) {
        if let Some(i) = after.admit {
            // Never polled, so still marked queued since its spawn.
            self.ready.push(i);
        }
        drop(after.drop);
        if let Some(w) = after.wake {
            w.wake();
        }
    }

    /// The output of finished child `i`, or registers `cx`'s waker.
    ///
    /// # Safety
    /// Child `i` must have been spawned from a future with output `T`, and
    /// the caller must be its (only) `JoinHandle`.
    pub(crate) unsafe fn poll_join<T>(&self, i: usize, cx: &mut Context<'_>) -> Poll<T> {
        let done = self.slab.with(|s| {
            let slot = &mut s.slots[i];
            match slot.state {
                State::Done => {
                    let task = slot.task.take();
                    s.free_slot(i);
                    Ok(task)
                }
                State::Dropped => Err(()),
                _ => {
                    match &slot.join {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => slot.join = Some(cx.waker().clone()),
                    }
                    Ok(None)
                }
            }
        });
        match done {
            Ok(Some(task)) => {
                let mut out: Option<T> = None;
                // SAFETY: the slot is freed, so the cell is ours alone; the
                // caller guarantees the child's output type is `T`.
                unsafe { task.take_output((&mut out as *mut Option<T>).cast()) };
                Poll::Ready(out.expect("a finished child stores its output once"))
            }
            Ok(None) => Poll::Pending,
            Err(()) => panic!(
                "weftwork::scope: this child never finished: its scope was \
                 stopped or dropped first"
            ),
        }
    }

    /// Whether child `i` (with a handle) has finished.
    pub(crate) fn is_finished(&self, i: usize) -> bool {
        self.slab.with(|s| s.slots[i].state == State::Done)
    }

    /// The handle of child `i` is gone: the child runs on, detached.
    pub(crate) fn detach(&self, i: usize) {
        let after = self.slab.with(|s| {
            let slot = &mut s.slots[i];
            slot.handle = false;
            slot.join = None;
            match slot.state {
                State::Done | State::Dropped => s.free_finished(i),
                _ => After::default(),
            }
        });
        self.finish_after(after);
    }

    /// Drops child `i` now (or right after its current poll).
    pub(crate) fn abort(&self, i: usize) {
        let mut wake_driver = false;
        let after = self.slab.with(|s| {
            let slot = &mut s.slots[i];
            slot.handle = false;
            slot.join = None;
            match slot.state {
                State::Polling => {
                    slot.aborted = true;
                    After::default()
                }
                State::Waiting | State::Runnable => {
                    // The scope may be waiting for this very child to end;
                    // `abort` can run outside the scope's task: wake it.
                    wake_driver = true;
                    s.retire(i, None, false)
                }
                State::Done | State::Dropped => s.free_finished(i),
                State::Free => unreachable!("a handle keeps its slot"),
            }
        });
        self.finish_after(after);
        if wake_driver {
            self.ready.wake_driver();
        }
    }

    /// Closes the scope if every counted child has finished; from then on
    /// `spawn` panics. Returns whether it closed.
    pub(crate) fn try_finish(&self) -> bool {
        self.slab.with(|s| {
            let idle = s.live == 0 && s.closed == Closed::Open;
            if idle {
                s.closed = Closed::Finished;
            }
            idle
        })
    }

    /// Drops every child still held that has not finished (and background
    /// ones). Finished children keep their output for their handles.
    /// Children dropped here may spawn: those are dropped too, unpolled.
    /// Handles of dropped children see `Dropped` and panic if awaited
    /// (they are woken, so they do not hang).
    pub(crate) fn teardown(&self) {
        loop {
            let mut batch = Vec::new();
            let mut wakers = Vec::new();
            self.slab.with(|s| {
                if s.closed == Closed::Open {
                    s.closed = Closed::TornDown;
                }
                s.waiting.clear();
                s.live = 0;
                s.running = 0;
                for i in 0..s.slots.len() {
                    let slot = &mut s.slots[i];
                    match slot.state {
                        State::Free | State::Done | State::Dropped => continue,
                        _ => {}
                    }
                    batch.extend(slot.task.take());
                    if slot.handle {
                        slot.state = State::Dropped;
                        wakers.extend(slot.join.take());
                    } else {
                        s.free_slot(i);
                    }
                }
            });
            let done = batch.is_empty();
            drop(batch);
            wakers.into_iter().for_each(Waker::wake);
            if done {
                break;
            }
        }
    }
}
