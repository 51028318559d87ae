//! Task scopes: structured concurrency that borrows, cancels, limits and
//! never orphans.
//!
//! [`scope`](scope()) runs a body that spawns children. Body and children
//! run **concurrently inside the caller's task** (no `'static` bound: the
//! children borrow the caller's locals), and the scope returns only after
//! the body **and every child** finished. Nothing is left running.
//!
//! ```
//! # pollster::block_on(async {
//! let pages = ["a", "bb", "ccc"];
//! let mut lens = Vec::new();
//! weftwork::scope(async |s| {
//!     let handles: Vec<_> = pages.iter().map(|p| s.spawn(async move { p.len() })).collect();
//!     for h in handles {
//!         lens.push(h.await);
//!     }
//! })
//! .await;
//! assert_eq!(lens, [1, 2, 3]);
//! # });
//! ```
//!
//! # Policies
//!
//! | entry point | children return | the scope returns | an error… |
//! |---|---|---|---|
//! | [`scope`](scope()) | anything | the body's value | is just a value |
//! | [`try_scope`] | `Result<T, E>` | `Result<R, E>` | stops the scope: everything else is dropped (fail-fast) |
//! | [`supervise`] | `Result<T, E>` | `(R, Vec<E>)` | is collected; siblings keep running |
//! | [`race`] | `Result<T, E>` | `Result<T, Vec<E>>` | is collected; the first `Ok` stops the scope |
//!
//! [`Builder`] adds a **concurrency limit** (children over it wait, never
//! polled, until a slot frees — no permit is held while waiting, so there
//! is no semaphore deadlock) and a parent [`CancelToken`]. The limit bounds
//! the children nobody waits on: a waiting child whose [`JoinHandle`] is
//! awaited is let in at once, even over the limit, so a child awaiting a
//! grandchild (or the body awaiting any child) never deadlocks; so is the
//! oldest waiting member of an awaited completion set with none running.
//! [`Completions`] yields results in completion order.
//!
//! # Cancellation
//!
//! * **Hard**: drop the scope future. The body and every child are dropped
//!   (their destructors run) before the drop returns; the scope's token is
//!   cancelled. Wrap the scope in
//!   [`CancelToken::run_until_cancelled`] to drop it on a token.
//! * **Cooperative**: each scope owns a [`CancelToken`]
//!   ([`Scope::token`]), a child of its parent's
//!   ([`Builder::child_of`], [`Scope::nested`]). Children watch it
//!   (`token.cancelled().await`) and wind down on their own terms.
//!   [`Scope::cancel_after`] cancels it when any future you give it
//!   completes: a deadline from whatever timer you have.
//!
//! # Panics
//!
//! A panicking child (or body) stops the scope: with `std`, the panic is
//! caught, the body and every other child are dropped, then the panic
//! resumes in the caller — that first panic, even if a destructor panics
//! while the rest is dropped. Without `std` the panic unwinds through the
//! scope future, and dropping it drops the rest.
//!
//! A destructor (of the body or a child) that panics while the scope
//! drops everything does not stop it: the other children are still
//! dropped, their handles see it, and the token is cancelled, then that
//! panic goes on. A second destructor panicking during that unwind aborts
//! the process, as it does for the elements of a `Vec`.
//!
//! # Fairness
//!
//! The scope polls, in rounds, every child woken before the round began
//! (and the body), so an always-ready child cannot starve its siblings;
//! after 128 polls it yields to the executor so it cannot starve other
//! tasks.
//!
//! # Soundness and `'env`
//!
//! Children may borrow anything that outlives the scope call. They cannot
//! borrow the body's own locals (those die before the children are joined):
//!
//! ```compile_fail
//! # pollster::block_on(async {
//! weftwork::scope(async |s| {
//!     let local = vec![1, 2, 3];
//!     s.spawn(async { local.len() }); // error: `local` does not live long enough
//! })
//! .await;
//! # });
//! ```
//!
//! A handle moved out of the body still borrows what its child borrowed, so
//! it cannot outlive that data either:
//!
//! ```compile_fail
//! let handle = {
//!     let data = vec![1, 2, 3];
//!     pollster::block_on(weftwork::scope(async |s| s.spawn(async { data.len() })))
//! }; // error: `data` does not live long enough
//! # drop(handle);
//! ```
//!
//! Children are polled only from inside the scope future's `poll`, so a
//! leaked (`mem::forget`) scope future simply never polls them again —
//! nothing touches the borrowed data after the leak.
//!
//! The body gets its [`Scope`] by value (cheap to clone), so a `Scope` or
//! [`JoinHandle`] can be moved out of the body. That is harmless — the
//! scope returns only after every child finished, so an escaped handle
//! holds a finished output, and spawning on a finished scope panics with a
//! clear message — but it is not prevented at compile time.
//!
//! [`local_scope`] prevents it: its [`LocalScope`] carries a higher-ranked
//! lifetime, so returning or storing it or a handle outside the body does
//! not compile. The trade-off: `rustc` cannot prove `Send` for a future
//! that awaits a `local_scope` (a `tokio::spawn`ed task, a scope's child),
//! so it suits `block_on`, current-thread and local executors; elsewhere
//! use [`scope`](scope()).
//!
//! # Send
//!
//! Children must be `Send` (the scope future is `Send` when the body is, so
//! it can be spawned on a multi-threaded runtime); they still all run in
//! the one task that polls the scope. For parallelism across threads use
//! [`TaskGroup`](crate::TaskGroup).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

