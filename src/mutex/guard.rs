#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use super::Mutex;
use crate::wait::RawSemaphore;

/// Exclusive access to a [`Mutex`]'s value; unlocks when dropped.
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let m = weftwork::Mutex::new(1);
/// let mut guard = m.lock().await;
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*m.lock().await, 2);
/// # });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _not_sync: PhantomData<*mut ()>,
}

// SAFETY: the guard can be moved to another thread and unlock there (the
// semaphore has no owner thread); it then carries `&mut T`, so `T: Send`.
unsafe impl<T: ?Sized + Send> Send for MutexGuard<'_, T> {}
// SAFETY: sharing the guard shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    #[inline]
    pub(super) fn new(mutex: &'a Mutex<T>) -> Self {
        Self {
            mutex,
            _not_sync: PhantomData,
        }
    }

    /// Narrows the guard to a part of the value; the lock stays held until
    /// the mapped guard drops.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::MutexGuard;
    /// # pollster::block_on(async {
    /// let m = weftwork::Mutex::new((1, String::new()));
    /// let mut s = MutexGuard::map(m.lock().await, |v| &mut v.1);
    /// s.push('x');
    /// drop(s);
    /// assert_eq!(m.lock().await.1, "x");
    /// # });
    /// ```
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&mut T) -> &mut U) -> MappedMutexGuard<'a, U> {
        mapped(Self::try_map(this, |v| Some(f(v))))
    }

    /// Narrows the guard to a part of the value that may not be there:
    /// `f` returns `None` and the original guard comes back as `Err`,
    /// still holding the lock.
    ///
    /// If `f` panics, the lock is released (once) as the guard drops; there
    /// is no poisoning.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::MutexGuard;
    /// # pollster::block_on(async {
    /// let m = weftwork::Mutex::new(vec![1, 2, 3]);
    /// let guard = MutexGuard::try_map(m.lock().await, |v| v.get_mut(5))
    ///     .expect_err("no element 5: the guard comes back");
    /// assert_eq!(guard.len(), 3);
    /// let mut first = MutexGuard::try_map(guard, |v| v.first_mut()).unwrap();
    /// *first = 10;
    /// drop(first);
    /// assert_eq!(*m.lock().await, [10, 2, 3]);
    /// # });
    /// ```
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<MappedMutexGuard<'a, U>, Self> {
        let mutex = this.mutex;
        // SAFETY: the guard proves the lock is held, so `&mut T` is unique;
        // only `f` uses it, while `try_narrow` still owns the guard (and
        // on `Some` the lock moves on to the mapped guard).
        let value = unsafe { &mut *mutex.value.get() };
        try_narrow(this, value, f, |guard, part| {
            MappedMutexGuard::take_over(guard, &mutex.raw, part)
        })
    }
}

/// A `map` made with `try_map`, whose closure always returns `Some`.
pub(super) fn mapped<M, G>(r: Result<M, G>) -> M {
    match r {
        Ok(mapped) => mapped,
        Err(_) => unreachable!("the closure always returns `Some`"),
    }
}

