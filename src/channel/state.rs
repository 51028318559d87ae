//! What the channel lock guards: the ring, the two wait queues and the
//! slot accounting, with the operations on them that never wait (see the
//! module docs of `chan.rs` for the design).

use alloc::boxed::Box;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::task::Waker;

use super::waiter::{List, MAX_LOSSES, Status, Wait};
use crate::wait::WakeBatch;

/// The slots: values `head .. head + len` (wrapping).
#[derive(Debug)]
pub(super) struct Ring<T> {
    pub(super) buf: Box<[MaybeUninit<T>]>,
    pub(super) head: usize,
    pub(super) len: usize,
}

impl<T> Ring<T> {
    #[inline]
    pub(super) fn push_back(&mut self, value: T) {
        debug_assert!(self.len < self.buf.len(), "the slot count guarantees room");
        let mut i = self.head + self.len;
        if i >= self.buf.len() {
            i -= self.buf.len();
        }
        // SAFETY: `i < buf.len()`: `head < buf.len()` and `len < buf.len()`,
        // so `head + len < 2 * buf.len()`, reduced once above.
        unsafe { self.buf.get_unchecked_mut(i) }.write(value);
        self.len += 1;
    }

    pub(super) fn push_front(&mut self, value: T) {
        debug_assert!(self.len < self.buf.len(), "the slot count guarantees room");
        self.head = if self.head == 0 {
            self.buf.len() - 1
        } else {
            self.head - 1
        };
        self.buf[self.head].write(value);
        self.len += 1;
    }

    #[inline]
    pub(super) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: `head < buf.len()` (kept so by every update), and it is
        // below `head + len`, so the slot holds a value; moving the head on
        // makes the slot uninitialized again.
        let value = unsafe { self.buf.get_unchecked(self.head).assume_init_read() };
        self.head += 1;
        if self.head == self.buf.len() {
            self.head = 0;
        }
        self.len -= 1;
        Some(value)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop_front().is_some() {}
    }
}

/// Wakers collected under the lock, woken (and a stale one dropped) after
/// it is released.
pub(super) type Wakes = WakeBatch<4>;

/// Everything behind the lock.
#[derive(Debug)]
pub(super) struct State<T> {
    pub(super) ring: Ring<T>,
    /// Values handed to parked receivers, not yet returned by their futures.
    pub(super) handed: usize,
    /// Slots held by permits.
    pub(super) reserved: usize,
    /// `max(cap, 1)`: the bound on buffered plus reserved values.
    pub(super) slots: usize,
    pub(super) closed: bool,
    /// Senders woken for a free slot ([`Status::Woken`]) that have not
    /// polled since: slots free for them are not woken for again.
    pub(super) woken: usize,
    /// Parked senders, in arrival order.
    pub(super) senders: List<T>,
    /// The woken senders (`woken` of them), in arrival order. Every
    /// waiting sender is in one of the two lists; the elder of their fronts
    /// is the *eldest* waiting sender.
    pub(super) awake: List<T>,
    pub(super) receivers: List<T>,
    /// The next sender's ticket (arrival order; wraps, compared as serial
    /// numbers: the waiting senders span far less than `2^31` of them).
    pub(super) tickets: u32,
    /// How many times the eldest waiting sender, ticket `eldest`, was
    /// passed: another sender took a slot (or a parked receiver) while it
    /// waited. At `max_passes` the next free slot is granted to it and
    /// nobody else may take one ([`State::owed`]). Stale (not reset) once
    /// that sender left; [`State::took_slot`] starts counting afresh.
    pub(super) passed: u32,
    pub(super) eldest: u32,
    /// [`max_passes`](super::waiter::max_passes) of `slots`.
    pub(super) max_passes: u32,
}

/// Whether ticket `a` was handed out before ticket `b` (serial numbers).
#[inline]
fn before(a: u32, b: u32) -> bool {
    let d = b.wrapping_sub(a);
    d != 0 && d < 1 << 31
}

impl<T> State<T> {
    /// Slots free for a value in the ring or a permit: `slots - len -
    /// reserved` (values put back by dropped receivers may push `len`
    /// over).
    #[inline]
    pub(super) fn room(&self) -> usize {
        self.slots.saturating_sub(self.ring.len + self.reserved)
    }

