//! The waiting half of an acquire: the node a future pins, its poll and
//! its cancel.

use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker, ready};

use super::super::list::{List, Waiter};
use super::{
    CLOSED, Closed, HANDOFF, MAX_PERMITS, ONE, RawSemaphore, SHIFT, TryFail, WAITERS,
    steal_from_head,
};

/// Where an [`Acquire`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not queued yet: the node is uninitialized.
    Idle,
    /// Linked (or handed its permits / closed but not yet polled).
    Queued,
    /// Finished without ever queueing.
    Done,
    /// Finished after queueing: the node is initialized and unlinked.
    Left,
}

/// The waiting half of an acquire, pinned inside a public future.
///
/// The owner must call [`Acquire::cancel`] from its destructor: it unlinks a
/// queued waiter and returns any permits it was handed but never reported.
#[derive(Debug)]
pub(crate) struct Acquire {
    waiter: Waiter,
    n: usize,
    stage: Stage,
    /// Queue at the head (see [`Acquire::front`]).
    front: bool,
    /// Fast path guesses that all permits are free (see
    /// [`RawSemaphore::try_acquire_exact`]).
    exact: bool,
    /// Whether and how long a newcomer spins before it queues.
    spin: Spin,
}

/// How an [`Acquire`] spins before it queues (see
/// [`RawSemaphore::try_acquire_spinning`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spin {
    /// Not at all: nobody is about to free a permit (a cancel event has
    /// none until it closes), and a spin that fails shrinks every lock's
    /// window.
    #[cfg_attr(
        not(all(feature = "alloc", target_has_atomic = "ptr")),
        allow(dead_code, reason = "only a cancel token waits on an event")
    )]
    Never,
    /// Only while nobody is queued: permits released with waiters queued
    /// are theirs.
    Unqueued,
    /// As `Unqueued`, claiming the permits meanwhile (an `RwLock` write;
    /// see `watch.rs` on `CLAIM`).
    Claiming,
    /// Past queued waiters too: a mutex's permit freed by
    /// [`RawSemaphore::unlock_one`] goes to whoever takes it first.
    Barging,
}

impl Acquire {
    /// A FIFO request for `n` permits.
    #[inline]
    pub(crate) fn fifo(n: usize) -> Self {
        assert!(
            n <= MAX_PERMITS,
            "cannot acquire {n} permits: the maximum is {MAX_PERMITS}"
        );
        Self {
            waiter: Waiter::new(),
            n,
            stage: Stage::Idle,
            front: false,
            exact: false,
            spin: Spin::Unqueued,
        }
    }

    /// A FIFO request that usually takes every permit (a lock). Its spin
    /// claims them (an `RwLock` write; [`Acquire::mutex`] spins otherwise).
    #[inline]
    pub(crate) fn exact(n: usize) -> Self {
        let mut this = Self::fifo(n);
        this.exact = true;
        this.spin = Spin::Claiming;
        this
    }

    /// A mutex lock (released with [`RawSemaphore::unlock_one`]).
    #[inline]
    pub(crate) fn mutex() -> Self {
        let mut this = Self::exact(1);
        this.spin = Spin::Barging;
        this
    }

    /// A wait for an event that closes the semaphore and never frees a
    /// permit (a cancel token, a channel's close): it queues without
    /// spinning.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    #[inline]
    pub(crate) fn event() -> Self {
        let mut this = Self::fifo(1);
        this.spin = Spin::Never;
        this
    }

    /// A priority request: it queues at the head and takes over permits
    /// already handed to the old head. Only for a holder that must not
    /// wait behind others who in turn wait for it (an `RwLock` upgrade).
    pub(crate) fn front(n: usize) -> Self {
        let mut this = Self::fifo(n);
        this.front = true;
        this
    }

    fn node(self: Pin<&mut Self>) -> (NonNull<Waiter>, &mut Stage, usize, bool) {
        // SAFETY: nothing is moved out; the waiter stays pinned in place.
        let this = unsafe { self.get_unchecked_mut() };
        (
            NonNull::from(&this.waiter),
            &mut this.stage,
            this.n,
            this.front,
        )
    }

