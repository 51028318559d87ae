//! The algorithm core shared by every bounded channel.
//!
//! A channel is three parts:
//!
//! * `space`: a fair FIFO [`RawSemaphore`] holding one permit per free slot.
//!   A sender takes a permit before it writes (back-pressure, FIFO among
//!   waiting senders, cancel-safe: all inherited from the wait core); the
//!   receiver that takes a value gives its slot's permit back.
//! * `items`: a second [`RawSemaphore`] holding one permit per value a
//!   receiver may take. A sender releases one after writing; a receiver
//!   takes one before reading. It is never closed: closing releases
//!   [`CLOSE_PERMITS`] so every receiver wakes, drains what is left and
//!   then finds the ring empty *and* closed.
//! * `ring`: the preallocated slots behind a small spin lock. The ring is
//!   the truth: a receiver holding an `items` permit that finds it empty
//!   was outrun by a retracted rendezvous offer (a "phantom" permit, which
//!   it consumes and waits again) or the channel is closed.
//!
//! A rendezvous channel (`cap == 0`) is the same machine with one slot and
//! one `space` permit, plus one rule: a `send` completes only once the ring's
//! pop counter has moved past its value. A send dropped (or closed) before
//! that takes its value back out of the ring — under the ring lock, so a
//! value is either taken by exactly one receiver or retracted, never both.
//!
//! Rendezvous channels also count *parked* receivers (`Ring::parked`: recv
//! futures queued on `items`, counted from the poll that returned `Pending`
//! to the one that returned `Ready`, or to their drop). Two operations need
//! a taker to exist before they place a value:
//!
//! * `try_send` ([`Chan::try_send_rendezvous`]) places its value only if a
//!   receiver is parked, then hands the `items` permit over. The wait core
//!   gives a released permit to the head waiter directly, so a parked
//!   receiver gets it and no later `try_recv` can barge in. If the permit
//!   was *not* taken (the parked receiver left meanwhile), `try_send` takes
//!   it back and retracts the value: `Full`.
//! * `reserve` ([`Chan::poll_reserve`]) first takes the `space` permit (the
//!   right to make the one offer), then waits until a receiver is parked
//!   (`Ring::want` holds its waker; a receiver that parks wakes it).

use alloc::boxed::Box;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};

use super::TrySendError;
use crate::loom::atomic::AtomicUsize;
use crate::wait::{Acquire, MAX_PERMITS, RawSemaphore, SpinLock, TryFail};

/// Released to `items` on close: enough for every receiver that will ever
/// poll (a receiver that finds the channel closed and empty returns its
/// permit, so they are never used up).
const CLOSE_PERMITS: usize = MAX_PERMITS / 2;

/// The slots and their bookkeeping; reached only under the spin lock.
#[derive(Debug)]
struct Ring<T> {
    buf: Box<[MaybeUninit<T>]>,
    /// Index of the oldest value.
    head: usize,
    /// Values stored (`head .. head + len`, wrapping).
    len: usize,
    /// Values ever taken (wrapping): a rendezvous send is complete once
    /// this moved past the position it was written at.
    pops: usize,
    closed: bool,
    /// The waker of the rendezvous send whose offer is in the ring.
    offer: Option<Waker>,
    /// Rendezvous only: receivers parked in `recv` (see the module docs).
    parked: usize,
    /// Rendezvous only: the waker of the reserve holding the `space` permit
    /// and waiting for a receiver to park.
    want: Option<Waker>,
}

impl<T> Ring<T> {
    fn push(&mut self, value: T) -> usize {
        debug_assert!(
            self.len < self.buf.len(),
            "a space permit guarantees a slot"
        );
        let mut i = self.head + self.len;
        if i >= self.buf.len() {
            i -= self.buf.len();
        }
        self.buf[i].write(value);
        self.len += 1;
        self.pops.wrapping_add(self.len - 1)
    }

    fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: `head` is below `head + len`, so the slot holds a value;
        // moving the head on makes the slot uninitialized again.
        let value = unsafe { self.buf[self.head].assume_init_read() };
        self.head += 1;
        if self.head == self.buf.len() {
            self.head = 0;
        }
        self.len -= 1;
        self.pops = self.pops.wrapping_add(1);
        Some(value)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// What a receiver holding an `items` permit found.
pub(crate) enum Popped<T> {
    Value(T),
    /// A phantom permit: the value it announced was retracted.
    Empty,
    /// Closed and drained.
    Closed,
}

/// The shared state behind every `Sender`/`Receiver` of one channel.
#[derive(Debug)]
pub(crate) struct Chan<T> {
    ring: SpinLock<Ring<T>>,
    pub(crate) space: RawSemaphore,
    pub(crate) items: RawSemaphore,
    cap: usize,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Self {
        assert!(
            cap <= MAX_PERMITS,
            "a channel holds at most {MAX_PERMITS} values, {cap} were requested"
        );
        let slots = cap.max(1);
        Self {
            ring: SpinLock::new(Ring {
                buf: Box::new_uninit_slice(slots),
                head: 0,
                len: 0,
                pops: 0,
                closed: false,
                offer: None,
                parked: 0,
                want: None,
            }),
            space: RawSemaphore::new(slots),
            items: RawSemaphore::new(0),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    pub(crate) fn is_rendezvous(&self) -> bool {
        self.cap == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.with(|r| r.len)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.space.is_closed()
    }

    /// Writes `value` into the slot the caller's `space` permit pays for
    /// and announces it to receivers. Returns the value's position (see
    /// [`Chan::poll_offer`]); `offer` registers a rendezvous sender's waker.
    ///
    /// On `Err` the channel is closed and the permit has been returned.
    pub(crate) fn push(&self, value: T, offer: Option<&Waker>) -> Result<usize, T> {
        // Wakers are cloned (and dropped) outside the lock: user code.
        let mut offer = offer.cloned();
        let res = self.ring.with(|r| {
            if r.closed {
                return Err(value);
            }
            if offer.is_some() {
                core::mem::swap(&mut r.offer, &mut offer);
            }
            Ok(r.push(value))
        });
        drop(offer);
        match res {
            Ok(_) => self.items.release(1),
            Err(_) => self.space.release(1),
        }
        res
    }

    /// Takes the oldest value; the caller holds one `items` permit (which
    /// this consumes, or returns if the channel is closed and drained).
    pub(crate) fn pop(&self) -> Popped<T> {
        let (value, offer, closed) = self.ring.with(|r| {
            let v = r.pop();
            let offer = if v.is_some() { r.offer.take() } else { None };
            (v, offer, r.closed)
        });
        match value {
            Some(v) => {
                self.space.release(1);
                if let Some(w) = offer {
                    w.wake();
                }
                Popped::Value(v)
            }
            None if closed => {
                self.items.release(1);
                Popped::Closed
            }
            None => Popped::Empty,
        }
    }

    /// Polls `acquire` (an `items` request, idle or queued) for a value.
    /// Leaves `acquire` idle again when it returns `Ready`. `parked` is the
    /// caller's flag "counted in `Ring::parked`" (rendezvous only); the
    /// caller must pass it to [`Chan::cancel_recv`] when dropped.
    #[inline]
    pub(crate) fn poll_recv(
        &self,
        acquire: Pin<&mut Acquire>,
        parked: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        let res = self.poll_recv_inner(acquire, cx);
        if self.is_rendezvous() && res.is_pending() != *parked {
            *parked = res.is_pending();
            self.set_parked(*parked);
        }
        res
    }

    /// Drops a receive wait (see [`Chan::poll_recv`]).
    #[inline]
    pub(crate) fn cancel_recv(&self, acquire: Pin<&mut Acquire>, parked: &mut bool) {
        acquire.cancel(&self.items);
        if *parked {
            *parked = false;
            self.set_parked(false);
        }
    }

    /// A receiver parks (`true`) or stops waiting; a parking receiver wakes
    /// a reserve waiting for a taker.
    #[cold]
    fn set_parked(&self, parked: bool) {
        let want = self.ring.with(|r| {
            if parked {
                r.parked += 1;
                r.want.take()
            } else {
                r.parked -= 1;
                None
            }
        });
        if let Some(w) = want {
            w.wake();
        }
    }

    fn poll_recv_inner(
        &self,
        mut acquire: Pin<&mut Acquire>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        loop {
            let res = ready!(acquire.as_mut().poll_acquire(&self.items, cx));
            acquire.set(Acquire::fifo(1));
            debug_assert!(res.is_ok(), "`items` is never closed");
            match self.pop() {
                Popped::Value(v) => return Poll::Ready(Some(v)),
                Popped::Closed => return Poll::Ready(None),
                Popped::Empty => {}
            }
        }
    }

    /// A non-waiting receive: `Ok(None)` when empty, `Err(())` when closed
    /// and drained.
    pub(crate) fn try_recv(&self) -> Result<Option<T>, ()> {
        if self.items.try_acquire(1).is_err() {
            return Ok(None);
        }
        match self.pop() {
            Popped::Value(v) => Ok(Some(v)),
            Popped::Empty => Ok(None),
            Popped::Closed => Err(()),
        }
    }

    /// `try_send` on a rendezvous channel: succeeds only by handing the
    /// value to a receiver parked in `recv` (see the module docs). The
    /// caller holds no permit.
    pub(crate) fn try_send_rendezvous(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.space.try_acquire(1) {
            Ok(()) => {}
            Err(TryFail::NoPermits) => return Err(TrySendError::Full(value)),
            Err(TryFail::Closed) => return Err(TrySendError::Closed(value)),
        }
        let placed = self.ring.with(|r| {
            if r.closed {
                Err(TrySendError::Closed(value))
            } else if r.parked == 0 {
                Err(TrySendError::Full(value))
            } else {
                Ok(r.push(value))
            }
        });
        let pos = match placed {
            Ok(pos) => pos,
            Err(e) => {
                self.space.release(1);
                return Err(e);
            }
        };
        // A queued receiver is handed this permit directly (the head one).
        self.items.release(1);
        if self.items.try_acquire(1).is_err() {
            // A receiver holds it now and pops the value next.
            return Ok(());
        }
        // The permit was left free: the parked receivers left meanwhile.
        // Take the value back unless a receiver raced in and took it (then
        // the permit just taken was a spare one: a phantom's or the close's).
        let back = self.ring.with(|r| {
            if r.pops != pos {
                return None;
            }
            let (v, stale) = Self::retract_locked(r);
            debug_assert!(stale.is_none(), "try_send registers no waker");
            Some(if r.closed {
                TrySendError::Closed(v)
            } else {
                TrySendError::Full(v)
            })
        });
        match back {
            None => Ok(()),
            Some(e) => {
                self.space.release(1);
                Err(e)
            }
        }
    }

    /// The reserve core behind `Reserve`, `ReserveOwned` and `PollSender`:
    /// takes a `space` permit (FIFO among senders) and, on a rendezvous
    /// channel, then waits for a parked receiver. `have_space` is the
    /// caller's "holds a `space` permit" flag (pass it to
    /// [`Chan::cancel_reserve`] when dropped). On `Ready(Ok)` the permit
    /// passes to the caller (`have_space` is cleared) and `acquire` is idle
    /// again. `Err` means closed.
    #[inline]
    pub(crate) fn poll_reserve(
        &self,
        mut acquire: Pin<&mut Acquire>,
        have_space: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ()>> {
        if !*have_space {
            let res = ready!(acquire.as_mut().poll_acquire(&self.space, cx));
            acquire.set(Acquire::fifo(1));
            if res.is_err() {
                return Poll::Ready(Err(()));
            }
            *have_space = true;
        }
        if self.is_rendezvous() {
            match ready!(self.poll_taker(cx)) {
                Ok(()) => {}
                Err(()) => {
                    *have_space = false;
                    self.space.release(1);
                    return Poll::Ready(Err(()));
                }
            }
        }
        *have_space = false;
        Poll::Ready(Ok(()))
    }

    /// Rendezvous: `Ok` once a receiver is parked, `Err` once closed;
    /// otherwise registers `want`.
    fn poll_taker(&self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        let mut waker = Some(cx.waker().clone());
        let res = self.ring.with(|r| {
            if r.closed {
                Poll::Ready(Err(()))
            } else if r.parked > 0 {
                Poll::Ready(Ok(()))
            } else {
                match &r.want {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => core::mem::swap(&mut r.want, &mut waker),
                }
                Poll::Pending
            }
        });
        drop(waker);
        res
    }

    /// Drops a reserve wait (see [`Chan::poll_reserve`]).
    #[inline]
    pub(crate) fn cancel_reserve(&self, acquire: Pin<&mut Acquire>, have_space: &mut bool) {
        acquire.cancel(&self.space);
        if *have_space {
            *have_space = false;
            let stale = self.ring.with(|r| r.want.take());
            drop(stale);
            self.space.release(1);
        }
    }

    /// Rendezvous `try_reserve`: the caller took a `space` permit; keeps it
    /// only if a receiver is parked.
    pub(crate) fn try_reserve_taker(&self) -> Result<(), TrySendError<()>> {
        let res = self.ring.with(|r| {
            if r.closed {
                Err(TrySendError::Closed(()))
            } else if r.parked == 0 {
                Err(TrySendError::Full(()))
            } else {
                Ok(())
            }
        });
        if res.is_err() {
            self.space.release(1);
        }
        res
    }

    /// A rendezvous send waits here after [`Chan::push`]: `Ok` once a
    /// receiver took the value at `pos`; on close before that, the value
    /// is retracted and handed back.
    pub(crate) fn poll_offer(&self, pos: usize, cx: &mut Context<'_>) -> Poll<Result<(), T>> {
        // Wakers are cloned (and dropped) outside the lock: user code.
        let mut waker = Some(cx.waker().clone());
        let res = self.ring.with(|r| {
            if r.pops != pos {
                return Some(Ok(()));
            }
            if r.closed {
                let (value, stale) = Self::retract_locked(r);
                waker = stale;
                return Some(Err(value));
            }
            match &r.offer {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => core::mem::swap(&mut r.offer, &mut waker),
            }
            None
        });
        drop(waker);
        match res {
            None => Poll::Pending,
            Some(Ok(())) => Poll::Ready(Ok(())),
            Some(Err(v)) => {
                self.after_retract();
                Poll::Ready(Err(v))
            }
        }
    }

    /// A rendezvous send dropped while its value at `pos` is offered: takes
    /// the value back unless a receiver already took it.
    pub(crate) fn retract(&self, pos: usize) -> Option<T> {
        let (v, stale) = self.ring.with(|r| {
            if r.pops != pos {
                return None;
            }
            Some(Self::retract_locked(r))
        })?;
        drop(stale);
        self.after_retract();
        Some(v)
    }

    /// Takes the offered value back out; also returns the offer's waker,
    /// to be dropped after the lock is released.
    fn retract_locked(r: &mut Ring<T>) -> (T, Option<Waker>) {
        debug_assert_eq!(r.len, 1, "a rendezvous ring holds one offer");
        // Undo the push: the value is the only one, at `head`.
        r.len = 0;
        // SAFETY: `len` was 1, so `head` held the value; it is now empty.
        let value = unsafe { r.buf[r.head].assume_init_read() };
        (value, r.offer.take())
    }

    fn after_retract(&self) {
        self.space.release(1);
        // Take back the `items` permit announcing the value, if no receiver
        // was handed it yet; otherwise that receiver meets a phantom.
        let _ = self.items.try_acquire(1);
    }

    /// Closes the channel: later sends fail, waiting senders get their
    /// values back, receivers drain what is left and then see the close.
    /// Returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        let (first, offer, want) = self.ring.with(|r| {
            let first = !r.closed;
            r.closed = true;
            (first, r.offer.take(), r.want.take())
        });
        if !first {
            return false;
        }
        for w in [offer, want].into_iter().flatten() {
            w.wake();
        }
        self.space.close();
        self.items.release(CLOSE_PERMITS);
        true
    }
}
