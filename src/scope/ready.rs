//! The wake side of a scope: which children (and whether the body) need a
//! poll, and the waker of the task that drives the scope.
//!
//! This part is `'static` and reference-counted on its own, apart from the
//! children (which borrow `'env` data): a waker a child handed to a timer
//! may outlive the scope, and waking it then only touches this queue.

use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::task::Waker;

use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::wait::SpinLock;

/// The index the body uses in the ready queue.
pub(crate) const BODY: usize = usize::MAX;

/// Indices to poll, plus the driving task's waker.
#[derive(Debug, Default)]
pub(crate) struct Ready {
    inner: SpinLock<ReadyInner>,
}

#[derive(Debug, Default)]
struct ReadyInner {
    list: Vec<usize>,
    /// Taken by the first wake after a poll of the scope: later wakes
    /// before the next poll need not wake the task again.
    driver: Option<Waker>,
}

impl Ready {
    /// Queues `index` and wakes the driving task if it is not already awake.
    pub(crate) fn push(&self, index: usize) {
        let driver = self.inner.with(|r| {
            r.list.push(index);
            r.driver.take()
        });
        if let Some(w) = driver {
            w.wake();
        }
    }

    /// Wakes the driving task (its children changed from outside it).
    pub(crate) fn wake_driver(&self) {
        if let Some(w) = self.inner.with(|r| r.driver.take()) {
            w.wake();
        }
    }

    /// Queues `index` without waking anyone (the driver is running).
    pub(crate) fn push_quiet(&self, index: usize) {
        self.inner.with(|r| r.list.push(index));
    }

    /// Swaps the queued indices into `out` (which must be empty) and
    /// registers `waker` as the driver's. Returns whether anything was queued.
    pub(crate) fn take(&self, out: &mut Vec<usize>, waker: &Waker) -> bool {
        debug_assert!(out.is_empty());
        self.inner.with(|r| {
            core::mem::swap(&mut r.list, out);
            match &r.driver {
                Some(w) if w.will_wake(waker) => {}
                _ => r.driver = Some(waker.clone()),
            }
        });
        !out.is_empty()
    }
}

/// The body's waker (a child's waker is its cell's header, `task.rs`).
#[derive(Debug)]
pub(crate) struct BodyWake {
    ready: Arc<Ready>,
    /// 1 while the body sits in the ready queue (so a body woken many
    /// times between two polls is queued once).
    queued: AtomicUsize,
}

impl BodyWake {
    /// A waker for the body of the scope whose queue is `ready`, marked
    /// queued: the driver queues the body's first poll itself.
    pub(crate) fn new(ready: &Arc<Ready>) -> Arc<Self> {
        ready.push_quiet(BODY);
        Arc::new(Self {
            ready: ready.clone(),
            queued: AtomicUsize::new(1),
        })
    }

    /// Called by the driver right before a poll: a wake from now on queues
    /// the body again. A read-modify-write (not a store), so the poll sees
    /// everything a waker did before a wake that found the body queued.
    pub(crate) fn clear_queued(&self) {
        self.queued.swap(0, AcqRel);
    }
}

impl Wake for BodyWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(1, AcqRel) == 0 {
            self.ready.push(BODY);
        }
    }
}
