//! [`Completions`]: children whose outputs arrive in completion order.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::handle::Scope;
use super::mode::Plain;
use crate::wait::SpinLock;

struct Inner<T> {
    done: VecDeque<T>,
    /// Spawned here and not delivered yet.
    pending: usize,
    waker: Option<Waker>,
}

/// A set of children of one scope whose outputs are yielded **in
/// completion order** (like a Swift task group or `FuturesUnordered`), with
/// the scope's concurrency limit and lifetime rules.
///
/// Made by [`Scope::completions`]. Spawn as many children as you like, at
/// any time; [`next`](Self::next) gives the next finished output, or `None`
/// once every child spawned so far has been delivered. Also a
/// [`Stream`].
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// let order = weftwork::scope(async |s| {
///     let mut set = s.completions();
///     set.spawn(async {
///         for _ in 0..3 {
///             weftwork::scope::yield_now().await;
///         }
///         "slow"
///     });
///     set.spawn(async { "fast" });
///     let mut order = Vec::new();
///     while let Some(v) = set.next().await {
///         order.push(v);
///     }
///     order
/// })
/// .await;
/// assert_eq!(order, ["fast", "slow"]);
/// # });
/// ```
pub struct Completions<'env, T> {
    scope: Scope<'env, Plain>,
    inner: Arc<SpinLock<Inner<T>>>,
}

impl<T> fmt::Debug for Completions<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ready, pending) = self.inner.with(|i| (i.done.len(), i.pending));
        f.debug_struct("Completions")
            .field("ready", &ready)
            .field("pending", &pending)
            .finish()
    }
}

impl<'env> Scope<'env, Plain> {
    /// A new, empty [`Completions`] set spawning into this scope.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// weftwork::scope(async |s| {
    ///     let mut set = s.completions::<u8>();
    ///     assert!(set.next().await.is_none());
    /// })
    /// .await;
    /// # });
    /// ```
    pub fn completions<T>(&self) -> Completions<'env, T> {
        Completions {
            scope: self.clone(),
            inner: Arc::new(SpinLock::new(Inner {
                done: VecDeque::new(),
                pending: 0,
                waker: None,
            })),
        }
    }
}

impl<'env, T: Send + 'env> Completions<'env, T> {
    /// Spawns `fut` into the scope; its output joins this set when it
    /// finishes.
    ///
    /// # Panics
    /// If the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// let sum = weftwork::scope(async |s| {
    ///     let mut set = s.completions();
    ///     for i in 1..=4 {
    ///         set.spawn(async move { i });
    ///     }
    ///     let mut sum = 0;
    ///     while let Some(i) = set.next().await {
    ///         sum += i;
    ///     }
    ///     sum
    /// })
    /// .await;
    /// assert_eq!(sum, 10);
    /// # });
    /// ```
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = T> + Send + 'env,
    {
        self.inner.with(|i| i.pending += 1);
        let inner = self.inner.clone();
        self.scope.spawn_detached(async move {
            let v = fut.await;
            let waker = inner.with(|i| {
                i.done.push_back(v);
                i.pending -= 1;
                i.waker.take()
            });
            if let Some(w) = waker {
                w.wake();
            }
        });
    }
}

impl<T> Completions<'_, T> {
    /// Children spawned here whose output has not been taken yet.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// weftwork::scope(async |s| {
    ///     let mut set = s.completions();
    ///     set.spawn(async { 1 });
    ///     assert_eq!(set.len(), 1);
    ///     set.next().await;
    ///     assert_eq!(set.len(), 0);
    /// })
    /// .await;
    /// # });
    /// ```
    pub fn len(&self) -> usize {
        self.inner.with(|i| i.pending + i.done.len())
    }

    /// Whether [`len`](Self::len) is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// weftwork::scope(async |s| assert!(s.completions::<()>().is_empty())).await;
    /// # });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next output in completion order; `None` once every child
    /// spawned so far has been delivered.
    ///
    /// # Cancel safety
    /// Cancel-safe: an output is taken only when the future completes.
    ///
    /// # Examples
    ///
    /// ```
    /// # pollster::block_on(async {
    /// weftwork::scope(async |s| {
    ///     let mut set = s.completions();
    ///     set.spawn(async { 'x' });
    ///     assert_eq!(set.next().await, Some('x'));
    ///     assert_eq!(set.next().await, None);
    /// })
    /// .await;
    /// # });
    /// ```
    #[allow(clippy::should_implement_trait)] // async: it cannot be `Iterator::next`
    pub fn next(&mut self) -> Next<'_, T> {
        Next { inner: &self.inner }
    }
}

fn poll_next<T>(inner: &SpinLock<Inner<T>>, cx: &mut Context<'_>) -> Poll<Option<T>> {
    inner.with(|i| {
        if let Some(v) = i.done.pop_front() {
            return Poll::Ready(Some(v));
        }
        if i.pending == 0 {
            return Poll::Ready(None);
        }
        match &i.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => i.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    })
}

impl<T> Stream for Completions<'_, T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        poll_next(&self.inner, cx)
    }
}

/// The future of [`Completions::next`].
///
/// # Cancel safety
/// Cancel-safe: an output is taken only when the future completes.
///
/// # Examples
///
/// ```
/// # pollster::block_on(async {
/// weftwork::scope(async |s| {
///     let mut set = s.completions();
///     set.spawn(async { 1 });
///     let next: weftwork::scope::Next<'_, i32> = set.next();
///     assert_eq!(next.await, Some(1));
/// })
/// .await;
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Next<'a, T> {
    inner: &'a SpinLock<Inner<T>>,
}

impl<T> fmt::Debug for Next<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

impl<T> Future for Next<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        poll_next(self.inner, cx)
    }
}
