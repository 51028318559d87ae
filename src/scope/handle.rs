//! [`Scope`] (the handle the body and children spawn through) and
//! [`JoinHandle`].

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::future::FusedFuture;

use super::Builder;
use super::children::{Core, handle_side};
use super::mode::{FailFast, FirstOk, Mode, Plain, Supervise};
use super::task::{NO_SET, TaskPtr};
use crate::cancel::CancelToken;

/// A handle to a running scope: spawn children through it, reach its
/// [`CancelToken`], set a deadline.
///
/// The body receives one; clone it (a reference-count bump) to spawn from
/// inside a child. Children may borrow anything that outlives the scope
/// call (`'env`). `M` is the scope's policy ([`Plain`] for
/// [`scope`](super::scope()); see [`Mode`]).
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let words = ["a", "bb", "ccc"];
/// let total = weftwork::scope(async |s| {
///     let handles: Vec<_> = words.iter().map(|w| s.spawn(async move { w.len() })).collect();
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await;
///     }
///     sum
/// })
/// .await;
/// assert_eq!(total, 6);
/// # });
/// ```
pub struct Scope<'env, M: Mode = Plain> {
    pub(crate) core: Arc<Core<'env>>,
    pub(crate) mode: M,
}

impl<M: Mode> Clone for Scope<'_, M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            mode: self.mode.clone(),
        }
    }
}

impl<M: Mode> fmt::Debug for Scope<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

impl<'env, M: Mode> Scope<'env, M> {
    pub(crate) fn new(core: Arc<Core<'env>>, mode: M) -> Self {
        Self { core, mode }
    }

    /// Spawns `fut` with a handle (no policy wrapping).
    pub(crate) fn spawn_raw<F>(&self, fut: F) -> JoinHandle<'env, F::Output>
    where
        F: Future + Send + 'env,
        F::Output: Send + 'env,
    {
        JoinHandle {
            task: self.core.spawn(fut, true, true, NO_SET),
            _out: PhantomData,
            _env: PhantomData,
        }
    }

    /// Spawns `fut` without a handle.
    pub(crate) fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'env,
    {
        self.core.spawn(fut, true, false, NO_SET);
    }

    /// The scope's cancellation token. Children observe it to stop
    /// cooperatively (`s.token().cancelled().await`); cancelling it does
    /// not drop anything by itself. It is a child of the token given to
    /// [`Builder::child_of`], so cancelling an outer scope reaches it.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let stopped = weftwork::scope(async |s| {
    ///     let t = s.token().clone();
    ///     let worker = s.spawn(async move {
    ///         t.cancelled().await;
    ///         "stopped"
    ///     });
    ///     s.token().cancel();
    ///     worker.await
    /// })
    /// .await;
    /// assert_eq!(stopped, "stopped");
    /// # });
    /// ```
    pub fn token(&self) -> &CancelToken {
        self.core.token()
    }

    /// Cancels the scope's token once `deadline` completes. `deadline` is
    /// any future (`tokio::time::sleep(d)`, `async_io::Timer::after(d)`, an
    /// embassy `Timer`…): weftwork has no timer of its own. It runs in the
    /// background: it does not keep the scope open, and it is dropped when
    /// the scope ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let (tx, rx) = weftwork::channel::oneshot::<()>();
    /// let cancelled = weftwork::scope(async |s| {
    ///     // The "timer" here is a oneshot we fire by hand.
    ///     s.cancel_after(async move {
    ///         let _ = rx.await;
    ///     });
    ///     tx.send(()).unwrap();
    ///     s.token().cancelled().await;
    ///     s.token().is_cancelled()
    /// })
    /// .await;
    /// assert!(cancelled);
    /// # });
    /// ```
    pub fn cancel_after<F>(&self, deadline: F)
    where
        F: Future + Send + 'env,
    {
        let deadline = self.token().cancel_after_owned(deadline);
        self.core.spawn(deadline, false, false, NO_SET);
    }

    /// Children spawned and not finished yet (running or waiting for a slot
    /// under the concurrency limit).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// weftwork::scope(async |s| {
    ///     let h = s.spawn(async {});
    ///     assert_eq!(s.live(), 1);
    ///     h.await;
    ///     assert_eq!(s.live(), 0);
    /// })
    /// .await;
    /// # });
    /// ```
    pub fn live(&self) -> usize {
        self.core.live()
    }

