//! What a scope does with its children's results: the policies behind
//! [`scope`](super::scope), [`try_scope`](super::try_scope),
//! [`supervise`](super::supervise) and [`race`](super::race).

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::wait::SpinLock;

mod sealed {
    pub trait Sealed {}
}

/// The policy a [`Scope`](super::Scope) follows; it decides what
/// [`Scope::spawn`](super::Scope::spawn) accepts and what the scope returns.
/// Sealed: one of [`Plain`], [`FailFast`], [`Supervise`], [`FirstOk`].
///
/// # Examples
///
/// ```
/// use weftwork::scope::{Plain, Scope};
///
/// fn takes_plain_scope(s: &Scope<'_, Plain>) -> usize {
///     s.live()
/// }
/// # let _ = takes_plain_scope;
/// ```
pub trait Mode: Clone + Send + Sync + sealed::Sealed {
    /// Whether the scope must stop now (an error or a winner was recorded).
    #[doc(hidden)]
    fn stopped(&self) -> bool {
        false
    }
}

/// [`scope`](super::scope)'s policy: children return anything; the body's
/// value is the result; nothing stops the scope early.
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let n = weftwork::scope(async |s| s.spawn(async { 2 }).await).await;
/// assert_eq!(n, 2);
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;
impl sealed::Sealed for Plain {}
impl Mode for Plain {}

/// A value recorded once: the first writer wins, later ones are refused.
#[derive(Debug)]
pub(crate) struct Verdict<V> {
    set: AtomicUsize,
    value: SpinLock<Option<V>>,
}

impl<V> Verdict<V> {
    pub(crate) fn new() -> Self {
        Self {
            set: AtomicUsize::new(0),
            value: SpinLock::new(None),
        }
    }

    /// Records `v` if nothing was recorded yet; otherwise hands it back.
    pub(crate) fn record(&self, v: V) -> Result<(), V> {
        self.value.with(|slot| {
            if self.set.load(Relaxed) != 0 {
                return Err(v);
            }
            *slot = Some(v);
            self.set.store(1, Release);
            Ok(())
        })
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Acquire) != 0
    }

    pub(crate) fn take(&self) -> Option<V> {
        self.value.with(Option::take)
    }
}

/// [`try_scope`](super::try_scope)'s policy: children return
/// `Result<T, E>`; the first `Err` (from a child or the body) stops the
/// scope: every other child and the body are dropped unpolled, and the
/// error is returned.
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let r: Result<(), &str> = weftwork::try_scope(async |s| {
///     s.spawn(async { Err::<(), _>("no") });
///     Ok(())
/// })
/// .await;
/// assert_eq!(r, Err("no"));
/// # });
/// ```
#[derive(Debug)]
pub struct FailFast<E>(pub(crate) Arc<Verdict<E>>);

impl<E> Clone for FailFast<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl<E> sealed::Sealed for FailFast<E> {}
impl<E: Send> Mode for FailFast<E> {
    fn stopped(&self) -> bool {
        self.0.is_set()
    }
}

/// [`supervise`](super::supervise)'s policy: children return
/// `Result<T, E>`; errors are collected (in completion order) while the
/// other children keep running.
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let ((), errors) = weftwork::scope::supervise(async |s| {
///     s.spawn(async { Err::<(), _>("a") });
///     s.spawn(async { Ok::<_, &str>(()) });
/// })
/// .await;
/// assert_eq!(errors, ["a"]);
/// # });
/// ```
#[derive(Debug)]
pub struct Supervise<E>(pub(crate) Arc<SpinLock<Vec<E>>>);

impl<E> Clone for Supervise<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl<E> sealed::Sealed for Supervise<E> {}
impl<E: Send> Mode for Supervise<E> {}

/// [`race`](super::race)'s policy: children return `Result<T, E>`; the
/// first `Ok` wins and stops the scope (every other child and the body are
/// dropped); if all fail, their errors are returned in completion order.
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let r = weftwork::scope::race(async |s| {
///     s.spawn(async { Err::<u8, _>("down") });
///     s.spawn(async { Ok(7) });
/// })
/// .await;
/// assert_eq!(r, Ok(7));
/// # });
/// ```
#[derive(Debug)]
pub struct FirstOk<T, E>(pub(crate) Arc<(Verdict<T>, SpinLock<Vec<E>>)>);

impl<T, E> Clone for FirstOk<T, E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl<T, E> sealed::Sealed for FirstOk<T, E> {}
impl<T: Send, E: Send> Mode for FirstOk<T, E> {
    fn stopped(&self) -> bool {
        self.0.0.is_set()
    }
}
