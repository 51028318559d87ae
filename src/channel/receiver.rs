//! The receiving half: [`Receiver`].

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;

#[cfg(feature = "std")]
use super::RecvError;
use super::chan::Chan;
use super::waiter::Wait;
use super::{Recv, TryRecvError};
use crate::loom::atomic::Ordering::{AcqRel, Relaxed};

/// The receiving half of a [`bounded`](super::bounded) channel. Clone it
/// for more consumers (each value goes to exactly one of them); the channel
/// closes when the last one is dropped.
///
/// It is a [`Stream`] and `Unpin`, so `rx.next().await` works directly.
///
/// # Examples
/// ```
/// use futures::StreamExt;
/// # pollster::block_on(async {
/// let (tx, mut rx) = weftwork::channel::bounded(2);
/// tx.send(1).await.unwrap();
/// tx.send(2).await.unwrap();
/// drop(tx);
/// assert_eq!(rx.next().await, Some(1));
/// assert_eq!(rx.next().await, Some(2));
/// assert_eq!(rx.next().await, None);
/// # });
/// ```
pub struct Receiver<T> {
    pub(super) chan: Arc<Chan<T>>,
    /// The wait of [`Stream::poll_next`], boxed once per receiver (only if
    /// it is used as a stream) so that `Receiver` stays `Unpin`.
    stream: Option<Pin<Box<Wait<T>>>>,
}

