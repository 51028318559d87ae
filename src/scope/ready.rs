//! The `'static` part of a scope, behind one lock: the slab of children,
//! the ready queue (which children, and whether the body, need a poll), the
//! waker of the task that drives the scope, and the concurrency limit's
//! counters.
//!
//! It is reference-counted on its own, apart from the `'env` part
//! (`children.rs`): a waker a child handed to a timer may outlive the
//! scope, and waking it then only touches this queue. Every cell holds a
//! reference to it (its header reaches the lock and the queue through it).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::task::Waker;

use super::completions::{self, SetQ};
use super::seg::SegVec;
use super::task::{Ctl, LISTED, NO_SET, State, TaskPtr, TaskRef};
use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::wait::SpinLock;

/// The index the body uses in the ready queue.
pub(crate) const BODY: usize = usize::MAX;

/// The end of the free-slot list.
const NO_SLOT: usize = usize::MAX;

/// A slot of the slab.
enum Slot {
    Held(TaskRef),
    /// Free; the next free slot (or [`NO_SLOT`]).
    Free(usize),
    /// A child that left (aborted, dropped, or finished after being let in
    /// early by [`Inner::admit_now`]) while its index was still in
    /// `waiting` ([`LISTED`]): the slot is freed only
    /// when [`Inner::admit_next`] (or a compaction) takes the index out —
    /// never reused while a stale entry could name it.
    Gone,
}

/// How the scope was closed to new children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    Open,
    /// Finished normally: spawning now is a bug in the caller.
    Finished,
    /// Torn down (stopped, panicked or dropped).
    TornDown,
}

/// A scope's state; see the module docs.
pub(crate) struct Shared {
    pub(crate) lock: SpinLock<Inner>,
}

/// Everything behind the lock. A child's own bookkeeping (`Ctl`, in its
/// cell) is behind this lock too.
pub(crate) struct Inner {
    /// The slab's reference to each child it still holds (not finished,
    /// not torn down); the free slots form a list through the table (no
    /// second vector that grows as children finish). Segmented, as is the
    /// ready queue: no big buffer to free or grow (`seg.rs`).
    slots: SegVec<Slot>,
    /// The first free slot, or [`NO_SLOT`].
    free: usize,
    /// Slots (or [`BODY`]) to poll.
    pub(crate) ready: SegVec<usize>,
    /// Taken by the first wake after a poll of the scope: later wakes
    /// before the next poll need not wake the task again.
    pub(crate) driver: Option<Waker>,
    /// Children over the limit, in spawn order (with the indices of
    /// [`Slot::Gone`] ones and of children let in early, skipped when
    /// reached).
    pub(crate) waiting: VecDeque<usize>,
    /// How many entries of `waiting` are [`Slot::Gone`].
    gone: usize,
    /// Counted children admitted and not finished.
    pub(crate) running: usize,
    /// Counted children not finished (admitted or waiting).
    pub(crate) live: usize,
    pub(crate) limit: usize,
    pub(crate) closed: Closed,
    /// The scope's completion sets (`completions.rs`), by `Ctl::set`;
    /// `None`: a free entry.
    pub(crate) sets: Vec<Option<SetQ>>,
}

impl Inner {
    /// A counted child stopped running: let the next waiting one in (it is
    /// queued; the caller wakes the driver if it is not the driver), unless
    /// children let in early by [`admit_now`](Self::admit_now) still fill
    /// the limit.
    #[inline]
    pub(crate) fn admit_next(&mut self) {
        self.running -= 1;
        if self.running >= self.limit || self.waiting.is_empty() {
            return;
        }
        self.drop_stale_front();
        let Some(i) = self.waiting.pop_front() else {
            return;
        };
        let task = self.held(i).expect("the front entry names a waiting child");
        // SAFETY: the lock is held (`&mut self`).
        let set = unsafe {
            task.with_ctl(|c| {
                c.mark(LISTED, false);
                c.state = State::Runnable;
                c.set
            })
        };
        self.running += 1;
        if set != NO_SET {
            completions::member_stopped_waiting(self, set);
        }
        // Never polled, so still marked queued since its spawn.
        self.ready.push(i);
    }