    /// Polls for the permits. On `Ready(Ok)` they belong to the caller.
    #[inline]
    pub(crate) fn poll_acquire(
        mut self: Pin<&mut Self>,
        sem: &RawSemaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        // The fast path, kept small enough to inline: one CAS, no waiter.
        if self.stage == Stage::Idle {
            let res = if self.exact {
                sem.try_acquire_exact(self.n)
            } else {
                sem.try_acquire(self.n)
            };
            if let res @ (Ok(()) | Err(TryFail::Closed)) = res {
                // SAFETY: only a plain field is written; nothing moves.
                unsafe { self.as_mut().get_unchecked_mut().stage = Stage::Done };
                return Poll::Ready(res.map_err(|_| Closed));
            }
        }
        // Only the waker goes out of line: the `Context` itself need not
        // be in memory on the fast path.
        self.poll_slow(sem, cx.waker())
    }

    #[inline(never)]
    fn poll_slow(
        self: Pin<&mut Self>,
        sem: &RawSemaphore,
        task: &Waker,
    ) -> Poll<Result<(), Closed>> {
        let stop = match self.spin {
            Spin::Never => None,
            Spin::Unqueued | Spin::Claiming => Some(WAITERS | HANDOFF | CLOSED),
            Spin::Barging => Some(HANDOFF | CLOSED),
        };
        let claim = self.spin == Spin::Claiming;
        let (w, stage, n, front) = self.node();
        match *stage {
            Stage::Done | Stage::Left => panic!("acquire future polled after completion"),
            Stage::Idle => match sem.try_acquire_spinning(n, stop, claim) {
                Ok(()) => {
                    *stage = Stage::Done;
                    Poll::Ready(Ok(()))
                }
                Err(TryFail::Closed) => {
                    *stage = Stage::Done;
                    Poll::Ready(Err(Closed))
                }
                Err(TryFail::NoPermits) => {
                    let mut waker = Some(task.clone());
                    let locked = sem.lock();
                    let mut out = Poll::Pending;
                    sem.with_list(locked, |list, s| {
                        if s & CLOSED != 0 {
                            out = Poll::Ready(Err(Closed));
                            return s;
                        }
                        // Free permits kept for the head are not ours.
                        let free = if s & HANDOFF != 0 { 0 } else { s >> SHIFT };
                        if free >= n {
                            out = Poll::Ready(Ok(()));
                            return s - n * ONE;
                        }
                        let stolen = if front {
                            // SAFETY: lock held.
                            unsafe { steal_from_head(list, n - free) }
                        } else {
                            0
                        };
                        if free + stolen < n {
                            // SAFETY: lock held; `w` is pinned inside `self`,
                            // not linked, and `cancel` unlinks it before it
                            // can be dropped.
                            unsafe {
                                Waiter::init(w, n - free - stolen, n, waker.take());
                                if front {
                                    list.push_front(w);
                                } else {
                                    list.push_back(w);
                                }
                            }
                        } else {
                            out = Poll::Ready(Ok(()));
                        }
                        // The free permits are ours (the waiter holds them).
                        s - free * ONE
                    });
                    *stage = if out.is_pending() {
                        Stage::Queued
                    } else {
                        Stage::Done
                    };
                    out
                }
            },
            Stage::Queued => {
                // SAFETY: `w` is our own waiter, alive while we are, and
                // initialized when it queued.
                if !unsafe { w.as_ref().has_left() } {
                    let taken = ready!(sem.poll_queued(w, task));
                    if taken {
                        *stage = Stage::Left;
                        return Poll::Ready(Ok(()));
                    }
                }
                // Granted or closed: the node is ours again (`has_left`, or
                // the lock in `poll_queued`, orders the granter's writes).
                // SAFETY: unlinked and not reached by anyone else.
                let (needed, wanted) = unsafe { Waiter::with(w, |n| (n.needed, n.wanted)) };
                *stage = Stage::Left;
                if needed == 0 {
                    Poll::Ready(Ok(()))
                } else {
                    sem.release(wanted - needed);
                    Poll::Ready(Err(Closed))
                }
            }
        }
    }

