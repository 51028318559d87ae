#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use super::SemaphorePermitArc;
use super::{AcquireError, Semaphore, SemaphorePermit};
use crate::wait::{self, Waiting};

pin_project! {
    /// The future of [`Semaphore::acquire`] and
    /// [`Semaphore::acquire_many`].
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no permit and no wake-up.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let sem = weftwork::Semaphore::new(1);
    /// let fut: weftwork::sync::Acquire<'_> = sem.acquire();
    /// assert!(fut.await.is_ok());
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Acquire<'a> {
        #[pin]
        inner: Waiting<&'a Semaphore>,
        n: usize,
    }
}

impl<'a> Acquire<'a> {
    #[inline]
    pub(super) fn new(sem: &'a Semaphore, n: usize) -> Self {
        Self {
            inner: Waiting::new(sem, wait::Acquire::fifo(n)),
            n,
        }
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx));
        Poll::Ready(
            res.map(|sem| SemaphorePermit::new(sem, *this.n))
                .map_err(|_| AcquireError::Closed),
        )
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.n)
            .finish_non_exhaustive()
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pin_project! {
    /// The future of [`Semaphore::acquire_arc`] and
    /// [`Semaphore::acquire_many_arc`].
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no permit and no wake-up.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// # pollster::block_on(async {
    /// let sem = Arc::new(weftwork::Semaphore::new(1));
    /// let fut: weftwork::sync::AcquireArc = sem.acquire_arc();
    /// assert!(fut.await.is_ok());
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct AcquireArc {
        #[pin]
        inner: Waiting<Arc<Semaphore>>,
        n: usize,
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl AcquireArc {
    #[inline]
    pub(super) fn new(sem: Arc<Semaphore>, n: usize) -> Self {
        Self {
            inner: Waiting::new(sem, wait::Acquire::fifo(n)),
            n,
        }
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl Future for AcquireArc {
    type Output = Result<SemaphorePermitArc, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx));
        Poll::Ready(
            res.map(|sem| SemaphorePermitArc::new(sem, *this.n))
                .map_err(|_| AcquireError::Closed),
        )
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl fmt::Debug for AcquireArc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireArc")
            .field("permits", &self.n)
            .finish_non_exhaustive()
    }
}
