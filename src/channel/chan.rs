//! The algorithm core shared by every bounded channel.
//!
//! One lock (the internal [`SpinLock`], a loom mutex under `cfg(loom)`)
//! guards all of a channel's state:
//!
//! * `ring`: the preallocated slots: `cap + min(cap, SLACK)` of them (one
//!   for a rendezvous channel);
//! * `senders`: a FIFO queue of parked senders. A parked `send` keeps its
//!   value in its own waiter node, pinned inside the future; a parked
//!   `reserve` has no value;
//! * `receivers`: a FIFO queue of parked receivers;
//! * `handed`: values written into a parked receiver's node that its future
//!   has not returned yet, and `reserved`: slots held by permits or granted
//!   to parked senders (see below).
//!
//! **Capacity**: buffered values and permits share the `cap` logical
//! slots, `len + reserved <= max(cap, 1)`. A value handed to a parked
//! receiver does not take a logical slot (as in Go: while receivers are
//! being woken with their values, `cap` more can be buffered, so a
//! `cap == 1` pipeline parks each side once per two messages), but each
//! still takes a *physical* slot of the ring:
//! `len + handed + reserved <= ring size` (hand-offs stop when the slack
//! is used up). That is what makes a dropped receiver's value always fit
//! back into the ring — at the front, possibly over `cap` (the only way
//! `len` exceeds `cap`).
//! A rendezvous channel keeps one slot for everything, as before:
//! `len + handed + reserved <= 1`.
//!
//! **Direct hand-off** (as in Go channels): a sender that finds a parked
//! receiver (the ring is then empty) writes its value straight into that
//! receiver's node, unlinks it and wakes it.
//!
//! **Woken senders** (`cap > 0`): a parked sender's value is never taken
//! from it. A slot that frees (a receive, a dropped permit or sender, a
//! receiver's value put back...) *wakes* the sender at the head of the
//! queue ([`State::pump`]): it moves to the woken list `awake` (by its
//! arrival ticket), marked `Woken` and counted in `woken` (a slot is woken
//! for at most once: `pump` serves only while `room > woken`). On its
//! next poll it leaves that list and places its value if a slot is still
//! free ([`State::has_room`]: to a parked receiver if one waits, else into
//! the ring) and returns `Ready(Ok)`; if another sender took it, it is
//! queued again with a fresh waker, by its ticket: behind the senders
//! that parked before it (only others that lost can be there) and ahead
//! of all later ones ([`State::requeue_sender`]), so the queue stays FIFO.
//! Waking instead of granting lets running senders keep the ring full
//! while woken ones wait to be scheduled (granting every slot to a task
//! that is not running made 64 producers on a 64-slot channel suspend on
//! 4 sends in 10 and starve the receivers).
//!
//! **The bypass bounds**, two, both count-based. A woken sender that finds
//! its slot taken counts a *loss* (`lost` in its node); once it has lost
//! `MAX_BYPASS` times, the next free slot is *granted* to it instead of
//! woken for (as a parked `reserve` gets its permit: unlinked, marked
//! `Done`, the slot counted in `reserved`), so no sender is woken for
//! nothing more than `MAX_BYPASS` times. And the *eldest* waiting sender —
//! the older of the two lists' fronts, both in ticket order — is *passed*
//! whenever another sender takes a slot (or a parked receiver) while it
//! waits: a newcomer (a sender that never waited, which may take any free
//! slot), a younger woken `send` that runs first, a younger `reserve`
//! granted a slot ([`State::took_slot`]; a permit's `send` had its slot
//! already). After `MAX_BYPASS × slots - 1` passes ([`State::owed`],
//! `waiter::max_passes`) it is granted the next free slot, at once if one
//! is free, woken if it was not, even if its task has not run since it was
//! woken; a granted `send` places its value on its next poll
//! ([`State::fill`]). Until then no other sender takes a slot: newcomers
//! find the channel full and younger woken senders queue again (they may
//! not take a parked receiver either; the eldest is woken for it). So the
//! longest-waiting sender is passed fewer than `MAX_BYPASS` times per slot
//! of capacity: the ring turns over fewer than `MAX_BYPASS` times before it
//! has a slot (with one slot, the mutex's bound for its longest waiter). A
//! fixed count instead (eight passes at any capacity, tried in the
//! twentieth session) kept granting slots to tasks still waiting to be
//! scheduled: with 64 senders on 64 slots, woken senders finish in the
//! order their tasks run, so eight passes come within microseconds, and the
//! granted slots piled up (6× the suspensions at 128 tasks). Dropped before
//! that poll, a woken or granted sender gives its wake-up or slot back
//! (which serves the next parked sender) and its value is dropped with it:
//! **a buffered `send` dropped before it returned `Ready` never sent**
//! (tokio's `select!` promise). A receiver that finds the ring
//! empty parks, even if senders are parked or woken (the next slot freed
//! goes to them). A woken receiver has always been *served* already
//! (handed its value) and never queues again. Wakers are collected under
//! the lock and woken (and dropped) after it is released; a parking
//! waiter's waker is *cloned* under the lock (a reference-count increment
//! in every runtime), so that deciding to wait and queueing are one
//! critical section.
//!
//! **Many slots at once** (`reserve_many(n)`, `n <= max(cap, 1)`): a
//! newcomer takes `n` free slots or none. A parked one (`Node::want`) is
//! granted all `n` together, at the head of the line or as the owed
//! eldest, once `n` slots are free beyond those woken for; until then
//! nobody behind it is served (FIFO, as tokio's semaphore), though
//! newcomers may still take free slots. Taking `n` slots counts `n`
//! passes against the eldest ([`State::took_slots`]), and a reservation
//! that would take the eldest past `max_passes` waits
//! ([`State::may_pass`]) — so the bound stays exact. Dropped after the
//! grant, it gives all `n` back; its `PermitIterator` frees the slots it
//! still holds when dropped.
//!
//! **Rendezvous** (`cap == 0`) is the same machine with one rule more: a
//! sender is served only by a receiver — handed to a parked one, or taken by
//! one from the sender queue — never into the ring; here a receiver
//! necessarily *takes* the parked sender's value (there is no slot to
//! grant), and the send is complete from that moment: a rendezvous `send`
//! dropped after a receiver took its value *did* send (only its `Ok` is
//! lost). The one slot is used by at most one hand-off in flight, one
//! permit, or one value that came back from a dropped receiver (see below).
//! `try_send` succeeds exactly when a receiver is parked (and the slot is
//! free): the value goes to the longest-waiting receiver. `reserve`
//! completes once a receiver is parked.
//!
//! **Cancellation**: a receiver dropped after a value was handed to it
//! passes the value to the next parked receiver, or puts it back at the
//! *front* of the ring (order kept; the slot it occupied is still counted,
//! so it fits). A send dropped while parked, or (buffered) woken or
//! granted but not polled again, takes its value with it and did not send;
//! its wake-up or granted slot passes on. Only a rendezvous send dropped after a receiver took its
//! value did send. A reserve dropped after it was granted gives its slot
//! back (which serves the next parked sender).
//!
//! **One lock round-trip per poll**: an operation that does not wait takes
//! the lock once; one that must wait queues itself in that same critical
//! section; polling a queued (or woken) waiter takes it once more.
//!
//! The state behind the lock and its non-waiting operations live in
//! `state.rs`, the intrusive waiter list in `waiter.rs`; this file holds the
//! polling, parking and cancellation around them.
//!
//! **Close** marks the state closed and empties both queues (status
//! `Closed`): parked senders find their values still in their nodes and
//! fail with them; parked receivers look at the ring once more (a dropped
//! receiver may have put a value back) and then report the close. A send
//! granted a slot before the close fails with its value on its next poll
//! (its slot is freed), like a permit's `send`. Values in the ring and
//! handed values are still received. A receiver reports the close only
//! once the channel is *drained*: the ring empty and no value handed to a
//! receiver whose future has not returned it (dropped, that future passes
//! the value on or puts it back). Until then it parks (again); the receive
//! that returns the last handed value wakes the parked ones (`close`
//! once more) to see the close.
//!
//! **Permits holding every slot**: a newcomer may still hand its value to
//! a parked receiver (no logical slot needed), but only while no sender
//! is queued or woken; otherwise the head parked `send` is woken for that
//! receiver (one such wake-up at a time, never a grant) and no newcomer
//! can take it. A permit's `send` still hands its value to that receiver
//! (it has a slot of its own); a newcomer taking the slot it frees passes
//! the woken sender (past the bound, the slot is granted to it). A parked
//! `reserve` still waits for a slot.
//!
//! **Panics in foreign code**: a waker's `clone` (under the lock) runs
//! only before the state is changed or once it is consistent again, and a
//! waiter's `linked` flag is set in the critical section that links or
//! unlinks it, so a `wake` that panics after the lock is released leaves
//! the flag and the queues in step.

