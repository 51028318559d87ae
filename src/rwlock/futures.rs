//! The lock futures, each generic over `&RwLock<T>` / `Arc<RwLock<T>>`.

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::guards::{ReadGuard, UpgradableGuard, WriteGuard};
use super::{LockRef, RwLock, WRITE};
use crate::wait::{Acquire, RawSemaphore, SemRef, Waiting};

/// The readers' semaphore of whatever `R` leads to.
#[derive(Debug)]
pub(crate) struct Readers<R>(R);

impl<R: LockRef> SemRef for Readers<R> {
    fn raw(&self) -> &RawSemaphore {
        &self.0.lock().readers
    }
}

pin_project! {
    /// Waits for read access. See [`RwLock::read`].
    ///
    /// # Cancel safety
    /// Dropping it at any point loses no wake-up and no permit.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let fut: weftwork::sync::Read<'_, i32> = lock.read();
    /// assert_eq!(*fut.await, 1);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ReadFuture<R: LockRef> {
        #[pin]
        inner: Waiting<Readers<R>>,
    }
}

impl<R: LockRef> ReadFuture<R> {
    pub(super) fn new(r: R) -> Self {
        Self {
            inner: Waiting::new(Readers(r), 1),
        }
    }
}

impl<R: LockRef> Future for ReadFuture<R> {
    type Output = ReadGuard<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let readers = ready!(self.project().inner.poll(cx)).expect("an RwLock never closes");
        Poll::Ready(ReadGuard::new(readers.0))
    }
}

pin_project! {
    /// Takes the upgradable slot, then `n` reader permits: the shared shape
    /// of `write` (`n` = all) and `upgradable_read` (`n` = 1).
    struct Exclusive<R: LockRef> {
        lock: Option<R>,
        holds_slot: bool,
        #[pin]
        slot: Acquire,
        #[pin]
        readers: Acquire,
    }

    impl<R: LockRef> PinnedDrop for Exclusive<R> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(r) = this.lock {
                let lock = r.lock();
                this.slot.cancel(&lock.slot);
                this.readers.cancel(&lock.readers);
                if *this.holds_slot {
                    lock.slot.release(1);
                }
            }
        }
    }
}

impl<R: LockRef> Exclusive<R> {
    fn new(r: R, n: usize) -> Self {
        Self {
            lock: Some(r),
            holds_slot: false,
            slot: Acquire::new(1),
            readers: Acquire::new(n),
        }
    }

    fn poll_take(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let mut this = self.project();
        let lock: &RwLock<R::Value> = this
            .lock
            .as_ref()
            .expect("future polled after completion")
            .lock();
        if !*this.holds_slot {
            ready!(this.slot.as_mut().poll_acquire(&lock.slot, cx))
                .expect("an RwLock never closes");
            *this.holds_slot = true;
        }
        ready!(this.readers.poll_acquire(&lock.readers, cx)).expect("an RwLock never closes");
        *this.holds_slot = false;
        Poll::Ready(this.lock.take().expect("checked above"))
    }
}

pin_project! {
    /// Waits for write access. See [`RwLock::write`].
    ///
    /// # Cancel safety
    /// Dropping it at any point (waiting for the slot, or for readers to
    /// leave) gives back all it holds and wakes whoever is next.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let fut: weftwork::sync::Write<'_, i32> = lock.write();
    /// *fut.await = 2;
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WriteFuture<R: LockRef> {
        #[pin]
        inner: Exclusive<R>,
    }
}

impl<R: LockRef> WriteFuture<R> {
    pub(super) fn new(r: R) -> Self {
        Self {
            inner: Exclusive::new(r, WRITE),
        }
    }
}

impl<R: LockRef> Future for WriteFuture<R> {
    type Output = WriteGuard<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll_take(cx).map(WriteGuard::new)
    }
}

pin_project! {
    /// Waits for upgradable read access. See [`RwLock::upgradable_read`].
    ///
    /// # Cancel safety
    /// Dropping it at any point gives back all it holds and wakes whoever
    /// is next.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let lock = weftwork::RwLock::new(1);
    /// let fut: weftwork::sync::UpgradableRead<'_, i32> = lock.upgradable_read();
    /// assert_eq!(*fut.await, 1);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct UpgradableReadFuture<R: LockRef> {
        #[pin]
        inner: Exclusive<R>,
    }
}

impl<R: LockRef> UpgradableReadFuture<R> {
    pub(super) fn new(r: R) -> Self {
        Self {
            inner: Exclusive::new(r, 1),
        }
    }
}

impl<R: LockRef> Future for UpgradableReadFuture<R> {
    type Output = UpgradableGuard<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll_take(cx).map(UpgradableGuard::new)
    }
}

pin_project! {
    /// Upgrades an upgradable read guard. See
    /// [`RwLockUpgradableReadGuard::upgrade`](super::RwLockUpgradableReadGuard::upgrade).
    ///
    /// # Cancel safety
    /// The future owns the upgradable guard: dropping it releases the lock
    /// entirely (and any reader permits already handed to it).
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
    #[must_use = "futures do nothing unless polled"]
    pub struct UpgradeFuture<R: LockRef> {
        #[pin]
        inner: Waiting<UpgradableGuard<R>>,
    }
}

impl<R: LockRef> UpgradeFuture<R> {
    pub(super) fn new(guard: UpgradableGuard<R>) -> Self {
        Self {
            inner: Waiting::new(guard, WRITE - 1),
        }
    }
}

impl<R: LockRef> Future for UpgradeFuture<R> {
    type Output = WriteGuard<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let guard = ready!(self.project().inner.poll(cx)).expect("an RwLock never closes");
        Poll::Ready(UpgradableGuard::into_write(guard))
    }
}

macro_rules! debug {
    ($($fut:ident),*) => {$(
        impl<R: LockRef> fmt::Debug for $fut<R> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($fut)).finish_non_exhaustive()
            }
        }
    )*};
}
debug!(ReadFuture, WriteFuture, UpgradableReadFuture, UpgradeFuture);

/// [`RwLock::read`]'s future.
pub type Read<'a, T> = ReadFuture<&'a RwLock<T>>;
/// [`RwLock::write`]'s future.
pub type Write<'a, T> = WriteFuture<&'a RwLock<T>>;
/// [`RwLock::upgradable_read`]'s future.
pub type UpgradableRead<'a, T> = UpgradableReadFuture<&'a RwLock<T>>;
/// The future of upgrading a borrowed upgradable guard.
pub type Upgrade<'a, T> = UpgradeFuture<&'a RwLock<T>>;
/// [`RwLock::read_arc`]'s future.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type ReadArc<T> = ReadFuture<Arc<RwLock<T>>>;
/// [`RwLock::write_arc`]'s future.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type WriteArc<T> = WriteFuture<Arc<RwLock<T>>>;
/// [`RwLock::upgradable_read_arc`]'s future.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type UpgradableReadArc<T> = UpgradableReadFuture<Arc<RwLock<T>>>;
/// The future of upgrading an `Arc` upgradable guard.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub type UpgradeArc<T> = UpgradeFuture<Arc<RwLock<T>>>;
