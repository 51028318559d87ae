//! The channel futures: [`Send`], [`Recv`], [`Reserve`], [`ReserveMany`]
//! and [`ReserveOwned`].

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::chan::Chan;
use super::waiter::Wait;
use super::{OwnedPermit, Permit, PermitIterator, RecvError, SendError, Sender};
use crate::wait;

pin_project! {
    /// The future of [`Sender::send`](super::Sender::send).
    ///
    /// If the channel has room (a rendezvous channel: a parked receiver) the
    /// value goes in at once — straight to a parked receiver if there is
    /// one. Otherwise the future parks with its value. With `cap > 0`,
    /// parked senders are woken in FIFO order, one per freed slot; the next
    /// poll places the value (to a parked receiver, else into the channel) and
    /// completes — or, if another sender took the slot first, parks again in
    /// its place in the line. After
    /// [`Mutex::MAX_BYPASS`](crate::Mutex::MAX_BYPASS) such losses, or once it
    /// is the longest-waiting sender and was passed `MAX_BYPASS × capacity - 1`
    /// times, the next free slot is *granted* to it (kept until it polls). On a
    /// rendezvous channel (`cap == 0`) it completes only once a receiver has
    /// taken the value from it.
    ///
    /// # Cancel safety
    /// Dropping it leaks no slot or wake-up and never loses a sent value.
    ///
    /// * `cap > 0`: if it is dropped before it returned `Ready`, the value
    ///   was **not** sent — it is dropped with the future, and a slot it
    ///   was woken for or granted passes on to the next waiting sender. This is
    ///   `tokio::sync::mpsc`'s promise: in a `select!` loop a cancelled send
    ///   can simply be retried, without duplicates.
    /// * `cap == 0` (rendezvous): a receiver takes the value from the
    ///   waiting future itself, so a send dropped after that moment *did*
    ///   send and only its `Ok` is lost; dropped before, it did not send.
    ///
    /// To keep the value while waiting for room, or (rendezvous) to know
    /// for sure whether it was sent, use
    /// [`Sender::reserve`](super::Sender::reserve).
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// let fut: weftwork::channel::Send<'_, u8> = tx.send(1);
    /// fut.await.unwrap();
    /// assert_eq!(rx.recv().await, Ok(1));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Send<'a, T> {
        chan: &'a Chan<T>,
        // The value until the send parks (then it waits in `wait`).
        value: Option<T>,
        #[pin]
        wait: Wait<T>,
    }

    impl<T> PinnedDrop for Send<'_, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.chan.cancel_send(this.wait);
        }
    }
}

impl<'a, T> Send<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>, value: T) -> Self {
        Self {
            chan,
            value: Some(value),
            wait: Wait::new(),
        }
    }
}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.chan
            .poll_send(this.wait, this.value, cx)
            .map(|r| r.map_err(SendError))
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("parked", &self.wait.is_linked())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Receiver::recv`](super::Receiver::recv).
    ///
    /// # Cancel safety
    /// Dropping it at any point never swallows a value — also on a
    /// rendezvous channel. A value handed to it while it was parked passes
    /// on to the next parked receiver, or goes back to the *front* of the
    /// channel (order kept) for the next `recv`. It is therefore safe in
    /// `select!` loops. (One limit: if several receive futures that were
    /// each handed a value are dropped, each value goes to the front as its
    /// future is dropped, so between themselves they come back in the
    /// reverse of that order.)
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// tx.send("hi").await.unwrap();
    /// let fut: weftwork::channel::Recv<'_, &str> = rx.recv();
    /// assert_eq!(fut.await, Ok("hi"));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Recv<'a, T> {
        chan: &'a Chan<T>,
        #[pin]
        wait: Wait<T>,
    }

    impl<T> PinnedDrop for Recv<'_, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.chan.cancel_recv(this.wait);
        }
    }
}

impl<'a, T> Recv<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>) -> Self {
        Self {
            chan,
            wait: Wait::new(),
        }
    }
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.chan
            .poll_recv(this.wait, cx)
            .map(|v| v.ok_or(RecvError))
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Sender::reserve`](super::Sender::reserve): waits
    /// (FIFO among senders) for a free slot without giving up a value. On a
    /// rendezvous channel it then also waits until a receiver is waiting in
    /// `recv`.
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no slot and no wake-up: a slot it
    /// was granted passes on to the next waiting sender.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// let permit = tx.reserve().await.unwrap();
    /// permit.send(5).unwrap();
    /// assert_eq!(rx.recv().await, Ok(5));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Reserve<'a, T> {
        // A reservation of one slot.
        #[pin]
        one: ReserveMany<'a, T>,
    }
}

impl<'a, T> Reserve<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>) -> Self {
        Self {
            one: ReserveMany::new(chan, 1),
        }
    }
}