use alloc::boxed::Box;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::TrySendError;
use super::state::{Ring, State, Wakes};
use super::waiter::{List, Node, Status, Wait, max_passes};
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::wait::{CachePadded, OnUnwind, RawSemaphore, SpinLock};

/// Extra ring slots (at most; `min(cap, SLACK)`) for values handed to
/// parked receivers, which do not count against the capacity: a receiver
/// dropped while holding one puts it back into the ring, and it must fit.
const SLACK: usize = 64;

/// The largest capacity [`Chan::new`] accepts.
const MAX_CAP: usize = usize::MAX >> 3;

/// The shared state behind every `Sender`/`Receiver` of one channel.
#[derive(Debug)]
pub(crate) struct Chan<T> {
    /// On cache lines of its own: the fields below are read on every
    /// operation and written (almost) never.
    state: CachePadded<SpinLock<State<T>>>,
    cap: usize,
    /// Mirrors `State::closed` for lock-free `is_closed`.
    closed: AtomicUsize,
    /// Closes after `closed` is set: what `Sender::closed` waits on.
    pub(crate) closed_event: RawSemaphore,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Self {
        assert!(
            cap <= MAX_CAP,
            "a channel holds at most {MAX_CAP} values, {cap} were requested"
        );
        Self {
            state: CachePadded(SpinLock::new(State {
                ring: Ring {
                    buf: Box::new_uninit_slice(if cap == 0 { 1 } else { cap + cap.min(SLACK) }),
                    head: 0,
                    len: 0,
                },
                handed: 0,
                reserved: 0,
                slots: cap.max(1),
                closed: false,
                woken: 0,
                tickets: 0,
                senders: List::new(),
                awake: List::new(),
                receivers: List::new(),
                passed: 0,
                eldest: 0,
                max_passes: max_passes(cap.max(1)),
            })),
            cap,
            closed: AtomicUsize::new(0),
            closed_event: RawSemaphore::new(0),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    #[inline]
    fn rendezvous(&self) -> bool {
        self.cap == 0
    }

    /// Values in the ring (not counting values already handed to a
    /// receiver whose future has not returned them yet).
    pub(crate) fn len(&self) -> usize {
        self.state.with(|st| st.ring.len)
    }

    /// Whether a `try_send` would find no room now (closing aside).
    pub(crate) fn is_full(&self) -> bool {
        let rendezvous = self.rendezvous();
        self.state.with(|st| !st.can_send(rendezvous))
    }

    /// Closed, and no value left to receive: none in the ring, none handed
    /// to a receiver whose future has not returned it (it may come back).
    pub(crate) fn is_drained(&self) -> bool {
        self.is_closed() && self.state.with(|st| st.ring.len == 0 && st.handed == 0)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) != 0
    }

    /// Runs `f` under the lock, then serves parked senders if a slot came
    /// free; wakes what was collected once the lock is released.
    #[inline]
    fn run<R>(&self, f: impl FnOnce(&mut State<T>, &mut Wakes) -> R) -> R {
        let rendezvous = self.rendezvous();
        let (out, more) = {
            // Woken when dropped at the end of this block, lock released
            // (dropped in place: never moved, so never copied).
            let mut wakes = Wakes::new();
            self.state.with(|st| {
                let out = f(st, &mut wakes);
                let more = st.pump(rendezvous, &mut wakes);
                (out, more)
            })
        };
        if more {
            self.pump_more();
        }
        out
    }

    #[cold]
    fn pump_more(&self) {
        let rendezvous = self.rendezvous();
        loop {
            let mut wakes = Wakes::new();
            let more = self.state.with(|st| st.pump(rendezvous, &mut wakes));
            wakes.wake_all();
            if !more {
                return;
            }
        }
    }

    /// A first poll: `attempt` runs under the lock and either completes
    /// (`Ok`) or says the caller must wait (`Err`, with the value a parked
    /// sender keeps in its node). Then, in the same critical section,
    /// `wait` (unlinked, owned by the caller) is queued with that value (a
    /// sender: waiting for `want` slots) and a clone of the caller's waker.
    #[inline]
    fn attempt_or_park<R>(
        &self,
        mut wait: Pin<&mut Wait<T>>,
        cx: &mut Context<'_>,
        (receiver, want): (bool, u32),
        attempt: impl FnOnce(&mut State<T>, &mut Wakes) -> Result<R, Option<T>>,
    ) -> Poll<R> {
        let ptr = wait.as_mut().ptr();
        let res = self.run(|st, wakes| match attempt(st, wakes) {
            Ok(r) => Some(r),
            Err(value) => {
                // SAFETY: the caller owns `wait` exclusively (unlinked) and
                // it is pinned; it is unlinked by the channel or by its
                // owner's cancel before it is dropped. Lock held.
                unsafe { st.park(ptr, value, cx.waker().clone(), receiver, want) };
                wait.set_linked(true);
                None
            }
        });
        match res {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }

    /// Polls a linked waiter: `Pending` while it is still queued (its
    /// waker refreshed if the task's changed; the old one is dropped after
    /// the lock); once it left the queue, `exit` runs under the lock on its
    /// node and the waiter is unlinked for good — unless `exit` returns
    /// `Pending` (a woken sender whose slot was taken, status set back to
    /// `Queued`): then it goes back into the sender queue, in arrival order.
    fn poll_linked<R>(
        &self,
        mut wait: Pin<&mut Wait<T>>,
        cx: &mut Context<'_>,
        receiver: bool,
        exit: impl FnOnce(&mut State<T>, &mut Node<T>, &mut Wakes) -> Poll<R>,
    ) -> Poll<R> {
        let ptr = wait.as_mut().ptr();
        let res = self.run(|st, wakes| {
            // SAFETY: `wait` is alive and pinned (we hold it); the lock is
            // held, and `exit` reaches other nodes only. A woken sender is
            // in the woken list: it leaves it whatever `exit` decides.
            let res = unsafe {
                if !receiver && Wait::with(ptr, |n| n.status) == Status::Woken {
                    st.awake.remove(ptr);
                }
                Wait::with(ptr, |n| {
                    if n.status != Status::Queued {
                        let r = exit(st, n, wakes);
                        debug_assert!(
                            r.is_pending() || (n.value.is_none() && n.waker.is_none()),
                            "left empty"
                        );
                        return Some(r);
                    }
                    if !n.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        wakes.stale = n.waker.replace(cx.waker().clone());
                    }
                    None
                })
            };
            match res {
                Some(Poll::Pending) => {
                    // Queued first, waker cloned last: a clone that panics
                    // leaves a consistent queue (this waiter then just
                    // wakes nobody).
                    // SAFETY: lock held; the node is ours, unlinked and
                    // re-initialized as queued just above; `with` not nested.
                    unsafe {
                        if receiver {
                            st.receivers.push_front(ptr);
                        } else {
                            st.requeue_sender(ptr);
                        }
                        Wait::with(ptr, |n| n.waker = Some(cx.waker().clone()));
                    }
                }
                Some(Poll::Ready(_)) => wait.set_linked(false),
                None => {}
            }
            res
        });
        match res {
            Some(Poll::Ready(r)) => Poll::Ready(r),
            _ => Poll::Pending,
        }
    }

    /// Unlinks a waiter that is being dropped (or aborted): `exit` runs on
    /// its node under the lock if it already left the queue; the result is
    /// dropped after the lock is released.
    #[inline]
    fn cancel<R>(
        &self,
        wait: Pin<&mut Wait<T>>,
        receiver: bool,
        exit: impl FnOnce(&mut State<T>, &mut Node<T>, &mut Wakes) -> R,
    ) -> Option<R> {
        // Most futures are dropped after they completed: decide inline.
        if !wait.is_linked() {
            return None;
        }
        self.cancel_linked(wait, receiver, exit)
    }

    fn cancel_linked<R>(
        &self,
        mut wait: Pin<&mut Wait<T>>,
        receiver: bool,
        exit: impl FnOnce(&mut State<T>, &mut Node<T>, &mut Wakes) -> R,
    ) -> Option<R> {
        let ptr = wait.as_mut().ptr();
        let out = self.run(|st, wakes| {
            wait.set_linked(false);
            // SAFETY: `wait` is alive and pinned; the lock is held; a
            // `Queued` node is linked in the queue its role names.
            unsafe {
                if Wait::with(ptr, |n| n.status) == Status::Queued {
                    if receiver {
                        st.receivers.remove(ptr);
                    } else {
                        st.senders.remove(ptr);
                    }
                    Wait::with(ptr, |n| {
                        n.status = Status::Closed;
                        wakes.stale = n.waker.take();
                        (None, n.value.take())
                    })
                } else {
                    if Wait::with(ptr, |n| n.status) == Status::Woken {
                        st.awake.remove(ptr);
                    }
                    Wait::with(ptr, |n| {
                        let r = exit(st, n, wakes);
                        debug_assert!(n.waker.is_none(), "taken by whoever unlinked it");
                        (Some(r), n.value.take())
                    })
                }
            }
        });
        // The waiter's own value, if it still had one, is dropped here.
        drop(out.1);
        out.0
    }

    // ------------------------------------------------------------ senders

    /// Sends `value` if that needs no waiting: `Ok`, or the value back in
    /// `Full` / `Closed`.
    #[inline]
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let rendezvous = self.rendezvous();
        self.run(|st, wakes| {
            if st.closed {
                Err(TrySendError::Closed(value))
            } else if st.can_send(rendezvous) {
                st.deliver(value, wakes);
                st.took_slot(st.tickets);
                Ok(())
            } else {
                Err(TrySendError::Full(value))
            }
        })
    }

