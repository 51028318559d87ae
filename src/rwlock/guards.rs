//! The three guards, each generic over `&RwLock<T>` / `Arc<RwLock<T>>`.

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use super::futures::UpgradeFuture;
use super::{LockRef, RwLock, UPGRADABLE, UPGRADE, WRITE};

/// Shared read access; released when dropped.
///
/// Use through the aliases [`RwLockReadGuard`] and [`RwLockReadGuardArc`].
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let lock = weftwork::RwLock::new(1);
/// let g: weftwork::sync::RwLockReadGuard<'_, i32> = lock.read().await;
/// assert_eq!(*g, 1);
/// # });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ReadGuard<R: LockRef>(R);

/// Upgradable read access; released when dropped.
///
/// Use through the aliases [`RwLockUpgradableReadGuard`] and
/// [`RwLockUpgradableReadGuardArc`].
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let lock = weftwork::RwLock::new(1);
/// let g: weftwork::sync::RwLockUpgradableReadGuard<'_, i32> = lock.upgradable_read().await;
/// assert_eq!(*g, 1);
/// # });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct UpgradableGuard<R: LockRef>(R);

/// Exclusive write access; released when dropped.
///
/// Use through the aliases [`RwLockWriteGuard`] and [`RwLockWriteGuardArc`].
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let lock = weftwork::RwLock::new(1);
/// let mut g: weftwork::sync::RwLockWriteGuard<'_, i32> = lock.write().await;
/// *g = 2;
/// # });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct WriteGuard<R: LockRef>(R);

/// A read guard borrowing the lock.
///
/// # Examples
/// ```
/// use weftwork::sync::{RwLock, RwLockReadGuard};
/// let lock = RwLock::new(1);
/// let a: RwLockReadGuard<'_, i32> = lock.try_read().unwrap();
/// let b = lock.try_read().unwrap(); // readers share the lock
/// assert_eq!(*a + *b, 2);
/// ```
pub type RwLockReadGuard<'a, T> = ReadGuard<&'a RwLock<T>>;
/// An upgradable read guard borrowing the lock.
///
/// # Examples
/// ```
/// use weftwork::sync::{RwLock, RwLockUpgradableReadGuard};
/// let lock = RwLock::new(1);
/// let g: RwLockUpgradableReadGuard<'_, i32> = lock.try_upgradable_read().unwrap();
/// assert!(lock.try_upgradable_read().is_none(), "one at a time");
/// let mut w = RwLockUpgradableReadGuard::try_upgrade(g).ok().unwrap();
/// *w = 2;
/// ```
pub type RwLockUpgradableReadGuard<'a, T> = UpgradableGuard<&'a RwLock<T>>;
/// A write guard borrowing the lock.
///
/// # Examples
/// ```
/// use weftwork::sync::{RwLock, RwLockWriteGuard};
/// let lock = RwLock::new(1);
/// let mut g: RwLockWriteGuard<'_, i32> = lock.try_write().unwrap();
/// *g = 2;
/// assert!(lock.try_read().is_none(), "a writer excludes readers");
/// ```
pub type RwLockWriteGuard<'a, T> = WriteGuard<&'a RwLock<T>>;
/// A `'static` read guard owning an `Arc` of the lock.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::sync::{RwLock, RwLockReadGuardArc};
/// let lock = Arc::new(RwLock::new(1));
/// let g: RwLockReadGuardArc<i32> = lock.try_read_arc().unwrap();
/// drop(lock); // the guard keeps the lock alive
/// assert_eq!(*g, 1);
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type RwLockReadGuardArc<T> = ReadGuard<Arc<RwLock<T>>>;
/// A `'static` upgradable read guard owning an `Arc` of the lock.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::sync::{RwLock, RwLockUpgradableReadGuardArc};
/// let lock = Arc::new(RwLock::new(1));
/// let g: RwLockUpgradableReadGuardArc<i32> = lock.try_upgradable_read_arc().unwrap();
/// let w = pollster::block_on(RwLockUpgradableReadGuardArc::upgrade(g));
/// assert_eq!(*w, 1);
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type RwLockUpgradableReadGuardArc<T> = UpgradableGuard<Arc<RwLock<T>>>;
/// A `'static` write guard owning an `Arc` of the lock.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::sync::{RwLock, RwLockWriteGuardArc};
/// let lock = Arc::new(RwLock::new(1));
/// let mut g: RwLockWriteGuardArc<i32> = lock.try_write_arc().unwrap();
/// *g = 2;
/// drop(g);
/// assert_eq!(*lock.try_read().unwrap(), 2);
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type RwLockWriteGuardArc<T> = WriteGuard<Arc<RwLock<T>>>;

