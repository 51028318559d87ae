//! One task of a group: the wrapper future the executor runs, the cell it
//! reports to, and the [`TaskHandle`] that reads the cell.

#[cfg(feature = "std")]
use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};

use futures_core::future::FusedFuture;
use pin_project_lite::pin_project;

use super::Shared;
use crate::cancel::{CancelToken, CancelledOwned};
use crate::loom::Arc;
use crate::semaphore::{AcquireArc, SemaphorePermitArc};
use crate::wait::SpinLock;

/// A caught panic.
#[cfg(feature = "std")]
pub(super) type Payload = Box<dyn core::any::Any + Send + 'static>;

/// How a task ended.
pub(super) enum Outcome<T> {
    Done(T),
    Aborted,
    #[cfg(feature = "std")]
    Panicked(Payload),
}

enum State<T> {
    Running(Option<Waker>),
    Finished(Outcome<T>),
    Taken,
}

struct Slot<T> {
    state: State<T>,
    /// The handle is gone: outcomes go nowhere, panics to the group.
    detached: bool,
    /// The handle was awaited: if the task waits for a slot under the
    /// limit, it runs at once instead, over the limit (as a scope's
    /// awaited child does), since the task awaiting it may hold the very
    /// slot it waits for.
    let_in: bool,
    /// The task's waker while it waits for a slot, for the handle to wake
    /// it when it lets it in.
    queued: Option<Waker>,
}

/// Shared by a task's wrapper and its handle.
pub(super) struct TaskCell<T> {
    slot: SpinLock<Slot<T>>,
    shared: Arc<Shared>,
}

impl<T> TaskCell<T> {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            slot: SpinLock::new(Slot {
                state: State::Running(None),
                detached: false,
                let_in: false,
                queued: None,
            }),
            shared,
        }
    }

    /// Hands the outcome to the handle (or, detached, drops it / gives a
    /// panic to the group) and wakes the handle. Nothing user-defined runs
    /// under the lock: values, wakers and payloads leave it first.
    fn finish(&self, outcome: Outcome<T>) {
        let mut waker = None;
        let mut queued = None;
        let leftover = self.slot.with(|s| {
            queued = s.queued.take();
            if s.detached {
                return Some(outcome);
            }
            if let State::Running(w) = mem::replace(&mut s.state, State::Finished(outcome)) {
                waker = w;
            }
            None
        });
        drop(queued);
        self.leftover(leftover);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Called while the task waits for a slot: `true` if its handle was
    /// awaited (it runs at once, over the limit), else its waker is kept
    /// for the handle.
    fn let_in(&self, waker: &Waker) -> bool {
        let mut stale = None;
        let let_in = self.slot.with(|s| {
            if !s.let_in {
                match &mut s.queued {
                    Some(old) if old.will_wake(waker) => {}
                    slot => stale = slot.replace(waker.clone()),
                }
            }
            s.let_in
        });
        drop(stale);
        let_in
    }

    /// An outcome nobody will read: a panic goes to the group.
    fn leftover(&self, outcome: Option<Outcome<T>>) {
        match outcome {
            #[cfg(feature = "std")]
            Some(Outcome::Panicked(p)) => self.shared.route_panic(p),
            other => drop(other),
        }
    }
}

pin_project! {
    /// The future the executor runs for one task: checks for an abort,
    /// waits for a slot under the limit, then polls the user's future
    /// (catching panics with `std`). However it ends — completion, abort,
    /// panic, or the executor dropping it — the user's future is dropped
    /// *before* the group is told the task is done.
    pub(super) struct Task<F: Future> {
        #[pin]
        fut: Option<F>,
        #[pin]
        abort: CancelledOwned,
        #[pin]
        acquire: Option<AcquireArc>,
        permit: Option<SemaphorePermitArc>,
        cell: Arc<TaskCell<F::Output>>,
        finished: bool,
    }

    impl<F: Future> PinnedDrop for Task<F> {
        fn drop(this: Pin<&mut Self>) {
            if !this.finished {
                this.finish(Outcome::Aborted);
            }
        }
    }
}

impl<F: Future> Task<F> {
    pub(super) fn new(
        fut: F,
        abort: CancelledOwned,
        acquire: Option<AcquireArc>,
        cell: Arc<TaskCell<F::Output>>,
    ) -> Self {
        Self {
            fut: Some(fut),
            abort,
            acquire,
            permit: None,
            cell,
            finished: false,
        }
    }