    /// The `Send` future's poll. `value` is the future's value until it
    /// parks (then it waits in the node). `Err` hands it back: closed.
    #[inline]
    pub(crate) fn poll_send(
        &self,
        wait: Pin<&mut Wait<T>>,
        value: &mut Option<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), T>> {
        if wait.is_linked() {
            return self.poll_linked(wait, cx, false, |st, n, wakes| match n.status {
                Status::Closed => {
                    Poll::Ready(Err(n.value.take().expect("a closed send keeps its value")))
                }
                Status::Woken => {
                    st.woken -= 1;
                    if st.closed {
                        Poll::Ready(Err(n.value.take().expect("a woken send keeps its value")))
                    } else if st.has_room(false) && !st.owed() {
                        st.deliver(n.value.take().expect("a woken send keeps its value"), wakes);
                        st.took_slot(n.ticket);
                        Poll::Ready(Ok(()))
                    } else {
                        // A newcomer or another woken sender took the
                        // slot, or an older sender is owed the next one.
                        n.status = Status::Queued;
                        n.lost += 1;
                        Poll::Pending
                    }
                }
                // Granted a slot (buffered channel): place the value now.
                _ => Poll::Ready(match n.value.take() {
                    Some(v) => st.fill(v, wakes),
                    // Rendezvous: a receiver took the value.
                    None => Ok(()),
                }),
            });
        }
        let v = value.take().expect("`Send` polled after completion");
        let rendezvous = self.rendezvous();
        self.attempt_or_park(wait, cx, (false, 1), |st, wakes| {
            if st.closed {
                Ok(Err(v))
            } else if st.can_send(rendezvous) {
                st.deliver(v, wakes);
                st.took_slot(st.tickets);
                Ok(Ok(()))
            } else {
                Err(Some(v))
            }
        })
    }