// SAFETY: read guards share `&T`: sending or sharing one needs `T: Sync`;
// the lock reference itself is `Send`/`Sync` when `R` is.
unsafe impl<R: LockRef + Send> Send for ReadGuard<R> where R::Value: Sync {}
// SAFETY: as above.
unsafe impl<R: LockRef + Sync> Sync for ReadGuard<R> where R::Value: Sync {}
// SAFETY: an upgradable guard reads now and may write later (`&mut T` on
// whichever thread holds it): needs `T: Send + Sync` to move.
unsafe impl<R: LockRef + Send> Send for UpgradableGuard<R> where R::Value: Send + Sync {}
// SAFETY: sharing it shares `&T`.
unsafe impl<R: LockRef + Sync> Sync for UpgradableGuard<R> where R::Value: Sync {}
// SAFETY: a write guard carries `&mut T`.
unsafe impl<R: LockRef + Send> Send for WriteGuard<R> where R::Value: Send + Sync {}
// SAFETY: sharing it shares `&T`.
unsafe impl<R: LockRef + Sync> Sync for WriteGuard<R> where R::Value: Sync {}

impl<R: LockRef> ReadGuard<R> {
    #[inline]
    pub(super) fn new(r: R) -> Self {
        Self(r)
    }
}

impl<R: LockRef> WriteGuard<R> {
    #[inline]
    pub(super) fn new(r: R) -> Self {
        Self(r)
    }
}

impl<R: LockRef> UpgradableGuard<R> {
    #[inline]
    pub(super) fn new(r: R) -> Self {
        Self(r)
    }

    /// Waits for the plain readers to leave, then becomes a writer.
    ///
    /// # Cancel safety
    /// Dropping the returned future drops the upgradable guard too (the
    /// lock is released, never left half-upgraded).
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::RwLockUpgradableReadGuard;
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let up = lock.upgradable_read().await;
    /// let mut w = RwLockUpgradableReadGuard::upgrade(up).await;
    /// *w += 1;
    /// # });
    /// ```
    pub fn upgrade(this: Self) -> UpgradeFuture<R> {
        UpgradeFuture::new(this)
    }

    /// Becomes a writer if no plain reader is there; otherwise gives the
    /// guard back.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::RwLockUpgradableReadGuard;
    /// let lock = weftwork::RwLock::new(1);
    /// let up = lock.try_upgradable_read().unwrap();
    /// let r = lock.try_read().unwrap();
    /// let up = RwLockUpgradableReadGuard::try_upgrade(up).unwrap_err();
    /// drop(r);
    /// assert!(RwLockUpgradableReadGuard::try_upgrade(up).is_ok());
    /// ```
    pub fn try_upgrade(this: Self) -> Result<WriteGuard<R>, Self> {
        match this.0.lock().sem.try_acquire_front(UPGRADE) {
            Ok(()) => Ok(WriteGuard(this.into_ref())),
            Err(_) => Err(this),
        }
    }

    /// Gives up the upgrade right, staying a plain reader.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::RwLockUpgradableReadGuard;
    /// let lock = weftwork::RwLock::new(1);
    /// let up = lock.try_upgradable_read().unwrap();
    /// let r = RwLockUpgradableReadGuard::downgrade(up);
    /// assert!(lock.try_upgradable_read().is_some());
    /// # drop(r);
    /// ```
    pub fn downgrade(this: Self) -> ReadGuard<R> {
        // The read guard first: should a `wake` in the release panic, it
        // gives its permit back while unwinding.
        let read = ReadGuard(this.into_ref());
        read.0.lock().sem.release(UPGRADABLE - 1);
        read
    }

    /// Turns the guard back into its pieces once the write permits are in.
    pub(super) fn into_write(this: Self) -> WriteGuard<R> {
        WriteGuard(this.into_ref())
    }
}

