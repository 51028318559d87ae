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

    /// Wakes every collected waker and drops the stale one. Consumes the
    /// batch, so its `Drop` (there only for an unwinding caller) costs
    /// nothing on this path.
    #[inline]
    pub(crate) fn wake_all(self) {
        let mut this = core::mem::ManuallyDrop::new(self);
        let len = this.len;
        for slot in this.wakers.iter_mut().take(len) {
            // SAFETY: `wakers[..len]` were initialized by `push`, and the
            // batch is never used again (not even by `Drop`), so each is
            // read exactly once.
            unsafe { slot.assume_init_read() }.wake();
        }
        drop(this.stale.take());
    }
}

impl<const N: usize> Drop for WakeBatch<N> {
    /// Only when the batch is not woken (a panic under the lock): the
    /// collected wakers are dropped unwoken.
    fn drop(&mut self) {
        for slot in self.wakers.iter_mut().take(self.len) {
            // SAFETY: `wakers[..len]` are initialized; `wake_all` consumes
            // the batch without running this.
            unsafe { slot.assume_init_drop() };
        }
    }
}

impl<const N: usize> core::fmt::Debug for WakeBatch<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakeBatch").field("len", &self.len).finish()
    }
}
