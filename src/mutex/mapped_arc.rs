//! The owned mapped guard: a [`MutexGuardArc`] narrowed to part of the
//! value, and the `map` / `try_map` that make one.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use super::guard::{MutexGuardArc, mapped, try_narrow};

impl<T: ?Sized> MutexGuardArc<T> {
    /// Narrows the owned guard to a part of the value; the lock stays held
    /// (and the `Arc` alive) until the mapped guard drops.
    ///
    /// If `f` panics, the lock is released (once) as the guard drops; there
    /// is no poisoning.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use weftwork::sync::{MappedMutexGuardArc, MutexGuardArc};
    /// # pollster::block_on(async {
    /// let m = Arc::new(weftwork::Mutex::new((1, String::new())));
    /// let mut s: MappedMutexGuardArc<(i32, String), String> =
    ///     MutexGuardArc::map(m.lock_arc().await, |v| &mut v.1);
    /// s.push('x');
    /// drop(s);
    /// assert_eq!(m.lock().await.1, "x");
    /// # });
    /// ```
    pub fn map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> &mut U,
    ) -> MappedMutexGuardArc<T, U> {
        mapped(Self::try_map(this, |v| Some(f(v))))
    }

    /// Narrows the owned guard to a part of the value that may not be
    /// there: `f` returns `None` and the original guard comes back as
    /// `Err`, still holding the lock.
    ///
    /// If `f` panics, the lock is released (once) as the guard drops; there
    /// is no poisoning.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use weftwork::sync::MutexGuardArc;
    /// # pollster::block_on(async {
    /// let m = Arc::new(weftwork::Mutex::new(vec![1, 2, 3]));
    /// let guard = MutexGuardArc::try_map(m.lock_arc().await, |v| v.get_mut(5))
    ///     .expect_err("no element 5: the guard comes back");
    /// assert_eq!(guard.len(), 3);
    /// let mut first = MutexGuardArc::try_map(guard, |v| v.first_mut()).unwrap();
    /// *first = 10;
    /// drop(first);
    /// assert_eq!(*m.lock().await, [10, 2, 3]);
    /// # });
    /// ```
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<MappedMutexGuardArc<T, U>, Self> {
        let ptr = this.source().value.get();
        // SAFETY: the guard holds the lock (so this `&mut T` is unique) and
        // its `Arc` keeps the value alive; only `f` uses it, while
        // `try_narrow` still owns the guard.
        let value = unsafe { &mut *ptr };
        try_narrow(this, value, f, |guard, value| MappedMutexGuardArc {
            guard,
            value,
            _marker: PhantomData,
        })
    }
}

/// A [`MutexGuardArc`] narrowed by [`MutexGuardArc::map`] to part of the
/// value: `'static`, keeps the `Arc<Mutex<T>>` alive, unlocks when
/// dropped.
///
/// It is `Send` if `T` and `U` are, and `Sync` if both are `Send + Sync`.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weftwork::sync::{MappedMutexGuardArc, MutexGuardArc};
/// # pollster::block_on(async {
/// let m = Arc::new(weftwork::Mutex::new([0u8; 4]));
/// let mut last: MappedMutexGuardArc<[u8; 4], u8> =
///     MutexGuardArc::map(m.lock_arc().await, |a| &mut a[3]);
/// drop(m); // the guard keeps the mutex alive
/// *last = 9;
/// std::thread::spawn(move || assert_eq!(*last, 9)).join().unwrap();
/// # });
/// ```
///
/// A part that is not `Sync` makes the guard not `Sync`, even if the
/// whole value is:
/// ```compile_fail
/// use std::{cell::Cell, sync::Arc};
/// use weftwork::sync::{MappedMutexGuardArc, MutexGuardArc};
/// fn sync<S: Sync>(_: &S) {}
/// let m = Arc::new(weftwork::Mutex::new(std::sync::Mutex::new(Cell::new(0u8))));
/// let g: MappedMutexGuardArc<_, Cell<u8>> =
///     MutexGuardArc::map(m.try_lock_arc().unwrap(), |v| v.get_mut().unwrap());
/// sync(&g);
/// ```
///
/// and a part that is not `Send` makes it not `Send`:
/// ```compile_fail
/// use std::{rc::Rc, sync::Arc};
/// use weftwork::sync::{MappedMutexGuardArc, MutexGuardArc};
/// fn send<S: Send>(_: &S) {}
/// struct Whole(Rc<u8>);
/// // SAFETY: (say) the `Rc` is never cloned, so never shared.
/// unsafe impl Send for Whole {}
/// let m = Arc::new(weftwork::Mutex::new(Whole(Rc::new(0))));
/// let g: MappedMutexGuardArc<_, Rc<u8>> =
///     MutexGuardArc::map(m.try_lock_arc().unwrap(), |v| &mut v.0);
/// send(&g);
/// ```
///
/// Like `&mut U`, it is invariant in `U`: a guard over a `&'static str`
/// cannot pass for one over a shorter-lived `&str` (which would let a
/// short-lived string be stored where a `'static` one is expected):
/// ```compile_fail
/// use weftwork::sync::MappedMutexGuardArc;
/// fn shorten<'a>(
///     g: MappedMutexGuardArc<(), &'static str>,
/// ) -> MappedMutexGuardArc<(), &'a str> {
///     g
/// }
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MappedMutexGuardArc<T: ?Sized, U: ?Sized = T> {
    /// Holds the lock and the `Arc`; its drop is the one unlock.
    guard: MutexGuardArc<T>,
    /// The part, inside the value `guard` locks.
    value: NonNull<U>,
    /// Invariant in `U`, as `&mut U` (`NonNull` alone would be covariant).
    _marker: PhantomData<*mut U>,
}

