//! A small batch of wakers, woken after the internal lock is released.

use core::mem::MaybeUninit;
use core::task::Waker;

/// Collects up to `N` wakers while a lock is held; they run when the batch
/// is dropped (or at [`WakeBatch::wake_all`]), which its owner arranges to
/// happen once the lock is released, so no user waker runs (or is dropped)
/// inside a critical section. `stale` holds a waker replaced under the
/// lock, dropped with the batch.
///
/// Waking on drop also covers unwinding (a spurious wake-up is harmless, a
/// lost one is not), and lets the channel's fast path drop an empty batch
/// in place for a couple of instructions: the slots are not initialized up
/// front, and the batch is never moved.
pub(crate) struct WakeBatch<const N: usize> {
    /// `wakers[..len]` are initialized.
    wakers: [MaybeUninit<Waker>; N],
    len: usize,
    pub(crate) stale: Option<Waker>,
}

impl<const N: usize> WakeBatch<N> {
    #[inline]
    pub(crate) const fn new() -> Self {
        Self {
            wakers: [const { MaybeUninit::uninit() }; N],
            len: 0,
            stale: None,
        }
    }

    /// Adds `waker`, if any. The caller checks [`room`](Self::room) first.
    #[inline]
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            // Indexing panics if the batch is full (a caller's bug).
            self.wakers[self.len].write(w);
            self.len += 1;
        }
    }

    /// Free places; when none is left the caller releases its lock, wakes,
    /// and continues.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        N - self.len
    }

    /// Wakes every collected waker now (the batch is then empty; a stale
    /// waker is dropped with the batch).
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        // Zeroed first: should a waker panic, the rest leak rather than
        // being read twice (their wake-ups are lost; the callers that go on
        // after a batch finish their work anyway, see `OnUnwind`). Waking
        // the rest on unwind (a guard, or a `next` index kept in the batch)
        // made the contended mutex rows of `benches/locks.rs` 40-60 %
        // slower, in three variants (sixteenth session); a fourth, which
        // kept one waker on this inlined path and woke larger batches out
        // of line under a guard, 30-60 % slower (seventeenth session).
        let len = core::mem::replace(&mut self.len, 0);
        for slot in &mut self.wakers[..len] {
            // SAFETY: `wakers[..len]` were initialized by `push`, and `len`
            // is now 0, so no later `wake_all` (nor `Drop`) reads them
            // again: each is read exactly once.
            unsafe { slot.assume_init_read() }.wake();
        }
    }
}

impl<const N: usize> Drop for WakeBatch<N> {
    /// Wakes what is left (see the type docs), then drops the stale waker.
    #[inline]
    fn drop(&mut self) {
        self.wake_all();
        drop(self.stale.take());
    }
}

impl<const N: usize> core::fmt::Debug for WakeBatch<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakeBatch").field("len", &self.len).finish()
    }
}

/// Wakes every waker of `wakers`, in order. If one panics, the rest are
/// still woken while the panic unwinds (a second panic then aborts): for
/// cold paths such as a scope's teardown, where a lost wake-up leaves a
/// task waiting for ever.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub(crate) fn wake_every(wakers: alloc::vec::Vec<Waker>) {
    struct Rest(alloc::vec::IntoIter<Waker>);
    impl Drop for Rest {
        fn drop(&mut self) {
            // Empty unless a `wake` below panicked.
            self.0.by_ref().for_each(Waker::wake);
        }
    }
    let mut rest = Rest(wakers.into_iter());
    rest.0.by_ref().for_each(Waker::wake);
}

/// Runs its closure if dropped while a panic unwinds, unless
/// [`disarm`](Self::disarm)ed first: how a loop that wakes a batch and then
/// goes on (releasing permits, closing) still finishes its work when a
/// `wake` panics (a second panic there aborts).
pub(crate) struct OnUnwind<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> OnUnwind<F> {
    #[inline]
    pub(crate) fn new(f: F) -> Self {
        Self(Some(f))
    }

    /// The code it guarded completed: nothing to run.
    #[inline]
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl<F: FnOnce()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}