    /// Physical slots free: every buffered, handed or reserved value needs
    /// one, so a value put back by a dropped receiver always fits.
    #[inline]
    fn spare(&self) -> usize {
        self.ring.buf.len() - self.ring.len - self.handed - self.reserved
    }

    /// Whether a newcomer may take `n` permits (`1 <= n <= slots`) right
    /// now: `n` free slots, and on a rendezvous channel (`n == 1`) a parked
    /// receiver and nobody queued before it.
    /// On a buffered channel a newcomer may pass waiting senders (see
    /// `chan.rs`: they are woken, not granted), unless that would pass the
    /// eldest of them more than `max_passes` times ([`State::may_pass`]).
    #[inline]
    pub(super) fn can_reserve(&self, rendezvous: bool, n: usize) -> bool {
        self.room() >= n
            && self.spare() >= n
            && self.may_pass(n)
            && (!rendezvous || (self.senders.is_empty() && !self.receivers.is_empty()))
    }

    /// Whether a newcomer may place a value right now: a parked receiver to
    /// take it (hand-off needs no logical slot) or, buffered, a free slot.
    /// A hand-off that needs no logical slot is only for a newcomer when no
    /// sender waits (on a rendezvous channel every hand-off is such): a
    /// waiting sender is woken for it (see [`State::can_serve`]). A free
    /// slot is not for a newcomer while the eldest waiting sender is owed
    /// one ([`State::owed`]).
    #[inline]
    pub(super) fn can_send(&self, rendezvous: bool) -> bool {
        if !rendezvous && self.room() > 0 {
            self.spare() > 0 && !self.owed()
        } else {
            self.senders.is_empty() && self.woken == 0 && self.has_room(rendezvous)
        }
    }

    /// Whether a value could be placed now, whoever waits: a parked
    /// receiver or, buffered, a free slot; and a physical slot.
    #[inline]
    pub(super) fn has_room(&self, rendezvous: bool) -> bool {
        self.spare() > 0 && (!self.receivers.is_empty() || (!rendezvous && self.room() > 0))
    }

    /// Queues the unlinked waiter `w` (a receiver, or a sender holding
    /// `value` or waiting for `want` slots) with `waker`.
    ///
    /// # Safety
    /// The caller holds the lock and owns `w` (alive, pinned, unlinked);
    /// it is unlinked (by the channel or by its owner's cancel) before it
    /// is dropped.
    pub(super) unsafe fn park(
        &mut self,
        w: NonNull<Wait<T>>,
        value: Option<T>,
        waker: Waker,
        receiver: bool,
        want: u32,
    ) {
        // SAFETY: as the caller promised; the node is written before the
        // list reaches it.
        unsafe {
            if receiver {
                Wait::park(w, value, waker, 0, want);
                self.receivers.push_back(w);
            } else {
                Wait::park(w, value, waker, self.tickets, want);
                self.tickets = self.tickets.wrapping_add(1);
                self.senders.push_back(w);
            }
        }
    }

    /// The eldest waiting sender (parked or woken) and its ticket.
    fn eldest(&self) -> Option<(NonNull<Wait<T>>, u32)> {
        // SAFETY: the lock is held (we are behind it): linked nodes are
        // alive; `with` is not nested.
        let with_ticket = |s: NonNull<Wait<T>>| (s, unsafe { Wait::with(s, |n| n.ticket) });
        match (self.senders.front(), self.awake.front()) {
            (Some(q), Some(w)) => {
                let (q, w) = (with_ticket(q), with_ticket(w));
                Some(if before(q.1, w.1) { q } else { w })
            }
            (q, w) => q.or(w).map(with_ticket),
        }
    }

    /// Whether the eldest waiting sender was passed `max_passes` times:
    /// the next free slot is granted to it ([`State::pump`]) and nobody
    /// else may take a slot before.
    #[inline]
    pub(super) fn owed(&self) -> bool {
        self.passed >= self.max_passes && self.eldest_is_owed()
    }

    /// Whether a sender other than the eldest waiting one may take `n`
    /// slots now (`n <= slots`): `n` passes more keep the eldest within
    /// `max_passes`, or the count is stale (it starts afresh). With
    /// `n == 1`, exactly when the eldest is not [`owed`](Self::owed).
    #[inline]
    pub(super) fn may_pass(&self, n: usize) -> bool {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.passed.saturating_add(n) <= self.max_passes || !self.eldest_is_owed()
    }

