//! An async mutex on the fair wait core.

mod guard;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod mapped_arc;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use guard::MutexGuardArc;
pub use guard::{MappedMutexGuard, MutexGuard};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use mapped_arc::MappedMutexGuardArc;
use pin_project_lite::pin_project;

use crate::loom::ValueCell;

use crate::wait::{Acquire, MAX_BYPASS, RawSemaphore, SemRef, Waiting};

/// An async mutual-exclusion lock.
///
/// * **Fast path**: an uncontended `lock`/`try_lock` is one CAS, and unlock
///   is one CAS.
/// * **Fairness: eventual, with a bound.** An unlock wakes the longest
///   waiter and leaves the lock free, so a running task may take it again
///   at once (barging keeps throughput high under contention); but from
///   the [`Mutex::MAX_BYPASS`]-th unlock while it waits on, the lock is
///   *kept* for that waiter: it is overtaken fewer than `MAX_BYPASS`
///   times, on any number of threads. The bound is count-based and holds
///   without `std`.
/// * **Cancel-safe**: dropping a [`Lock`] future at any point loses no
///   wake-up; if the lock had just been kept for it, it passes on.
/// * No poisoning; no allocation per wait; `size_of::<Mutex<()>>() == 16`
///   on 64-bit targets.
///
/// # Examples
/// ```
/// use weftwork::Mutex;
/// # pollster::block_on(async {
/// let m = Mutex::new(0);
/// *m.lock().await += 1;
/// assert_eq!(*m.lock().await, 1);
/// # });
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawSemaphore,
    value: ValueCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one holder at a time, so sharing
// it across threads only needs `T: Send` (as `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

impl<T: ?Sized> SemRef for &Mutex<T> {
    fn raw(&self) -> &RawSemaphore {
        &self.raw
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> SemRef for Arc<Mutex<T>> {
    fn raw(&self) -> &RawSemaphore {
        &self.raw
    }
}

impl<T> Mutex<T> {
    crate::loom::const_unless_loom! {
        /// A new unlocked mutex holding `value`.
        ///
        /// A `const fn`, so it can initialize a `static` (except under
        /// `--cfg loom`, where it is a plain `fn`: loom's atomics are built at
        /// run time).
        ///
        /// # Examples
        /// ```
        /// let m = weftwork::Mutex::new(5);
        /// assert_eq!(m.into_inner(), 5);
        ///
        /// static COUNT: weftwork::Mutex<u32> = weftwork::Mutex::new(0);
        /// *COUNT.try_lock().unwrap() += 1;
        /// assert_eq!(*COUNT.try_lock().unwrap(), 1);
        /// ```
        pub fn new(value: T) -> Self {
            Self {
                raw: RawSemaphore::new(1),
                value: ValueCell::new(value),
            }
        }
    }

    /// Consumes the mutex and returns the value.
    ///
    /// # Examples
    /// ```
    /// let m = weftwork::Mutex::new(String::from("hi"));
    /// assert_eq!(m.into_inner(), "hi");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// How many times the longest waiter can be overtaken before it gets
    /// the lock: each unlock while it waits frees the lock for whoever is
    /// first (it, or a barging `lock`/`try_lock`), and from the
    /// `MAX_BYPASS`-th on the freed lock is kept for the waiter (woken, it
    /// takes it on its next poll). So it is overtaken fewer than
    /// `MAX_BYPASS` times, however many threads unlock the mutex: an
    /// unlock with waiters frees the lock and counts it in one step, under
    /// the waiter queue's lock.
    /// Count-based, so the bound holds without `std`. (Under `--cfg loom` it is 2, so models reach
    /// both paths quickly.)
    ///
    /// # Examples
    /// ```
    /// assert!(weftwork::Mutex::<()>::MAX_BYPASS <= 8);
    /// ```
    pub const MAX_BYPASS: usize = MAX_BYPASS;

    /// Waits for the lock.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future loses no wake-up, and if the lock
    /// had already been kept for it, the lock passes to the next waiter.
    /// The dropped future loses its place in the queue.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let m = weftwork::Mutex::new(vec![1]);
    /// m.lock().await.push(2);
    /// assert_eq!(*m.lock().await, [1, 2]);
    /// # });
    /// ```
    #[inline]
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            inner: Waiting::new(self, Acquire::mutex()),
        }
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// Like the fast path of [`lock`](Self::lock), it may take a lock that
    /// an unlock has just left free while others wait (each such take
    /// counts against the longest waiter, see [`Mutex::MAX_BYPASS`]); it
    /// fails if the lock is held or kept for that waiter.
    ///
    /// # Examples
    /// ```
    /// use std::future::Future;
    /// use std::task::{Context, Waker};
    ///
    /// let m = weftwork::Mutex::new(1);
    /// let g = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// // A waiter queues; the unlock wakes it and leaves the lock free,
    /// // so `try_lock` gets there first.
    /// let mut waiter = std::pin::pin!(m.lock());
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(waiter.as_mut().poll(&mut cx).is_pending());
    /// drop(g);
    /// let g = m.try_lock().unwrap();
    /// assert!(waiter.as_mut().poll(&mut cx).is_pending());
    /// drop(g);
    /// assert!(waiter.as_mut().poll(&mut cx).is_ready());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.raw.try_acquire_exact(1) {
            Ok(()) => Some(MutexGuard::new(self)),
            Err(_) => None,
        }
    }

    /// A mutable reference to the value; no locking needed since the
    /// borrow is exclusive.
    ///
    /// # Examples
    /// ```
    /// let mut m = weftwork::Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock, holding it through the `Arc` (`'static` guard).
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`lock`](Self::lock).
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// # pollster::block_on(async {
    /// let m = Arc::new(weftwork::Mutex::new(0));
    /// let mut g = m.lock_arc().await;
    /// *g += 1;
    /// std::thread::spawn(move || drop(g)).join().unwrap();
    /// assert_eq!(*m.lock().await, 1);
    /// # });
    /// ```
    pub fn lock_arc(self: &Arc<Self>) -> LockArc<T> {
        LockArc {
            inner: Waiting::new(self.clone(), Acquire::mutex()),
        }
    }

    /// Takes the lock through the `Arc` if it is free, without waiting (as
    /// [`try_lock`](Self::try_lock): it may overtake waiters, within
    /// [`Mutex::MAX_BYPASS`]).
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let m = Arc::new(weftwork::Mutex::new(0));
    /// let g = m.try_lock_arc().unwrap();
    /// assert!(m.try_lock_arc().is_none());
    /// # drop(g);
    /// ```
    pub fn try_lock_arc(self: &Arc<Self>) -> Option<MutexGuardArc<T>> {
        match self.raw.try_acquire_exact(1) {
            Ok(()) => Some(MutexGuardArc::new(self.clone())),
            Err(_) => None,
        }
    }
}