#[cfg(feature = "std")]
impl<R: LockRef> UpgradableGuard<R> {
    /// Blocks the thread until the upgrade completes. Never panics inside
    /// an async runtime, but blocks that worker thread.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::RwLockUpgradableReadGuard;
    /// let lock = weftwork::RwLock::new(1);
    /// let up = lock.upgradable_read_blocking();
    /// *RwLockUpgradableReadGuard::upgrade_blocking(up) = 5;
    /// assert_eq!(*lock.read_blocking(), 5);
    /// ```
    pub fn upgrade_blocking(this: Self) -> WriteGuard<R> {
        crate::loom::block_on(Self::upgrade(this))
    }
}

impl<R: LockRef> WriteGuard<R> {
    /// Becomes a plain reader, letting waiting readers in at once.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::RwLockWriteGuard;
    /// let lock = weftwork::RwLock::new(1);
    /// let mut w = lock.try_write().unwrap();
    /// *w = 2;
    /// let r = RwLockWriteGuard::downgrade(w);
    /// assert_eq!(*lock.try_read().unwrap(), 2);
    /// # drop(r);
    /// ```
    pub fn downgrade(this: Self) -> ReadGuard<R> {
        // The read guard first: should a `wake` in the release panic, it
        // gives its permit back while unwinding.
        let read = ReadGuard(this.into_ref());
        read.0.lock().sem.release(WRITE - 1);
        read
    }

    /// Becomes the upgradable reader: readers may enter, other writers and
    /// upgradable readers may not.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::RwLockWriteGuard;
    /// let lock = weftwork::RwLock::new(1);
    /// let w = lock.try_write().unwrap();
    /// let up = RwLockWriteGuard::downgrade_to_upgradable(w);
    /// assert!(lock.try_read().is_some());
    /// assert!(lock.try_upgradable_read().is_none());
    /// # drop(up);
    /// ```
    pub fn downgrade_to_upgradable(this: Self) -> UpgradableGuard<R> {
        // The new guard first (see `downgrade`).
        let up = UpgradableGuard(this.into_ref());
        up.0.lock().sem.release(UPGRADE);
        up
    }
}

impl<R: LockRef> Drop for ReadGuard<R> {
    #[inline]
    fn drop(&mut self) {
        self.0.lock().sem.release(1);
    }
}

impl<R: LockRef> Drop for UpgradableGuard<R> {
    #[inline]
    fn drop(&mut self) {
        self.0.lock().sem.release(UPGRADABLE);
    }
}

impl<R: LockRef> Drop for WriteGuard<R> {
    #[inline]
    fn drop(&mut self) {
        self.0.lock().sem.release(WRITE);
    }
}

impl<R: LockRef> UpgradableGuard<R> {
    pub(super) fn lock_ref(&self) -> &R {
        &self.0
    }
}

macro_rules! deref {
    ($($guard:ident),*) => {$(
        impl<R: LockRef> Deref for $guard<R> {
            type Target = R::Value;

            fn deref(&self) -> &R::Value {
                // SAFETY: the guard holds at least a read permit, so no
                // writer (and no `&mut`) exists while it lives.
                unsafe { &*self.0.lock().value.get() }
            }
        }

        impl<R: LockRef> fmt::Debug for $guard<R>
        where
            R::Value: fmt::Debug,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
    )*};
}
deref!(ReadGuard, UpgradableGuard, WriteGuard);

macro_rules! into_ref {
    ($($guard:ident),*) => {$(
        impl<R: LockRef> $guard<R> {
            /// Moves the lock reference out without running `Drop`: the
            /// permits it stands for pass to the caller.
            fn into_ref(self) -> R {
                let this = ManuallyDrop::new(self);
                // SAFETY: `this` is never used or dropped again, so the
                // reference is moved out exactly once.
                unsafe { core::ptr::read(&this.0) }
            }
        }
    )*};
}
into_ref!(UpgradableGuard, WriteGuard);

impl<R: LockRef> DerefMut for WriteGuard<R> {
    fn deref_mut(&mut self) -> &mut R::Value {
        // SAFETY: the write guard holds every permit:
        // it is the only guard, and it is borrowed mutably.
        unsafe { &mut *self.0.lock().value.get() }
    }
}
