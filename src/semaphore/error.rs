use core::fmt;

/// The error of [`Semaphore::acquire`](crate::Semaphore::acquire): the
/// semaphore was closed.
///
/// # Examples
/// ```
/// use weftwork::{AcquireError, Semaphore};
/// # pollster::block_on(async {
/// let sem = Semaphore::new(1);
/// sem.close();
/// assert_eq!(sem.acquire().await.unwrap_err(), AcquireError::Closed);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AcquireError {
    /// [`Semaphore::close`](crate::Semaphore::close) was called.
    Closed,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl core::error::Error for AcquireError {}

/// The error of [`Semaphore::try_acquire`](crate::Semaphore::try_acquire).
///
/// # Examples
/// ```
/// use weftwork::{Semaphore, TryAcquireError};
/// let sem = Semaphore::new(1);
/// let _p = sem.try_acquire().unwrap();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// sem.close();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryAcquireError {
    /// Not enough permits are free right now (or others wait before you).
    NoPermits,
    /// The semaphore was closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoPermits => "no permits available",
            Self::Closed => "semaphore closed",
        })
    }
}

impl core::error::Error for TryAcquireError {}

impl From<crate::wait::TryFail> for TryAcquireError {
    fn from(e: crate::wait::TryFail) -> Self {
        match e {
            crate::wait::TryFail::NoPermits => Self::NoPermits,
            crate::wait::TryFail::Closed => Self::Closed,
        }
    }
}
