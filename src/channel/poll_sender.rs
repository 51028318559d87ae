//! [`PollSender`]: the poll-based sending interface a `Sink` needs.

use alloc::boxed::Box;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::waiter::Wait;
use super::{SendError, Sender};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing reserved, no wait started.
    Idle,
    /// `poll_reserve` returned `Pending`: the wait is queued (on a
    /// rendezvous channel, until a receiver is parked as well).
    Reserving,
    /// A slot is reserved for the next `send_item`.
    Reserved,
    /// Closed: the channel, or this handle through [`PollSender::close`].
    Closed,
}

/// A [`Sender`] with a poll-based interface (`poll_reserve`, then
/// `send_item`), for code that cannot hold a future across polls: a
/// `Sink` implementation, a hand-written future or stream adapter.
///
/// It maps one-to-one onto `futures::Sink`: `poll_ready` is
/// [`poll_reserve`](Self::poll_reserve), `start_send` is
/// [`send_item`](Self::send_item), `poll_flush` has nothing to do and
/// `poll_close` is [`close`](Self::close). weftwork does not depend on
/// `futures-sink`; the example below is the whole adapter.
///
/// The wait lives in a box allocated at the first `poll_reserve` that has
/// to wait and reused after that: no allocation per message.
///
/// # Cancel safety
/// `poll_reserve` keeps its place in the sender queue between polls; a
/// reservation that is no longer wanted is given up with
/// [`abort_send`](Self::abort_send), or by dropping the `PollSender`. A
/// slot handed to an aborted wait passes on to the next waiting sender.
///
/// # Examples
/// ```
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
/// use futures::{Sink, SinkExt};
/// use weftwork::channel::{bounded, PollSender, SendError};
///
/// struct ChanSink<T>(PollSender<T>);
///
/// impl<T> Sink<T> for ChanSink<T> {
///     type Error = SendError<()>;
///     fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
///         self.0.poll_reserve(cx)
///     }
///     fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
///         self.0.send_item(item).map_err(|_| SendError(()))
///     }
///     fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
///         Poll::Ready(Ok(()))
///     }
///     fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
///         self.0.close();
///         Poll::Ready(Ok(()))
///     }
/// }
///
/// # pollster::block_on(async {
/// let (tx, rx) = bounded(4);
/// let mut sink = ChanSink(PollSender::new(tx));
/// sink.send(1).await.unwrap();
/// sink.send(2).await.unwrap();
/// sink.close().await.unwrap(); // drops the sender: the channel closes
/// assert_eq!(rx.recv().await, Ok(1));
/// assert_eq!(rx.recv().await, Ok(2));
/// assert!(rx.recv().await.is_err());
/// # });
/// ```
pub struct PollSender<T> {
    /// `None` once closed through [`PollSender::close`].
    sender: Option<Sender<T>>,
    /// The pinned wait, boxed at the first wait and reused.
    wait: Option<Pin<Box<Wait<T>>>>,
    state: State,
}

impl<T> PollSender<T> {
    /// Wraps `sender`.
    ///
    /// # Examples
    /// ```
    /// let (tx, _rx) = weftwork::channel::bounded::<u8>(1);
    /// let ps = weftwork::channel::PollSender::new(tx);
    /// assert!(!ps.is_closed());
    /// ```
    pub fn new(sender: Sender<T>) -> Self {
        Self {
            sender: Some(sender),
            wait: None,
            state: State::Idle,
        }
    }

