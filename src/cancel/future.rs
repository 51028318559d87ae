//! The futures of [`CancelToken`].

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::CancelToken;
use crate::wait;

pin_project! {
    /// Waits on a token's event: a zero-permit semaphore that only ever
    /// closes, so the acquire completes exactly when the token is
    /// cancelled. `T` is `&CancelToken` or an owned handle.
    struct WaitFor<T: Borrow<CancelToken>> {
        token: T,
        #[pin]
        acquire: wait::Acquire,
    }

    impl<T: Borrow<CancelToken>> PinnedDrop for WaitFor<T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let token: &CancelToken = (*this.token).borrow();
            this.acquire.cancel(token.event());
        }
    }
}

impl<T: Borrow<CancelToken>> WaitFor<T> {
    fn new(token: T) -> Self {
        Self {
            token,
            acquire: wait::Acquire::event(),
        }
    }

    fn token(&self) -> &CancelToken {
        self.token.borrow()
    }

    fn poll_wait(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let token: &CancelToken = (*this.token).borrow();
        // The flag is set before the event closes.
        wait::poll_event(this.acquire, token.is_cancelled(), token.event(), cx)
    }
}

pin_project! {
    /// The future of [`CancelToken::cancelled`]: completes when the token
    /// is cancelled.
    ///
    /// Polling it again after it completed completes again at once.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only unregisters its waiter; no wake-up
    /// meant for another waiter is lost (every waiter is woken by a
    /// cancel).
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// use weftwork::cancel::Cancelled;
    /// # pollster::block_on(async {
    /// let token = CancelToken::new();
    /// let fut: Cancelled<'_> = token.cancelled();
    /// token.cancel();
    /// fut.await;
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Cancelled<'a> {
        #[pin]
        inner: WaitFor<&'a CancelToken>,
    }
}

impl<'a> Cancelled<'a> {
    pub(super) fn new(token: &'a CancelToken) -> Self {
        Self {
            inner: WaitFor::new(token),
        }
    }
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll_wait(cx)
    }
}

impl fmt::Debug for Cancelled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("token", self.inner.token())
            .finish()
    }
}

pin_project! {
    /// The future of [`CancelToken::cancelled_owned`]: a `'static`
    /// [`Cancelled`] that holds its own handle to the token.
    ///
    /// While it exists, the token counts as alive (a child token stays
    /// registered in its parent, so a parent's cancel still reaches it).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only unregisters its waiter.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// use weftwork::cancel::CancelledOwned;
    /// let token = CancelToken::new();
    /// let fut: CancelledOwned = token.child().cancelled_owned();
    /// token.cancel(); // reaches the child: `fut` keeps it registered
    /// pollster::block_on(fut);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct CancelledOwned {
        #[pin]
        inner: WaitFor<CancelToken>,
    }
}

impl CancelledOwned {
    pub(super) fn new(token: CancelToken) -> Self {
        Self {
            inner: WaitFor::new(token),
        }
    }

    /// The token this future waits for.
    ///
    /// # Examples
    /// ```
    /// let token = weftwork::CancelToken::new();
    /// let fut = token.cancelled_owned();
    /// assert!(fut.token().same_token(&token));
    /// ```
    #[must_use]
    pub fn token(&self) -> &CancelToken {
        self.inner.token()
    }
}

impl Future for CancelledOwned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll_wait(cx)
    }
}

impl fmt::Debug for CancelledOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelledOwned")
            .field("token", self.inner.token())
            .finish()
    }
}

/// Polls the cancel wait first, then the deadline; cancels on the deadline.
fn poll_cancel_after<T: Borrow<CancelToken>, F: Future>(
    mut wait: Pin<&mut WaitFor<T>>,
    mut deadline: Pin<&mut Option<F>>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if deadline.is_none() {
        return Poll::Ready(()); // finished before
    }
    // Register (or see the cancel) before polling the deadline.
    if wait.as_mut().poll_wait(cx).is_ready() {
        deadline.set(None);
        return Poll::Ready(());
    }
    let due = deadline
        .as_mut()
        .as_pin_mut()
        .is_some_and(|d| d.poll(cx).is_ready());
    if due {
        deadline.set(None);
        wait.token().cancel();
        return Poll::Ready(());
    }
    Poll::Pending
}

pin_project! {
    /// The future of [`CancelToken::cancel_after`]: awaits a deadline
    /// future, then cancels the token; completes early if the token is
    /// cancelled first.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it drops the deadline future and leaves the
    /// token as it is.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// use weftwork::cancel::CancelAfter;
    /// # pollster::block_on(async {
    /// let token = CancelToken::new();
    /// let fut: CancelAfter<'_, _> = token.cancel_after(std::future::ready(()));
    /// fut.await; // the "deadline" is already due
    /// assert!(token.is_cancelled());
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct CancelAfter<'a, F> {
        #[pin]
        wait: WaitFor<&'a CancelToken>,
        #[pin]
        deadline: Option<F>,
    }
}