impl<'a, T> Future for Reserve<'a, T> {
    type Output = Result<Permit<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `ReserveMany::poll` with `n == 1` known here, and no iterator.
        let one = self.project().one.project();
        let chan: &'a Chan<T> = one.chan;
        let res = ready!(chan.poll_reserve(one.wait, cx, 1));
        Poll::Ready(match res {
            Ok(()) => Ok(Permit::new(chan)),
            Err(()) => Err(SendError(())),
        })
    }
}

pin_project! {
    /// The future of [`Sender::reserve_many`](super::Sender::reserve_many):
    /// waits (FIFO among senders) until `n` slots are free and takes them
    /// all at once. While it waits at the head of the line, senders that
    /// waited less are not served before it; senders that never waited may
    /// still take free slots first, but once it is the longest-waiting
    /// sender, fewer than [`Mutex::MAX_BYPASS`](crate::Mutex::MAX_BYPASS)
    /// × capacity times (each slot taken counts one pass): then free slots
    /// are kept for it until it has its `n`.
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no slot and no wake-up: slots it was
    /// granted pass on to the next waiting senders.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(4);
    /// let fut: weftwork::channel::ReserveMany<'_, u8> = tx.reserve_many(3);
    /// let permits = fut.await.unwrap();
    /// assert_eq!(permits.len(), 3);
    /// for (p, v) in permits.zip([1, 2]) {
    ///     p.send(v).unwrap();
    /// } // the third slot is freed with the iterator
    /// assert_eq!(rx.recv().await, Ok(1));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ReserveMany<'a, T> {
        chan: &'a Chan<T>,
        n: usize,
        #[pin]
        wait: Wait<T>,
    }

    impl<T> PinnedDrop for ReserveMany<'_, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.chan.cancel_reserve(this.wait);
        }
    }
}

impl<'a, T> ReserveMany<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>, n: usize) -> Self {
        Self {
            chan,
            n,
            wait: Wait::new(),
        }
    }
}

impl<'a, T> Future for ReserveMany<'a, T> {
    type Output = Result<PermitIterator<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let chan: &'a Chan<T> = this.chan;
        let res = ready!(chan.poll_reserve(this.wait, cx, *this.n));
        Poll::Ready(match res {
            Ok(()) => Ok(PermitIterator::new(chan, *this.n)),
            Err(()) => Err(SendError(())),
        })
    }
}

impl<T> fmt::Debug for ReserveMany<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveMany")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Sender::reserve_owned`](super::Sender::reserve_owned):
    /// like [`Reserve`], but it owns the [`Sender`] and yields an
    /// [`OwnedPermit`] that can move to another task.
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no slot and no wake-up (a slot it was
    /// handed passes on to the next waiting sender); the `Sender` it owns
    /// is dropped with it.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// let fut: weftwork::channel::ReserveOwned<u8> = tx.reserve_owned();
    /// let tx = fut.await.unwrap().send(5).unwrap();
    /// assert_eq!(rx.recv().await, Ok(5));
    /// # drop(tx);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ReserveOwned<T> {
        sender: Option<Sender<T>>,
        #[pin]
        wait: Wait<T>,
    }

    impl<T> PinnedDrop for ReserveOwned<T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(tx) = this.sender {
                tx.chan.cancel_reserve(this.wait);
            }
        }
    }
}

impl<T> ReserveOwned<T> {
    pub(super) fn new(sender: Sender<T>) -> Self {
        Self {
            sender: Some(sender),
            wait: Wait::new(),
        }
    }
}

impl<T> Future for ReserveOwned<T> {
    type Output = Result<OwnedPermit<T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let chan = &this
            .sender
            .as_ref()
            .expect("`ReserveOwned` polled after completion")
            .chan;
        let res = ready!(chan.poll_reserve(this.wait, cx, 1));
        let sender = this.sender.take().expect("checked above");
        Poll::Ready(match res {
            Ok(()) => Ok(OwnedPermit::new(sender)),
            Err(()) => Err(SendError(())),
        })
    }
}

impl<T> fmt::Debug for ReserveOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveOwned").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Reserve<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Sender::closed`](super::Sender::closed): completes
    /// once the channel is closed (every receiver dropped, or `close`
    /// called on either side).
    ///
    /// Polling it again after it completed completes again at once.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only unregisters its waiter.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// let fut: weftwork::channel::Closed<'_, u8> = tx.closed();
    /// drop(rx);
    /// fut.await;
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Closed<'a, T> {
        chan: &'a Chan<T>,
        #[pin]
        acquire: wait::Acquire,
    }

    impl<T> PinnedDrop for Closed<'_, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.acquire.cancel(&this.chan.closed_event);
        }
    }
}

impl<'a, T> Closed<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>) -> Self {
        Self {
            chan,
            acquire: wait::Acquire::event(),
        }
    }
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let chan = *this.chan;
        wait::poll_event(this.acquire, chan.is_closed(), &chan.closed_event, cx)
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed")
            .field("closed", &self.chan.is_closed())
            .finish_non_exhaustive()
    }
}
