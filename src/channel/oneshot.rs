//! A channel for exactly one value: [`oneshot()`].
//!
//! # Examples
//! ```
//! # pollster::block_on(async {
//! let (tx, rx) = weftwork::channel::oneshot();
//! std::thread::spawn(move || tx.send(42).unwrap());
//! assert_eq!(rx.await, Ok(42));
//! # });
//! ```

use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::RecvError;
use crate::wait::SpinLock;

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

type Shared<T> = Arc<SpinLock<State<T>>>;

/// A channel that carries one value from a [`Sender`] to a [`Receiver`]
/// (a future of `Result<T, RecvError>`).
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let (tx, rx) = weftwork::channel::oneshot::<u8>();
/// drop(tx);
/// assert!(rx.await.is_err());
/// # });
/// ```
pub fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(SpinLock::new(State {
        value: None,
        waker: None,
        sender_gone: false,
        receiver_gone: false,
    }));
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver {
            shared,
            done: false,
        },
    )
}

/// The sending half of a [`oneshot()`] channel.
///
/// # Examples
/// ```
/// let (tx, rx) = weftwork::channel::oneshot();
/// tx.send("done").unwrap();
/// assert_eq!(pollster::block_on(rx), Ok("done"));
/// ```
pub struct Sender<T> {
    shared: Option<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends the value; `Err(value)` if the receiver is gone.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::oneshot();
    /// drop(rx);
    /// assert_eq!(tx.send(1), Err(1));
    /// ```
    pub fn send(mut self, value: T) -> Result<(), T> {
        let shared = self.shared.take().expect("only `send` takes it");
        let res = shared.with(|s| {
            if s.receiver_gone {
                return Err(value);
            }
            s.value = Some(value);
            Ok(s.waker.take())
        });
        res.map(|waker| {
            if let Some(w) = waker {
                w.wake();
            }
        })
    }

    /// Whether the receiver is gone (a send would fail).
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::oneshot::<u8>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|s| s.with(|s| s.receiver_gone))
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let waker = shared.with(|s| {
                s.sender_gone = true;
                s.waker.take()
            });
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

/// The receiving half of a [`oneshot()`] channel: a future of the value,
/// or [`RecvError`] if the sender was dropped without sending.
///
/// # Cancel safety
/// Dropping it drops the value if one was sent; polling it again after a
/// `Pending` loses nothing.
///
/// # Examples
/// ```
/// let (tx, mut rx) = weftwork::channel::oneshot();
/// assert!(rx.try_recv().is_err());
/// tx.send(5).unwrap();
/// assert_eq!(rx.try_recv(), Ok(5));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Receiver<T> {
    shared: Shared<T>,
    done: bool,
}

impl<T> Receiver<T> {
    /// Takes the value if it is there: `Empty` if not yet sent, `Closed`
    /// if none can come any more (the sender is gone without sending, or
    /// [`close`](Self::close) was called first) or it was already taken.
    ///
    /// # Examples
    /// ```
    /// use weftwork::channel::TryRecvError;
    /// let (tx, mut rx) = weftwork::channel::oneshot::<u8>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, super::TryRecvError> {
        if self.done {
            return Err(super::TryRecvError::Closed);
        }
        let res = self.shared.with(|s| match s.value.take() {
            Some(v) => Ok(v),
            None if s.sender_gone || s.receiver_gone => Err(super::TryRecvError::Closed),
            None => Err(super::TryRecvError::Empty),
        });
        if !matches!(res, Err(super::TryRecvError::Empty)) {
            self.done = true;
        }
        res
    }

    /// Closes the channel from the receiving side: a later `send` fails.
    /// A value sent before can still be taken (with
    /// [`try_recv`](Self::try_recv) or by awaiting the receiver); if none
    /// was, awaiting the receiver returns `RecvError` at once, as when the
    /// sender is dropped.
    ///
    /// # Examples
    /// ```
    /// use weftwork::channel::RecvError;
    /// let (tx, mut rx) = weftwork::channel::oneshot();
    /// rx.close();
    /// assert_eq!(tx.send(1), Err(1));
    /// assert_eq!(pollster::block_on(rx), Err(RecvError));
    /// ```
    pub fn close(&mut self) {
        self.shared.with(|s| s.receiver_gone = true);
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "oneshot::Receiver polled after completion");
        // Wakers are cloned (and dropped) outside the lock: user code.
        let mut waker = Some(cx.waker().clone());
        let res = this.shared.with(|s| {
            if let Some(v) = s.value.take() {
                return Poll::Ready(Ok(v));
            }
            // The sender is gone, or `close` was called: nothing can come.
            if s.sender_gone || s.receiver_gone {
                return Poll::Ready(Err(RecvError));
            }
            match &s.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => core::mem::swap(&mut s.waker, &mut waker),
            }
            Poll::Pending
        });
        drop(waker);
        if res.is_ready() {
            this.done = true;
        }
        res
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (value, waker) = self.shared.with(|s| {
            s.receiver_gone = true;
            (s.value.take(), s.waker.take())
        });
        drop(waker);
        drop(value);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
