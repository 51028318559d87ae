//! An async, write-preferring reader-writer lock with upgradable reads.
//!
//! Built on one fair semaphore of the wait core holding `WRITE = 2·HALF`
//! permits: a reader takes 1, the upgradable reader `HALF + 1` (so two of
//! them never fit, but it fits with up to `HALF − 1` readers), a writer all
//! `WRITE`. Because the semaphore is FIFO and hands freed permits to its head
//! waiter, a waiting writer blocks every reader that arrives after it: the
//! lock is write-preferring without extra state. An upgrade asks for the
//! missing `HALF − 1` permits as a *priority* request: it goes to the head of
//! the queue and takes over permits already handed to a writer waiting there
//! (that writer waits for the upgradable reader anyway), so upgrading never
//! deadlocks against a queued writer.
//!
//! A writer that finds readers inside watches them leave for a short while
//! before it queues (the wait core's spin), and meanwhile *claims* the lock:
//! readers that arrive then wait for it too (`try_read` fails), so a stream
//! of readers cannot keep a running writer out and push it into the queue,
//! where every later reader would wait for a task that is not running.

mod futures;
mod guards;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;

pub use futures::{Read, UpgradableRead, Upgrade, Write};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use futures::{ReadArc, UpgradableReadArc, UpgradeArc, WriteArc};
pub use futures::{ReadFuture, UpgradableReadFuture, UpgradeFuture, WriteFuture};
pub use guards::{ReadGuard, UpgradableGuard, WriteGuard};
pub use guards::{RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use guards::{RwLockReadGuardArc, RwLockUpgradableReadGuardArc, RwLockWriteGuardArc};

use crate::loom::ValueCell;
use crate::wait::{MAX_PERMITS, RawSemaphore};

/// A reader-writer lock for async code.
///
/// * Many readers or one writer. One **upgradable** reader at a time may
///   coexist with plain readers and later [upgrade] to a writer.
/// * **Write-preferring**: once a writer waits, readers that arrive later
///   queue behind it, so writers are not starved (while a writer briefly
///   spins before queueing, `try_read` already fails). Waiters are served
///   FIFO; only an upgrade goes first (it holds the lock already).
/// * **Cancel-safe** futures; no poisoning; no allocation per wait.
///
/// [upgrade]: RwLockUpgradableReadGuard::upgrade
///
/// # Examples
/// ```
/// use weftwork::RwLock;
/// # pollster::block_on(async {
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().await;
///     let r2 = lock.read().await;
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *lock.write().await += 1;
/// assert_eq!(*lock.read().await, 6);
/// # });
/// ```
pub struct RwLock<T: ?Sized> {
    sem: RawSemaphore,
    value: ValueCell<T>,
}

// SAFETY: readers share `&T` across threads (`T: Sync`), a writer gets
// `&mut T` possibly on another thread (`T: Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
// SAFETY: moving the lock moves the `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

/// What a guard or future holds on to: `&RwLock<T>` or `Arc<RwLock<T>>`.
///
/// Sealed; it lets one guard type serve both the borrowed and the `Arc`
/// flavour.
///
/// # Examples
/// ```
/// fn reader_count<R: weftwork::sync::LockRef>(_: &R) {}
/// let lock = weftwork::RwLock::new(());
/// reader_count(&&lock);
/// ```
pub trait LockRef: sealed::Sealed {
    /// The protected type.
    type Value: ?Sized;
    /// The lock.
    fn lock(&self) -> &RwLock<Self::Value>;
}

mod sealed {
    pub trait Sealed {}
}

impl<T: ?Sized> sealed::Sealed for &RwLock<T> {}
impl<T: ?Sized> LockRef for &RwLock<T> {
    type Value = T;
    fn lock(&self) -> &RwLock<T> {
        self
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> sealed::Sealed for Arc<RwLock<T>> {}
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> LockRef for Arc<RwLock<T>> {
    type Value = T;
    fn lock(&self) -> &RwLock<T> {
        self
    }
}

const HALF: usize = MAX_PERMITS / 2;
/// A writer takes every permit.
const WRITE: usize = 2 * HALF;
/// The upgradable reader: more than half, so there is only ever one.
const UPGRADABLE: usize = HALF + 1;
/// What an upgrade adds to the upgradable reader's permits.
const UPGRADE: usize = WRITE - UPGRADABLE;

impl<T> RwLock<T> {
    crate::loom::const_unless_loom! {
        /// A new unlocked lock holding `value`.
        ///
        /// A `const fn`, so it can initialize a `static` (except under
        /// `--cfg loom`, where it is a plain `fn`: loom's atomics are built at
        /// run time).
        ///
        /// # Examples
        /// ```
        /// let lock = weftwork::RwLock::new(1);
        /// assert_eq!(lock.into_inner(), 1);
        ///
        /// static CONFIG: weftwork::RwLock<&str> = weftwork::RwLock::new("default");
        /// *CONFIG.try_write().unwrap() = "tuned";
        /// assert_eq!(*CONFIG.try_read().unwrap(), "tuned");
        /// ```
        pub fn new(value: T) -> Self {
            Self {
                sem: RawSemaphore::new(WRITE),
                value: ValueCell::new(value),
            }
        }
    }

    /// Consumes the lock and returns the value.
    ///
    /// # Examples
    /// ```
    /// let lock = weftwork::RwLock::new(vec![1]);
    /// assert_eq!(lock.into_inner(), [1]);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared read access.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future loses no wake-up and returns a read
    /// permit it may already have been handed.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(3);
    /// assert_eq!(*lock.read().await, 3);
    /// # });
    /// ```
    #[inline]
    pub fn read(&self) -> Read<'_, T> {
        ReadFuture::new(self)
    }

    /// Waits for exclusive write access.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future at any point (queued, or partly
    /// served while readers leave) gives back every permit it was handed,
    /// so readers queued behind it get in, and loses no wake-up.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(3);
    /// *lock.write().await = 4;
    /// assert_eq!(*lock.read().await, 4);
    /// # });
    /// ```
    #[inline]
    pub fn write(&self) -> Write<'_, T> {
        WriteFuture::new(self)
    }

    /// Waits for upgradable read access: shared with plain readers,
    /// exclusive with writers and other upgradable readers.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`write`](Self::write).
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::RwLockUpgradableReadGuard;
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let up = lock.upgradable_read().await;
    /// let r = lock.read().await; // readers still get in
    /// assert_eq!(*up + *r, 2);
    /// drop(r);
    /// let mut w = RwLockUpgradableReadGuard::upgrade(up).await;
    /// *w = 2;
    /// # });
    /// ```
    pub fn upgradable_read(&self) -> UpgradableRead<'_, T> {
        UpgradableReadFuture::new(self)
    }

    /// Read access if no writer holds the lock and nobody waits for it.
    ///
    /// # Examples
    /// ```
    /// let lock = weftwork::RwLock::new(1);
    /// let w = lock.try_write().unwrap();
    /// assert!(lock.try_read().is_none());
    /// drop(w);
    /// assert!(lock.try_read().is_some());
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        try_read(self)
    }

    /// Write access if the lock is free and nobody waits for it.
    ///
    /// # Examples
    /// ```
    /// let lock = weftwork::RwLock::new(1);
    /// let r = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_none());
    /// drop(r);
    /// assert!(lock.try_write().is_some());
    /// ```
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        try_write(self)
    }

    /// Upgradable read access if no writer or upgradable reader holds the
    /// lock and nobody waits for it.
    ///
    /// # Examples
    /// ```
    /// let lock = weftwork::RwLock::new(1);
    /// let up = lock.try_upgradable_read().unwrap();
    /// assert!(lock.try_upgradable_read().is_none());
    /// assert!(lock.try_read().is_some());
    /// # drop(up);
    /// ```
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        try_upgradable(self)
    }

    /// A mutable reference to the value; no locking needed.
    ///
    /// # Examples
    /// ```
    /// let mut lock = weftwork::RwLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

