//! The parallel tier: a [`TaskGroup`] of `'static + Send` tasks on any
//! executor, with no orphans.
//!
//! A [`scope`](crate::scope()) runs its children inside the caller's task
//! (so they may borrow, but share one thread). A `TaskGroup` spawns its
//! tasks on an executor through the [`Spawn`] trait, so they run in
//! parallel, and keeps the structured promises:
//!
//! * **no orphans**: dropping the group aborts its tasks;
//!   [`shutdown`](TaskGroup::shutdown) aborts them and waits until every
//!   task's future has been dropped; [`join_all`](TaskGroup::join_all)
//!   waits for all of them;
//! * **panics are not lost**: re-raised by the [`TaskHandle`], or by
//!   `join_all` for a detached task (after aborting its siblings);
//! * the same vocabulary as scopes: a concurrency [`limit`](TaskGroup::limit),
//!   a [`CancelToken`] ([`token`](TaskGroup::token),
//!   [`child_of`](TaskGroup::child_of)), deadlines from any timer
//!   ([`cancel_after`](TaskGroup::cancel_after)).
//!
//! Adapters: `tokio::runtime::Handle` (feature `tokio`) and
//! `async_executor::Executor<'static>` (feature `async-executor`; smol uses
//! it). Any other executor takes a few lines (see [`Spawn`]).
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use weftwork::TaskGroup;
//! let mut group = TaskGroup::new(tokio::runtime::Handle::current()).limit(2);
//! let handles: Vec<_> = (0..5).map(|i| group.spawn(async move { i * 10 })).collect();
//! group.join_all().await;
//! let mut sum = 0;
//! for h in handles {
//!     sum += h.await.unwrap();
//! }
//! assert_eq!(sum, 100);
//! # });
//! ```

mod spawn;
mod task;

use alloc::boxed::Box;
use alloc::sync::Arc as AllocArc;
use core::fmt;
use core::future::Future;
use core::mem;

pub use spawn::{BoxTask, Spawn};
pub use task::{TaskAborted, TaskHandle};

use crate::cancel::CancelToken;
use crate::loom::Arc;
use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::semaphore::Semaphore;
use crate::wait::{OnUnwind, SpinLock};
use task::{Task, TaskCell};

/// What the tasks of a group share with it.
struct Shared {
    /// One permit per task that finished (its future dropped).
    done: Semaphore,
    /// The hard-abort root: every task's abort token is a child of it.
    /// Replaced by a fresh one when a spawn finds it cancelled.
    abort: SpinLock<CancelToken>,
    /// The first panic no handle will re-raise.
    #[cfg(feature = "std")]
    panic: SpinLock<Option<task::Payload>>,
}

impl Shared {
    fn abort_root(&self) -> CancelToken {
        self.abort.with(|t| t.clone())
    }

    /// A detached task panicked: keep the (first) payload for `join_all`
    /// and abort every other task (fail fast, as a scope does).
    #[cfg(feature = "std")]
    fn route_panic(&self, payload: task::Payload) {
        let extra = self.panic.with(|slot| {
            if slot.is_none() {
                *slot = Some(payload);
                None
            } else {
                Some(payload)
            }
        });
        drop(extra);
        self.abort_root().cancel();
    }
}

