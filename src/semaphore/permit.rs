#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
use core::fmt;
use core::mem::ManuallyDrop;

use super::Semaphore;

/// The count of two merged permits.
fn merged(a: usize, b: usize) -> usize {
    a.checked_add(b)
        .expect("permit count overflow: merged permits exceed usize::MAX")
}

/// Permits borrowed from a [`Semaphore`]; returned when dropped.
///
/// # Examples
/// ```
/// use weftwork::Semaphore;
/// # pollster::block_on(async {
/// let sem = Semaphore::new(3);
/// let permit = sem.acquire_many(2).await.unwrap();
/// assert_eq!(permit.num_permits(), 2);
/// assert_eq!(sem.available_permits(), 1);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 3);
/// # });
/// ```
#[must_use = "the permits are released as soon as this is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl<'a> SemaphorePermit<'a> {
    #[inline]
    pub(super) fn new(sem: &'a Semaphore, n: usize) -> Self {
        Self { sem, n }
    }

    /// How many permits this holds.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(5);
    /// assert_eq!(sem.try_acquire_many(4).unwrap().num_permits(), 4);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Takes over the permits of `other`: they are then returned (or
    /// forgotten) together with this one's.
    ///
    /// # Panics
    /// If `other` belongs to a different semaphore (it is then dropped,
    /// returning its permits to its own semaphore), or if the sum would
    /// overflow `usize`.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(5);
    /// let mut a = sem.try_acquire_many(2).unwrap();
    /// a.merge(sem.try_acquire_many(3).unwrap());
    /// assert_eq!(a.num_permits(), 5);
    /// drop(a);
    /// assert_eq!(sem.available_permits(), 5);
    /// ```
    pub fn merge(&mut self, other: Self) {
        assert!(
            core::ptr::eq(self.sem, other.sem),
            "cannot merge permits of different semaphores"
        );
        self.n = merged(self.n, other.n);
        other.forget();
    }

    /// Splits `n` of the permits off into a new permit of the same
    /// semaphore; `None` (and nothing changes) if this holds fewer than
    /// `n`. Each part is returned when it drops; a part left with no
    /// permits returns nothing.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(3);
    /// let mut a = sem.try_acquire_many(3).unwrap();
    /// assert!(a.split(4).is_none());
    /// let b = a.split(1).unwrap();
    /// assert_eq!((a.num_permits(), b.num_permits()), (2, 1));
    /// drop(b);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn split(&mut self, n: usize) -> Option<Self> {
        self.n = self.n.checked_sub(n)?;
        Some(Self::new(self.sem, n))
    }

    /// Drops the permits without returning them: the semaphore shrinks.
    ///
    /// # Examples
    /// ```
    /// let sem = weftwork::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(self) {
        let _ = ManuallyDrop::new(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.raw.release(self.n);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}

/// Permits owned through an `Arc<Semaphore>`; `'static`, returned when
/// dropped.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::Semaphore;
/// # pollster::block_on(async {
/// let sem = Arc::new(Semaphore::new(1));
/// let permit = sem.acquire_arc().await.unwrap();
/// std::thread::spawn(move || drop(permit)).join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// # });
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
#[must_use = "the permits are released as soon as this is dropped"]
pub struct SemaphorePermitArc {
    sem: Arc<Semaphore>,
    n: usize,
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl SemaphorePermitArc {
    #[inline]
    pub(super) fn new(sem: Arc<Semaphore>, n: usize) -> Self {
        Self { sem, n }
    }

    /// How many permits this holds.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let sem = Arc::new(weftwork::Semaphore::new(5));
    /// assert_eq!(sem.try_acquire_many_arc(4).unwrap().num_permits(), 4);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Takes over the permits of `other`: they are then returned (or
    /// forgotten) together with this one's.
    ///
    /// # Panics
    /// If `other` belongs to a different semaphore (it is then dropped,
    /// returning its permits to its own semaphore), or if the sum would
    /// overflow `usize`.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let sem = Arc::new(weftwork::Semaphore::new(5));
    /// let mut a = sem.try_acquire_many_arc(2).unwrap();
    /// a.merge(sem.try_acquire_many_arc(3).unwrap());
    /// assert_eq!(a.num_permits(), 5);
    /// drop(a);
    /// assert_eq!(sem.available_permits(), 5);
    /// ```
    pub fn merge(&mut self, other: Self) {
        assert!(
            Arc::ptr_eq(&self.sem, &other.sem),
            "cannot merge permits of different semaphores"
        );
        self.n = merged(self.n, other.n);
        other.forget();
    }

    /// Splits `n` of the permits off into a new permit of the same
    /// semaphore; `None` (and nothing changes) if this holds fewer than
    /// `n`. Each part is returned when it drops; a part left with no
    /// permits returns nothing.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let sem = Arc::new(weftwork::Semaphore::new(3));
    /// let mut a = sem.try_acquire_many_arc(3).unwrap();
    /// assert!(a.split(4).is_none());
    /// let b = a.split(1).unwrap();
    /// assert_eq!((a.num_permits(), b.num_permits()), (2, 1));
    /// drop(b);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn split(&mut self, n: usize) -> Option<Self> {
        self.n = self.n.checked_sub(n)?;
        Some(Self::new(self.sem.clone(), n))
    }

    /// Drops the permits without returning them: the semaphore shrinks.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let sem = Arc::new(weftwork::Semaphore::new(2));
    /// sem.try_acquire_arc().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// The semaphore these permits belong to.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// let sem = Arc::new(weftwork::Semaphore::new(1));
    /// let p = sem.try_acquire_arc().unwrap();
    /// assert!(Arc::ptr_eq(p.semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl Drop for SemaphorePermitArc {
    #[inline]
    fn drop(&mut self) {
        self.sem.raw.release(self.n);
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl fmt::Debug for SemaphorePermitArc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermitArc")
            .field("permits", &self.n)
            .finish()
    }
}