    /// Takes the entries off the front of `waiting` that no longer name a
    /// waiting child: one that left ([`Slot::Gone`]: its slot is freed
    /// now) or one let in early by [`admit_now`](Self::admit_now) (no
    /// longer [`LISTED`]). Each entry is taken off once, so this is O(1)
    /// amortized; it keeps [`admit_member`](Self::admit_member) from
    /// scanning the entries of members it let in before.
    fn drop_stale_front(&mut self) {
        while let Some(&i) = self.waiting.front() {
            match self.held(i) {
                // SAFETY: the lock is held (`&mut self`).
                Some(task) => unsafe {
                    let stale = task.with_ctl(|c| {
                        let stale = c.state != State::Waiting;
                        if stale {
                            c.mark(LISTED, false);
                        }
                        stale
                    });
                    if !stale {
                        return;
                    }
                },
                None => {
                    if matches!(self.slots.get(i), Some(Slot::Gone)) {
                        self.gone -= 1;
                        self.free_slot(i);
                    }
                }
            }
            self.waiting.pop_front();
        }
    }

    /// Lets waiting child `t` (whose bookkeeping is `c`) in at once, even
    /// over the limit, because a handle awaits it: queued, it could wait
    /// for a slot held by the very child awaiting it. It counts as running
    /// from now on. Its entry stays in `waiting` (`LISTED`) and is
    /// skipped when reached. Returns whether it was waiting: then it is
    /// queued, and the caller wakes the driver.
    pub(crate) fn admit_now(&mut self, t: TaskPtr, c: &mut Ctl) -> bool {
        if c.state != State::Waiting {
            return false;
        }
        c.state = State::Runnable;
        self.running += 1;
        if c.set != NO_SET {
            completions::member_stopped_waiting(self, c.set);
        }
        // Never polled, so still marked queued since its spawn.
        self.ready.push(t.index());
        true
    }

    /// Lets the oldest waiting child of completion set `set` in at once, as
    /// [`admit_now`](Self::admit_now) does; its consumer waits for it and
    /// no other member of the set runs. Scans `waiting` from the front,
    /// past the entries of other waiting children (the entries of members
    /// let in before are dropped first). Returns whether one was let in
    /// (the caller wakes the driver).
    pub(crate) fn admit_member(&mut self, set: u32) -> bool {
        self.drop_stale_front();
        let member = self.waiting.iter().find_map(|&i| {
            let t = self.held(i)?;
            // SAFETY: the lock is held (`&mut self`).
            let ours = unsafe { t.with_ctl(|c| c.state == State::Waiting && c.set == set) };
            ours.then_some(t)
        });
        // SAFETY: the lock is held (`&mut self`); `t` is held in the slab.
        member.is_some_and(|t| unsafe { t.with_ctl(|c| self.admit_now(t, c)) })
    }

    /// The child held in slot `i`, if any.
    pub(crate) fn held(&self, i: usize) -> Option<TaskPtr> {
        match self.slots.get(i) {
            Some(Slot::Held(t)) => Some(t.ptr()),
            _ => None,
        }
    }

    /// Number of slots (held or free).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Puts `task` (not published yet) in a free slot, the first of the
    /// free list or a new one, records the slot in it, and returns it.
    #[inline]
    pub(crate) fn insert(&mut self, mut task: TaskRef) -> usize {
        if self.free == NO_SLOT {
            task.set_index(self.slots.len());
            return self.slots.push(Slot::Held(task));
        }
        let i = self.free;
        task.set_index(i);
        let Slot::Free(next) = core::mem::replace(&mut self.slots[i], Slot::Held(task)) else {
            unreachable!("the free list holds free slots")
        };
        self.free = next;
        i
    }

    /// Takes the child out of slot `i`, if one is held there.
    pub(crate) fn take_slot(&mut self, i: usize) -> Option<TaskRef> {
        if !matches!(self.slots.get(i), Some(Slot::Held(_))) {
            return None;
        }
        let Slot::Held(t) = core::mem::replace(&mut self.slots[i], Slot::Free(self.free)) else {
            unreachable!("checked above")
        };
        self.free = i;
        Some(t)
    }