    /// A `Send` future is dropped: its value, if still in its node, leaves
    /// with it (dropped by `cancel` after the lock); a slot it was granted
    /// is given back (which serves the next parked sender). Only a
    /// rendezvous send whose value a receiver took did send.
    #[inline]
    pub(crate) fn cancel_send(&self, wait: Pin<&mut Wait<T>>) {
        self.cancel(wait, false, |st, n, _| match n.status {
            // The slot it was woken for is free for the next one (`run`
            // pumps after this).
            Status::Woken => st.woken -= 1,
            Status::Done if n.value.is_some() => st.reserved -= 1,
            _ => {}
        });
    }

    /// The reserve core behind `Reserve`, `ReserveMany`, `ReserveOwned`
    /// and `PollSender`: `Ok` once `n` slots are held (`n <= slots` and
    /// `n <= u32::MAX`, checked by the caller; rendezvous: `n <= 1` and a
    /// receiver is parked; `n == 0` at once), `Err` once closed.
    #[inline]
    pub(crate) fn poll_reserve(
        &self,
        wait: Pin<&mut Wait<T>>,
        cx: &mut Context<'_>,
        n: usize,
    ) -> Poll<Result<(), ()>> {
        if wait.is_linked() {
            return self.poll_linked(wait, cx, false, |_, n, _| {
                Poll::Ready(match n.status {
                    Status::Closed => Err(()),
                    _ => Ok(()),
                })
            });
        }
        let want = u32::try_from(n).expect("`reserve_many` checks `n <= u32::MAX`");
        self.attempt_or_park(wait, cx, (false, want), |st, _| {
            match self.reserve_now(st, n) {
                Err(TrySendError::Full(())) => Err(None),
                res => Ok(res.map_err(|_| ())),
            }
        })
    }

