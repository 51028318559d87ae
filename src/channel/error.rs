//! The channel error types.

use core::fmt;

/// The channel is closed: the value of a failed send comes back inside.
///
/// # Examples
/// ```
/// use weftwork::channel::{bounded, SendError};
/// # pollster::block_on(async {
/// let (tx, rx) = bounded::<u32>(1);
/// drop(rx);
/// assert_eq!(tx.send(7).await, Err(SendError(7)));
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that could not be sent.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(weftwork::channel::SendError(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed channel")
    }
}

impl<T> core::error::Error for SendError<T> {}

/// Why [`Sender::try_send`](super::Sender::try_send) failed; the value
/// always comes back.
///
/// # Examples
/// ```
/// use weftwork::channel::{bounded, TrySendError};
/// let (tx, rx) = bounded::<u32>(1);
/// tx.try_send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// rx.close();
/// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// No free slot now (or, for a rendezvous channel, no way to complete
    /// without waiting): the server is busy, retry later.
    Full(T),
    /// The channel is closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that could not be sent.
    ///
    /// # Examples
    /// ```
    /// use weftwork::channel::TrySendError;
    /// assert_eq!(TrySendError::Full(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(v) | Self::Closed(v) => v,
        }
    }

    /// Whether the channel was full.
    ///
    /// # Examples
    /// ```
    /// assert!(weftwork::channel::TrySendError::Full(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the channel was closed.
    ///
    /// # Examples
    /// ```
    /// assert!(weftwork::channel::TrySendError::Closed(()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("sending on a full channel"),
            Self::Closed(_) => f.write_str("sending on a closed channel"),
        }
    }
}

impl<T> core::error::Error for TrySendError<T> {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        Self::Closed(e.0)
    }
}

/// The channel is closed and every value sent has been received.
///
/// # Examples
/// ```
/// use weftwork::channel::{bounded, RecvError};
/// # pollster::block_on(async {
/// let (tx, rx) = bounded::<u32>(1);
/// drop(tx);
/// assert_eq!(rx.recv().await, Err(RecvError));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on a closed and empty channel")
    }
}

impl core::error::Error for RecvError {}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) failed.
///
/// # Examples
/// ```
/// use weftwork::channel::{bounded, TryRecvError};
/// let (tx, rx) = bounded::<u32>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value now; the channel is open.
    Empty,
    /// The channel is closed and drained.
    Closed,
}

impl TryRecvError {
    /// Whether the channel was empty but open.
    ///
    /// # Examples
    /// ```
    /// assert!(weftwork::channel::TryRecvError::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// Whether the channel was closed and drained.
    ///
    /// # Examples
    /// ```
    /// assert!(weftwork::channel::TryRecvError::Closed.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("receiving on an empty channel"),
            Self::Closed => f.write_str("receiving on a closed and empty channel"),
        }
    }
}

impl core::error::Error for TryRecvError {}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        Self::Closed
    }
}