#[cfg(feature = "std")]
impl<T: ?Sized> Mutex<T> {
    /// Blocks the thread until the lock is taken.
    ///
    /// Never panics inside an async runtime, but blocks that worker thread
    /// (and deadlocks if the holder needs that thread to make progress):
    /// call it from synchronous code.
    ///
    /// # Examples
    /// ```
    /// let m = weftwork::Mutex::new(1);
    /// *m.lock_blocking() += 1;
    /// assert_eq!(*m.lock_blocking(), 2);
    /// ```
    pub fn lock_blocking(&self) -> MutexGuard<'_, T> {
        match self.try_lock() {
            Some(guard) => guard,
            None => crate::loom::block_on(self.lock()),
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

pin_project! {
    /// The future of [`Mutex::lock`].
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no wake-up; a lock already kept for
    /// it passes to the next waiter.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let m = weftwork::Mutex::new(());
    /// let fut: weftwork::sync::Lock<'_, ()> = m.lock();
    /// let _guard = fut.await;
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Lock<'a, T: ?Sized> {
        #[pin]
        inner: Waiting<&'a Mutex<T>>,
    }
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mutex = ready!(self.project().inner.poll(cx)).expect("a mutex is never closed");
        Poll::Ready(MutexGuard::new(mutex))
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").finish_non_exhaustive()
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pin_project! {
    /// The future of [`Mutex::lock_arc`].
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no wake-up; a lock already kept for
    /// it passes to the next waiter.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// # pollster::block_on(async {
    /// let m = Arc::new(weftwork::Mutex::new(()));
    /// let fut: weftwork::sync::LockArc<()> = m.lock_arc();
    /// let _guard = fut.await;
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct LockArc<T: ?Sized> {
        #[pin]
        inner: Waiting<Arc<Mutex<T>>>,
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> Future for LockArc<T> {
    type Output = MutexGuardArc<T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mutex = ready!(self.project().inner.poll(cx)).expect("a mutex is never closed");
        Poll::Ready(MutexGuardArc::new(mutex))
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> fmt::Debug for LockArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockArc").finish_non_exhaustive()
    }
}
