//! [`local_scope`]: a scope whose handles cannot escape its body.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::ops::Deref;

use alloc::vec::Vec;

use super::{Builder, FailFast, FirstOk, Mode, Plain, Scope, Supervise};

/// The scope [`local_scope`] hands its body: a [`Scope`] branded with a
/// lifetime `'s` that exists only inside the body, so neither it nor a
/// [`JoinHandle`](super::JoinHandle) can leave the body. It derefs to
/// [`Scope<'s, M>`](Scope) for [`spawn`](Scope::spawn),
/// [`token`](Scope::token) and the rest; clone it to spawn from inside a
/// child.
///
/// # Examples
///
/// ```
/// use weftwork::LocalScope;
///
/// async fn double<'s, 'env>(s: LocalScope<'s, 'env>, x: &'env u32) -> u32 {
///     s.spawn(async move { x * 2 }).await
/// }
///
/// let x = 21;
/// assert_eq!(pollster::block_on(weftwork::local_scope(async |s| double(s, &x).await)), 42);
/// ```
///
/// Neither the scope nor a handle can be returned from the body:
///
/// ```compile_fail
/// let h = pollster::block_on(weftwork::local_scope(async |s| s.spawn(async { 1 })));
/// ```
///
/// ```compile_fail
/// let s = pollster::block_on(weftwork::local_scope(async |s| s));
/// ```
///
/// ```compile_fail
/// let mut keep = None;
/// pollster::block_on(weftwork::local_scope(async |s| keep = Some(s.clone())));
/// ```
pub struct LocalScope<'s, 'env, M: Mode = Plain> {
    scope: Scope<'s, M>,
    /// Implies `'env: 's` (well-formedness of `&'s &'env ()`), which lets
    /// children borrow `'env` data. (`Scope<'s>` is invariant in `'s`.)
    _env: PhantomData<&'s &'env ()>,
}

impl<'s, M: Mode> LocalScope<'s, 's, M> {
    fn brand(scope: Scope<'s, M>) -> Self {
        Self {
            scope,
            _env: PhantomData,
        }
    }
}

impl<'s, M: Mode> Deref for LocalScope<'s, '_, M> {
    type Target = Scope<'s, M>;

    fn deref(&self) -> &Scope<'s, M> {
        &self.scope
    }
}

impl<M: Mode> Clone for LocalScope<'_, '_, M> {
    fn clone(&self) -> Self {
        Self {
            scope: self.scope.clone(),
            _env: PhantomData,
        }
    }
}

impl<M: Mode> fmt::Debug for LocalScope<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.scope.fmt(f)
    }
}

/// [`scope`](super::scope()) whose [`LocalScope`] and
/// [`JoinHandle`](super::JoinHandle)s cannot leave the body: that is a
/// compile error, not a run-time panic.
///
/// The price: `rustc` cannot prove `Send` for a future that *awaits* a
/// `local_scope` (a known limit with higher-ranked lifetimes), so it cannot
/// be awaited inside a `tokio::spawn`ed task or a scope's child. Use it
/// where nothing asks for `Send`: `block_on`, current-thread runtimes,
/// `LocalSet`, `LocalExecutor`, embedded executors (the `local_scope`
/// future itself is `Send` and may be spawned directly). Otherwise use
/// [`scope`](super::scope()).
///
/// The same as [`Builder::new().local_scope(body)`](Builder::local_scope).
///
/// # Cancel safety
/// As [`scope`](super::scope()).
///
/// # Examples
///
/// ```
/// let data = [1, 2, 3, 4];
/// let total = pollster::block_on(weftwork::local_scope(async |s| {
///     let (left, right) = data.split_at(2);
///     let a = s.spawn(async { left.iter().sum::<i32>() });
///     let b = s.spawn(async { right.iter().sum::<i32>() });
///     a.await + b.await
/// }));
/// assert_eq!(total, 10);
/// ```
///
/// Children cannot borrow the body's own locals:
///
/// ```compile_fail
/// pollster::block_on(weftwork::local_scope(async |s| {
///     let local = vec![1, 2, 3];
///     s.spawn(async { local.len() }).await
/// }));
/// ```
pub fn local_scope<'env, F, R>(body: F) -> impl Future<Output = R> + 'env
where
    F: for<'s> AsyncFnOnce(LocalScope<'s, 'env>) -> R + 'env,
    R: 'env,
{
    Builder::new().local_scope(body)
}

