//! A small batch of wakers, woken after the internal lock is released.

use core::task::Waker;

const CAPACITY: usize = 16;

/// Collects wakers while a lock is held; [`WakeBatch::wake_all`] runs them
/// once it is released, so no user waker runs inside a critical section.
#[derive(Debug)]
pub(crate) struct WakeBatch {
    wakers: [Option<Waker>; CAPACITY],
    len: usize,
}

impl WakeBatch {
    pub(crate) const fn new() -> Self {
        Self {
            wakers: [const { None }; CAPACITY],
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            self.wakers[self.len] = Some(w);
            self.len += 1;
        }
    }

    /// When full, the caller releases its lock, wakes, and continues.
    pub(crate) fn is_full(&self) -> bool {
        self.len == CAPACITY
    }

    pub(crate) fn wake_all(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(w) = slot.take() {
                w.wake();
            }
        }
        self.len = 0;
    }
}
