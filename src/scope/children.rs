//! The scope's children: spawning, the driver's side of a poll, join
//! hand-off, abort and teardown. The cells are in `task.rs`, the lock and
//! the slab in `ready.rs`; the driver (`drive.rs`) polls them.
//!
//! Every child is polled only by the driver, from inside the scope future's
//! own `poll`, and only while its state says `Runnable` (it says `Polling`
//! during the poll, so a child may spawn, join or abort siblings, itself
//! included). Once the scope is torn down no child is polled again, and
//! every child future is dropped by the teardown — or, if the scope future
//! was leaked, never touched again. That is what makes borrowing `'env`
//! data sound.
//!
//! Per child, the hot path takes the lock once to spawn and once per poll
//! (the end of one poll and the start of the next share a lock), and a
//! handle joins a finished child without it: the slab lets go of a
//! finished child that has a handle by setting its `fin` flag.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::task::{Context, Poll, Waker};

use super::completions;
use super::ready::{Closed, Inner, Shared};
use super::task::{
    ABORTED, COUNTED, Ctl, DONE, DROPPED, HANDLE, HELD, LISTED, NO_SET, State, TaskPtr, TaskRef,
};
use crate::cancel::CancelToken;

/// What a state change left to do once the lock is released.
#[must_use]
#[derive(Default)]
pub(crate) struct After {
    drop: Option<TaskRef>,
    wake: Option<Waker>,
    /// Doing the above runs user code (a destructor or a waker).
    user: bool,
}

impl After {
    pub(crate) fn run(self) {
        drop(self.drop);
        if let Some(w) = self.wake {
            w.wake();
        }
    }
}

/// Child `t` is finished (ran to completion if `keep`, or is being
/// dropped): it leaves the slab. A finished child with a handle keeps its
/// output for the handle, which takes the slab's reference over.
fn retire(s: &mut Inner, t: TaskPtr, c: &mut Ctl, keep: bool) -> After {
    let waiting = c.has(COUNTED) && c.state == State::Waiting;
    // Out of the slab first. A child still named by an entry of `waiting`
    // (waiting, or let in early) leaves its slot `Gone`, not reused until
    // that entry is reached; `admit_next` below may reach this very entry
    // and must find the slot `Gone`, not this child (whose `Ctl` is
    // borrowed here as `c`).
    let task = if c.has(LISTED) {
        s.unslot_waiting(t)
    } else {
        s.unslot(t)
    };
    if c.has(COUNTED) {
        s.live -= 1;
        if !waiting {
            s.admit_next();
        }
    }
    if c.set != NO_SET {
        // A completion set's child: its set takes the finished child over.
        let (drop, wake) = completions::retire_member(s, c, task, keep, waiting);
        let user = wake.is_some() || (drop.is_some() && !(keep && t.trivial_output()));
        return After { drop, wake, user };
    }
    let wake = c.join.take();
    if keep && c.has(HANDLE) {
        t.set_fin(DONE);
        task.hand_over();
        let user = wake.is_some();
        After {
            drop: None,
            wake,
            user,
        }
    } else {
        let user = wake.is_some() || !(keep && t.trivial_output());
        After {
            drop: Some(task),
            wake,
            user,
        }
    }
}

/// Ends the poll of `t` (`done`: it returned `Ready`).
fn end_locked(s: &mut Inner, t: TaskPtr, done: bool) -> After {
    // SAFETY: the lock is held (`s`).
    unsafe {
        t.with_ctl(|c| {
            debug_assert_eq!(c.state, State::Polling);
            if done || c.has(ABORTED) {
                retire(s, t, c, done)
            } else {
                c.state = State::Runnable;
                After::default()
            }
        })
    }
}

/// Starts a poll of the child in slot `i`, if it is runnable.
fn begin_locked(s: &mut Inner, i: usize) -> Option<TaskPtr> {
    let t = s.held(i)?;
    // SAFETY: the lock is held (`s`).
    let runnable = unsafe { t.advance(State::Runnable, State::Polling) };
    runnable.then_some(t)
}

