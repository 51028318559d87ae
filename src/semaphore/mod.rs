//! A fair, FIFO, multi-permit async semaphore.

mod error;
mod future;
mod permit;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;

pub use error::{AcquireError, TryAcquireError};
pub use future::Acquire;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use future::AcquireArc;
pub use permit::SemaphorePermit;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use permit::SemaphorePermitArc;

use crate::wait::{MAX_PERMITS, RawSemaphore, SemRef};

/// A counting semaphore for async code.
///
/// * **FIFO**: waiters are served strictly in arrival order. Freed permits
///   go to the waiter at the head, even partially, so a large
///   [`acquire_many`](Self::acquire_many) at the head is never starved by a
///   stream of small requests, and `try_acquire` never overtakes a waiter.
/// * **Cancel-safe**: dropping an acquire future at any point loses no
///   permit and no wake-up.
/// * **No allocation per wait**: waiters live inside the futures.
///
/// # Examples
/// ```
/// use weftwork::Semaphore;
/// # pollster::block_on(async {
/// let sem = Semaphore::new(2);
/// let a = sem.acquire().await.unwrap();
/// let b = sem.acquire().await.unwrap();
/// assert!(sem.try_acquire().is_err());
/// drop(a);
/// assert!(sem.try_acquire().is_ok());
/// # drop(b);
/// # });
/// ```
pub struct Semaphore {
    pub(crate) raw: RawSemaphore,
}

impl SemRef for &Semaphore {
    fn raw(&self) -> &RawSemaphore {
        &self.raw
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl SemRef for Arc<Semaphore> {
    fn raw(&self) -> &RawSemaphore {
        &self.raw
    }
}

impl Semaphore {
    /// The largest number of permits a semaphore can hold:
    /// `usize::MAX >> 5`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(weftwork::Semaphore::MAX_PERMITS, usize::MAX >> 5);
    /// ```
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    crate::loom::const_unless_loom! {
        /// A semaphore with `permits` free permits.
        ///
        /// A `const fn`, so it can initialize a `static` (except under
        /// `--cfg loom`, where it is a plain `fn`: loom's atomics are built at
        /// run time).
        ///
        /// # Panics
        /// If `permits` exceeds [`Semaphore::MAX_PERMITS`] (in a `static`,
        /// that is a compile error).
        ///
        /// # Examples
        /// ```
        /// let sem = weftwork::Semaphore::new(4);
        /// assert_eq!(sem.available_permits(), 4);
        ///
        /// static CONNECTIONS: weftwork::Semaphore = weftwork::Semaphore::new(2);
        /// let _permit = CONNECTIONS.try_acquire().unwrap();
        /// assert_eq!(CONNECTIONS.available_permits(), 1);
        /// ```
        pub fn new(permits: usize) -> Self {
            Self {
                raw: RawSemaphore::new(permits),
            }
        }
    }

    /// Waits for one permit.
    ///
    /// Fails only if the semaphore is (or gets) closed.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future before it completes gives back any
    /// permit it was already handed and passes the turn to the next waiter.
    /// A dropped future loses its place in the queue.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let sem = weftwork::Semaphore::new(1);
    /// let permit = sem.acquire().await.unwrap();
    /// assert_eq!(sem.available_permits(), 0);
    /// # drop(permit);
    /// # });
    /// ```
    #[inline]
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once (FIFO with all other waiters).
    ///
    /// `n == 0` completes at once with an empty permit.
    ///
    /// A request for more permits than the semaphore will ever have free
    /// at once is not an error: it waits (for [`add_permits`](Self::add_permits)
    /// or [`close`](Self::close)), and as waiters are served in order, so
    /// does every waiter queued behind it. Check an `n` that comes from
    /// input against the semaphore's size.
    ///
    /// # Panics
    /// If `n` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`acquire`](Self::acquire): permits handed to the
    /// future before it was dropped go to the next waiter.
    ///
    /// # Examples
    /// ```
    /// # pollster::block_on(async {
    /// let sem = weftwork::Semaphore::new(5);
    /// let permit = sem.acquire_many(3).await.unwrap();
    /// assert_eq!(sem.available_permits(), 2);
    /// # drop(permit);
    /// # });
    /// ```
    #[inline]
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire::new(self, n)
    }

    /// Takes one permit if one is free and nobody waits before you.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(1);
    /// let p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// # drop(p);
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody waits before you.
    ///
    /// # Examples
    /// ```
    /// use weftwork::TryAcquireError;
    /// let sem = weftwork::Semaphore::new(2);
    /// assert_eq!(sem.try_acquire_many(3).unwrap_err(), TryAcquireError::NoPermits);
    /// assert_eq!(sem.try_acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.raw.try_acquire(n)?;
        Ok(SemaphorePermit::new(self, n))
    }