    /// Reserves a slot for the next [`send_item`](Self::send_item), waiting
    /// (FIFO among senders, like [`Sender::reserve`], also on rendezvous
    /// channels) while the channel is full. `Ready(Ok)` again at once if a
    /// slot is already reserved; `Ready(Err)` once the channel or this
    /// handle is closed.
    ///
    /// # Examples
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use weftwork::channel::{bounded, PollSender};
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let (tx, rx) = bounded(1);
    /// let mut ps = PollSender::new(tx);
    /// assert!(ps.poll_reserve(&mut cx).is_ready());
    /// ps.send_item(1).unwrap();
    /// assert!(ps.poll_reserve(&mut cx).is_pending()); // full: queued
    /// assert_eq!(rx.try_recv(), Ok(1)); // the slot goes to the queued wait
    /// assert!(ps.poll_reserve(&mut cx).is_ready());
    /// ```
    pub fn poll_reserve(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<()>>> {
        let Some(sender) = &self.sender else {
            return Poll::Ready(Err(SendError(())));
        };
        match self.state {
            State::Closed => return Poll::Ready(Err(SendError(()))),
            State::Reserved => return Poll::Ready(Ok(())),
            State::Idle | State::Reserving => {}
        }
        let wait = self.wait.get_or_insert_with(|| Box::pin(Wait::new()));
        match sender.chan.poll_reserve(wait.as_mut(), cx, 1) {
            Poll::Pending => {
                self.state = State::Reserving;
                Poll::Pending
            }
            Poll::Ready(Ok(())) => {
                self.state = State::Reserved;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(())) => {
                self.state = State::Closed;
                Poll::Ready(Err(SendError(())))
            }
        }
    }

    /// Sends `value` into the slot reserved by
    /// [`poll_reserve`](Self::poll_reserve). Fails, handing the value back,
    /// if the channel or this handle is closed.
    ///
    /// # Panics
    /// If no slot is reserved (`poll_reserve` has not returned `Ready(Ok)`
    /// since the last `send_item` or `abort_send`) and the handle is open.
    ///
    /// # Examples
    /// ```
    /// use std::task::{Context, Waker};
    /// use weftwork::channel::{bounded, PollSender};
    /// let (tx, rx) = bounded(1);
    /// let mut ps = PollSender::new(tx);
    /// let _ = ps.poll_reserve(&mut Context::from_waker(Waker::noop()));
    /// ps.send_item("a").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("a"));
    /// ```
    pub fn send_item(&mut self, value: T) -> Result<(), SendError<T>> {
        let sender = match (&self.sender, self.state) {
            (Some(sender), State::Reserved) => sender,
            (None, _) | (_, State::Closed) => return Err(SendError(value)),
            (Some(_), State::Idle | State::Reserving) => {
                panic!("`PollSender::send_item` called without a slot reserved by `poll_reserve`")
            }
        };
        // The reserved slot passes into `send_reserved` (freed on error).
        // The state leaves `Reserved` first: the wakes that follow run
        // user code, and one that panics must not leave the handle
        // claiming a slot it no longer holds.
        self.state = State::Idle;
        sender.chan.send_reserved(value).map_err(|v| {
            self.state = State::Closed;
            SendError(v)
        })
    }

    /// Gives up a reservation: the slot reserved (or being waited for) goes
    /// to the next waiting sender. Returns whether there was one to give
    /// up (always `false` once closed).
    ///
    /// # Examples
    /// ```
    /// use std::task::{Context, Waker};
    /// use weftwork::channel::{bounded, PollSender};
    /// let (tx, _rx) = bounded::<u8>(1);
    /// let mut ps = PollSender::new(tx.clone());
    /// let _ = ps.poll_reserve(&mut Context::from_waker(Waker::noop()));
    /// assert!(tx.try_send(1).is_err()); // reserved by `ps`
    /// assert!(ps.abort_send());
    /// assert!(tx.try_send(1).is_ok());
    /// ```
    pub fn abort_send(&mut self) -> bool {
        let Some(sender) = &self.sender else {
            return false;
        };
        // Back to `Idle` before the channel call: the wakes it runs are
        // user code, and one that panics must not leave the handle holding
        // (and later giving back again) a slot it gave back already.
        match core::mem::replace(&mut self.state, State::Idle) {
            State::Idle => false,
            State::Closed => {
                self.state = State::Closed;
                false
            }
            State::Reserving => {
                let wait = self
                    .wait
                    .as_mut()
                    .expect("a wait was started, so it is boxed");
                sender.chan.cancel_reserve(wait.as_mut());
                true
            }
            State::Reserved => {
                sender.chan.release_reserved(1);
                true
            }
        }
    }

    /// Closes this handle: gives up any reservation and drops the sender,
    /// so later `poll_reserve` and `send_item` fail. The channel itself
    /// closes only when its last sender is gone (or a receiver closes it).
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// let mut ps = weftwork::channel::PollSender::new(tx);
    /// ps.close();
    /// assert!(ps.is_closed());
    /// assert!(ps.send_item(1).is_err());
    /// assert!(rx.is_closed()); // that was the last sender
    /// ```
    pub fn close(&mut self) {
        self.abort_send();
        self.sender = None;
        self.state = State::Closed;
    }

    /// Whether this handle or the channel is closed.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded::<u8>(1);
    /// let ps = weftwork::channel::PollSender::new(tx);
    /// rx.close();
    /// assert!(ps.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed || self.sender.as_ref().is_none_or(Sender::is_closed)
    }

    /// The wrapped sender, unless this handle was closed.
    ///
    /// # Examples
    /// ```
    /// let (tx, _rx) = weftwork::channel::bounded::<u8>(1);
    /// let ps = weftwork::channel::PollSender::new(tx.clone());
    /// assert!(ps.get_ref().unwrap().same_channel(&tx));
    /// ```
    pub fn get_ref(&self) -> Option<&Sender<T>> {
        self.sender.as_ref()
    }
}

/// A new handle on the same channel, with no reservation.
impl<T> Clone for PollSender<T> {
    fn clone(&self) -> Self {
        match &self.sender {
            Some(tx) => Self::new(tx.clone()),
            None => Self {
                sender: None,
                wait: None,
                state: State::Closed,
            },
        }
    }
}

impl<T> Drop for PollSender<T> {
    fn drop(&mut self) {
        self.abort_send();
    }
}

impl<T> fmt::Debug for PollSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollSender")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