    fn finish(self: Pin<&mut Self>, outcome: Outcome<F::Output>) {
        let mut this = self.project();
        *this.finished = true;
        // Dropped last, also when something below panics (a waker's wake,
        // a detached output's destructor): the task is counted done once,
        // whatever happens, or `join_all` would wait for it for ever.
        let _done = CountDone(&this.cell.shared);
        #[cfg(feature = "std")]
        let outcome = {
            let dropped = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
                this.fut.set(None);
            }));
            match (dropped, outcome) {
                (Err(p), Outcome::Done(_) | Outcome::Aborted) => Outcome::Panicked(p),
                (_, outcome) => outcome,
            }
        };
        #[cfg(not(feature = "std"))]
        this.fut.set(None);
        // The outcome goes to the handle before the slot under the limit is
        // given back: that wakes the next task, and a waker that panics
        // must not lose the outcome. (Should the handle's waker panic
        // instead, the slot goes back when the executor drops this task.)
        this.cell.finish(outcome);
        this.acquire.set(None);
        *this.permit = None;
        // `_done` last: whoever waits for the group sees the future dropped.
    }
}

/// Tells the group one task is done when dropped (see `Task::finish`).
struct CountDone<'a>(&'a Shared);

impl Drop for CountDone<'_> {
    fn drop(&mut self) {
        self.0.done.add_permits(1);
    }
}

impl<F: Future> Future for Task<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let outcome = {
            let mut this = self.as_mut().project();
            if *this.finished {
                return Poll::Ready(());
            }
            if this.abort.as_mut().poll(cx).is_ready() {
                Outcome::Aborted
            } else {
                if let Some(acquire) = this.acquire.as_mut().as_pin_mut() {
                    match acquire.poll(cx) {
                        // The limit semaphore is never closed: always `Ok`.
                        Poll::Ready(permit) => *this.permit = permit.ok(),
                        // Its handle is awaited: run without a slot (the
                        // wait is cancelled, a slot handed to it meanwhile
                        // passes on).
                        Poll::Pending if this.cell.let_in(cx.waker()) => {}
                        Poll::Pending => return Poll::Pending,
                    }
                    this.acquire.set(None);
                }
                let fut = this.fut.as_pin_mut().expect("present until finished");
                ready!(poll_catching(fut, cx))
            }
        };
        self.finish(outcome);
        Poll::Ready(())
    }
}

#[cfg(feature = "std")]
fn poll_catching<F: Future>(fut: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<Outcome<F::Output>> {
    match std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(v)) => Poll::Ready(Outcome::Done(v)),
        Err(p) => Poll::Ready(Outcome::Panicked(p)),
    }
}

#[cfg(not(feature = "std"))]
fn poll_catching<F: Future>(fut: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<Outcome<F::Output>> {
    fut.poll(cx).map(Outcome::Done)
}

/// The task was aborted before it finished: by [`TaskHandle::abort`], by
/// the group's [`shutdown`](super::TaskGroup::shutdown), by dropping the
/// group, by a sibling's unobserved panic, or by the executor dropping it.
///
/// # Examples
/// ```
/// use weftwork::task_group::TaskAborted;
/// assert_eq!(TaskAborted.to_string(), "the task was aborted before it finished");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskAborted;

impl fmt::Display for TaskAborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task was aborted before it finished")
    }
}

impl core::error::Error for TaskAborted {}

/// Awaits a task of a [`TaskGroup`](super::TaskGroup): `Ok(output)`, or
/// `Err(TaskAborted)`. If the task panicked, awaiting the handle
/// re-raises the panic (with `std`).
///
/// Dropping the handle *detaches* the task: it keeps running in its group
/// (which still aborts it on drop and waits for it in `join_all`). A
/// detached task's panic goes to the group instead (see
/// [`TaskGroup`](super::TaskGroup#panics)). [`abort`](Self::abort) leaves
/// the handle usable, as with tokio's `JoinHandle`.
///
/// # Panics
/// Awaiting re-raises the task's panic. Polling the handle again after it
/// returned the outcome panics (as tokio's `JoinHandle` does);
/// [`FusedFuture::is_terminated`] tells whether it did.
///
/// # Cancel safety
/// Cancel-safe: a future awaiting `&mut handle` can be dropped at any
/// point and the outcome stays in the handle. Dropping the handle itself
/// detaches the task (its output is dropped, a panic goes to the group).
///
/// # Examples
/// ```
/// use weftwork::task_group::{BoxTask, Spawn, TaskAborted, TaskGroup};
/// # struct Threads;
/// # impl Spawn for Threads {
/// #     fn spawn_boxed(&self, task: BoxTask) { std::thread::spawn(move || pollster::block_on(task)); }
/// # }
/// # pollster::block_on(async {
/// let group = TaskGroup::new(Threads);
/// let h = group.spawn(async { "done" });
/// assert_eq!(h.await, Ok("done"));
/// let h = group.spawn(std::future::pending::<()>());
/// h.abort();
/// assert_eq!(h.await, Err(TaskAborted));
/// # });
/// ```
#[must_use = "dropping the handle detaches the task; `.await` it or call `abort`"]
pub struct TaskHandle<T> {
    cell: Arc<TaskCell<T>>,
    abort: CancelToken,
}

impl<T> TaskHandle<T> {
    pub(super) fn new(cell: Arc<TaskCell<T>>, abort: CancelToken) -> Self {
        Self { cell, abort }
    }