fn try_read<R: LockRef>(r: R) -> Option<ReadGuard<R>> {
    r.lock().sem.try_acquire(1).ok()?;
    Some(ReadGuard::new(r))
}

fn try_write<R: LockRef>(r: R) -> Option<WriteGuard<R>> {
    r.lock().sem.try_acquire_exact(WRITE).ok()?;
    Some(WriteGuard::new(r))
}

fn try_upgradable<R: LockRef>(r: R) -> Option<UpgradableGuard<R>> {
    r.lock().sem.try_acquire(UPGRADABLE).ok()?;
    Some(UpgradableGuard::new(r))
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: ?Sized> RwLock<T> {
    /// [`read`](Self::read) through an `Arc`, for a `'static` guard.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`read`](Self::read).
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// # pollster::block_on(async {
    /// let lock = Arc::new(weftwork::RwLock::new(1));
    /// let g = lock.read_arc().await;
    /// std::thread::spawn(move || assert_eq!(*g, 1)).join().unwrap();
    /// # });
    /// ```
    #[inline]
    pub fn read_arc(self: &Arc<Self>) -> ReadArc<T> {
        ReadFuture::new(self.clone())
    }

    /// [`write`](Self::write) through an `Arc`, for a `'static` guard.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`write`](Self::write).
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// # pollster::block_on(async {
    /// let lock = Arc::new(weftwork::RwLock::new(1));
    /// *lock.write_arc().await = 2;
    /// assert_eq!(*lock.read().await, 2);
    /// # });
    /// ```
    #[inline]
    pub fn write_arc(self: &Arc<Self>) -> WriteArc<T> {
        WriteFuture::new(self.clone())
    }

    /// [`upgradable_read`](Self::upgradable_read) through an `Arc`.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`write`](Self::write).
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// use weftwork::sync::RwLockUpgradableReadGuardArc;
    /// # pollster::block_on(async {
    /// let lock = Arc::new(weftwork::RwLock::new(1));
    /// let up = lock.upgradable_read_arc().await;
    /// *RwLockUpgradableReadGuardArc::upgrade(up).await = 2;
    /// # });
    /// ```
    pub fn upgradable_read_arc(self: &Arc<Self>) -> UpgradableReadArc<T> {
        UpgradableReadFuture::new(self.clone())
    }

    /// [`try_read`](Self::try_read) through an `Arc`.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let lock = Arc::new(weftwork::RwLock::new(1));
    /// assert!(lock.try_read_arc().is_some());
    /// ```
    pub fn try_read_arc(self: &Arc<Self>) -> Option<RwLockReadGuardArc<T>> {
        try_read(self.clone())
    }

    /// [`try_write`](Self::try_write) through an `Arc`.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let lock = Arc::new(weftwork::RwLock::new(1));
    /// assert!(lock.try_write_arc().is_some());
    /// ```
    pub fn try_write_arc(self: &Arc<Self>) -> Option<RwLockWriteGuardArc<T>> {
        try_write(self.clone())
    }

    /// [`try_upgradable_read`](Self::try_upgradable_read) through an `Arc`.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let lock = Arc::new(weftwork::RwLock::new(1));
    /// assert!(lock.try_upgradable_read_arc().is_some());
    /// ```
    pub fn try_upgradable_read_arc(self: &Arc<Self>) -> Option<RwLockUpgradableReadGuardArc<T>> {
        try_upgradable(self.clone())
    }
}

#[cfg(feature = "std")]
impl<T: ?Sized> RwLock<T> {
    /// Blocks the thread for read access. Never panics inside an async
    /// runtime, but blocks that worker thread.
    ///
    /// # Examples
    /// ```
    /// let lock = weftwork::RwLock::new(1);
    /// assert_eq!(*lock.read_blocking(), 1);
    /// ```
    pub fn read_blocking(&self) -> RwLockReadGuard<'_, T> {
        self.try_read()
            .unwrap_or_else(|| crate::loom::block_on(self.read()))
    }

    /// Blocks the thread for write access. Never panics inside an async
    /// runtime, but blocks that worker thread.
    ///
    /// # Examples
    /// ```
    /// let lock = weftwork::RwLock::new(1);
    /// *lock.write_blocking() = 2;
    /// assert_eq!(*lock.read_blocking(), 2);
    /// ```
    pub fn write_blocking(&self) -> RwLockWriteGuard<'_, T> {
        self.try_write()
            .unwrap_or_else(|| crate::loom::block_on(self.write()))
    }

    /// Blocks the thread for upgradable read access. Never panics inside
    /// an async runtime, but blocks that worker thread.
    ///
    /// # Examples
    /// ```
    /// use weftwork::sync::RwLockUpgradableReadGuard;
    /// let lock = weftwork::RwLock::new(1);
    /// let up = lock.upgradable_read_blocking();
    /// *RwLockUpgradableReadGuard::upgrade_blocking(up) = 2;
    /// ```
    pub fn upgradable_read_blocking(&self) -> RwLockUpgradableReadGuard<'_, T> {
        self.try_upgradable_read()
            .unwrap_or_else(|| crate::loom::block_on(self.upgradable_read()))
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}
