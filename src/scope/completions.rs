//! [`Completions`]: children whose outputs arrive in completion order.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::handle::Scope;
use super::mode::Plain;
use super::ready::{Inner, Shared};
use super::task::{Ctl, TaskPtr, TaskRef};
use crate::wait::SpinLock;

/// One completion set's part of the scope's shared state (behind its lock).
///
/// A finished child of the set leaves the slab for the set's list, linked
/// through its `Ctl::next` in completion order; the list holds the
/// reference the slab held. The consumer ([`Rx`]) takes the whole list at
/// once, then moves each output out and lets go of the cell without a
/// lock. Nothing is allocated per child but its cell.
pub(crate) struct SetQ {
    head: Option<TaskPtr>,
    tail: Option<TaskPtr>,
    /// Children in the list.
    queued: usize,
    /// Children spawned into the set and not finished (nor dropped).
    pending: usize,
    /// Of those, the ones waiting for a slot under the scope's limit.
    waiting: usize,
    /// The consumer waiting for an output.
    waker: Option<Waker>,
    /// The [`Completions`] still exists (else outputs are dropped at once).
    open: bool,
}

/// Counts a new child of set `set` (with the lock held, on spawn), which
/// waits for a slot if `waiting`.
pub(super) fn add_member(s: &mut Inner, set: u32, waiting: bool) {
    let q = set_mut(s, set);
    q.pending += 1;
    q.waiting += usize::from(waiting);
}

/// A waiting child of set `set` was let in, or left while waiting.
pub(crate) fn member_stopped_waiting(s: &mut Inner, set: u32) {
    set_mut(s, set).waiting -= 1;
}

fn set_mut(s: &mut Inner, set: u32) -> &mut SetQ {
    s.sets[set as usize]
        .as_mut()
        .expect("a completion set lives while it has children or a consumer")
}

/// Child `c` (whose slab reference is `task`) of a completion set finished
/// (ran to completion if `keep`; `waiting`: it left while waiting for a
/// slot): it joins its set's list, or, if the set is gone or the child did
/// not complete, is handed back to be dropped. Also returns the consumer's
/// waker to wake.
#[inline]
pub(super) fn retire_member(
    s: &mut Inner,
    c: &mut Ctl,
    task: TaskRef,
    keep: bool,
    waiting: bool,
) -> (Option<TaskRef>, Option<Waker>) {
    let set = c.set;
    let q = set_mut(s, set);
    q.pending -= 1;
    q.waiting -= usize::from(waiting);
    if !(keep && q.open) {
        if !q.open && q.pending == 0 {
            s.sets[set as usize] = None;
        }
        return (Some(task), None);
    }
    let t = task.ptr();
    task.hand_over();
    c.next = None;
    match q.tail {
        // SAFETY: the lock is held; `tail` is another child (`c` is ours).
        Some(tail) => unsafe { tail.with_ctl(|tc| tc.next = Some(t)) },
        None => q.head = Some(t),
    }
    q.tail = Some(t);
    q.queued += 1;
    (None, q.waker.take())
}

/// The scope is torn down: every unfinished child is being dropped, so no
/// set waits for anything any more. Collects the consumers' wakers (they
/// will see the end of their set).
pub(super) fn tear_down(s: &mut Inner, wakers: &mut Vec<Waker>) {
    for entry in &mut s.sets {
        if let Some(q) = entry {
            q.pending = 0;
            q.waiting = 0;
            wakers.extend(q.waker.take());
            if !q.open {
                *entry = None;
            }
        }
    }
}

/// A list of finished children taken out of a set, owned: dropping it
/// drops their outputs and lets go of their cells. If an output's
/// destructor panics, its cell is still let go of and the rest of the list
/// is still dropped, while the panic unwinds (a second panic then aborts,
/// as for a `Vec`).
struct List(Option<TaskPtr>);

impl Drop for List {
    fn drop(&mut self) {
        while let Some(t) = self.0.take() {
            // SAFETY: whoever made this `List` owns the list and its
            // references (it took it out of a set); `t` leaves it first.
            unsafe {
                let mut rest = List(t.with_ctl(|c| c.next.take()));
                t.drop_and_release(1);
                self.0 = rest.0.take();
            }
        }
    }
}