    /// A [`Builder`] for a nested scope whose token is a child of this
    /// one's, so cancelling this scope reaches the nested one.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// weftwork::scope(async |outer| {
    ///     outer.token().cancel();
    ///     let inner_saw_it = outer.nested().scope(async |inner| inner.token().is_cancelled()).await;
    ///     assert!(inner_saw_it);
    /// })
    /// .await;
    /// # });
    /// ```
    pub fn nested(&self) -> Builder {
        Builder::new().child_of(self.token())
    }
}

impl<'env> Scope<'env, Plain> {
    /// Spawns `fut` as a child of this scope: it runs concurrently with the
    /// body and the other children, inside the scope's task, and the scope
    /// does not return before it finished. Over the concurrency limit it
    /// waits, unpolled, for a slot — unless its handle is awaited, which
    /// lets it in at once (see [`Builder::limit`]).
    ///
    /// Awaiting the [`JoinHandle`] gives the output; dropping the handle
    /// lets the child run on (it is still joined by the scope).
    ///
    /// # Panics
    /// If the scope has already finished (a handle kept past its end).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let mut log = Vec::new();
    /// weftwork::scope(async |s| {
    ///     let a = s.spawn(async { 1 });
    ///     let s2 = s.clone();
    ///     // A child spawning a grandchild.
    ///     let b = s.spawn(async move { s2.spawn(async { 2 }).await * 10 });
    ///     log.push(a.await + b.await);
    /// })
    /// .await;
    /// assert_eq!(log, [21]);
    /// # });
    /// ```
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<'env, F::Output>
    where
        F: Future + Send + 'env,
        F::Output: Send + 'env,
    {
        self.spawn_raw(fut)
    }
}