    /// Takes child `t` out of the slab: its slot is free from now on.
    pub(crate) fn unslot(&mut self, t: TaskPtr) -> TaskRef {
        self.take_slot(t.index())
            .expect("a held child has its slot")
    }

    /// Takes a *listed* child `t` ([`LISTED`]: waiting, or let in early
    /// with its entry not reached yet) out of the slab in O(1) (amortized): its
    /// entry stays in `waiting` and its slot is marked [`Slot::Gone`] until
    /// that entry is reached. When gone entries outnumber the live ones,
    /// `waiting` is compacted, so aborting waiting children in a loop keeps
    /// memory bounded.
    pub(crate) fn unslot_waiting(&mut self, t: TaskPtr) -> TaskRef {
        let i = t.index();
        let Slot::Held(task) = core::mem::replace(&mut self.slots[i], Slot::Gone) else {
            unreachable!("a held child has its slot")
        };
        self.gone += 1;
        if self.gone * 2 > self.waiting.len() {
            for _ in 0..self.waiting.len() {
                let w = self.waiting.pop_front().expect("counted above");
                if matches!(self.slots[w], Slot::Gone) {
                    self.free_slot(w);
                } else {
                    self.waiting.push_back(w);
                }
            }
            self.gone = 0;
        }
        task
    }

    /// Empties `waiting` (teardown: its children are dropped by the
    /// caller), freeing the slots of gone ones.
    pub(crate) fn clear_waiting(&mut self) {
        while let Some(w) = self.waiting.pop_front() {
            if matches!(self.slots[w], Slot::Gone) {
                self.free_slot(w);
            }
        }
        self.gone = 0;
    }

    /// Puts slot `i` (not held) on the free list.
    fn free_slot(&mut self, i: usize) {
        self.slots[i] = Slot::Free(self.free);
        self.free = i;
    }
}

impl Shared {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            lock: SpinLock::new(Inner {
                slots: SegVec::new(),
                free: NO_SLOT,
                ready: SegVec::new(),
                driver: None,
                waiting: VecDeque::new(),
                gone: 0,
                running: 0,
                live: 0,
                limit,
                closed: Closed::Open,
                sets: Vec::new(),
            }),
        }
    }

    /// Queues `index` and wakes the driving task if it is not already awake.
    pub(crate) fn push(&self, index: usize) {
        let driver = self.lock.with(|r| {
            r.ready.push(index);
            r.driver.take()
        });
        if let Some(w) = driver {
            w.wake();
        }
    }

    /// Wakes the driving task (its children changed from outside it).
    pub(crate) fn wake_driver(&self) {
        if let Some(w) = self.lock.with(|r| r.driver.take()) {
            w.wake();
        }
    }

    /// Swaps the queued indices into `out` (which must be empty) and
    /// registers `waker` as the driver's. Returns whether anything was queued.
    pub(crate) fn take(&self, out: &mut SegVec<usize>, waker: &Waker) -> bool {
        debug_assert!(out.is_empty());
        self.lock.with(|r| {
            core::mem::swap(&mut r.ready, out);
            match &r.driver {
                Some(w) if w.will_wake(waker) => {}
                _ => r.driver = Some(waker.clone()),
            }
        });
        !out.is_empty()
    }
}

/// The body's waker (a child's waker is its cell's header, `task.rs`).
pub(crate) struct BodyWake {
    shared: Arc<Shared>,
    /// 1 while the body sits in the ready queue (so a body woken many
    /// times between two polls is queued once).
    queued: AtomicUsize,
}

impl BodyWake {
    /// A waker for the body of the scope `shared`, marked queued: the
    /// driver queues the body's first poll itself.
    pub(crate) fn new(shared: &Arc<Shared>) -> Arc<Self> {
        shared.lock.with(|r| r.ready.push(BODY));
        Arc::new(Self {
            shared: shared.clone(),
            queued: AtomicUsize::new(1),
        })
    }

    /// Called by the driver right before a poll: a wake from now on queues
    /// the body again. A read-modify-write (not a store), so the poll sees
    /// everything a waker did before a wake that found the body queued.
    pub(crate) fn clear_queued(&self) {
        self.queued.swap(0, AcqRel);
    }
}

impl Wake for BodyWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(1, AcqRel) == 0 {
            self.shared.push(BODY);
        }
    }
}