impl Builder {
    /// [`local_scope`] with this configuration.
    ///
    /// # Cancel safety
    /// As [`scope`](super::scope()).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = weftwork::scope::Builder::new().limit(1);
    /// let n = pollster::block_on(b.local_scope(async |s| s.spawn(async { 3 }).await));
    /// assert_eq!(n, 3);
    /// ```
    pub fn local_scope<'env, F, R>(self, body: F) -> impl Future<Output = R> + 'env
    where
        F: for<'s> AsyncFnOnce(LocalScope<'s, 'env>) -> R + 'env,
        R: 'env,
    {
        self.scope(move |s| body(LocalScope::brand(s)))
    }

    /// [`try_scope`](super::try_scope()) whose handles cannot leave the
    /// body, as [`local_scope`].
    ///
    /// # Cancel safety
    /// As [`scope`](super::scope()).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = pollster::block_on(weftwork::scope::Builder::new().local_try_scope(async |s| {
    ///     s.spawn(async { Err::<(), _>("disk full") });
    ///     Ok(())
    /// }));
    /// assert_eq!(r, Err("disk full"));
    /// ```
    pub fn local_try_scope<'env, F, R, E>(
        self,
        body: F,
    ) -> impl Future<Output = Result<R, E>> + 'env
    where
        F: for<'s> AsyncFnOnce(LocalScope<'s, 'env, FailFast<E>>) -> Result<R, E> + 'env,
        E: Send + 'env,
        R: 'env,
    {
        self.try_scope(move |s| body(LocalScope::brand(s)))
    }

    /// [`supervise`](super::supervise()) whose handles cannot leave the
    /// body, as [`local_scope`].
    ///
    /// # Cancel safety
    /// As [`scope`](super::scope()).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = weftwork::scope::Builder::new();
    /// let ((), errors) = pollster::block_on(b.local_supervise(async |s| {
    ///     s.spawn(async { Err::<(), _>("a") });
    ///     s.spawn(async { Ok(()) });
    /// }));
    /// assert_eq!(errors, ["a"]);
    /// ```
    pub fn local_supervise<'env, F, R, E>(self, body: F) -> impl Future<Output = (R, Vec<E>)> + 'env
    where
        F: for<'s> AsyncFnOnce(LocalScope<'s, 'env, Supervise<E>>) -> R + 'env,
        E: Send + 'env,
        R: 'env,
    {
        self.supervise(move |s| body(LocalScope::brand(s)))
    }

    /// [`race`](super::race()) whose scope cannot leave the body, as
    /// [`local_scope`].
    ///
    /// # Cancel safety
    /// As [`scope`](super::scope()).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = pollster::block_on(weftwork::scope::Builder::new().local_race(async |s| {
    ///     s.spawn(async { Err::<&str, _>("eu: timeout") });
    ///     s.spawn(async { Ok("us") });
    /// }));
    /// assert_eq!(r, Ok("us"));
    /// ```
    pub fn local_race<'env, F, T, E>(
        self,
        body: F,
    ) -> impl Future<Output = Result<T, Vec<E>>> + 'env
    where
        F: for<'s> AsyncFnOnce(LocalScope<'s, 'env, FirstOk<T, E>>) + 'env,
        T: Send + 'env,
        E: Send + 'env,
    {
        self.race(move |s| body(LocalScope::brand(s)))
    }
}