impl<'env, E: Send + 'env> Scope<'env, FailFast<E>> {
    /// Spawns a fallible child. Its `Ok` value goes to the [`JoinHandle`];
    /// an `Err` stops the scope at once: no other child and not the body is
    /// polled again, all are dropped, and [`try_scope`](super::try_scope)
    /// returns the error.
    ///
    /// # Panics
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let r: Result<u32, String> = weftwork::try_scope(async |s| {
    ///     let a = s.spawn(async { Ok::<_, String>(20) });
    ///     let b = s.spawn(async { "22".parse::<u32>().map_err(|e| e.to_string()) });
    ///     Ok(a.await + b.await)
    /// })
    /// .await;
    /// assert_eq!(r, Ok(42));
    /// # });
    /// ```
    pub fn spawn<F, T>(&self, fut: F) -> JoinHandle<'env, T>
    where
        F: Future<Output = Result<T, E>> + Send + 'env,
        T: Send + 'env,
    {
        let verdict = self.mode.0.clone();
        self.spawn_raw(async move {
            match fut.await {
                Ok(v) => v,
                Err(e) => {
                    let _ = verdict.record(e);
                    // The driver stops the scope right after this poll.
                    core::future::pending().await
                }
            }
        })
    }
}

impl<'env, E: Send + 'env> Scope<'env, Supervise<E>> {
    /// Spawns a fallible child. Its `Ok` value goes to the [`JoinHandle`]
    /// as `Some`; an `Err` is added to the errors
    /// [`supervise`](super::supervise) returns (the handle gives `None`),
    /// and the other children keep running.
    ///
    /// # Panics
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let (got, errors) = weftwork::scope::supervise(async |s| {
    ///     let bad = s.spawn(async { Err::<u8, _>("boom") });
    ///     let good = s.spawn(async { Ok::<u8, &str>(1) });
    ///     (bad.await, good.await)
    /// })
    /// .await;
    /// assert_eq!(got, (None, Some(1)));
    /// assert_eq!(errors, ["boom"]);
    /// # });
    /// ```
    pub fn spawn<F, T>(&self, fut: F) -> JoinHandle<'env, Option<T>>
    where
        F: Future<Output = Result<T, E>> + Send + 'env,
        T: Send + 'env,
    {
        let errors = self.mode.0.clone();
        self.spawn_raw(async move {
            match fut.await {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.with(|errs: &mut Vec<E>| errs.push(e));
                    None
                }
            }
        })
    }
}

impl<'env, T: Send + 'env, E: Send + 'env> Scope<'env, FirstOk<T, E>> {
    /// Spawns a competitor. The first `Ok` wins: the scope stops, every
    /// other child and the body are dropped, and [`race`](super::race)
    /// returns it. An `Err` is recorded and the others keep running.
    ///
    /// # Panics
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let r = weftwork::scope::race(async |s| {
    ///     s.spawn(async { Err::<&str, _>("mirror 1 down") });
    ///     s.spawn(async { Ok("mirror 2") });
    /// })
    /// .await;
    /// assert_eq!(r, Ok("mirror 2"));
    /// # });
    /// ```
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = Result<T, E>> + Send + 'env,
    {
        let state = self.mode.0.clone();
        self.spawn_detached(async move {
            match fut.await {
                Ok(v) => {
                    let _ = state.0.record(v);
                }
                Err(e) => state.1.with(|errs| errs.push(e)),
            }
        });
    }
}

/// The output of a child, once it finished; see [`Scope::spawn`].
///
/// Dropping the handle detaches the child (it keeps running and the scope
/// still waits for it); [`abort`](Self::abort) drops it. Awaiting the
/// handle of a child waiting for a slot under the concurrency limit lets
/// it in at once ([`Builder::limit`]).
///
/// # Cancel safety
/// Awaiting a handle is cancel-safe: dropping the await loses nothing; the
/// output stays until the handle itself is dropped.
///
/// # Panics
/// Awaiting panics if the child was dropped before it finished because its
/// scope was stopped or dropped (only possible for a handle that outlived
/// the scope's body and children).
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// weftwork::scope(async |s| {
///     let h = s.spawn(async { "out" });
///     assert_eq!(h.await, "out");
/// })
/// .await;
/// # });
/// ```
pub struct JoinHandle<'env, T> {
    /// The child's cell (the handle holds a reference to it, which keeps
    /// the scope's shared part alive too). `None`: spawned into a torn-down
    /// scope, or already joined.
    task: Option<TaskPtr>,
    _out: PhantomData<T>,
    /// Invariant in `'env`, like [`Scope`].
    _env: PhantomData<fn(&'env ()) -> &'env ()>,
}

impl<T> fmt::Debug for JoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("slot", &self.task.map(TaskPtr::index))
            .finish()
    }
}

impl<T> JoinHandle<'_, T> {
    /// Drops the child now (if it is being polled, right after that poll).
    /// A child waiting for a slot under the limit leaves the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// weftwork::scope(async |s| {
    ///     let forever = s.spawn(std::future::pending::<()>());
    ///     forever.abort(); // otherwise the scope would never end
    /// })
    /// .await;
    /// # });
    /// ```
    pub fn abort(mut self) {
        if let Some(t) = self.task.take() {
            // SAFETY: this is the child's handle, giving its reference up.
            unsafe { handle_side::let_go(t, true) };
        }
    }

    /// Whether the child has finished (its output is ready).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// weftwork::scope(async |s| {
    ///     let h = s.spawn(async {});
    ///     assert!(!h.is_finished());
    ///     weftwork::scope::yield_now().await;
    ///     assert!(h.is_finished());
    /// })
    /// .await;
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.is_some_and(handle_side::is_finished)
    }
}

// The output is never pinned: it is moved out when ready.
impl<T> Unpin for JoinHandle<'_, T> {}

impl<T> Future for JoinHandle<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(t) = self.task else {
            panic!(
                "weftwork::scope: JoinHandle polled after completion, or its \
                 child was spawned into a scope that was already dropped"
            );
        };
        // SAFETY: `t` was made by `spawn_raw` from a future whose output is
        // `T`, and this handle is its only handle.
        let out = core::task::ready!(unsafe { handle_side::poll_join::<T>(t, cx) });
        // Its references went with the output.
        self.task = None;
        Poll::Ready(out)
    }
}

/// `is_terminated` is `true` once the handle has returned the output (for
/// `futures::select!` and other users of [`FusedFuture`]).
///
/// # Examples
///
/// ```
/// use futures_core::future::FusedFuture;
/// # pollster::block_on(async {
/// weftwork::scope(async |s| {
///     let mut h = s.spawn(async { 1 });
///     assert!(!h.is_terminated());
///     assert_eq!((&mut h).await, 1);
///     assert!(h.is_terminated());
/// })
/// .await;
/// # });
/// ```
impl<T> FusedFuture for JoinHandle<'_, T> {
    fn is_terminated(&self) -> bool {
        self.task.is_none()
    }
}

impl<T> Drop for JoinHandle<'_, T> {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            // SAFETY: this is the child's handle, giving its reference up.
            unsafe { handle_side::let_go(t, false) };
        }
    }
}