/// A group of `'static + Send` tasks spawned on an executor, none of which
/// outlives the group.
///
/// * [`spawn`](Self::spawn) returns a [`TaskHandle`]; await it for the
///   output, [`abort`](TaskHandle::abort) it, or drop it to detach the task
///   (the group still owns it).
/// * **Drop** aborts every task: each is woken and its executor drops its
///   future promptly (without waiting for that here — `Drop` cannot wait).
///   Live handles then give `Err(TaskAborted)` (or the outcome of a task
///   that had finished); a detached task's panic not yet re-raised by
///   `join_all` is discarded with the group.
/// * [`shutdown`](Self::shutdown) aborts every task and waits until all
///   their futures are dropped. [`join_all`](Self::join_all) waits until
///   every task has finished.
/// * [`limit`](Self::limit)`(n)`: at most `n` tasks run at once; the others
///   wait for a slot in spawn order, without their future being polled
///   (unless their handle is awaited: then they run at once).
/// * [`token`](Self::token): a [`CancelToken`] for *cooperative* cancel
///   (tasks that want to observe it take a clone); cancelled when the
///   group is dropped. [`child_of`](Self::child_of) hangs it below another
///   token (a parent scope's or group's).
///
/// Hard vs cooperative: `abort`, `shutdown` and dropping the group *drop*
/// task futures; cancelling [`token`](Self::token) only asks them to stop
/// (see the [`cancel`](crate::cancel) module docs). Graceful shutdown is
/// `group.token().cancel(); group.join_all().await`.
///
/// # Panics
/// With `std`, a panic in a task is caught and delivered once:
/// * to its [`TaskHandle`] if the handle is alive (awaiting it re-raises
///   the panic); if the handle is dropped unawaited, the panic moves to the
///   group;
/// * otherwise to the group: every other task is aborted (fail fast, like a
///   scope), and so is every task spawned until the panic is reported; the
///   next [`join_all`](Self::join_all) re-raises it once all tasks are
///   gone. [`shutdown`](Self::shutdown) discards it.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::TaskGroup;
/// # #[cfg(feature = "async-executor")] {
/// let ex = Arc::new(async_executor::Executor::new());
/// smol::block_on(ex.run(async {
///     let mut group = TaskGroup::new(ex.clone());
///     let h = group.spawn(async { 1 + 1 });
///     group.spawn(std::future::pending::<()>()); // detached, runs forever
///     assert_eq!(h.await, Ok(2));
///     group.shutdown().await; // the pending task is dropped
///     assert!(group.is_empty());
/// }));
/// # }
/// ```
pub struct TaskGroup<S: Spawn> {
    spawner: S,
    shared: Arc<Shared>,
    /// Tasks spawned and not yet counted off by a wait on `done`.
    spawned: AtomicUsize,
    token: CancelToken,
    /// Stops the `cancel_after` deadlines: cancelled (and replaced) by
    /// `shutdown`, cancelled on drop. Not the abort root, which a
    /// detached task's panic cancels too.
    deadlines: CancelToken,
    limit: Option<AllocArc<Semaphore>>,
}

impl<S: Spawn> TaskGroup<S> {
    /// An empty group spawning on `spawner`, with no limit and a fresh
    /// root [`token`](Self::token).
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let group = weftwork::TaskGroup::new(tokio::runtime::Handle::current());
    /// assert!(group.is_empty());
    /// # });
    /// ```
    pub fn new(spawner: S) -> Self {
        Self {
            spawner,
            shared: Arc::new(Shared {
                done: Semaphore::new(0),
                abort: SpinLock::new(CancelToken::new()),
                #[cfg(feature = "std")]
                panic: SpinLock::new(None),
            }),
            spawned: AtomicUsize::new(0),
            token: CancelToken::new(),
            deadlines: CancelToken::new(),
            limit: None,
        }
    }