/// The one body of every `map` / `try_map`, for the borrowed and the owned
/// guards alike: runs `f` on `value` (the locked value, or the part of it
/// that `guard` already points at) while `guard`, which holds the lock, is
/// still owned here, so if `f` panics, the guard's own drop unlocks,
/// exactly once. On `Some`, `wrap` moves the lock from `guard` into a
/// mapped guard over the part (it must neither unlock nor panic); on
/// `None`, `guard` is returned, still holding the lock.
pub(super) fn try_narrow<G, T: ?Sized, U: ?Sized, M>(
    guard: G,
    value: &mut T,
    f: impl FnOnce(&mut T) -> Option<&mut U>,
    wrap: impl FnOnce(G, NonNull<U>) -> M,
) -> Result<M, G> {
    match f(value) {
        Some(part) => Ok(wrap(guard, NonNull::from(part))),
        None => Err(guard),
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no `&mut T` exists elsewhere.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock and is borrowed mutably.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.raw.unlock_one();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// A [`MutexGuard`] narrowed by [`MutexGuard::map`] to part of the value.
///
/// # Examples
/// ```
/// use weftwork::sync::{MappedMutexGuard, MutexGuard};
/// # pollster::block_on(async {
/// let m = weftwork::Mutex::new([0u8; 4]);
/// let mut last: MappedMutexGuard<'_, u8> = MutexGuard::map(m.lock().await, |a| &mut a[3]);
/// *last = 9;
/// # });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MappedMutexGuard<'a, U: ?Sized> {
    raw: &'a RawSemaphore,
    value: NonNull<U>,
    _marker: PhantomData<&'a mut U>,
}

// SAFETY: as for `MutexGuard`: it carries `&mut U` and unlocks anywhere.
unsafe impl<U: ?Sized + Send> Send for MappedMutexGuard<'_, U> {}
// SAFETY: sharing it shares `&U`.
unsafe impl<U: ?Sized + Sync> Sync for MappedMutexGuard<'_, U> {}

impl<'a, U: ?Sized> MappedMutexGuard<'a, U> {
    /// Takes over the lock on `raw` that `guard` holds, without unlocking
    /// (the guard is forgotten), as a guard over `value`.
    fn take_over<G>(guard: G, raw: &'a RawSemaphore, value: NonNull<U>) -> Self {
        core::mem::forget(guard);
        Self {
            raw,
            value,
            _marker: PhantomData,
        }
    }

    /// Narrows further.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::{MappedMutexGuard, MutexGuard};
    /// # pollster::block_on(async {
    /// let m = weftwork::Mutex::new(((1, 2), 3));
    /// let g = MutexGuard::map(m.lock().await, |v| &mut v.0);
    /// let g = MappedMutexGuard::map(g, |v| &mut v.1);
    /// assert_eq!(*g, 2);
    /// # });
    /// ```
    pub fn map<V: ?Sized>(this: Self, f: impl FnOnce(&mut U) -> &mut V) -> MappedMutexGuard<'a, V> {
        mapped(Self::try_map(this, |v| Some(f(v))))
    }

    /// Narrows further to a part that may not be there: `f` returns `None`
    /// and the original mapped guard comes back as `Err`, still holding
    /// the lock.
    ///
    /// If `f` panics, the lock is released (once) as the guard drops; there
    /// is no poisoning.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::{MappedMutexGuard, MutexGuard};
    /// # pollster::block_on(async {
    /// let m = weftwork::Mutex::new((0, Some(5)));
    /// let g = MutexGuard::map(m.lock().await, |v| v);
    /// let g = MappedMutexGuard::try_map(g, |v| v.1.as_mut()).unwrap();
    /// assert_eq!(*g, 5);
    /// drop(g);
    /// m.lock().await.1 = None;
    /// let g = MutexGuard::map(m.lock().await, |v| v);
    /// let g = MappedMutexGuard::try_map(g, |v| v.1.as_mut()).unwrap_err();
    /// assert_eq!(g.0, 0);
    /// # });
    /// ```
    pub fn try_map<V: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut U) -> Option<&mut V>,
    ) -> Result<MappedMutexGuard<'a, V>, Self> {
        let raw = this.raw;
        let mut value = this.value;
        // SAFETY: the lock is held by `this` and the pointer came from a
        // live `&mut U`, so the reference is unique; only `f` uses it,
        // while `try_narrow` still owns `this`.
        let value = unsafe { value.as_mut() };
        try_narrow(this, value, f, |guard, part| {
            MappedMutexGuard::take_over(guard, raw, part)
        })
    }
}

impl<U: ?Sized> Deref for MappedMutexGuard<'_, U> {
    type Target = U;

    fn deref(&self) -> &U {
        // SAFETY: the lock is held; the pointer came from a live `&mut U`.
        unsafe { self.value.as_ref() }
    }
}

impl<U: ?Sized> DerefMut for MappedMutexGuard<'_, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`, and `self` is borrowed mutably.
        unsafe { self.value.as_mut() }
    }
}

impl<U: ?Sized> Drop for MappedMutexGuard<'_, U> {
    #[inline]
    fn drop(&mut self) {
        self.raw.unlock_one();
    }
}

impl<U: ?Sized + fmt::Debug> fmt::Debug for MappedMutexGuard<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<U: ?Sized + fmt::Display> fmt::Display for MappedMutexGuard<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// An owned guard from [`Mutex::lock_arc`]: `'static`, unlocks when
/// dropped.
///
/// # Examples
/// ```
/// # use std::sync::Arc;
/// # pollster::block_on(async {
/// let m = Arc::new(weftwork::Mutex::new(0));
/// let mut g: weftwork::sync::MutexGuardArc<i32> = m.lock_arc().await;
/// *g = 7;
/// drop(g);
/// assert_eq!(*m.lock().await, 7);
/// # });
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuardArc<T: ?Sized> {
    mutex: Arc<Mutex<T>>,
}

// SAFETY: as for `MutexGuard` (the `Arc` is `Send` because `Mutex<T>` is
// `Sync + Send` for `T: Send`).
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
unsafe impl<T: ?Sized + Send> Send for MutexGuardArc<T> {}
// SAFETY: sharing the guard shares `&T`.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
unsafe impl<T: ?Sized + Send + Sync> Sync for MutexGuardArc<T> {}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> MutexGuardArc<T> {
    #[inline]
    pub(super) fn new(mutex: Arc<Mutex<T>>) -> Self {
        Self { mutex }
    }

    /// The mutex this guard locks.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let m = Arc::new(weftwork::Mutex::new(0));
    /// let g = m.try_lock_arc().unwrap();
    /// assert!(Arc::ptr_eq(g.source(), &m));
    /// ```
    pub fn source(&self) -> &Arc<Mutex<T>> {
        &self.mutex
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> Deref for MutexGuardArc<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> DerefMut for MutexGuardArc<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock and is borrowed mutably.
        unsafe { &mut *self.mutex.value.get() }
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> Drop for MutexGuardArc<T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.raw.unlock_one();
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuardArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuardArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