    /// [`owed`](Self::owed) (or [`may_pass`](Self::may_pass)) once the
    /// count is near: still the same eldest sender (the count is not reset
    /// when it leaves)?
    #[cold]
    fn eldest_is_owed(&self) -> bool {
        self.eldest().is_some_and(|(_, t)| t == self.eldest)
    }

    /// A sender with ticket `t` (a newcomer: `tickets`) took a slot, or
    /// placed its value: one pass more for the eldest waiting sender, if
    /// that one is older; if it is that sender, its count is done.
    #[inline]
    pub(super) fn took_slot(&mut self, t: u32) {
        self.took_slots(t, 1);
    }

    /// [`took_slot`](Self::took_slot) for `n` slots at once (a
    /// `reserve_many`): `n` passes.
    #[inline]
    pub(super) fn took_slots(&mut self, t: u32, n: usize) {
        if t == self.eldest {
            self.passed = 0;
        } else if !self.senders.is_empty() || !self.awake.is_empty() {
            self.count_pass(t, u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    fn count_pass(&mut self, t: u32, n: u32) {
        let Some((_, e)) = self.eldest() else { return };
        if before(e, t) {
            if e != self.eldest {
                self.eldest = e;
                self.passed = 0;
            }
            self.passed = self.passed.saturating_add(n);
        }
    }

    /// Grants the owed eldest sender the slots it waits for (one, or a
    /// `reserve_many`'s `n`), if they are free: it leaves its list, marked
    /// `Done`, the slots counted in `reserved` (a `send` places its value
    /// when it polls, [`State::fill`]). A woken sender's wake-up is
    /// already on its way; a parked one is woken.
    /// Returns whether it was granted, `None` if its wake-up did not fit
    /// in `wakes`.
    #[cold]
    fn grant_eldest(&mut self, wakes: &mut Wakes) -> Option<bool> {
        let (e, _) = self.eldest().expect("owed to a waiting sender");
        // SAFETY: `e` is linked in the list its status names, and the lock
        // is held; `with` not nested.
        let want = unsafe { Wait::with(e, |n| n.want as usize) };
        if self.room() < want || self.spare() < want {
            return Some(false);
        }
        // SAFETY: as above.
        unsafe {
            if Wait::with(e, |n| n.status) == Status::Woken {
                self.awake.remove(e);
                self.woken -= 1;
                Wait::with(e, |n| n.status = Status::Done);
            } else {
                if wakes.room() == 0 {
                    return None;
                }
                self.senders.remove(e);
                Wait::with(e, |n| {
                    n.status = Status::Done;
                    wakes.push(n.waker.take());
                });
            }
        }
        self.reserved += want;
        self.passed = 0;
        Some(true)
    }

    /// Moves sender `w`, just taken out of the queue, into the woken list,
    /// by its ticket (usually the youngest there: the walk from the back is
    /// short).
    ///
    /// # Safety
    /// The lock is held; `w` is alive, pinned and in no list.
    unsafe fn wake_into_list(&mut self, w: NonNull<Wait<T>>) {
        // SAFETY: the lock is held: every linked node is alive; `with` is
        // never nested.
        unsafe {
            let ticket = |n: NonNull<Wait<T>>| Wait::with(n, |n| n.ticket);
            let mine = ticket(w);
            let mut at = self.awake.back();
            while let Some(a) = at {
                if before(ticket(a), mine) {
                    break;
                }
                at = self.awake.prev(a);
            }
            match at {
                Some(a) => self.awake.insert_after(a, w),
                None => self.awake.push_front(w),
            }
        }
    }

    /// Queues sender `w`, which lost the slot it was woken for, again: in
    /// arrival order, behind the senders that parked before it (only
    /// others that lost their slots too can be there, so the walk is
    /// short) and ahead of every later one.
    ///
    /// # Safety
    /// The caller holds the lock and owns `w` (alive, pinned, unlinked,
    /// its node parked).
    pub(super) unsafe fn requeue_sender(&mut self, w: NonNull<Wait<T>>) {
        // SAFETY: the lock is held: every linked node is alive; `with` is
        // never nested.
        unsafe {
            let ticket = |n: NonNull<Wait<T>>| Wait::with(n, |n| n.ticket);
            let mine = ticket(w);
            let mut at = self.senders.front();
            while let Some(a) = at {
                // Stop at the first that did not park before `w`.
                if !before(ticket(a), mine) {
                    break;
                }
                at = self.senders.next(a);
            }
            match at {
                Some(a) => self.senders.insert_before(a, w),
                None => self.senders.push_back(w),
            }
        }
    }

    /// Writes `value` into `r`'s node and wakes it.
    #[inline]
    pub(super) fn give(r: NonNull<Wait<T>>, value: T, wakes: &mut Wakes) {
        // SAFETY: `r` was just unlinked under the lock (held by the caller);
        // its owner has not seen that yet, so it is alive and only
        // reached here.
        unsafe {
            Wait::with(r, |n| {
                n.value = Some(value);
                n.status = Status::Done;
                wakes.push(n.waker.take());
            });
        }
    }

    /// Places `value` in the channel: to the longest-waiting parked
    /// receiver, else at the back of the ring. The caller checked `room`.
    #[inline]
    pub(super) fn deliver(&mut self, value: T, wakes: &mut Wakes) {
        if self.receivers.is_empty() {
            self.ring.push_back(value);
        } else {
            self.hand_off(value, wakes);
        }
    }

    /// [`deliver`](Self::deliver) to a parked receiver (there is one).
    fn hand_off(&mut self, value: T, wakes: &mut Wakes) {
        // SAFETY: lock held (we are behind it).
        let r = unsafe { self.receivers.pop_front() }.expect("a receiver is parked");
        self.handed += 1;
        Self::give(r, value, wakes);
    }

    /// A value handed to a receiver that is gone: to the next parked
    /// receiver, else back to the front of the ring (its slot is counted in
    /// `handed`, so it fits).
    pub(super) fn pass_on(&mut self, value: T, wakes: &mut Wakes) {
        // SAFETY: lock held.
        match unsafe { self.receivers.pop_front() } {
            Some(r) => Self::give(r, value, wakes),
            None => {
                self.handed -= 1;
                self.ring.push_front(value);
            }
        }
    }

    /// Takes the next value without waiting: the ring's oldest, else, on a
    /// rendezvous channel, the value of the parked sender at the head of
    /// the queue (which is then complete). A reserve at the head is not
    /// passed over (FIFO). On a buffered channel a parked sender's value is
    /// never taken: the sender is woken for (or granted) a slot instead
    /// ([`State::pump`]) and places its value itself.
    #[inline]
    pub(super) fn take(&mut self, rendezvous: bool, wakes: &mut Wakes) -> Option<T> {
        if let Some(v) = self.ring.pop_front() {
            return Some(v);
        }
        if !rendezvous {
            return None;
        }
        self.take_parked(wakes)
    }

    /// [`take`](Self::take) on a rendezvous channel with an empty ring: the
    /// value of the parked sender at the head of the queue, if it is a
    /// `send` (not a reserve) and no receiver is parked. (A receiver
    /// waits there only while the one hand-off slot is in use; the parked
    /// sender's value is its, next.)
    fn take_parked(&mut self, wakes: &mut Wakes) -> Option<T> {
        if !self.receivers.is_empty() {
            return None;
        }
        let s = self.senders.front()?;
        // SAFETY: `s` is linked and the lock is held; `with` not nested.
        unsafe {
            let v = Wait::with(s, |n| n.value.take())?;
            self.senders.remove(s);
            Wait::with(s, |n| {
                n.status = Status::Done;
                wakes.push(n.waker.take());
            });
            Some(v)
        }
    }

    /// Fills a granted slot (a permit's, or one granted to a parked send)
    /// with `value`: to a parked receiver, else into the ring. If the
    /// channel was closed meanwhile the slot is freed and `value` comes
    /// back.
    #[inline]
    pub(super) fn fill(&mut self, value: T, wakes: &mut Wakes) -> Result<(), T> {
        self.reserved -= 1;
        if self.closed {
            return Err(value);
        }
        self.deliver(value, wakes);
        Ok(())
    }

    /// Serves parked senders while a slot is free beyond those already
    /// woken for (rendezvous: and a parked receiver). On a buffered channel
    /// a `send` is *woken* for the slot (status `Woken`, moved to the woken
    /// list and counted in `woken`; see `chan.rs`), or, once it has lost
    /// `MAX_BYPASS` times, and a `reserve` always, *granted* it (counted in
    /// `reserved`, status `Done`) and woken. On a
    /// rendezvous channel a `send`'s value moves to the parked receiver and
    /// the send completes; a reserve is granted the slot. First of all, an
    /// eldest sender passed `max_passes` times is granted the free slot
    /// (a `send` keeps its value in its node and places it on its next
    /// poll, [`State::fill`], or gives the slot back if it is dropped
    /// first); until it has one, no other sender is served. Returns `true`
    /// if it stopped only because `wakes` is full (the caller pumps again).
    #[inline]
    pub(super) fn pump(&mut self, rendezvous: bool, wakes: &mut Wakes) -> bool {
        // Inline: most calls find nothing to serve (a sender just parked).
        if self.passed < self.max_passes && (self.senders.is_empty() || !self.can_serve(rendezvous))
        {
            return false;
        }
        self.serve(rendezvous, wakes)
    }

    /// Whether the sender at the head of the queue can be served now: a
    /// free slot beyond those already woken for, and a physical slot;
    /// rendezvous, also a parked receiver. Buffered, a parked receiver
    /// stands in for the slot when none is free and no sender is woken
    /// (permits hold every slot): the sender is woken to hand its value
    /// over. Never while another is woken, which will hand its value to
    /// that receiver itself: a second woken sender polled first would
    /// overtake it.
    #[inline]
    fn can_serve(&self, rendezvous: bool) -> bool {
        let slot = self.room() > self.woken;
        let handoff = !rendezvous && self.woken == 0 && !self.receivers.is_empty();
        (slot || handoff) && self.spare() > self.woken && !(rendezvous && self.receivers.is_empty())
    }

    /// [`pump`](Self::pump)'s loop.
    fn serve(&mut self, rendezvous: bool, wakes: &mut Wakes) -> bool {
        loop {
            if self.owed() {
                match self.grant_eldest(wakes) {
                    Some(true) => continue,
                    Some(false) => {}
                    None => return true,
                }
            }
            let Some(s) = self.senders.front() else {
                return false;
            };
            if !self.can_serve(rendezvous) {
                return false;
            }
            // Only a free slot can be granted (to a reserve, or to a send
            // that lost `MAX_LOSSES` times); past those, a send is woken
            // for the parked receiver (no newcomer can take that one) and
            // a reserve at the head waits for its slots (all of a
            // `reserve_many`'s at once; nobody behind it is served first).
            let slot = self.room() > self.woken;
            // SAFETY: `s` is linked and the lock is held.
            let (ticket, is_reserve, want) =
                unsafe { Wait::with(s, |n| (n.ticket, n.value.is_none(), n.want as usize)) };
            // A younger `reserve_many` also waits while its `want` passes
            // would take the eldest past its bound (`want == 1`: the owed
            // eldest was granted above if a slot is free).
            if is_reserve
                && (self.room() < self.woken + want
                    || self.spare() < self.woken + want
                    || (want > 1
                        && !self.may_pass(want)
                        && self.eldest().is_some_and(|e| e.0 != s)))
            {
                return false;
            }
            if wakes.room() < 2 {
                return true;
            }
            // SAFETY: `s` is linked and the lock is held; `with` not nested
            // (`deliver` reaches other nodes only).
            let (status, value) = unsafe {
                self.senders.remove(s);
                Wait::with(s, |n| {
                    wakes.push(n.waker.take());
                    n.status = if !rendezvous && n.value.is_some() && (n.lost < MAX_LOSSES || !slot)
                    {
                        Status::Woken
                    } else {
                        Status::Done
                    };
                    (n.status, if rendezvous { n.value.take() } else { None })
                })
            };
            match (status, value) {
                (Status::Woken, _) => {
                    self.woken += 1;
                    // SAFETY: lock held; `s` was just unlinked, alive.
                    unsafe { self.wake_into_list(s) };
                }
                (_, Some(v)) => self.deliver(v, wakes),
                (_, None) => {
                    self.reserved += want;
                    self.took_slots(ticket, want);
                }
            }
        }
    }
}
