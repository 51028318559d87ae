//! The one synchronization shim.
//!
//! Every other module takes its atomics, cells and spin hints from here and
//! never from `core`/`std` directly. Under `--cfg loom` these are loom's
//! instrumented types, so loom explores weftwork's interleavings — also when a
//! *downstream* crate runs its own loom tests on code that uses weftwork.
//! Otherwise they are `core`'s (or `portable-atomic`'s with that feature).

#[cfg(loom)]
mod imp {
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    }

    pub(crate) use loom::cell::UnsafeCell;

    /// Reference counting loom can follow (it has no `Weak`).
    #[cfg(feature = "alloc")]
    pub(crate) use loom::sync::Arc;

    /// Called in spin loops; under loom it yields so the model can schedule
    /// the thread the spinner waits for. (Loom cannot tell a yielding spin
    /// loop from a livelock once three threads contend: the wait core
    /// blocks on a loom mutex instead, see `RawSemaphore::spin_wait`.)
    #[allow(dead_code)]
    pub(crate) fn spin_wait(_spins: &mut u32) {
        loom::thread::yield_now();
    }

    #[cfg(feature = "std")]
    pub(crate) use loom::future::block_on;
}

#[cfg(not(loom))]
mod imp {
    pub(crate) mod atomic {
        #[cfg(not(feature = "portable-atomic"))]
        pub(crate) use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        #[cfg(feature = "portable-atomic")]
        pub(crate) use portable_atomic::{AtomicBool, AtomicUsize, Ordering};
    }

    /// Reference counting (loom's `Arc` under `cfg(loom)`, which has no
    /// `Weak`: code using it must not need one).
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub(crate) use alloc::sync::Arc;

    /// `core::cell::UnsafeCell` with loom's closure-based access API, so the
    /// same code compiles against both.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Backs off in a spin loop: a CPU hint first, then (with `std`) a
    /// yield to the OS scheduler so a preempted lock holder can run.
    #[inline]
    pub(crate) fn spin_wait(spins: &mut u32) {
        *spins += 1;
        #[cfg(feature = "std")]
        if *spins > 32 {
            std::thread::yield_now();
            return;
        }
        for _ in 0..(1u32 << (*spins).min(5)) {
            core::hint::spin_loop();
        }
    }

    #[cfg(feature = "std")]
    pub(crate) use crate::wait::block_on::block_on;
}

pub(crate) use imp::*;

/// Defines a `const fn` that is a plain `fn` under `--cfg loom`: loom's
/// atomics and mutexes are built at run time (and a `static` would outlive
/// the model's iteration anyway).
macro_rules! const_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$attr])*
        $vis fn $($rest)*
    };
}
pub(crate) use const_unless_loom;

/// The cell that holds a lock's protected value.
///
/// It is `core`'s even under loom: a guard hands out plain `&T`/`&mut T`,
/// which loom's tracked cells cannot lend. Loom still checks the lock's
/// happens-before edges through the atomics above; models that want loom to
/// see the protected accesses put a `loom::cell::UnsafeCell` inside the lock.
pub(crate) type ValueCell<T> = core::cell::UnsafeCell<T>;