/// The children of one scope.
pub(crate) struct Core<'env> {
    pub(crate) shared: Arc<Shared>,
    token: CancelToken,
    /// The children borrow `'env` data; invariant, so a `Scope<'env>`
    /// cannot be turned into one for a shorter `'env` (whose children could
    /// then borrow data that dies before they are joined).
    _env: PhantomData<fn(&'env ()) -> &'env ()>,
}

impl core::fmt::Debug for Core<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (live, limit) = self.shared.lock.with(|s| (s.live, s.limit));
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
            shared: Arc::new(Shared::new(limit)),
            token,
            _env: PhantomData,
        }
    }

    pub(crate) fn token(&self) -> &CancelToken {
        &self.token
    }

    /// Children not finished yet (running or waiting for a slot).
    pub(crate) fn live(&self) -> usize {
        self.shared.lock.with(|s| s.live)
    }

    /// Adds a child. `counted == false` makes a background child (a
    /// deadline) that neither keeps the scope open nor takes a limit slot.
    /// Returns the handle's pointer (owning one reference) if `handle`, or
    /// `None` if the scope was torn down (the child is dropped unpolled).
    /// `set`: the open completion set its output goes to, or [`NO_SET`].
    ///
    /// # Panics
    /// If the scope has already finished.
    #[inline]
    pub(crate) fn spawn<F>(&self, fut: F, counted: bool, handle: bool, set: u32) -> Option<TaskPtr>
    where
        F: core::future::Future + Send + 'env,
        F::Output: Send + 'env,
    {
        let flags = if handle { HANDLE } else { 0 } | if counted { COUNTED } else { 0 };
        let ctl = Ctl::new(State::Runnable, flags, set);
        self.add(TaskRef::new(fut, &self.shared, ctl), counted, handle, set)
    }

    /// [`spawn`](Self::spawn)'s part that does not depend on the future's
    /// type (compiled once, not once per future type): puts the new child
    /// `task` in the slab and the ready queue.
    fn add(&self, task: TaskRef, counted: bool, handle: bool, set: u32) -> Option<TaskPtr> {
        let ptr = task.ptr();
        let res = self.shared.lock.with(|s| {
            match s.closed {
                Closed::Open => {}
                Closed::Finished => return Err((task, true)),
                Closed::TornDown => return Err((task, false)),
            }
            let i = s.insert(task);
            let admitted = !counted || s.running < s.limit;
            if set != NO_SET {
                completions::add_member(s, set, !admitted);
            }
            if counted {
                s.live += 1;
                if admitted {
                    s.running += 1;
                } else {
                    s.waiting.push_back(i);
                    // SAFETY: the lock is held; unpublished until it is
                    // released.
                    unsafe {
                        ptr.with_ctl(|c| {
                            c.state = State::Waiting;
                            c.mark(LISTED, true);
                        })
                    };
                }
            }
            // A new child is marked queued: it is pushed here, or when it
            // is admitted (it has no waker before its first poll).
            Ok(if admitted {
                s.ready.push(i);
                s.driver.take()
            } else {
                None
            })
        });
        match res {
            Ok(driver) => {
                if let Some(w) = driver {
                    w.wake();
                }
                handle.then_some(ptr)
            }
            Err((task, finished)) => {
                drop(task);
                if handle {
                    // SAFETY: the handle's reference, never handed out.
                    unsafe { ptr.release(1) };
                }
                assert!(
                    !finished,
                    "weftwork::scope: spawn on a scope that has already finished \
                     (a `Scope` handle was kept past the end of its scope)"
                );
                None
            }
        }
    }

    /// Ends the poll of `prev` (if any) and starts one of the child in slot
    /// `i`, under one lock when ending `prev` runs no user code. Returns the
    /// child to poll, if it is runnable.
    pub(crate) fn next_poll(&self, prev: Option<(TaskPtr, bool)>, i: usize) -> Option<TaskPtr> {
        let (after, next) = self.shared.lock.with(|s| {
            let after = match prev {
                Some((t, done)) => end_locked(s, t, done),
                None => After::default(),
            };
            if after.user {
                // User code may abort child `i`: start it only after.
                (after, None)
            } else {
                let next = begin_locked(s, i);
                (after, Some(next))
            }
        });
        let user = after.user;
        after.run();
        match next {
            Some(next) => next,
            None => {
                debug_assert!(user);
                self.shared.lock.with(|s| begin_locked(s, i))
            }
        }
    }

    /// Ends the poll of `prev`, if any.
    pub(crate) fn end_poll(&self, prev: Option<(TaskPtr, bool)>) {
        if let Some((t, done)) = prev {
            self.shared.lock.with(|s| end_locked(s, t, done)).run();
        }
    }

    /// Closes the scope if every counted child has finished; from then on
    /// `spawn` panics. Returns whether it closed.
    pub(crate) fn try_finish(&self) -> bool {
        self.shared.lock.with(|s| {
            let idle = s.live == 0 && s.closed == Closed::Open;
            if idle {
                s.closed = Closed::Finished;
            }
            idle
        })
    }

    /// Drops every child the slab still holds (those not finished, and
    /// background ones). Finished children keep their output for their
    /// handles. Children dropped here may spawn: those are dropped too,
    /// unpolled. Handles of dropped children see `DROPPED` and panic if
    /// awaited (they are woken, so they do not hang).
    ///
    /// If a child's destructor panics, the other children are still
    /// dropped and every handle marked (by [`Dropping`], while the panic
    /// unwinds), then the panic goes on. A second destructor panicking
    /// during that unwind aborts the process, as for a `Vec`'s elements.
    pub(crate) fn teardown(&self) {
        loop {
            let mut batch = Vec::new();
            let mut wakers = Vec::new();
            self.shared.lock.with(|s| {
                if s.closed == Closed::Open {
                    s.closed = Closed::TornDown;
                }
                // Their unfinished children are all dropped below.
                completions::tear_down(s, &mut wakers);
                s.clear_waiting();
                s.live = 0;
                s.running = 0;
                for i in 0..s.slot_count() {
                    if let Some(t) = s.take_slot(i) {
                        // SAFETY: the lock is held.
                        unsafe { t.ptr().with_ctl(|c| c.state = State::Dropped) };
                        batch.push(t);
                    }
                }
            });
            if batch.is_empty() {
                crate::wait::wake_every(wakers);
                break;
            }
            let mut dropping = Dropping {
                shared: &self.shared,
                batch,
                dropped: 0,
                wakers,
            };
            dropping.drop_futures();
            // Its drop marks the handles and wakes their joiners.
        }
    }
}

