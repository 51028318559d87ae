//! The lock futures, each generic over `&RwLock<T>` / `Arc<RwLock<T>>`.

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::guards::{ReadGuard, UpgradableGuard, WriteGuard};
use super::{LockRef, RwLock, UPGRADABLE, UPGRADE, WRITE};
use crate::wait::{Acquire, RawSemaphore, SemRef, Waiting};

/// The semaphore of whatever `R` leads to.
#[derive(Debug)]
pub(crate) struct Sem<R>(pub(super) R);

impl<R: LockRef> SemRef for Sem<R> {
    fn raw(&self) -> &RawSemaphore {
        &self.0.lock().sem
    }
}

/// An upgrade waits while owning the upgradable guard.
impl<R: LockRef> SemRef for UpgradableGuard<R> {
    fn raw(&self) -> &RawSemaphore {
        &self.lock_ref().lock().sem
    }
}

macro_rules! lock_future {
    ($(#[$doc:meta])* $name:ident, $owner:ty, $guard:ident, $make:expr) => {
        pin_project! {
            $(#[$doc])*
            #[must_use = "futures do nothing unless polled"]
            pub struct $name<R: LockRef> {
                #[pin]
                inner: Waiting<$owner>,
            }
        }

        impl<R: LockRef> Future for $name<R> {
            type Output = $guard<R>;

            #[inline]
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let owner = ready!(self.project().inner.poll(cx)).expect("an RwLock never closes");
                Poll::Ready($make(owner))
            }
        }

        impl<R: LockRef> fmt::Debug for $name<R> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

lock_future!(
    /// Waits for read access. See [`RwLock::read`].
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no wake-up and returns a permit it
    /// may already have been handed.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let fut: weftwork::sync::Read<'_, i32> = lock.read();
    /// assert_eq!(*fut.await, 1);
    /// # });
    /// ```
    ReadFuture, Sem<R>, ReadGuard, |s: Sem<R>| ReadGuard::new(s.0)
);

lock_future!(
    /// Waits for write access. See [`RwLock::write`].
    ///
    /// # Cancel safety
    /// Dropping it at any point gives back every permit it was handed
    /// (readers that queued behind it then get in) and loses no wake-up.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let fut: weftwork::sync::Write<'_, i32> = lock.write();
    /// *fut.await = 2;
    /// # });
    /// ```
    WriteFuture, Sem<R>, WriteGuard, |s: Sem<R>| WriteGuard::new(s.0)
);

lock_future!(
    /// Waits for upgradable read access. See [`RwLock::upgradable_read`].
    ///
    /// # Cancel safety
    /// Dropping it at any point gives back every permit it was handed and
    /// loses no wake-up.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let fut: weftwork::sync::UpgradableRead<'_, i32> = lock.upgradable_read();
    /// assert_eq!(*fut.await, 1);
    /// # });
    /// ```
    UpgradableReadFuture, Sem<R>, UpgradableGuard, |s: Sem<R>| UpgradableGuard::new(s.0)
);

lock_future!(
    /// Upgrades an upgradable read guard. See
    /// [`RwLockUpgradableReadGuard::upgrade`](super::RwLockUpgradableReadGuard::upgrade).
    ///
    /// # Cancel safety
    /// The future owns the upgradable guard: dropping it releases the lock
    /// entirely (and any permits already handed to it).
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::{RwLockUpgradableReadGuard, Upgrade};
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let fut: Upgrade<'_, i32> = RwLockUpgradableReadGuard::upgrade(lock.upgradable_read().await);
    /// *fut.await = 3;
    /// # });
    /// ```
    UpgradeFuture, UpgradableGuard<R>, WriteGuard, UpgradableGuard::into_write
);

impl<R: LockRef> ReadFuture<R> {
    #[inline]
    pub(super) fn new(r: R) -> Self {
        Self {
            inner: Waiting::new(Sem(r), Acquire::fifo(1)),
        }
    }
}

impl<R: LockRef> WriteFuture<R> {
    #[inline]
    pub(super) fn new(r: R) -> Self {
        Self {
            inner: Waiting::new(Sem(r), Acquire::exact(WRITE)),
        }
    }
}

impl<R: LockRef> UpgradableReadFuture<R> {
    #[inline]
    pub(super) fn new(r: R) -> Self {
        Self {
            inner: Waiting::new(Sem(r), Acquire::fifo(UPGRADABLE)),
        }
    }
}

impl<R: LockRef> UpgradeFuture<R> {
    pub(super) fn new(guard: UpgradableGuard<R>) -> Self {
        Self {
            inner: Waiting::new(guard, Acquire::front(UPGRADE)),
        }
    }
}

/// [`RwLock::read`]'s future.
///
/// # Examples
/// ```
/// use weftwork::sync::{Read, RwLock};
/// let lock = RwLock::new(1);
/// let fut: Read<'_, i32> = lock.read();
/// assert_eq!(*pollster::block_on(fut), 1);
/// ```
pub type Read<'a, T> = ReadFuture<&'a RwLock<T>>;
/// [`RwLock::write`]'s future.
///
/// # Examples
/// ```
/// use weftwork::sync::{RwLock, Write};
/// let lock = RwLock::new(1);
/// let fut: Write<'_, i32> = lock.write();
/// *pollster::block_on(fut) += 1;
/// assert_eq!(lock.into_inner(), 2);
/// ```
pub type Write<'a, T> = WriteFuture<&'a RwLock<T>>;
/// [`RwLock::upgradable_read`]'s future.
///
/// # Examples
/// ```
/// use weftwork::sync::{RwLock, UpgradableRead};
/// let lock = RwLock::new(1);
/// let fut: UpgradableRead<'_, i32> = lock.upgradable_read();
/// let guard = pollster::block_on(fut);
/// assert_eq!(*guard, 1);
/// assert!(lock.try_read().is_some(), "readers still get in");
/// ```
pub type UpgradableRead<'a, T> = UpgradableReadFuture<&'a RwLock<T>>;
/// The future of upgrading a borrowed upgradable guard.
///
/// # Examples
/// ```
/// use weftwork::sync::{RwLock, RwLockUpgradableReadGuard, Upgrade};
/// let lock = RwLock::new(1);
/// let guard = lock.try_upgradable_read().unwrap();
/// let fut: Upgrade<'_, i32> = RwLockUpgradableReadGuard::upgrade(guard);
/// *pollster::block_on(fut) = 2;
/// assert_eq!(*lock.try_read().unwrap(), 2);
/// ```
pub type Upgrade<'a, T> = UpgradeFuture<&'a RwLock<T>>;
/// [`RwLock::read_arc`]'s future.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::sync::{ReadArc, RwLock};
/// let lock = Arc::new(RwLock::new(1));
/// let fut: ReadArc<i32> = lock.read_arc();
/// assert_eq!(*pollster::block_on(fut), 1);
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type ReadArc<T> = ReadFuture<Arc<RwLock<T>>>;
/// [`RwLock::write_arc`]'s future.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::sync::{RwLock, WriteArc};
/// let lock = Arc::new(RwLock::new(1));
/// let fut: WriteArc<i32> = lock.write_arc();
/// *pollster::block_on(fut) = 2;
/// assert_eq!(*lock.try_read().unwrap(), 2);
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type WriteArc<T> = WriteFuture<Arc<RwLock<T>>>;
/// [`RwLock::upgradable_read_arc`]'s future.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::sync::{RwLock, UpgradableReadArc};
/// let lock = Arc::new(RwLock::new(1));
/// let fut: UpgradableReadArc<i32> = lock.upgradable_read_arc();
/// assert_eq!(*pollster::block_on(fut), 1);
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type UpgradableReadArc<T> = UpgradableReadFuture<Arc<RwLock<T>>>;
/// The future of upgrading an `Arc` upgradable guard.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::sync::{RwLock, RwLockUpgradableReadGuardArc, UpgradeArc};
/// let lock = Arc::new(RwLock::new(1));
/// let guard = lock.try_upgradable_read_arc().unwrap();
/// let fut: UpgradeArc<i32> = RwLockUpgradableReadGuardArc::upgrade(guard);
/// *pollster::block_on(fut) = 2;
/// assert_eq!(*lock.try_read().unwrap(), 2);
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type UpgradeArc<T> = UpgradeFuture<Arc<RwLock<T>>>;