    /// Aborts the task: its future is dropped on its executor at the next
    /// opportunity (the task is woken for it), without running further.
    /// Returns at once; await the handle to know the future was dropped.
    ///
    /// As with tokio's `JoinHandle::abort`, the handle stays usable and
    /// aborting never discards an outcome the task already has:
    /// * a task aborted before it finished: awaiting the handle gives
    ///   `Err(TaskAborted)` once its executor dropped the future (or, if a
    ///   poll was under way and completed the task, its outcome);
    /// * a task that already finished is not affected: awaiting the handle
    ///   still gives its output, or re-raises its panic (with `std`).
    ///
    /// A handle dropped without being awaited detaches the task as usual:
    /// if the task panicked, the panic goes to the group (see
    /// [`TaskGroup`](super::TaskGroup#panics)), even if it was aborted.
    /// Aborting twice, or after the group was shut down, does nothing more.
    ///
    /// # Examples
    /// ```
    /// # use weftwork::task_group::{BoxTask, Spawn, TaskAborted, TaskGroup};
    /// # struct Threads;
    /// # impl Spawn for Threads {
    /// #     fn spawn_boxed(&self, task: BoxTask) { std::thread::spawn(move || pollster::block_on(task)); }
    /// # }
    /// # pollster::block_on(async {
    /// let mut group = TaskGroup::new(Threads);
    /// let h = group.spawn(std::future::pending::<()>());
    /// h.abort();
    /// assert_eq!(h.await, Err(TaskAborted)); // its future has been dropped
    ///
    /// let done = group.spawn(async { 5 });
    /// group.join_all().await;
    /// done.abort(); // finished already: no effect
    /// assert_eq!(done.await, Ok(5));
    /// # });
    /// ```
    pub fn abort(&self) {
        self.abort.cancel();
    }

    /// Whether the task has finished: it completed, panicked, or was
    /// aborted and its future dropped. Once `true` it stays `true`, also
    /// after the handle returned the outcome (as tokio's
    /// `JoinHandle::is_finished`); use
    /// [`is_terminated`](FusedFuture::is_terminated) to know whether the
    /// outcome was taken. A task that was aborted but not yet dropped by
    /// its executor is not finished.
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
    /// let mut h = group.spawn(async {});
    /// group.join_all().await;
    /// assert!(h.is_finished());
    /// assert_eq!((&mut h).await, Ok(()));
    /// assert!(h.is_finished()); // still
    /// # });
    /// ```
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.cell
            .slot
            .with(|s| !matches!(s.state, State::Running(_)))
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskAborted>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut stale = None;
        let mut queued = None;
        let taken = self.cell.slot.with(|s| match &mut s.state {
            State::Running(w) => {
                match w {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    slot => stale = slot.replace(cx.waker().clone()),
                }
                if !s.let_in {
                    s.let_in = true;
                    queued = s.queued.take();
                }
                None
            }
            State::Finished(_) | State::Taken => Some(mem::replace(&mut s.state, State::Taken)),
        });
        drop(stale);
        if let Some(w) = queued {
            w.wake();
        }
        match taken {
            None => Poll::Pending,
            Some(State::Finished(Outcome::Done(v))) => Poll::Ready(Ok(v)),
            Some(State::Finished(Outcome::Aborted)) => Poll::Ready(Err(TaskAborted)),
            #[cfg(feature = "std")]
            Some(State::Finished(Outcome::Panicked(p))) => std::panic::resume_unwind(p),
            Some(_) => panic!("TaskHandle polled after it returned the task's outcome"),
        }
    }
}

/// `is_terminated` is `true` once the handle has returned the task's
/// outcome (for `futures::select!` and other users of [`FusedFuture`]).
///
/// # Examples
/// ```
/// use futures_core::future::FusedFuture;
/// use weftwork::task_group::{BoxTask, Spawn, TaskGroup};
/// # struct Threads;
/// # impl Spawn for Threads {
/// #     fn spawn_boxed(&self, task: BoxTask) { std::thread::spawn(move || pollster::block_on(task)); }
/// # }
/// # pollster::block_on(async {
/// let group = TaskGroup::new(Threads);
/// let mut h = group.spawn(async { 2 });
/// assert!(!h.is_terminated());
/// assert_eq!((&mut h).await, Ok(2));
/// assert!(h.is_terminated());
/// # });
/// ```
impl<T> FusedFuture for TaskHandle<T> {
    fn is_terminated(&self) -> bool {
        self.cell.slot.with(|s| matches!(s.state, State::Taken))
    }
}

impl<T> Drop for TaskHandle<T> {
    fn drop(&mut self) {
        let mut waker = None;
        let leftover = self.cell.slot.with(|s| {
            s.detached = true;
            match mem::replace(&mut s.state, State::Taken) {
                State::Finished(o) => Some(o),
                State::Running(w) => {
                    waker = w;
                    s.state = State::Running(None);
                    None
                }
                State::Taken => None,
            }
        });
        drop(waker);
        self.cell.leftover(leftover);
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}