    /// Abandons the wait: unlinks the waiter and gives back every permit it
    /// was handed. Idempotent; a no-op unless queued.
    #[inline]
    pub(crate) fn cancel(self: Pin<&mut Self>, sem: &RawSemaphore) {
        if self.stage == Stage::Queued {
            self.cancel_slow(sem);
        }
    }

    #[inline(never)]
    fn cancel_slow(self: Pin<&mut Self>, sem: &RawSemaphore) {
        let (w, stage, _, _) = self.node();
        *stage = Stage::Left;
        // SAFETY: `w` is our own waiter, alive while we are, and
        // initialized when it queued.
        if unsafe { w.as_ref().has_left() } {
            // Granted or closed: the node is ours again, no lock needed.
            // SAFETY: unlinked, and its writer's `leave` was acquired.
            let held = unsafe { Waiter::with(w, |node| node.wanted - node.needed) };
            sem.release(held);
            return;
        }
        let locked = sem.lock();
        let mut held = 0;
        let mut pass_on = None;
        sem.with_list(locked, |list, cur| {
            // SAFETY: lock held; `w` is ours, and linked in `list` if linked;
            // the new head is linked.
            unsafe {
                held = Waiter::with(w, |node| node.wanted - node.needed);
                if List::is_linked(w) {
                    let was_head = list.front() == Some(w);
                    list.remove(w);
                    // Only under `unlock_one`: a permit freed for us is still
                    // free; the new head must hear of it. Inheriting a free
                    // lock counts as one bypass, which keeps the bound exact.
                    if cur >> SHIFT > 0 {
                        if let Some(head) = list.front() {
                            pass_on = Waiter::with(head, |node| {
                                node.bypassed += usize::from(was_head);
                                node.waker.take()
                            });
                        }
                    }
                }
            }
            cur
        });
        if let Some(waker) = pass_on {
            waker.wake();
        }
        if held > 0 {
            sem.release(held);
        }
    }
}

impl Drop for Acquire {
    #[inline]
    fn drop(&mut self) {
        debug_assert!(
            self.stage != Stage::Queued,
            "the owner must cancel a queued waiter"
        );
        if self.stage == Stage::Left {
            // SAFETY: `Left` means the node was initialized and is unlinked;
            // nobody else can reach it any more.
            unsafe { Waiter::drop_node(NonNull::from(&self.waiter)) };
        }
    }
}

impl RawSemaphore {
    /// Polls the queued waiter `w` under the lock: `Ready(true)` if it
    /// took a permit freed by `unlock_one` (it stood at the head),
    /// `Ready(false)` if it has left the list meanwhile (granted or
    /// closed), `Pending` (its waker refreshed) otherwise.
    ///
    /// A new waker is cloned *outside* the lock (a clone is user code and
    /// may panic, which must not leave the lock bit set): a poll that finds
    /// the task's waker changed clones it and looks again.
    fn poll_queued(&self, w: NonNull<Waiter>, task: &Waker) -> Poll<bool> {
        let mut fresh = None;
        loop {
            let locked = self.lock();
            let mut out = Poll::Pending;
            let mut stale = None;
            let mut clone = false;
            self.with_list(locked, |list, s| {
                // SAFETY: lock held; `w` is the caller's and alive, and
                // linked in `list` if linked at all.
                unsafe {
                    if !List::is_linked(w) {
                        out = Poll::Ready(false);
                        return s;
                    }
                    let needed = Waiter::with(w, |node| node.needed);
                    if list.front() == Some(w) && s >> SHIFT >= needed {
                        // Only under `unlock_one`: a permit was freed for us
                        // (or a newcomer); take it.
                        list.remove(w);
                        out = Poll::Ready(true);
                        return s - needed * ONE;
                    }
                    Waiter::with(w, |node| match &mut node.waker {
                        Some(old) if old.will_wake(task) => {}
                        slot => match fresh.take() {
                            Some(new) => stale = slot.replace(new),
                            None => clone = true,
                        },
                    });
                }
                s
            });
            drop(stale);
            if !clone {
                drop(fresh);
                return out;
            }
            fresh = Some(task.clone());
        }
    }
}