    /// Adds `n` permits, waking waiters in FIFO order.
    ///
    /// # Panics
    /// If the free count would exceed [`Semaphore::MAX_PERMITS`]. Queued
    /// waiters are served first: only what is left after them is checked,
    /// and the waiters served before the panic keep their permits (and are
    /// woken). Permits given back by a dropped permit count too: a drop
    /// that would take the free count above the maximum (after
    /// `add_permits` filled it up) panics the same way.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.raw.release(n);
    }

    /// Takes up to `n` free permits away for good, shrinking the
    /// semaphore, and returns how many it took (tokio's
    /// `Semaphore::forget_permits`).
    ///
    /// It never waits: permits that are held are not touched (forget them
    /// when they come back, with [`SemaphorePermit::forget`]), and while
    /// anyone waits no permit is free, so it takes none (permits a queued
    /// waiter was already handed stay its own). It works on a closed
    /// semaphore too, as [`available_permits`](Self::available_permits)
    /// does.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(5);
    /// let held = sem.try_acquire_many(2).unwrap();
    /// assert_eq!(sem.forget_permits(4), 3); // only 3 were free
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(held); // held permits come back as usual
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        self.raw.forget(n)
    }

    /// The number of free permits right now (0 while anyone waits).
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(3);
    /// let _p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.raw.available()
    }

    /// Closes the semaphore: pending and future acquires fail with
    /// [`AcquireError::Closed`] (a pending acquire that was already handed
    /// all its permits still completes with them; one handed only part of
    /// them gives that part back). Permits already held stay valid and are
    /// still returned on drop.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(1);
    /// sem.close();
    /// assert!(sem.is_closed());
    /// assert!(sem.try_acquire().is_err());
    /// ```
    pub fn close(&self) {
        self.raw.close();
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(1);
    /// assert!(!sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl Semaphore {
    /// Waits for one permit, owned through the `Arc` (`'static`).
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`acquire`](Self::acquire).
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// # pollster::block_on(async {
    /// let sem = Arc::new(weftwork::Semaphore::new(1));
    /// let permit = sem.acquire_arc().await.unwrap();
    /// assert_eq!(permit.num_permits(), 1);
    /// # });
    /// ```
    #[inline]
    pub fn acquire_arc(self: &Arc<Self>) -> AcquireArc {
        self.acquire_many_arc(1)
    }

    /// Waits for `n` permits, owned through the `Arc` (`'static`);
    /// otherwise as [`acquire_many`](Self::acquire_many).
    ///
    /// # Panics
    /// If `n` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`acquire`](Self::acquire).
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// # pollster::block_on(async {
    /// let sem = Arc::new(weftwork::Semaphore::new(4));
    /// let permit = sem.acquire_many_arc(4).await.unwrap();
    /// assert_eq!(sem.available_permits(), 0);
    /// # drop(permit);
    /// # });
    /// ```
    #[inline]
    pub fn acquire_many_arc(self: &Arc<Self>, n: usize) -> AcquireArc {
        AcquireArc::new(self.clone(), n)
    }

    /// Takes one permit without waiting, owned through the `Arc`.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let sem = Arc::new(weftwork::Semaphore::new(1));
    /// assert!(sem.try_acquire_arc().is_ok());
    /// ```
    pub fn try_acquire_arc(self: &Arc<Self>) -> Result<SemaphorePermitArc, TryAcquireError> {
        self.try_acquire_many_arc(1)
    }

    /// Takes `n` permits without waiting, owned through the `Arc`.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let sem = Arc::new(weftwork::Semaphore::new(1));
    /// assert!(sem.try_acquire_many_arc(2).is_err());
    /// ```
    pub fn try_acquire_many_arc(
        self: &Arc<Self>,
        n: usize,
    ) -> Result<SemaphorePermitArc, TryAcquireError> {
        self.raw.try_acquire(n)?;
        Ok(SemaphorePermitArc::new(self.clone(), n))
    }
}

#[cfg(feature = "std")]
impl Semaphore {
    /// Blocks the thread until a permit is free.
    ///
    /// Fails only if the semaphore is (or gets) closed. Never panics inside
    /// an async runtime, but blocks that worker thread: call it from
    /// synchronous code.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(1);
    /// let permit = sem.acquire_blocking().unwrap();
    /// # drop(permit);
    /// ```
    pub fn acquire_blocking(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many_blocking(1)
    }

    /// Blocks the thread until `n` permits are free (in FIFO order with
    /// the other waiters, as [`acquire_many`](Self::acquire_many)).
    ///
    /// Fails only if the semaphore is (or gets) closed. Never panics inside
    /// an async runtime, but blocks that worker thread.
    ///
    /// # Panics
    /// If `n` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(2);
    /// let permit = sem.acquire_many_blocking(2).unwrap();
    /// assert_eq!(permit.num_permits(), 2);
    /// ```
    pub fn acquire_many_blocking(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError> {
        crate::loom::block_on(self.acquire_many(n))
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}
