//! The one acquire future every public lock/acquire future wraps.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{Acquire, Closed, RawSemaphore};

/// Polls a wait for a one-way event: `event` is a zero-permit semaphore
/// that only ever closes (see [`Acquire::event`]), and `set` reads the flag
/// its owner sets before closing it. `Ready` once the event fired; a poll
/// after that returns at the flag, so the future is fused.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub(crate) fn poll_event(
    acquire: Pin<&mut Acquire>,
    set: bool,
    event: &RawSemaphore,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if set {
        return Poll::Ready(());
    }
    // Nobody ever adds a permit: `Ok` cannot happen, `Err` means the
    // event closed.
    let res = ready!(acquire.poll_acquire(event, cx));
    debug_assert!(res.is_err(), "an event never has permits");
    Poll::Ready(())
}

/// Something that leads to a [`RawSemaphore`]: `&Semaphore`, `Arc<Mutex<T>>`…
pub(crate) trait SemRef {
    fn raw(&self) -> &RawSemaphore;
}

pin_project! {
    /// Waits for `n` permits of `owner`'s semaphore and then yields `owner`,
    /// which the public future turns into a permit or guard.
    ///
    /// Dropping it at any point loses nothing: a queued waiter is unlinked
    /// and permits it was handed are released to the next waiter.
    #[derive(Debug)]
    pub(crate) struct Waiting<O: SemRef> {
        owner: Option<O>,
        #[pin]
        acquire: Acquire,
    }

    impl<O: SemRef> PinnedDrop for Waiting<O> {
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(owner) = this.owner {
                this.acquire.cancel(owner.raw());
            }
        }
    }
}

impl<O: SemRef> Waiting<O> {
    #[inline]
    pub(crate) fn new(owner: O, acquire: Acquire) -> Self {
        Self {
            owner: Some(owner),
            acquire,
        }
    }
}

impl<O: SemRef> Future for Waiting<O> {
    type Output = Result<O, Closed>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let owner = this.owner.as_ref().expect("future polled after completion");
        let res = ready!(this.acquire.poll_acquire(owner.raw(), cx));
        let owner = this.owner.take().expect("checked above");
        Poll::Ready(res.map(|()| owner))
    }
}