impl<'a, F> CancelAfter<'a, F> {
    pub(super) fn new(token: &'a CancelToken, deadline: F) -> Self {
        Self {
            wait: WaitFor::new(token),
            deadline: Some(deadline),
        }
    }
}

impl<F: Future> Future for CancelAfter<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        poll_cancel_after(this.wait, this.deadline, cx)
    }
}

impl<F> fmt::Debug for CancelAfter<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelAfter")
            .field("token", self.wait.token())
            .field("pending", &self.deadline.is_some())
            .finish()
    }
}

pin_project! {
    /// The future of [`CancelToken::cancel_after_owned`]: a
    /// [`CancelAfter`] holding its own handle to the token.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it drops the deadline future and leaves the
    /// token as it is.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// use weftwork::cancel::CancelAfterOwned;
    /// let token = CancelToken::new();
    /// let fut: CancelAfterOwned<_> = token.cancel_after_owned(async {});
    /// std::thread::spawn(move || pollster::block_on(fut)).join().unwrap();
    /// assert!(token.is_cancelled());
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct CancelAfterOwned<F> {
        #[pin]
        wait: WaitFor<CancelToken>,
        #[pin]
        deadline: Option<F>,
    }
}

impl<F> CancelAfterOwned<F> {
    pub(super) fn new(token: CancelToken, deadline: F) -> Self {
        Self {
            wait: WaitFor::new(token),
            deadline: Some(deadline),
        }
    }
}

impl<F: Future> Future for CancelAfterOwned<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        poll_cancel_after(this.wait, this.deadline, cx)
    }
}

impl<F> fmt::Debug for CancelAfterOwned<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelAfterOwned")
            .field("token", self.wait.token())
            .field("pending", &self.deadline.is_some())
            .finish()
    }
}

pin_project! {
    /// The future of [`CancelToken::run_until_cancelled`]: `Some(output)`
    /// if the inner future completes first, `None` if the token is
    /// cancelled first. The token is checked before each poll of the inner
    /// future, so cancellation wins a tie.
    ///
    /// # Cancel safety
    /// As cancel-safe as the inner future, which it drops when dropped.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// use weftwork::cancel::RunUntilCancelled;
    /// # pollster::block_on(async {
    /// let token = CancelToken::new();
    /// let fut: RunUntilCancelled<'_, _> = token.run_until_cancelled(async { 1 });
    /// assert_eq!(fut.await, Some(1));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct RunUntilCancelled<'a, F> {
        #[pin]
        wait: WaitFor<&'a CancelToken>,
        #[pin]
        fut: F,
    }
}

impl<'a, F> RunUntilCancelled<'a, F> {
    pub(super) fn new(token: &'a CancelToken, fut: F) -> Self {
        Self {
            wait: WaitFor::new(token),
            fut,
        }
    }
}

impl<F: Future> Future for RunUntilCancelled<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.wait.poll_wait(cx).is_ready() {
            return Poll::Ready(None);
        }
        this.fut.poll(cx).map(Some)
    }
}

impl<F> fmt::Debug for RunUntilCancelled<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelled")
            .field("token", self.wait.token())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`CancelToken::run_until_cancelled_owned`]: a
    /// [`RunUntilCancelled`] holding its own handle to the token.
    ///
    /// # Cancel safety
    /// As cancel-safe as the inner future, which it drops when dropped.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// use weftwork::cancel::RunUntilCancelledOwned;
    /// let token = CancelToken::new();
    /// let fut: RunUntilCancelledOwned<_> = token.run_until_cancelled_owned(async { 2 });
    /// let out = std::thread::spawn(move || pollster::block_on(fut)).join().unwrap();
    /// assert_eq!(out, Some(2));
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct RunUntilCancelledOwned<F> {
        #[pin]
        wait: WaitFor<CancelToken>,
        #[pin]
        fut: F,
    }
}

impl<F> RunUntilCancelledOwned<F> {
    pub(super) fn new(token: CancelToken, fut: F) -> Self {
        Self {
            wait: WaitFor::new(token),
            fut,
        }
    }
}

impl<F: Future> Future for RunUntilCancelledOwned<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.wait.poll_wait(cx).is_ready() {
            return Poll::Ready(None);
        }
        this.fut.poll(cx).map(Some)
    }
}

impl<F> fmt::Debug for RunUntilCancelledOwned<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelledOwned")
            .field("token", self.wait.token())
            .finish_non_exhaustive()
    }
}