mod children;
mod completions;
mod drive;
mod handle;
mod local;
mod mode;
mod ready;
mod seg;
mod task;

pub use completions::{Completions, Next};
pub use handle::{JoinHandle, Scope};
pub use local::{LocalScope, local_scope};
pub use mode::{FailFast, FirstOk, Mode, Plain, Supervise};

use crate::cancel::CancelToken;
use crate::wait::SpinLock;
use children::Core;
use drive::Drive;
use mode::Verdict;

/// The scope [`try_scope`] hands its body.
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// use weftwork::scope::TryScope;
/// let r: Result<u8, &str> = weftwork::try_scope(async |s: TryScope<'_, &str>| {
///     s.spawn(async { Err::<(), _>("failed") });
///     Ok(1)
/// })
/// .await;
/// assert_eq!(r, Err("failed"));
/// # });
/// ```
pub type TryScope<'env, E> = Scope<'env, FailFast<E>>;
/// The scope [`supervise`] hands its body.
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// use weftwork::scope::SupervisedScope;
/// let (out, errors) = weftwork::scope::supervise(async |s: SupervisedScope<'_, &str>| {
///     s.spawn(async { Err::<(), _>("one failed") });
///     s.spawn(async { Ok(()) });
///     7
/// })
/// .await;
/// assert_eq!((out, errors), (7, vec!["one failed"]));
/// # });
/// ```
pub type SupervisedScope<'env, E> = Scope<'env, Supervise<E>>;
/// The scope [`race`] hands its body.
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// use weftwork::scope::RaceScope;
/// let r = weftwork::scope::race(async |s: RaceScope<'_, u8, &str>| {
///     s.spawn(async { Err("slow path failed") });
///     s.spawn(async { Ok(3) });
/// })
/// .await;
/// assert_eq!(r, Ok(3));
/// # });
/// ```
pub type RaceScope<'env, T, E> = Scope<'env, FirstOk<T, E>>;