/// The consuming side of a completion set: finished children taken out of
/// the set's list (the consumer owns them), and the counts. Its own type,
/// apart from [`Completions`], so that [`Next`] needs no `'env`.
struct Rx<T> {
    shared: Arc<Shared>,
    set: u32,
    /// Taken from the set's list, oldest first; one reference to each.
    head: Option<TaskPtr>,
    len: usize,
    /// Holds `T` values (the `SpinLock` keeps the auto traits the set
    /// always had: `Send` and `Sync` when `T: Send`).
    _out: PhantomData<SpinLock<T>>,
}

// Outputs are never pinned: they are moved out when taken.
impl<T> Unpin for Rx<T> {}

impl<T> Rx<T> {
    fn new(shared: &Arc<Shared>) -> Self {
        let q = SetQ {
            head: None,
            tail: None,
            queued: 0,
            pending: 0,
            waiting: 0,
            waker: None,
            open: true,
        };
        let set = shared.lock.with(|s| {
            if let Some(i) = s.sets.iter().position(Option::is_none) {
                s.sets[i] = Some(q);
                i
            } else {
                s.sets.push(Some(q));
                s.sets.len() - 1
            }
        });
        Self {
            shared: shared.clone(),
            set: u32::try_from(set).expect("too many completion sets in one scope"),
            head: None,
            len: 0,
            _out: PhantomData,
        }
    }

    /// `(finished, pending)`: outputs not taken yet, children not finished.
    fn counts(&self) -> (usize, usize) {
        self.shared.lock.with(|s| {
            let q = set_mut(s, self.set);
            (self.len + q.queued, q.pending)
        })
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.head.is_none() {
            let set = self.set;
            let (got, driver) = self.shared.lock.with(|s| {
                let q = set_mut(s, set);
                if let Some(head) = q.head.take() {
                    q.tail = None;
                    let n = core::mem::take(&mut q.queued);
                    return (Poll::Ready(Some((head, n))), None);
                }
                if q.pending == 0 {
                    return (Poll::Ready(None), None);
                }
                match &q.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => q.waker = Some(cx.waker().clone()),
                }
                // Awaited while every unfinished member waits for a slot:
                // let the oldest in now, as an awaited handle's child is.
                // The consumer may hold the very slot they wait for.
                let stalled = q.waiting == q.pending;
                let driver = if stalled && s.admit_member(set) {
                    s.driver.take()
                } else {
                    None
                };
                (Poll::Pending, driver)
            });
            if let Some(w) = driver {
                w.wake();
            }
            let Some((head, n)) = core::task::ready!(got) else {
                return Poll::Ready(None);
            };
            self.head = Some(head);
            self.len = n;
        }
        let t = self.head.expect("taken above");
        let mut out: Option<T> = None;
        // SAFETY: the list is ours (taken out of the set under the lock), so
        // is the child's cell; every child of this set was spawned by
        // `Completions::<T>::spawn`, with output `T`.
        unsafe {
            self.head = t.with_ctl(|c| c.next.take());
            t.take_output((&mut out as *mut Option<T>).cast());
            // Future and output are both gone now: nothing left to drop.
            t.release(1);
        }
        self.len -= 1;
        Poll::Ready(Some(out.expect("a finished child stores its output once")))
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        let set = self.set;
        let rest = self.shared.lock.with(|s| {
            let q = set_mut(s, set);
            q.open = false;
            q.queued = 0;
            q.tail = None;
            let rest = q.head.take();
            let waker = q.waker.take();
            if q.pending == 0 {
                s.sets[set as usize] = None;
            }
            (rest, waker)
        });
        // Both lists are ours: `self.head` was taken earlier, the other
        // just now, under the lock. Each is dropped even if a destructor
        // (or the waker's) panics.
        let _taken = List(self.head.take());
        let _rest = List(rest.0);
        drop(rest.1);
    }
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
    rx: Rx<T>,
}

impl<T> fmt::Debug for Completions<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ready, pending) = self.rx.counts();
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
            rx: Rx::new(&self.core.shared),
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
        self.scope.core.spawn(fut, true, false, self.rx.set);
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
        let (ready, pending) = self.rx.counts();
        ready + pending
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
        Next { rx: &mut self.rx }
    }
}

impl<T> Stream for Completions<'_, T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().rx.poll_next(cx)
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
    rx: &'a mut Rx<T>,
}

impl<T> fmt::Debug for Next<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

impl<T> Future for Next<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().rx.poll_next(cx)
    }
}
