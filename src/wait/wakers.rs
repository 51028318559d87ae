//! A small batch of wakers, woken after the internal lock is released.

use core::mem::MaybeUninit;
use core::task::Waker;

/// Collects up to `N` wakers while a lock is held; [`WakeBatch::wake_all`]
/// runs them once it is released, so no user waker runs (or is dropped)
/// inside a critical section. `stale` holds a waker replaced under the lock,
/// dropped with the batch.
///
/// Creating and dropping an empty batch costs a couple of instructions
/// (the slots are not initialized up front), which matters on the
/// channel's fast path.
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
            assert!(self.len < N, "a full wake batch was pushed to");
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

    /// Wakes every collected waker and drops the stale one.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        let len = core::mem::replace(&mut self.len, 0);
        for slot in &mut self.wakers[..len] {
            // SAFETY: `wakers[..len]` were initialized by `push`; `len` was
            // reset first, so each is read exactly once (and never again by
            // `drop`, even if a `wake` panics).
            unsafe { slot.assume_init_read() }.wake();
        }
        self.stale = None;
    }
}

impl<const N: usize> Drop for WakeBatch<N> {
    #[inline]
    fn drop(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            // SAFETY: `wakers[..len]` are initialized and not read since
            // (`wake_all` resets `len` before reading them).
            unsafe { slot.assume_init_drop() };
        }
    }
}

impl<const N: usize> core::fmt::Debug for WakeBatch<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakeBatch").field("len", &self.len).finish()
    }
}