/// Runs `body` with a [`Scope`] to spawn children on; returns the body's
/// value once the body and every child have finished.
///
/// The same as [`Builder::new().scope(body)`](Builder::scope).
///
/// # Cancel safety
/// Dropping the future drops the body and every child (running their
/// destructors) before the drop returns, and cancels the scope's token.
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let mut total = 0;
/// let data = [1, 2, 3, 4];
/// weftwork::scope(async |s| {
///     let (left, right) = data.split_at(2);
///     let a = s.spawn(async { left.iter().sum::<i32>() });
///     let b = s.spawn(async { right.iter().sum::<i32>() });
///     total = a.await + b.await;
/// })
/// .await;
/// assert_eq!(total, 10);
/// # });
/// ```
pub fn scope<'env, F, Fut>(body: F) -> impl Future<Output = Fut::Output> + 'env
where
    F: FnOnce(Scope<'env>) -> Fut,
    Fut: Future + 'env,
{
    Builder::new().scope(body)
}

/// Like [`scope`](scope()), with fallible children: the first `Err` (from a
/// child or the body) stops the scope — no other child and not the body is
/// polled again, all are dropped — and is returned.
///
/// The same as [`Builder::new().try_scope(body)`](Builder::try_scope).
///
/// # Cancel safety
/// As [`scope`](scope()).
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let r: Result<(), String> = weftwork::try_scope(async |s| {
///     s.spawn(async { Err::<(), _>("disk full".to_string()) });
///     s.spawn(std::future::pending::<Result<(), String>>()); // dropped, not awaited
///     Ok(())
/// })
/// .await;
/// assert_eq!(r.unwrap_err(), "disk full");
/// # });
/// ```
pub fn try_scope<'env, F, Fut, R, E>(body: F) -> impl Future<Output = Result<R, E>> + 'env
where
    F: FnOnce(TryScope<'env, E>) -> Fut,
    Fut: Future<Output = Result<R, E>> + 'env,
    E: Send + 'env,
    R: 'env,
{
    Builder::new().try_scope(body)
}

/// Like [`scope`](scope()), with fallible children whose errors are
/// collected (in completion order) while the others keep running; returns
/// the body's value and the errors.
///
/// # Cancel safety
/// As [`scope`](scope()).
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let (ok, errors) = weftwork::scope::supervise(async |s| {
///     let hs: Vec<_> = (0..4u8)
///         .map(|i| s.spawn(async move { if i % 2 == 0 { Ok(i) } else { Err(i) } }))
///         .collect();
///     let mut ok = Vec::new();
///     for h in hs {
///         ok.extend(h.await);
///     }
///     ok
/// })
/// .await;
/// assert_eq!(ok, [0, 2]);
/// assert_eq!(errors, [1, 3]);
/// # });
/// ```
pub fn supervise<'env, F, Fut, E>(body: F) -> impl Future<Output = (Fut::Output, Vec<E>)> + 'env
where
    F: FnOnce(SupervisedScope<'env, E>) -> Fut,
    Fut: Future + 'env,
    E: Send + 'env,
{
    Builder::new().supervise(body)
}

/// Runs competing children; the first `Ok` wins (everything else is
/// dropped). If every child fails, returns their errors in completion order
/// (empty if none was spawned).
///
/// # Cancel safety
/// As [`scope`](scope()).
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let fastest = weftwork::scope::race(async |s| {
///     for mirror in ["eu", "us", "ap"] {
///         s.spawn(async move {
///             if mirror == "eu" { Err(format!("{mirror}: timeout")) } else { Ok(mirror) }
///         });
///     }
/// })
/// .await;
/// assert_eq!(fastest, Ok("us"));
/// # });
/// ```
pub fn race<'env, F, Fut, T, E>(body: F) -> impl Future<Output = Result<T, Vec<E>>> + 'env
where
    F: FnOnce(RaceScope<'env, T, E>) -> Fut,
    Fut: Future<Output = ()> + 'env,
    T: Send + 'env,
    E: Send + 'env,
{
    Builder::new().race(body)
}

/// Configures a scope: a concurrency limit and a parent token.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # pollster::block_on(async {
/// let (now, max) = (AtomicUsize::new(0), AtomicUsize::new(0));
/// weftwork::scope::Builder::new()
///     .limit(2)
///     .scope(async |s| {
///         for _ in 0..10 {
///             s.spawn(async {
///                 max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
///                 weftwork::scope::yield_now().await;
///                 now.fetch_sub(1, SeqCst);
///             });
///         }
///     })
///     .await;
/// assert_eq!(max.load(SeqCst), 2);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    limit: Option<usize>,
    parent: Option<CancelToken>,
}

impl Builder {
    /// No limit, a fresh token.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let v = weftwork::scope::Builder::new().scope(async |_| 5).await;
    /// assert_eq!(v, 5);
    /// # });
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` children run at once; the rest wait (unpolled, in spawn
    /// order) until one finishes. The body is not counted, nor is a
    /// [`Scope::cancel_after`] deadline.
    ///
    /// The limit bounds the children nobody waits on. A waiting child whose
    /// [`JoinHandle`] is awaited (polled) is let in at once, even over the
    /// limit: whoever awaits it may hold the slot it would wait for (a
    /// child awaiting its grandchild under `limit(1)`), and that would
    /// deadlock. It then counts as running like the others, and no waiting
    /// child is let in before the running ones are back under `n`.
    ///
    /// The same holds for a [`Completions`] set: while its consumer awaits
    /// [`Completions::next`] and none of the set's unfinished members
    /// runs, the oldest waiting member is let in at once, so a *child*
    /// awaiting a set under `limit(1)` does not deadlock either. One member
    /// at a time: the others wait until it has finished and the set is
    /// awaited again with none running. Finding that member scans the
    /// children waiting for a slot, oldest first.
    ///
    /// # Panics
    /// If `n == 0` (no child could ever run).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// // Under `limit(1)` a child awaits a grandchild: the grandchild is let
    /// // in over the limit, as it is awaited.
    /// let n = weftwork::scope::Builder::new()
    ///     .limit(1)
    ///     .scope(async |s| {
    ///         let s2 = s.clone();
    ///         s.spawn(async move { s2.spawn(async { 1 }).await + 1 }).await
    ///     })
    ///     .await;
    /// assert_eq!(n, 2);
    /// # });
    /// ```
    pub fn limit(mut self, n: usize) -> Self {
        assert!(
            n > 0,
            "weftwork::scope::Builder::limit: the limit must be at least 1"
        );
        self.limit = Some(n);
        self
    }

    /// Makes the scope's token a child of `parent`: cancelling `parent`
    /// cancels the scope's token (not the other way round).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let shutdown = weftwork::CancelToken::new();
    /// shutdown.cancel();
    /// let seen = weftwork::scope::Builder::new()
    ///     .child_of(&shutdown)
    ///     .scope(async |s| s.token().is_cancelled())
    ///     .await;
    /// assert!(seen);
    /// # });
    /// ```
    pub fn child_of(mut self, parent: &CancelToken) -> Self {
        self.parent = Some(parent.clone());
        self
    }

    fn core<'env>(self) -> Arc<Core<'env>> {
        let token = self.parent.map_or_else(CancelToken::new, |p| p.child());
        Arc::new(Core::new(self.limit.unwrap_or(usize::MAX), token))
    }

    /// [`scope`](scope()) with this configuration.
    ///
    /// # Cancel safety
    /// As [`scope`](scope()).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let n = weftwork::scope::Builder::new().limit(1).scope(async |s| s.spawn(async { 3 }).await).await;
    /// assert_eq!(n, 3);
    /// # });
    /// ```
    pub fn scope<'env, F, Fut>(self, body: F) -> impl Future<Output = Fut::Output> + 'env
    where
        F: FnOnce(Scope<'env>) -> Fut,
        Fut: Future + 'env,
    {
        let core = self.core();
        let body = drive::start(&core, || body(Scope::new(core.clone(), Plain)));
        // Built now, not on the first poll: dropping the scope future even
        // unpolled must tear down what the body's closure may have spawned.
        let drive = Drive::new(core, Plain, body);
        async move { drive.await.expect("a plain scope is never stopped early") }
    }

    /// [`try_scope`] with this configuration.
    ///
    /// # Cancel safety
    /// As [`scope`](scope()).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let r = weftwork::scope::Builder::new()
    ///     .limit(2)
    ///     .try_scope(async |s| s.spawn(async { Ok::<u32, ()>(1) }).await.checked_add(1).ok_or(()))
    ///     .await;
    /// assert_eq!(r, Ok(2));
    /// # });
    /// ```
    pub fn try_scope<'env, F, Fut, R, E>(self, body: F) -> impl Future<Output = Result<R, E>> + 'env
    where
        F: FnOnce(TryScope<'env, E>) -> Fut,
        Fut: Future<Output = Result<R, E>> + 'env,
        E: Send + 'env,
        R: 'env,
    {
        let core = self.core();
        let mode = FailFast(Arc::new(Verdict::new()));
        let body = drive::start(&core, || body(Scope::new(core.clone(), mode.clone())));
        let verdict = mode.0.clone();
        let body = async move {
            match body.await {
                Ok(r) => Some(r),
                Err(e) => {
                    let _ = verdict.record(e);
                    None
                }
            }
        };
        let verdict = mode.0.clone();
        let drive = Drive::new(core, mode, body);
        async move {
            match drive.await {
                Some(Some(r)) => Ok(r),
                _ => Err(verdict.take().expect("a stopped try_scope holds its error")),
            }
        }
    }

    /// [`supervise`] with this configuration.
    ///
    /// # Cancel safety
    /// As [`scope`](scope()).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let ((), errs) = weftwork::scope::Builder::new()
    ///     .limit(1)
    ///     .supervise(async |s| {
    ///         s.spawn(async { Err::<(), _>(1) });
    ///         s.spawn(async { Err::<(), _>(2) });
    ///     })
    ///     .await;
    /// assert_eq!(errs, [1, 2]);
    /// # });
    /// ```
    pub fn supervise<'env, F, Fut, E>(
        self,
        body: F,
    ) -> impl Future<Output = (Fut::Output, Vec<E>)> + 'env
    where
        F: FnOnce(SupervisedScope<'env, E>) -> Fut,
        Fut: Future + 'env,
        E: Send + 'env,
    {
        let core = self.core();
        let mode = Supervise(Arc::new(SpinLock::new(Vec::new())));
        let body = drive::start(&core, || body(Scope::new(core.clone(), mode.clone())));
        let errors = mode.0.clone();
        let drive = Drive::new(core, mode, body);
        async move {
            let out = drive
                .await
                .expect("a supervised scope is never stopped early");
            (out, errors.with(core::mem::take))
        }
    }

    /// [`race`] with this configuration.
    ///
    /// # Cancel safety
    /// As [`scope`](scope()).
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let r = weftwork::scope::Builder::new()
    ///     .race(async |s| s.spawn(async { Ok::<_, ()>("only") }))
    ///     .await;
    /// assert_eq!(r, Ok("only"));
    /// # });
    /// ```
    pub fn race<'env, F, Fut, T, E>(self, body: F) -> impl Future<Output = Result<T, Vec<E>>> + 'env
    where
        F: FnOnce(RaceScope<'env, T, E>) -> Fut,
        Fut: Future<Output = ()> + 'env,
        T: Send + 'env,
        E: Send + 'env,
    {
        let core = self.core();
        let mode = FirstOk(Arc::new((Verdict::new(), SpinLock::new(Vec::new()))));
        let body = drive::start(&core, || body(Scope::new(core.clone(), mode.clone())));
        let state = mode.0.clone();
        let drive = Drive::new(core, mode, body);
        async move {
            let _ = drive.await;
            match state.0.take() {
                Some(v) => Ok(v),
                None => Err(state.1.with(core::mem::take)),
            }
        }
    }
}

/// Yields once to the executor (or, inside a scope, to the scope's other
/// children): the future is pending on its first poll and wakes itself.
///
/// # Cancel safety
/// Cancel-safe: it holds nothing.
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// weftwork::scope::yield_now().await;
/// # });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
///
/// # Cancel safety
/// Cancel-safe: it holds nothing.
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let y: weftwork::scope::YieldNow = weftwork::scope::yield_now();
/// y.await;
/// # });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
