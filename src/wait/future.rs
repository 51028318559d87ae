//! The one acquire future every public lock/acquire future wraps.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{Acquire, Closed, RawSemaphore};

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
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(owner) = this.owner {
                this.acquire.cancel(owner.raw());
            }
        }
    }
}

impl<O: SemRef> Waiting<O> {
    pub(crate) fn new(owner: O, n: usize) -> Self {
        Self {
            owner: Some(owner),
            acquire: Acquire::new(n),
        }
    }

    /// A priority wait (see `Acquire::new_front`).
    pub(crate) fn new_front(owner: O, n: usize) -> Self {
        Self {
            owner: Some(owner),
            acquire: Acquire::new_front(n),
        }
    }
}

impl<O: SemRef> Future for Waiting<O> {
    type Output = Result<O, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let owner = this.owner.as_ref().expect("future polled after completion");
        let res = ready!(this.acquire.poll_acquire(owner.raw(), cx));
        let owner = this.owner.take().expect("checked above");
        Poll::Ready(res.map(|()| owner))
    }
}
