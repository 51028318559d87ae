//! The sending half: [`Sender`] and [`WeakSender`].

use alloc::sync::Arc;
use core::fmt;

#[cfg(feature = "std")]
use super::SendError;
use super::chan::Chan;
use super::{
    Closed, OwnedPermit, Permit, PermitIterator, Reserve, ReserveMany, ReserveOwned, Send,
    TrySendError,
};
use crate::loom::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// The sending half of a [`bounded`](super::bounded) channel. Clone it for
/// more producers; the channel closes when the last one is dropped.
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let (tx, rx) = weftwork::channel::bounded(4);
/// let tx2 = tx.clone();
/// tx.send(1).await.unwrap();
/// tx2.send(2).await.unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.recv().await, Ok(1));
/// assert_eq!(rx.recv().await, Ok(2));
/// assert!(rx.recv().await.is_err());
/// # });
/// ```
pub struct Sender<T> {
    pub(super) chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Waiting senders are
    /// woken in FIFO order, one per free slot; another sender (one that did not
    /// wait, or a younger woken one) may take a free slot first, but the
    /// longest-waiting sender is passed that way fewer than
    /// [`Mutex::MAX_BYPASS`](crate::Mutex::MAX_BYPASS) times per slot of
    /// capacity, and any sender loses the slot it was woken for at most
    /// `MAX_BYPASS` times: then the next free slot is kept for it. Senders that
    /// lose their slot queue again in arrival order. On a rendezvous channel
    /// (`cap == 0`) it completes only once a receiver has taken the value.
    ///
    /// Fails (handing the value back) if the channel is or gets closed
    /// before the value is sent.
    ///
    /// # Cancel safety
    /// See [`Send`]. With `cap > 0`, a send dropped before it returned
    /// `Ready` did **not** send: the value is dropped with it, and a slot
    /// it was woken for or granted passes on to the next waiting sender (as in
    /// `tokio::sync::mpsc`, so it is safe to retry after `select!`). On a
    /// rendezvous channel (`cap == 0`) a send dropped after a receiver took
    /// its value did send (only the `Ok` is lost). No capacity leaks.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// tx.send(1).await.unwrap();
    /// rx.close();
    /// assert_eq!(tx.send(2).await.unwrap_err().0, 2);
    /// # });
    /// ```
    #[inline]
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send::new(&self.chan, value)
    }

    /// Sends without waiting: `Full(value)` if no slot is free (or a
    /// sender is already waiting for one), `Closed(value)` if the channel is
    /// closed. The value always comes back on failure.
    ///
    /// On a **rendezvous** channel (`cap == 0`) it succeeds exactly when a
    /// receiver is parked in [`recv`](super::Receiver::recv) (or
    /// `recv_blocking`, or `next()` on the stream) and no other hand-off or
    /// permit holds the one slot — Go's and crossbeam's rule. The value is
    /// then handed to the *longest-waiting* receiver: a `try_recv` or `recv`
    /// arriving later cannot take it first. If that receiver's future is
    /// dropped before it runs, the value passes to the next parked
    /// receiver, or stays in the channel for the next one; it is never
    /// lost. Without a
    /// parked receiver it is `Full(value)`, also when receivers only poll
    /// with `try_recv`.
    ///
    /// # Examples
    /// ```
    /// use weftwork::channel::{bounded, TrySendError};
    /// let (tx, _rx) = bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    ///
    /// Rendezvous: only a waiting receiver makes it succeed.
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Waker};
    /// use weftwork::channel::{bounded, TrySendError};
    /// let (tx, rx) = bounded(0);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1))); // nobody waits
    /// let mut recv = pin!(rx.recv());
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(recv.as_mut().poll(&mut cx).is_pending()); // parked now
    /// assert_eq!(tx.try_send(2), Ok(()));
    /// assert_eq!(recv.poll(&mut cx), std::task::Poll::Ready(Ok(2)));
    /// ```
    #[inline]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value)
    }

    /// Waits (FIFO among senders) for a free slot and reserves it, so the
    /// value need not be given up while waiting (or even made). Fails if the
    /// channel is or gets closed.
    ///
    /// On a **rendezvous** channel the permit holds the one slot, and
    /// `reserve` completes only once a receiver is also waiting
    /// in `recv`: like a buffered channel's free slot, a waiting receiver
    /// is the capacity. [`Permit::send`] then hands the value to the
    /// longest-waiting receiver without waiting; if every receiver stopped
    /// waiting in between, the value stays offered for the next one (a
    /// rendezvous `send` waits for the taker; a permit cannot).
    ///
    /// # Cancel safety
    /// See [`Reserve`]: dropping it loses no slot.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// let permit = tx.reserve().await.unwrap();
    /// assert!(tx.try_send(9).is_err()); // the slot is reserved
    /// permit.send(1).unwrap();
    /// assert_eq!(rx.recv().await, Ok(1));
    /// # });
    /// ```
    pub fn reserve(&self) -> Reserve<'_, T> {
        Reserve::new(&self.chan)
    }

    /// [`reserve`](Self::reserve) that takes the sender by value and
    /// yields an [`OwnedPermit`], which holds it: a `'static` permit that
    /// can move to another task. [`OwnedPermit::send`] gives the sender
    /// back.
    ///
    /// # Cancel safety
    /// See [`ReserveOwned`]: dropping it loses no slot (the sender is
    /// dropped with it).
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// let permit = tx.clone().reserve_owned().await.unwrap();
    /// // The permit is 'static: hand it to another task or thread.
    /// let t = std::thread::spawn(move || permit.send("job").unwrap());
    /// let sender_back = t.join().unwrap();
    /// assert!(sender_back.same_channel(&tx));
    /// assert_eq!(rx.recv().await, Ok("job"));
    /// # });
    /// ```
    pub fn reserve_owned(self) -> ReserveOwned<T> {
        ReserveOwned::new(self)
    }

    /// [`try_reserve`](Self::try_reserve) that takes the sender by value;
    /// on failure the sender comes back inside the error.
    ///
    /// # Examples
    /// ```
    /// use weftwork::channel::{bounded, TrySendError};
    /// let (tx, _rx) = bounded::<u8>(1);
    /// let permit = tx.clone().try_reserve_owned().unwrap();
    /// let tx = match tx.try_reserve_owned() {
    ///     Err(TrySendError::Full(tx)) => tx, // the one slot is reserved
    ///     _ => unreachable!(),
    /// };
    /// permit.send(1).unwrap();
    /// # drop(tx);
    /// ```
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Self>> {
        // The borrowed permit's slot passes to the owned one.
        let res = self.try_reserve().map(core::mem::forget);
        match res {
            Ok(()) => Ok(OwnedPermit::new(self)),
            Err(TrySendError::Full(())) => Err(TrySendError::Full(self)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(self)),
        }
    }

    /// Reserves a free slot without waiting. On a rendezvous channel it
    /// succeeds only while a receiver is waiting in `recv` (see
    /// [`reserve`](Self::reserve)).
    ///
    /// # Examples
    /// ```
    /// use weftwork::channel::{bounded, TrySendError};
    /// let (tx, _rx) = bounded::<u8>(1);
    /// let p = tx.try_reserve().unwrap();
    /// assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    /// drop(p);
    /// assert!(tx.try_reserve().is_ok());
    /// ```
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.chan.try_reserve(1).map(|()| Permit::new(&self.chan))
    }

    /// Waits until `n` slots are free and reserves them all at once (FIFO
    /// among waiting senders, as [`reserve`](Self::reserve); see
    /// [`ReserveMany`] for the bound on how often others may pass it).
    /// Yields a [`PermitIterator`] of `n` [`Permit`]s. `n == 0` completes
    /// at once (with an error if the channel is closed).
    ///
    /// # Panics
    /// If `n` exceeds the capacity (on a rendezvous channel, 1): those
    /// slots could never all be free at once. Also above `u32::MAX`, on a
    /// channel that large.
    ///
    /// # Cancel safety
    /// See [`ReserveMany`]: dropping it loses no slot.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(2);
    /// tx.send(0).await.unwrap();
    /// let rx2 = rx.clone();
    /// let t = std::thread::spawn(move || rx2.recv_blocking());
    /// // Waits for the receiver to take the 0: then both slots are free.
    /// let mut permits = tx.reserve_many(2).await.unwrap();
    /// permits.next().unwrap().send(1).unwrap();
    /// permits.next().unwrap().send(2).unwrap();
    /// assert_eq!(t.join().unwrap(), Ok(0));
    /// assert_eq!(rx.recv().await, Ok(1));
    /// # });
    /// ```
    pub fn reserve_many(&self, n: usize) -> ReserveMany<'_, T> {
        self.check_many(n);
        ReserveMany::new(&self.chan, n)
    }

    /// Reserves `n` free slots at once without waiting: all of them or
    /// none (`Full`). `n == 0` succeeds unless the channel is closed.
    ///
    /// # Panics
    /// If `n` exceeds the capacity (on a rendezvous channel, 1): those
    /// slots could never all be free at once, so `Full` would be a lie
    /// that a retry loop never gets past. Also above `u32::MAX`, on a
    /// channel that large.
    ///
    /// # Examples
    /// ```
    /// use weftwork::channel::{bounded, TrySendError};
    /// let (tx, rx) = bounded(3);
    /// tx.try_send(0).unwrap();
    /// assert!(matches!(tx.try_reserve_many(3), Err(TrySendError::Full(()))));
    /// let permits = tx.try_reserve_many(2).unwrap();
    /// for (i, p) in permits.enumerate() {
    ///     p.send(i + 1).unwrap();
    /// }
    /// assert_eq!(rx.try_recv(), Ok(0));
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, TrySendError<()>> {
        self.check_many(n);
        self.chan
            .try_reserve(n)
            .map(|()| PermitIterator::new(&self.chan, n))
    }

    /// The panic of [`reserve_many`](Self::reserve_many) and
    /// [`try_reserve_many`](Self::try_reserve_many).
    fn check_many(&self, n: usize) {
        let cap = self.chan.capacity();
        let most = cap.max(1).min(u32::MAX as usize);
        assert!(
            n <= most,
            "weftwork::channel: cannot reserve {n} slots at once on a channel of capacity {cap} \
             (at most {most})"
        );
    }

    /// Sends `value`, blocking the thread while the channel is full.
    ///
    /// Never panics inside an async runtime, but blocks its worker thread
    /// there: prefer [`send`](Self::send) in async code.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// let t = std::thread::spawn(move || {
    ///     for i in 0..3 {
    ///         tx.send_blocking(i).unwrap();
    ///     }
    /// });
    /// for i in 0..3 {
    ///     assert_eq!(rx.recv_blocking(), Ok(i));
    /// }
    /// t.join().unwrap();
    /// ```
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn send_blocking(&self, value: T) -> Result<(), SendError<T>> {
        crate::loom::block_on(self.send(value))
    }

    /// Closes the channel: sends fail from now on (waiting senders get
    /// their values back); receivers still drain every value already sent.
    /// Returns `true` if this call closed it.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(tx.try_send(2).is_err());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Waits until the channel is closed: every receiver dropped, or
    /// [`close`](Self::close) called on either side. A producer can
    /// `select` on it to stop work nobody will receive.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future changes nothing.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// std::thread::spawn(move || drop(rx));
    /// tx.closed().await;
    /// assert!(tx.try_send(1).is_err());
    /// # });
    /// ```
    pub fn closed(&self) -> Closed<'_, T> {
        Closed::new(&self.chan)
    }

    /// Values buffered in the channel now. Values already handed to a
    /// waiting receiver (whose future has not returned them yet) and values
    /// of parked senders (also those woken for or granted a slot but not yet polled) are
    /// not counted. At most [`capacity`](Self::capacity) — except right
    /// after a receive future that had been handed a value was dropped
    /// while the channel was full: its value goes back to the front, over
    /// the capacity (at most `min(cap, 64)` such values at once). A rendezvous channel buffers a value only when its
    /// taker went away before returning it, or a permit's value found no
    /// receiver waiting.
    ///
    /// # Examples
    /// ```
    /// let (tx, _rx) = weftwork::channel::bounded(3);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether the channel holds no value now.
    ///
    /// # Examples
    /// ```
    /// let (tx, _rx) = weftwork::channel::bounded::<u8>(3);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel has no room for one more value now: a
    /// [`try_send`](Sender::try_send) would return `Full` (unless the
    /// channel is closed). Room held by permits and by senders granted a
    /// slot counts as taken; a free slot a waiting sender was woken for
    /// does not (a newcomer may take it first: see [`send`](Self::send)).
    /// A rendezvous channel has room only while a receiver waits and no
    /// sender is ahead.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// assert!(!tx.is_full());
    /// tx.try_send(1).unwrap();
    /// assert!(tx.is_full());
    /// # drop(rx);
    /// ```
    pub fn is_full(&self) -> bool {
        self.chan.is_full()
    }

    /// The capacity given to [`bounded`](super::bounded) (`0`: rendezvous).
    ///
    /// # Examples
    /// ```
    /// let (tx, _rx) = weftwork::channel::bounded::<u8>(3);
    /// assert_eq!(tx.capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// A handle that does not keep the channel open; see [`WeakSender`].
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// let weak = tx.downgrade();
    /// assert!(weak.upgrade().is_some());
    /// drop(tx);
    /// assert!(weak.upgrade().is_none());
    /// assert!(rx.is_closed());
    /// ```
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            chan: self.chan.clone(),
        }
    }

    /// Live senders of this channel (weak ones not counted).
    ///
    /// # Examples
    /// ```
    /// let (tx, _rx) = weftwork::channel::bounded::<u8>(1);
    /// let _tx2 = tx.clone();
    /// assert_eq!(tx.sender_count(), 2);
    /// ```
    pub fn sender_count(&self) -> usize {
        self.chan.senders.load(Relaxed)
    }

    /// Live receivers of this channel.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// let _rx2 = rx.clone();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.chan.receivers.load(Relaxed)
    }

    /// Whether both senders belong to the same channel.
    ///
    /// # Examples
    /// ```
    /// let (a, _) = weftwork::channel::bounded::<u8>(1);
    /// let (b, _) = weftwork::channel::bounded::<u8>(1);
    /// assert!(a.same_channel(&a.clone()));
    /// assert!(!a.same_channel(&b));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Relaxed);
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// A sender that does not keep the channel open: once every [`Sender`] is
/// gone the channel closes, and [`upgrade`](Self::upgrade) returns `None`.
///
/// # Examples
/// ```
/// let (tx, _rx) = weftwork::channel::bounded::<u8>(1);
/// let weak = tx.downgrade();
/// let tx2 = weak.upgrade().unwrap();
/// tx2.try_send(1).unwrap();
/// ```
pub struct WeakSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> WeakSender<T> {
    /// A [`Sender`], if one is still alive.
    ///
    /// # Examples
    /// ```
    /// let (tx, _rx) = weftwork::channel::bounded::<u8>(1);
    /// let weak = tx.downgrade();
    /// drop(tx);
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn upgrade(&self) -> Option<Sender<T>> {
        let mut n = self.chan.senders.load(Relaxed);
        loop {
            if n == 0 {
                return None;
            }
            match self
                .chan
                .senders
                .compare_exchange_weak(n, n + 1, Acquire, Relaxed)
            {
                Ok(_) => {
                    return Some(Sender {
                        chan: self.chan.clone(),
                    });
                }
                Err(actual) => n = actual,
            }
        }
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSender").finish_non_exhaustive()
    }
}