/// Children taken out of the slab by [`Core::teardown`]: their futures are
/// dropped in order (`dropped` counts those done or under way); dropping
/// this finishes the job — also while a panic from one of those
/// destructors unwinds: it drops the futures left, marks every handle
/// `DROPPED` and wakes the joiners.
struct Dropping<'a> {
    shared: &'a Shared,
    batch: Vec<TaskRef>,
    dropped: usize,
    wakers: Vec<Waker>,
}

impl Dropping<'_> {
    fn drop_futures(&mut self) {
        while let Some(t) = self.batch.get(self.dropped) {
            let p = t.ptr();
            // Counted first: if its destructor panics, it is not dropped
            // again (the assignment in `drop_future` still leaves `Gone`
            // in the cell when the old value's drop unwinds).
            self.dropped += 1;
            // SAFETY: out of the slab and not `Polling` any more (the
            // driver polls nothing once it tears down): ours alone.
            unsafe { p.drop_future() };
        }
    }
}

impl Drop for Dropping<'_> {
    fn drop(&mut self) {
        // After a panic, the children left (a second panic here aborts).
        self.drop_futures();
        let mut release = Vec::new();
        let wakers = &mut self.wakers;
        let batch = core::mem::take(&mut self.batch);
        self.shared.lock.with(|_s| {
            for t in batch {
                let p = t.ptr();
                // SAFETY: the lock is held.
                let handle = unsafe {
                    p.with_ctl(|c| {
                        wakers.extend(c.join.take());
                        c.has(HANDLE)
                    })
                };
                if handle {
                    p.set_fin(DROPPED);
                    t.hand_over();
                } else {
                    release.push(t);
                }
            }
        });
        drop(release);
        crate::wait::wake_every(core::mem::take(&mut self.wakers));
    }
}

