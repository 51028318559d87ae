//! A minimal lock for short internal critical sections (a few loads and
//! stores; never a user callback, a waker or a value's destructor).
//!
//! Outside loom it is a test-and-test-and-set spin lock. Under loom it is a
//! loom mutex: loom cannot tell a yielding spin loop from a livelock once
//! three threads contend, but it models a blocking mutex exactly.

#[cfg(not(loom))]
use crate::loom::UnsafeCell;
#[cfg(not(loom))]
use crate::loom::atomic::{AtomicUsize, Ordering::*};

/// See the module docs.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct SpinLock<T> {
    locked: AtomicUsize,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through `with`, which holds the lock
// (exclusive access), so sharing the lock shares no `&T`; sending it moves T.
#[cfg(not(loom))]
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl<T: Send> Send for SpinLock<T> {}

#[cfg(not(loom))]
impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicUsize::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with the lock held. `f` must not panic (it only moves bits).
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        if self
            .locked
            .compare_exchange_weak(0, 1, Acquire, Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        // SAFETY: the lock bit is ours, so nobody else touches the value
        // until the `Release` store below.
        let out = self.value.with_mut(|p| f(unsafe { &mut *p }));
        self.locked.store(0, Release);
        out
    }

    #[cold]
    fn lock_slow(&self) {
        let mut spins = 0;
        loop {
            while self.locked.load(Relaxed) != 0 {
                crate::loom::spin_wait(&mut spins);
            }
            if self
                .locked
                .compare_exchange_weak(0, 1, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// See the module docs.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct SpinLock<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    /// Runs `f` with the lock held.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}
