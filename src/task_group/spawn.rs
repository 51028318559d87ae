//! The [`Spawn`] trait: how a [`TaskGroup`](super::TaskGroup) reaches an
//! executor, and its adapters.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;

/// A boxed, sendable task, as handed to [`Spawn::spawn_boxed`].
///
/// # Examples
/// ```
/// use weftwork::task_group::{BoxTask, Spawn};
/// /// Runs each task on a thread of its own.
/// struct Threads;
/// impl Spawn for Threads {
///     fn spawn_boxed(&self, task: BoxTask) {
///         std::thread::spawn(move || pollster::block_on(task));
///     }
/// }
/// let task: BoxTask = Box::pin(async {});
/// Threads.spawn_boxed(task);
/// ```
pub type BoxTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Something that can run a `'static + Send` task to completion in the
/// background: an executor handle.
///
/// One object-safe method, so any executor fits in a few lines. Adapters
/// exist for `tokio::runtime::Handle` (feature `tokio`) and
/// `async_executor::Executor<'static>` (feature `async-executor`, also
/// through `Arc<Executor>` and `&'static Executor`), and for `&S`,
/// `Arc<S>` and `Box<S>` of any spawner.
///
/// # Contract
/// The executor must poll the task until it completes, or drop it (for
/// example when the runtime shuts down). A task that is neither polled to
/// the end nor dropped keeps [`TaskGroup::join_all`](super::TaskGroup::join_all)
/// and [`shutdown`](super::TaskGroup::shutdown) waiting forever.
///
/// # Examples
/// A spawner that runs every task on its own thread:
/// ```
/// use weftwork::task_group::{BoxTask, Spawn, TaskGroup};
///
/// struct ThreadPerTask;
///
/// impl Spawn for ThreadPerTask {
///     fn spawn_boxed(&self, task: BoxTask) {
///         std::thread::spawn(move || pollster::block_on(task));
///     }
/// }
///
/// # pollster::block_on(async {
/// let group = TaskGroup::new(ThreadPerTask);
/// let h = group.spawn(async { 6 * 7 });
/// assert_eq!(h.await, Ok(42));
/// # });
/// ```
pub trait Spawn {
    /// Runs `task` in the background until it completes (or drops it).
    ///
    /// # Examples
    /// ```
    /// use weftwork::task_group::{BoxTask, Spawn};
    /// struct Inline;
    /// impl Spawn for Inline {
    ///     fn spawn_boxed(&self, task: BoxTask) {
    ///         pollster::block_on(task); // runs it right here, to the end
    ///     }
    /// }
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// Inline.spawn_boxed(Box::pin(async move { tx.send(1).unwrap() }));
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// ```
    fn spawn_boxed(&self, task: BoxTask);
}

impl<S: Spawn + ?Sized> Spawn for &S {
    #[inline]
    fn spawn_boxed(&self, task: BoxTask) {
        (**self).spawn_boxed(task);
    }
}

impl<S: Spawn + ?Sized> Spawn for Arc<S> {
    #[inline]
    fn spawn_boxed(&self, task: BoxTask) {
        (**self).spawn_boxed(task);
    }
}

impl<S: Spawn + ?Sized> Spawn for Box<S> {
    #[inline]
    fn spawn_boxed(&self, task: BoxTask) {
        (**self).spawn_boxed(task);
    }
}

/// Spawns on the runtime of the handle (`tokio::spawn` semantics; the task
/// is detached, the group keeps track of it).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl Spawn for tokio::runtime::Handle {
    fn spawn_boxed(&self, task: BoxTask) {
        drop(self.spawn(task));
    }
}

/// Spawns on the executor (the task is detached; the group keeps track of
/// it). Use through `Arc<Executor<'static>>` or `&'static Executor`.
#[cfg(feature = "async-executor")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-executor")))]
impl Spawn for async_executor::Executor<'static> {
    fn spawn_boxed(&self, task: BoxTask) {
        self.spawn(task).detach();
    }
}