impl<T> Receiver<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Self {
        Self { chan, stream: None }
    }

    /// Receives a value, waiting while the channel is empty. Fails once
    /// the channel is closed **and** every value sent has been received (a
    /// value handed to another receiver's pending `recv` may still come
    /// back: until that `recv` returns it or is dropped, this one waits).
    ///
    /// # Cancel safety
    /// See [`Recv`]: a dropped `recv` never swallows a value.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// tx.send(3).await.unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv().await, Ok(3)); // drained after close
    /// assert!(rx.recv().await.is_err());
    /// # });
    /// ```
    #[inline]
    pub fn recv(&self) -> Recv<'_, T> {
        Recv::new(&self.chan)
    }

    /// Receives without waiting: `Empty` if no value is there now, `Closed`
    /// once the channel is closed and drained (see [`recv`](Self::recv)).
    ///
    /// # Examples
    /// ```
    /// use weftwork::channel::{bounded, TryRecvError};
    /// let (tx, rx) = bounded(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.chan.try_recv() {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(TryRecvError::Empty),
            Err(()) => Err(TryRecvError::Closed),
        }
    }

    /// Receives a value, blocking the thread while the channel is empty.
    ///
    /// Never panics inside an async runtime, but blocks its worker thread
    /// there: prefer [`recv`](Self::recv) in async code.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(0); // rendezvous
    /// let t = std::thread::spawn(move || tx.send_blocking(1));
    /// assert_eq!(rx.recv_blocking(), Ok(1));
    /// t.join().unwrap().unwrap();
    /// ```
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn recv_blocking(&self) -> Result<T, RecvError> {
        crate::loom::block_on(self.recv())
    }

    /// Waits for at least one value, then moves up to `limit` values
    /// (those available without waiting) into `buf`. Returns how many were
    /// added; `0` only when the channel is closed and drained (or `limit`
    /// is 0).
    ///
    /// # Cancel safety
    /// Dropping the future before it completes takes no value.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::bounded(8);
    /// for i in 0..5 {
    ///     tx.send(i).await.unwrap();
    /// }
    /// let mut buf = Vec::new();
    /// assert_eq!(rx.recv_many(&mut buf, 3).await, 3);
    /// assert_eq!(buf, [0, 1, 2]);
    /// # });
    /// ```
    pub async fn recv_many(&self, buf: &mut Vec<T>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        let Ok(first) = self.recv().await else {
            return 0;
        };
        buf.push(first);
        1 + self.drain_into(buf, limit - 1)
    }

    /// Polls for the next value, for hand-written futures and `poll`-based
    /// APIs (tokio's `Receiver::poll_recv`): `Ready(Some(v))`, `Pending`
    /// (the task's waker is registered), or `Ready(None)` once the channel
    /// is closed and drained. The same as the [`Stream`] impl's
    /// `poll_next`, and it shares its wait.
    ///
    /// # Cancel safety
    /// Nothing to drop: the wait a `Pending` poll queued is kept inside the
    /// receiver and resumed by the next `poll_recv` (or `poll_next`); see
    /// the [`Stream`] impl for what that means when you switch to
    /// [`recv`](Self::recv) on the same receiver.
    ///
    /// # Examples
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// let (tx, mut rx) = weftwork::channel::bounded(1);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Pending); // empty: waits
    /// tx.try_send(7).unwrap(); // handed to the waiting poll
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(7)));
    /// drop(tx);
    /// assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(self).poll_next(cx)
    }

    /// [`poll_recv`](Self::poll_recv), then up to `limit` values in all
    /// (those available without waiting) into `buf`, as
    /// [`recv_many`](Self::recv_many) does: `Ready(n)` with `n` added, `0`
    /// only when the channel is closed and drained (or `limit` is 0).
    ///
    /// # Cancel safety
    /// As [`poll_recv`](Self::poll_recv): no value is taken by a `Pending`
    /// poll.
    ///
    /// # Examples
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// let (tx, mut rx) = weftwork::channel::bounded(4);
    /// for i in 0..3 {
    ///     tx.try_send(i).unwrap();
    /// }
    /// let mut buf = Vec::new();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(rx.poll_recv_many(&mut cx, &mut buf, 2), Poll::Ready(2));
    /// assert_eq!(rx.poll_recv_many(&mut cx, &mut buf, 2), Poll::Ready(1));
    /// assert_eq!(buf, [0, 1, 2]);
    /// assert_eq!(rx.poll_recv_many(&mut cx, &mut buf, 2), Poll::Pending);
    /// ```
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        let Some(first) = core::task::ready!(self.poll_recv(cx)) else {
            return Poll::Ready(0);
        };
        buf.push(first);
        Poll::Ready(1 + self.drain_into(buf, limit - 1))
    }

    /// Moves up to `limit` values available now into `buf`; returns how
    /// many.
    fn drain_into(&self, buf: &mut Vec<T>, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            match self.try_recv() {
                Ok(v) => buf.push(v),
                Err(_) => break,
            }
            n += 1;
        }
        n
    }

    /// Closes the channel: sends fail from now on (waiting senders get
    /// their values back); receivers still drain every value already sent.
    /// Returns `true` if this call closed it.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(2);
    /// tx.try_send(1).unwrap();
    /// rx.close();
    /// assert!(tx.try_send(2).is_err());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert!(rx.try_recv().unwrap_err().is_closed());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed (values may still be left to drain).
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Values buffered in the channel now (see [`Sender::len`](super::Sender::len)).
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether the channel holds no value now.
    ///
    /// # Examples
    /// ```
    /// let (_tx, rx) = weftwork::channel::bounded::<u8>(2);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel has no room for one more value now: a
    /// [`try_send`](super::Sender::try_send) would return `Full` (unless the
    /// channel is closed). Room held by permits, by senders already granted
    /// a slot and by senders waiting in line counts as taken; a rendezvous
    /// channel has room only while a receiver waits and no sender is ahead.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// assert!(!rx.is_full());
    /// tx.try_send(1).unwrap();
    /// assert!(rx.is_full());
    /// # drop(rx);
    /// ```
    pub fn is_full(&self) -> bool {
        self.chan.is_full()
    }

    /// The capacity given to [`bounded`](super::bounded) (`0`: rendezvous).
    ///
    /// # Examples
    /// ```
    /// let (_tx, rx) = weftwork::channel::bounded::<u8>(0);
    /// assert_eq!(rx.capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// Live senders of this channel (weak ones not counted).
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// drop(tx);
    /// assert_eq!(rx.sender_count(), 0);
    /// ```
    pub fn sender_count(&self) -> usize {
        self.chan.senders.load(Relaxed)
    }

    /// Live receivers of this channel.
    ///
    /// # Examples
    /// ```
    /// let (_tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// assert_eq!(rx.receiver_count(), 1);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.chan.receivers.load(Relaxed)
    }

    /// Whether both receivers belong to the same channel.
    ///
    /// # Examples
    /// ```
    /// let (_tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// assert!(rx.same_channel(&rx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// `rx.next().await` receives like [`Receiver::recv`] and ends (`None`)
/// once the channel is closed and drained.
///
/// # Cancel safety
/// Dropping a `next()` future loses no value: the wait it started is kept
/// inside the receiver and resumed by the next `poll_next`. Keep using the
/// stream after that (or drop the receiver) rather than switching to
/// [`recv`](Receiver::recv) on the same receiver: the kept wait holds its
/// place in the receiver queue, and a value handed to it is only taken by
/// a later `poll_next` (or passed on when the receiver is dropped); after
/// a close, other receivers wait for it before they report the close.
impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let wait = this.stream.get_or_insert_with(|| Box::pin(Wait::new()));
        this.chan.poll_recv(wait.as_mut(), cx)
    }
}

/// Terminated once the channel is closed and nothing is left to receive:
/// the ring is empty and no value is handed to a receiver (this one's kept
/// wait included) that has not returned it yet.
impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.chan.is_drained()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Relaxed);
        Self::new(self.chan.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(wait) = &mut self.stream {
            self.chan.cancel_recv(wait.as_mut());
        }
        if self.chan.receivers.fetch_sub(1, AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