/// The handle's side of child `t`; the handle owns one reference to it
/// while the slab holds the child, two once `fin` says it let go.
pub(crate) mod handle_side {
    use super::*;

    /// Frees a child the slab let go of: drops what is left of its output
    /// and the handle's two references.
    ///
    /// # Safety
    /// `t.fin()` is not `HELD`, and the caller is its handle.
    unsafe fn free_released(t: TaskPtr) {
        // SAFETY: the slab let go, so the cell is the handle's alone.
        unsafe { t.drop_and_release(2) }
    }

    /// The output of finished child `t`, or registers `cx`'s waker.
    /// On `Ready` the handle's references are gone.
    ///
    /// # Safety
    /// `t` was spawned from a future with output `T`, and the caller is its
    /// (only) handle.
    pub(crate) unsafe fn poll_join<T>(t: TaskPtr, cx: &mut Context<'_>) -> Poll<T> {
        loop {
            match t.fin() {
                DONE => {
                    let mut out: Option<T> = None;
                    // SAFETY: `DONE` hands the cell to the handle; the
                    // caller guarantees the output type is `T`.
                    unsafe {
                        t.take_output((&mut out as *mut Option<T>).cast());
                        free_released(t);
                    }
                    return Poll::Ready(out.expect("a finished child stores its output once"));
                }
                DROPPED => panic!(
                    "weftwork::scope: this child never finished: its scope was \
                     stopped or dropped first"
                ),
                _ => {}
            }
            let (held, driver) = t.shared().lock.with(|s| {
                // `fin` changes only with the lock held.
                let held = t.fin() == HELD;
                let mut driver = None;
                if held {
                    // SAFETY: the lock is held.
                    unsafe {
                        t.with_ctl(|c| {
                            match &c.join {
                                Some(w) if w.will_wake(cx.waker()) => {}
                                _ => c.join = Some(cx.waker().clone()),
                            }
                            // Awaited while over the limit: let it in now.
                            // The awaiting child may hold the very slot it
                            // would wait for (a child awaiting a grandchild).
                            if s.admit_now(t, c) {
                                driver = s.driver.take();
                            }
                        })
                    };
                }
                (held, driver)
            });
            if let Some(w) = driver {
                w.wake();
            }
            if held {
                return Poll::Pending;
            }
        }
    }

    /// Whether child `t` has finished (its output is ready).
    pub(crate) fn is_finished(t: TaskPtr) -> bool {
        t.fin() == DONE
    }

    /// The handle of `t` is gone (`abort`: and the child is dropped now, or
    /// right after its current poll).
    ///
    /// # Safety
    /// The caller is `t`'s handle, and gives its references up.
    pub(crate) unsafe fn let_go(t: TaskPtr, abort: bool) {
        if t.fin() != HELD {
            // SAFETY: per our caller; the slab let go.
            unsafe { free_released(t) };
            return;
        }
        let shared = t.shared();
        let mut wake_driver = false;
        let (held, after, join) = shared.lock.with(|s| {
            if t.fin() != HELD {
                return (false, After::default(), None);
            }
            // SAFETY: the lock is held.
            let (after, join) = unsafe {
                t.with_ctl(|c| {
                    c.mark(HANDLE, false);
                    let join = c.join.take();
                    let after = match c.state {
                        State::Polling if abort => {
                            c.mark(ABORTED, true);
                            After::default()
                        }
                        State::Waiting | State::Runnable if abort => {
                            // The scope may be waiting for this very child
                            // to end; `abort` can run outside the scope's
                            // task: wake it.
                            wake_driver = true;
                            retire(s, t, c, false)
                        }
                        _ => After::default(),
                    };
                    (after, join)
                })
            };
            (true, after, join)
        });
        drop(join);
        if held {
            after.run();
            if wake_driver {
                shared.wake_driver();
            }
            // SAFETY: the handle's one reference (the slab still had its
            // own, or `retire` gave it to `after`, just dropped).
            unsafe { t.release(1) };
        } else {
            // SAFETY: per our caller; the slab let go.
            unsafe { free_released(t) };
        }
    }
}