    /// A reserve wait is dropped: the slots it was granted pass on.
    #[inline]
    pub(crate) fn cancel_reserve(&self, wait: Pin<&mut Wait<T>>) {
        self.cancel(wait, false, |st, n, _| {
            if n.status == Status::Done {
                st.reserved -= n.want as usize;
            }
        });
    }

    /// Takes `n` slots without waiting (`n <= slots`, checked by the
    /// caller; rendezvous: only while a receiver is parked).
    pub(crate) fn try_reserve(&self, n: usize) -> Result<(), TrySendError<()>> {
        self.run(|st, _| self.reserve_now(st, n))
    }

    /// [`try_reserve`](Self::try_reserve) under the lock.
    #[inline]
    fn reserve_now(&self, st: &mut State<T>, n: usize) -> Result<(), TrySendError<()>> {
        if st.closed {
            Err(TrySendError::Closed(()))
        } else if n == 0 {
            Ok(())
        } else if st.can_reserve(self.rendezvous(), n) {
            st.reserved += n;
            st.took_slots(st.tickets, n);
            Ok(())
        } else {
            Err(TrySendError::Full(()))
        }
    }

    /// Fills a permit's slot; on `Err` (closed) the slot is freed.
    pub(crate) fn send_reserved(&self, value: T) -> Result<(), T> {
        self.run(|st, wakes| st.fill(value, wakes))
    }

