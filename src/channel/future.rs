//! The channel futures: [`Send`], [`Recv`], [`Reserve`] and [`ReserveOwned`].

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::chan::Chan;
use super::{OwnedPermit, Permit, RecvError, SendError, Sender};
use crate::wait::Acquire;

pin_project! {
    /// The future of [`Sender::send`](super::Sender::send).
    ///
    /// It first waits for a free slot (senders are served FIFO), then writes
    /// the value. On a rendezvous channel (`cap == 0`) it then waits until a
    /// receiver has taken the value.
    ///
    /// # Cancel safety
    /// Dropping it before it completes means the value was **not** sent:
    /// it is dropped with the future, no slot or wake-up is lost, and on a
    /// rendezvous channel an offered value is taken back out of the channel
    /// unless a receiver already took it (then the send did happen; only
    /// its `Ok` is lost). To keep the value while waiting for room, use
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
        value: Option<T>,
        // `Some` once a rendezvous value is offered.
        pos: Option<usize>,
        #[pin]
        acquire: Acquire,
    }

    impl<T> PinnedDrop for Send<'_, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.acquire.cancel(&this.chan.space);
            if let Some(pos) = this.pos.take() {
                drop(this.chan.retract(pos));
            }
        }
    }
}

impl<'a, T> Send<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>, value: T) -> Self {
        Self {
            chan,
            value: Some(value),
            pos: None,
            acquire: Acquire::fifo(1),
        }
    }
}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let chan = *this.chan;
        if let Some(pos) = *this.pos {
            let res = ready!(chan.poll_offer(pos, cx));
            *this.pos = None;
            return Poll::Ready(res.map_err(SendError));
        }
        let res = ready!(this.acquire.poll_acquire(&chan.space, cx));
        let value = this.value.take().expect("`Send` polled after completion");
        if res.is_err() {
            return Poll::Ready(Err(SendError(value)));
        }
        let rendezvous = chan.is_rendezvous();
        match chan.push(value, rendezvous.then(|| cx.waker())) {
            Err(v) => Poll::Ready(Err(SendError(v))),
            Ok(_) if !rendezvous => Poll::Ready(Ok(())),
            Ok(pos) => {
                // A receiver that takes the value wakes the waker just
                // registered, so waiting is safe even if it already did.
                *this.pos = Some(pos);
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("offered", &self.pos.is_some())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Receiver::recv`](super::Receiver::recv).
    ///
    /// # Cancel safety
    /// Dropping it at any point never swallows a value — also on a
    /// rendezvous channel: a value is only taken out of the channel in the
    /// same `poll` that returns it. A wake-up it was handed passes on to the
    /// next waiting receiver. It is therefore safe in `select!` loops.
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
        // Counted among the parked receivers (rendezvous only).
        parked: bool,
        #[pin]
        acquire: Acquire,
    }

    impl<T> PinnedDrop for Recv<'_, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.chan.cancel_recv(this.acquire, this.parked);
        }
    }
}

impl<'a, T> Recv<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>) -> Self {
        Self {
            chan,
            parked: false,
            acquire: Acquire::fifo(1),
        }
    }
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.chan
            .poll_recv(this.acquire, this.parked, cx)
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
    /// was handed passes on to the next waiting sender.
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
        chan: &'a Chan<T>,
        // Holds a `space` permit (rendezvous: waiting for a taker).
        have_space: bool,
        #[pin]
        acquire: Acquire,
    }

    impl<T> PinnedDrop for Reserve<'_, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.chan.cancel_reserve(this.acquire, this.have_space);
        }
    }
}

impl<'a, T> Reserve<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>) -> Self {
        Self {
            chan,
            have_space: false,
            acquire: Acquire::fifo(1),
        }
    }
}

impl<'a, T> Future for Reserve<'a, T> {
    type Output = Result<Permit<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let chan: &'a Chan<T> = this.chan;
        let res = ready!(chan.poll_reserve(this.acquire, this.have_space, cx));
        Poll::Ready(match res {
            Ok(()) => Ok(Permit::new(chan)),
            Err(()) => Err(SendError(())),
        })
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
        have_space: bool,
        #[pin]
        acquire: Acquire,
    }

    impl<T> PinnedDrop for ReserveOwned<T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(tx) = this.sender {
                tx.chan.cancel_reserve(this.acquire, this.have_space);
            }
        }
    }
}

impl<T> ReserveOwned<T> {
    pub(super) fn new(sender: Sender<T>) -> Self {
        Self {
            sender: Some(sender),
            have_space: false,
            acquire: Acquire::fifo(1),
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
        let res = ready!(chan.poll_reserve(this.acquire, this.have_space, cx));
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