// SAFETY: moving the guard moves the lock (which unlocks on any thread),
// the `Arc<Mutex<T>>` (whose last drop may drop the `T` there: `T: Send`)
// and `&mut U` access (`U: Send`).
unsafe impl<T: ?Sized + Send, U: ?Sized + Send> Send for MappedMutexGuardArc<T, U> {}
// SAFETY: sharing it shares `&U` (`U: Sync`); the bounds on `T` and `U: Send`
// are those of `MutexGuardArc` and tokio's `OwnedMappedMutexGuard`, stricter
// than needed.
unsafe impl<T: ?Sized + Send + Sync, U: ?Sized + Send + Sync> Sync for MappedMutexGuardArc<T, U> {}

impl<T: ?Sized, U: ?Sized> MappedMutexGuardArc<T, U> {
    /// Narrows further.
    ///
    /// If `f` panics, the lock is released (once) as the guard drops.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use weftwork::sync::{MappedMutexGuardArc, MutexGuardArc};
    /// # pollster::block_on(async {
    /// let m = Arc::new(weftwork::Mutex::new(((1, 2), 3)));
    /// let g = MutexGuardArc::map(m.lock_arc().await, |v| &mut v.0);
    /// let g = MappedMutexGuardArc::map(g, |v| &mut v.1);
    /// assert_eq!(*g, 2);
    /// # });
    /// ```
    pub fn map<V: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut U) -> &mut V,
    ) -> MappedMutexGuardArc<T, V> {
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
    /// use std::sync::Arc;
    /// use weftwork::sync::{MappedMutexGuardArc, MutexGuardArc};
    /// # pollster::block_on(async {
    /// let m = Arc::new(weftwork::Mutex::new((0, None::<i32>)));
    /// let g = MutexGuardArc::map(m.lock_arc().await, |v| v);
    /// let mut g = MappedMutexGuardArc::try_map(g, |v| v.1.as_mut()).unwrap_err();
    /// g.1 = Some(5);
    /// let g = MappedMutexGuardArc::try_map(g, |v| v.1.as_mut()).unwrap();
    /// assert_eq!(*g, 5);
    /// # });
    /// ```
    pub fn try_map<V: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut U) -> Option<&mut V>,
    ) -> Result<MappedMutexGuardArc<T, V>, Self> {
        let mut ptr = this.value;
        // SAFETY: `this` holds the lock, and `ptr` came from a live `&mut U`
        // into the value its `Arc` keeps alive (unique); only `f` uses it,
        // while `try_narrow` still owns `this`.
        let value = unsafe { ptr.as_mut() };
        try_narrow(this, value, f, |this, value| MappedMutexGuardArc {
            guard: this.guard,
            value,
            _marker: PhantomData,
        })
    }
}

impl<T: ?Sized, U: ?Sized> Deref for MappedMutexGuardArc<T, U> {
    type Target = U;

    fn deref(&self) -> &U {
        // SAFETY: `guard` holds the lock and keeps the value alive; the
        // pointer came from a live `&mut U` into it.
        unsafe { self.value.as_ref() }
    }
}

impl<T: ?Sized, U: ?Sized> DerefMut for MappedMutexGuardArc<T, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`, and `self` is borrowed mutably.
        unsafe { self.value.as_mut() }
    }
}

impl<T: ?Sized, U: ?Sized + fmt::Debug> fmt::Debug for MappedMutexGuardArc<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized, U: ?Sized + fmt::Display> fmt::Display for MappedMutexGuardArc<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