    /// Frees `n` permits' slots (serving the next parked senders).
    pub(crate) fn release_reserved(&self, n: usize) {
        self.run(|st, _| st.reserved -= n);
    }

    // ------------------------------------------------------------ receivers

    /// A non-waiting receive: `Ok(None)` when empty, `Err(())` when closed
    /// and drained.
    #[inline]
    pub(crate) fn try_recv(&self) -> Result<Option<T>, ()> {
        let rendezvous = self.rendezvous();
        self.run(|st, wakes| match st.take(rendezvous, wakes) {
            Some(v) => Ok(Some(v)),
            None if st.closed && st.handed == 0 => Err(()),
            None => Ok(None),
        })
    }

    /// The receive core behind `Recv` and the `Stream`: `Some` value, or
    /// `None` once closed and drained.
    #[inline]
    pub(crate) fn poll_recv(
        &self,
        wait: Pin<&mut Wait<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        let rendezvous = self.rendezvous();
        if wait.is_linked() {
            let mut drained = false;
            let res = self.poll_linked(wait, cx, true, |st, n, wakes| match n.status {
                Status::Closed => match st.take(rendezvous, wakes) {
                    Some(v) => Poll::Ready(Some(v)),
                    None if st.handed == 0 => Poll::Ready(None),
                    // A value handed to another receiver may come back.
                    None => {
                        n.status = Status::Queued;
                        Poll::Pending
                    }
                },
                _ => {
                    st.handed -= 1;
                    // The last value in flight after a close: receivers
                    // parked for it learn the channel is drained.
                    drained = st.closed && st.handed == 0 && !st.receivers.is_empty();
                    Poll::Ready(Some(
                        n.value.take().expect("a served receiver holds a value"),
                    ))
                }
            });
            if drained {
                self.close();
            }
            return res;
        }
        self.attempt_or_park(wait, cx, (true, 1), |st, wakes| {
            match st.take(rendezvous, wakes) {
                Some(v) => Ok(Some(v)),
                None if st.closed && st.handed == 0 => Ok(None),
                // Empty, or closed with a value still handed to another
                // receiver (a dropped one passes it on, or back).
                None => Err(None),
            }
        })
    }