    /// At most `n` tasks of this group run at once; the others wait for a
    /// slot, in spawn order, without their future being polled. Applies to
    /// tasks spawned afterwards (those spawned before do not count against
    /// it): set it before spawning. An aborted task gives its slot back
    /// once its executor dropped it; a task aborted while it waits for a
    /// slot never takes one.
    ///
    /// As with a [`scope`](crate::scope())'s handle, awaiting a
    /// [`TaskHandle`] lets its task in at once if it still waits for a
    /// slot: it runs over the limit (without taking a slot). A task that
    /// awaits a sibling keeps its own slot meanwhile, so without this,
    /// tasks holding every slot while they await queued siblings would
    /// deadlock.
    ///
    /// # Panics
    /// If `n == 0` (no task could ever run).
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let group = weftwork::TaskGroup::new(tokio::runtime::Handle::current()).limit(4);
    /// # let _ = group;
    /// # });
    /// ```
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        assert!(
            n > 0,
            "weftwork::TaskGroup::limit: the limit must be at least 1"
        );
        self.limit = Some(AllocArc::new(Semaphore::new(n)));
        self
    }

    /// Makes the group's [`token`](Self::token) a child of `parent`:
    /// cancelling `parent` cancels the group's token (not the other way
    /// round).
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let shutdown = weftwork::CancelToken::new();
    /// let group = weftwork::TaskGroup::new(tokio::runtime::Handle::current()).child_of(&shutdown);
    /// shutdown.cancel();
    /// assert!(group.token().is_cancelled());
    /// # });
    /// ```
    #[must_use]
    pub fn child_of(mut self, parent: &CancelToken) -> Self {
        self.token = parent.child();
        self
    }

    /// The group's token, for cooperative cancellation: tasks that should
    /// stop on request take a clone and watch it. Cancelled when the group
    /// is dropped.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut group = weftwork::TaskGroup::new(tokio::runtime::Handle::current());
    /// let token = group.token().clone();
    /// let h = group.spawn(async move {
    ///     token.cancelled().await;
    ///     "wound down"
    /// });
    /// group.token().cancel();
    /// assert_eq!(h.await, Ok("wound down"));
    /// # });
    /// ```
    #[must_use]
    pub fn token(&self) -> &CancelToken {
        &self.token
    }

    /// Spawns `fut` as a task of this group and returns its handle.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let group = weftwork::TaskGroup::new(tokio::runtime::Handle::current());
    /// let h = group.spawn(async { 5 });
    /// assert_eq!(h.await, Ok(5));
    /// # });
    /// ```
    pub fn spawn<F>(&self, fut: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let abort = self.abort_root().child();
        let cell = Arc::new(TaskCell::new(self.shared.clone()));
        let acquire = self.limit.as_ref().map(Semaphore::acquire_arc);
        let task = Task::new(fut, abort.cancelled_owned(), acquire, cell.clone());
        self.count_off_finished();
        self.spawned.fetch_add(1, Relaxed);
        self.spawner.spawn_boxed(Box::pin(task));
        TaskHandle::new(cell, abort)
    }

    /// Cancels the group's [`token`](Self::token) once `deadline`
    /// completes. `deadline` is any future (`tokio::time::sleep(d)`,
    /// `smol::Timer::after(d)`…). It runs on the executor but is not a task
    /// of the group: [`join_all`](Self::join_all) does not wait for it, and
    /// it is dropped when the group is dropped or shut down (and only
    /// then: a task's panic, which aborts the tasks, leaves it).
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let group = weftwork::TaskGroup::new(tokio::runtime::Handle::current());
    /// group.cancel_after(tokio::time::sleep(Duration::from_millis(5)));
    /// group.token().cancelled().await;
    /// # });
    /// ```
    pub fn cancel_after<F>(&self, deadline: F)
    where
        F: Future + Send + 'static,
    {
        let stop = self.deadlines.child();
        let deadline = stop.run_until_cancelled_owned(self.token.cancel_after_owned(deadline));
        self.spawner.spawn_boxed(Box::pin(async move {
            let _ = deadline.await;
        }));
    }

    /// How many tasks of the group have not finished yet: running, waiting
    /// for a slot under the [`limit`](Self::limit), or aborted but not yet
    /// dropped by their executor. Detached tasks count too.
    ///
    /// A task leaves the count as soon as its future has been dropped,
    /// whether or not its [`TaskHandle`] was awaited: unlike tokio's
    /// `JoinSet::len`, a finished task whose outcome waits in its handle is
    /// not counted.
    ///
    /// It is a snapshot: tasks finish on other threads meanwhile, so the
    /// value may be stale by the time the caller uses it (only a `0` from
    /// a group nobody spawns on concurrently stays true, until the next
    /// `spawn`). While other threads spawn on the group it may also be off
    /// by the tasks being spawned or counted off at that moment. A task
    /// leaves the count just *after* its handle got the outcome, so right
    /// after awaiting a handle the task may still be counted; after
    /// [`join_all`](Self::join_all) or [`shutdown`](Self::shutdown)
    /// returned, `len()` is `0` until the next `spawn`.
    ///
    /// # Examples
    /// ```
    /// # use weftwork::task_group::{BoxTask, Spawn, TaskGroup};
    /// # struct Threads;
    /// # impl Spawn for Threads {
    /// #     fn spawn_boxed(&self, task: BoxTask) { std::thread::spawn(move || pollster::block_on(task)); }
    /// # }
    /// # pollster::block_on(async {
    /// let mut group = TaskGroup::new(Threads);
    /// let forever = group.spawn(std::future::pending::<()>());
    /// let quick = group.spawn(async { 1 });
    /// assert!(group.len() <= 2); // `quick` may have finished already
    /// forever.abort();
    /// group.join_all().await;
    /// assert_eq!(group.len(), 0); // `quick`'s output still waits in its handle
    /// assert_eq!(quick.await, Ok(1));
    /// # });
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        let spawned = self.spawned.load(Acquire);
        spawned.saturating_sub(self.shared.done.available_permits())
    }

    /// Whether every task spawned so far has finished: `len() == 0`, with
    /// the same snapshot caveats (see [`len`](Self::len)).
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut group = weftwork::TaskGroup::new(tokio::runtime::Handle::current());
    /// assert!(group.is_empty());
    /// let _ = group.spawn(async {});
    /// group.join_all().await;
    /// assert!(group.is_empty());
    /// # });
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every task of the group has finished (its future
    /// dropped).
    ///
    /// # Panics
    /// Re-raises the panic of a task whose panic went to the group (see
    /// [Panics](Self#panics)); the other tasks were aborted and have been
    /// dropped by then.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it leaves the tasks running and loses no
    /// count; a later `join_all` waits for them all again.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let mut group = weftwork::TaskGroup::new(tokio::runtime::Handle::current());
    /// let n = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..10 {
    ///     let n = n.clone();
    ///     group.spawn(async move { n.fetch_add(1, Ordering::SeqCst); });
    /// }
    /// group.join_all().await;
    /// assert_eq!(n.load(Ordering::SeqCst), 10);
    /// # });
    /// ```
    pub async fn join_all(&mut self) {
        self.wait_all().await;
        #[cfg(feature = "std")]
        if let Some(payload) = self.shared.panic.with(Option::take) {
            std::panic::resume_unwind(payload);
        }
    }

    /// Aborts every task of the group without waiting (as tokio's
    /// `JoinSet::abort_all`): each task's future is dropped on its
    /// executor at the next opportunity, and its handle then gives
    /// `Err(TaskAborted)` (or the outcome it already had). Tasks spawned
    /// afterwards run normally. [`join_all`](Self::join_all) waits until
    /// the aborted futures are dropped; [`shutdown`](Self::shutdown) is
    /// both steps in one, and also stops the
    /// [`cancel_after`](Self::cancel_after) deadlines, which `abort_all`
    /// leaves.
    ///
    /// # Examples
    /// ```
    /// use weftwork::task_group::{BoxTask, Spawn, TaskAborted, TaskGroup};
    /// # struct Threads;
    /// # impl Spawn for Threads {
    /// #     fn spawn_boxed(&self, task: BoxTask) { std::thread::spawn(move || pollster::block_on(task)); }
    /// # }
    /// # pollster::block_on(async {
    /// let mut group = TaskGroup::new(Threads);
    /// let stuck = group.spawn(std::future::pending::<()>());
    /// group.abort_all();
    /// let next = group.spawn(async { 1 });
    /// assert_eq!(stuck.await, Err(TaskAborted));
    /// assert_eq!(next.await, Ok(1));
    /// group.join_all().await;
    /// # });
    /// ```
    pub fn abort_all(&self) {
        self.shared.abort_root().cancel();
    }

    /// Aborts every task and waits until all their futures have been
    /// dropped: afterwards no task of the group is running. Panics caught
    /// so far are discarded. The group can be used again afterwards.
    ///
    /// # Cancel safety
    /// Cancel-safe: the abort is requested at the first poll; dropping the
    /// future only stops the waiting.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut group = weftwork::TaskGroup::new(tokio::runtime::Handle::current());
    /// let h = group.spawn(std::future::pending::<()>());
    /// group.shutdown().await;
    /// assert!(group.is_empty());
    /// assert!(h.await.is_err()); // TaskAborted
    /// # });
    /// ```
    pub async fn shutdown(&mut self) {
        self.shared.abort_root().cancel();
        mem::take(&mut self.deadlines).cancel(); // a fresh one for later deadlines
        self.wait_all().await;
        #[cfg(feature = "std")]
        drop(self.shared.panic.with(Option::take));
    }

    /// Waits for every spawned task to report done, and counts them off.
    async fn wait_all(&mut self) {
        let n = self.spawned.load(Acquire);
        let permits = self
            .shared
            .done
            .acquire_many(n)
            .await
            .expect("the done semaphore is never closed");
        permits.forget();
        self.spawned.fetch_sub(n, Relaxed);
    }

    /// The current abort root; a fresh one if the last was used (after a
    /// shutdown, or a panic that failed the group fast and that `join_all`
    /// has re-raised). While such a panic waits for `join_all`, the group
    /// has failed: the cancelled root stays, so new tasks are born aborted.
    fn abort_root(&self) -> CancelToken {
        let root = self.shared.abort_root();
        if !root.is_cancelled() {
            return root;
        }
        #[cfg(feature = "std")]
        if self.shared.panic.with(|p| p.is_some()) {
            return root;
        }
        drop(root);
        let fresh = CancelToken::new();
        let old = self.shared.abort.with(|t| {
            if t.is_cancelled() {
                mem::replace(t, fresh.clone())
            } else {
                t.clone() // another spawn replaced it first
            }
        });
        drop(old);
        self.shared.abort_root()
    }

    /// Keeps the counters small in a long-lived group: counts off tasks
    /// that finished since the last wait.
    fn count_off_finished(&self) {
        let n = self.shared.done.available_permits();
        if n > 0 {
            if let Ok(p) = self.shared.done.try_acquire_many(n) {
                p.forget();
                self.spawned.fetch_sub(n, Relaxed);
            }
        }
    }
}

impl<S: Spawn> Drop for TaskGroup<S> {
    /// Cancels the abort root, the deadlines and the group's token; all
    /// three even if a waker panics in one (a second panic aborts).
    fn drop(&mut self) {
        let rest = OnUnwind::new(|| {
            self.deadlines.cancel();
            self.token.cancel();
        });
        self.shared.abort_root().cancel();
        rest.disarm();
        self.deadlines.cancel();
        self.token.cancel();
    }
}

impl<S: Spawn> fmt::Debug for TaskGroup<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("len", &self.len())
            .field("limit", &self.limit)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}
