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

use futures_core::future::FusedFuture;

use super::RecvError;
use crate::wait::SpinLock;

struct State<T> {
    value: Option<T>,
    /// The receiver's waker.
    waker: Option<Waker>,
    /// The waker of the sender's [`Sender::closed`] wait.
    sender_waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

/// Whether `slot` must take a clone of `waker`: it is empty or holds one
/// that would wake another task.
fn needs_waker(slot: &Option<Waker>, waker: &Waker) -> bool {
    !slot.as_ref().is_some_and(|w| w.will_wake(waker))
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
        sender_waker: None,
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
            Ok((s.waker.take(), s.sender_waker.take()))
        });
        res.map(|(waker, own)| {
            if let Some(w) = waker {
                w.wake();
            }
            drop(own);
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

    /// Waits until the receiver is gone (dropped, or
    /// [`Receiver::close`] called), so a producer can stop computing a
    /// value nobody will take.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future changes nothing.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let (mut tx, rx) = weftwork::channel::oneshot::<u8>();
    /// std::thread::spawn(move || drop(rx));
    /// tx.closed().await;
    /// assert!(tx.is_closed());
    /// # });
    /// ```
    pub fn closed(&mut self) -> Closed<'_, T> {
        Closed { sender: self }
    }

    /// Polls for the receiver to be gone (see [`closed`](Self::closed)):
    /// `Ready` once it is, otherwise `Pending`, with `cx`'s waker woken
    /// when it goes. Only the waker of the latest call is kept.
    ///
    /// # Examples
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// let (mut tx, rx) = weftwork::channel::oneshot::<u8>();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(tx.poll_closed(&mut cx).is_pending());
    /// drop(rx);
    /// assert!(tx.poll_closed(&mut cx).is_ready());
    /// ```
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(shared) = &self.shared else {
            return Poll::Ready(());
        };
        poll_slot(
            shared,
            cx,
            |s| s.receiver_gone.then_some(()),
            |s| &mut s.sender_waker,
        )
    }
}

/// Future of [`Sender::closed`]: completes when the receiver is gone.
///
/// # Cancel safety
/// Cancel safe: dropping it changes nothing.
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let (mut tx, mut rx) = weftwork::channel::oneshot::<u8>();
/// rx.close();
/// tx.closed().await;
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Closed<'a, T> {
    sender: &'a mut Sender<T>,
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Closed").finish_non_exhaustive()
    }
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().sender.poll_closed(cx)
    }
}

/// Polls one side of the channel: `ready` decides under the lock; while it
/// says no, `slot` keeps a waker that wakes `cx`'s task. Wakers are cloned
/// and dropped outside the lock (user code), so a first wait locks twice.
fn poll_slot<T, R>(
    shared: &Shared<T>,
    cx: &Context<'_>,
    mut ready: impl FnMut(&mut State<T>) -> Option<R>,
    slot: impl Fn(&mut State<T>) -> &mut Option<Waker>,
) -> Poll<R> {
    let first = shared.with(|s| match ready(s) {
        Some(r) => Some(Poll::Ready(r)),
        None if needs_waker(slot(s), cx.waker()) => None,
        None => Some(Poll::Pending),
    });
    if let Some(res) = first {
        return res;
    }
    let mut waker = Some(cx.waker().clone());
    let res = shared.with(|s| match ready(s) {
        Some(r) => Poll::Ready(r),
        None => {
            core::mem::swap(slot(s), &mut waker);
            Poll::Pending
        }
    });
    drop(waker);
    res
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let (waker, own) = shared.with(|s| {
                s.sender_gone = true;
                (s.waker.take(), s.sender_waker.take())
            });
            if let Some(w) = waker {
                w.wake();
            }
            drop(own);
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
        let waker = self.shared.with(|s| {
            s.receiver_gone = true;
            s.sender_waker.take()
        });
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Blocks the thread until the value comes: `Err(RecvError)` if the
    /// sender is dropped without sending (or [`close`](Self::close) was
    /// called first).
    ///
    /// Never panics inside an async runtime, but blocks its worker thread
    /// there: await the receiver in async code.
    ///
    /// # Panics
    /// If the receiver already returned its result.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::oneshot();
    /// std::thread::spawn(move || tx.send(7).unwrap());
    /// assert_eq!(rx.recv_blocking(), Ok(7));
    /// ```
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn recv_blocking(self) -> Result<T, RecvError> {
        crate::loom::block_on(self)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "oneshot::Receiver polled after completion");
        let res = poll_slot(
            &this.shared,
            cx,
            |s| match s.value.take() {
                Some(v) => Some(Ok(v)),
                // The sender is gone, or `close` was called: nothing can come.
                None if s.sender_gone || s.receiver_gone => Some(Err(RecvError)),
                None => None,
            },
            |s| &mut s.waker,
        );
        if res.is_ready() {
            this.done = true;
        }
        res
    }
}

/// `is_terminated` is `true` once the receiver has returned `Ready` (or
/// [`try_recv`](Receiver::try_recv) has taken the value or seen `Closed`).
///
/// # Examples
/// ```
/// use futures_core::future::FusedFuture;
/// let (tx, mut rx) = weftwork::channel::oneshot();
/// assert!(!rx.is_terminated());
/// tx.send(1).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// assert!(rx.is_terminated());
/// ```
impl<T> FusedFuture for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (value, waker, sender_waker) = self.shared.with(|s| {
            s.receiver_gone = true;
            (s.value.take(), s.waker.take(), s.sender_waker.take())
        });
        // Woken first: a panicking destructor below must not leave the
        // sender's `closed` wait hanging.
        if let Some(w) = sender_waker {
            w.wake();
        }
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