    /// A receive wait is dropped: a value it was handed passes on.
    #[inline]
    pub(crate) fn cancel_recv(&self, wait: Pin<&mut Wait<T>>) {
        self.cancel(wait, true, |st, n, wakes| {
            if n.status == Status::Done {
                let v = n.value.take().expect("a served receiver holds a value");
                st.pass_on(v, wakes);
            }
        });
    }

    // ------------------------------------------------------------ close

    /// Closes the channel: later sends fail, parked senders get their
    /// values back, receivers drain what is left and then see the close.
    /// Returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        // Runs when this returns, and also should a `wake` below panic:
        // `closed` is set by then, the event fires after it.
        let _event = OnUnwind::new(|| self.closed_event.close());
        let mut first = None;
        loop {
            let mut wakes = Wakes::new();
            let more = self.state.with(|st| {
                if first.is_none() {
                    first = Some(!st.closed);
                    st.closed = true;
                    self.closed.store(1, Ordering::Release);
                }
                while wakes.room() > 0 {
                    // SAFETY: lock held; a popped node is alive (its owner
                    // unlinks it before dropping it, under this lock).
                    let w = unsafe {
                        match st.senders.pop_front() {
                            Some(w) => w,
                            None => match st.receivers.pop_front() {
                                Some(w) => w,
                                None => return false,
                            },
                        }
                    };
                    // SAFETY: as above; `with` not nested.
                    unsafe {
                        Wait::with(w, |n| {
                            n.status = Status::Closed;
                            wakes.push(n.waker.take());
                        });
                    }
                }
                true
            });
            if more {
                // Should a `wake` panic, the waiters left are still closed.
                let finish = OnUnwind::new(|| {
                    self.close();
                });
                wakes.wake_all();
                finish.disarm();
            } else {
                wakes.wake_all();
                return first == Some(true);
            }
        }
    }
}
