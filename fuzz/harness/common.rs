//! Pieces shared by the sequential-model harnesses (`semaphore.rs`,
//! `mutex.rs`, `rwlock.rs`): counting wakers and the bookkeeping of which
//! waker a pending future was polled with, the FIFO semaphore that the
//! semaphore and rwlock models are built on, and the proptest settings of
//! the `tests/prop_*.rs` tests that run them.
//!
//! Each harness includes this file as its own `common` module, so it works
//! both from `tests/` (proptest) and from `fuzz/fuzz_targets/` (cargo-fuzz).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

/// Counts `wake` calls.
#[derive(Debug, Default)]
pub struct CountWaker(AtomicUsize);

impl CountWaker {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The wakers a pending future has been polled with, and the wake-ups the
/// model expects on them.
#[derive(Debug)]
pub struct Wakers {
    /// The waker the future was last polled with (`None`: the no-op waker,
    /// whose wake-ups are not checked).
    current: Option<Arc<CountWaker>>,
    /// Wake-ups the model expects on `current`.
    expected: usize,
    /// Replaced wakers and their counts when replaced: must not change.
    stale: Vec<(Arc<CountWaker>, usize)>,
}

impl Wakers {
    /// A fresh counting waker, for a future's first poll.
    pub fn new() -> Self {
        Wakers {
            current: Some(Arc::new(CountWaker::default())),
            expected: 0,
            stale: Vec::new(),
        }
    }

    /// The waker to poll with now (`Op::Poll`: the current one).
    pub fn waker(&self) -> Waker {
        match &self.current {
            Some(w) => Waker::from(w.clone()),
            None => Waker::noop().clone(),
        }
    }

    /// `Op::PollFresh`: the current waker becomes stale (it must not be
    /// woken any more) and is replaced by a new counting waker, or with
    /// `noop` by `Waker::noop()`.
    pub fn replace(&mut self, noop: bool) {
        if let Some(old) = self.current.take() {
            let count = old.count();
            self.stale.push((old, count));
        }
        self.expected = 0;
        if !noop {
            self.current = Some(Arc::new(CountWaker::default()));
        }
    }

    /// The model woke the future: one more wake-up is due on the current
    /// waker.
    pub fn expect_wake(&mut self) {
        self.expected += 1;
    }

    /// Checks the current waker got exactly the expected wake-ups and no
    /// replaced waker was woken; `what` names the future in the message.
    pub fn check(&self, what: fmt::Arguments<'_>) {
        if let Some(w) = &self.current {
            assert_eq!(w.count(), self.expected, "{what}: wrong number of wake-ups");
        }
        for (w, count) in &self.stale {
            assert_eq!(w.count(), *count, "{what}: a replaced waker was woken");
        }
    }
}

/// A FIFO semaphore in the model: `free` permits and a queue of
/// `(future id, permits)` requests in arrival order, served strictly in
/// order (no partial permits are handed to the head).
///
/// (Unused by the mutex harness, which also includes this file.)
#[allow(dead_code)]
#[derive(Debug, Default)]
pub struct FifoSem {
    pub free: usize,
    pub queue: VecDeque<(u64, usize)>,
}

#[allow(dead_code)]
impl FifoSem {
    pub fn new(free: usize) -> Self {
        FifoSem {
            free,
            queue: VecDeque::new(),
        }
    }

    /// Whether `n` permits can be taken at once: nobody waits and enough
    /// are free (`0` always can).
    pub fn can(&self, n: usize) -> bool {
        n == 0 || (self.queue.is_empty() && self.free >= n)
    }

    /// Takes `n` permits if it `can`; returns whether it did.
    pub fn try_acquire(&mut self, n: usize) -> bool {
        let ok = self.can(n);
        if ok {
            self.free -= n;
        }
        ok
    }

    /// Serves the queue head while it fits; returns who got permits.
    fn serve(&mut self) -> Vec<u64> {
        let mut granted = Vec::new();
        while let Some(&(id, n)) = self.queue.front() {
            if self.free < n {
                break;
            }
            self.free -= n;
            self.queue.pop_front();
            granted.push(id);
        }
        granted
    }

    /// Gives back `n` permits; returns who got permits.
    pub fn release(&mut self, n: usize) -> Vec<u64> {
        self.free += n;
        self.serve()
    }

    /// Removes the queued request of `id`; returns who got permits.
    pub fn cancel(&mut self, id: u64) -> Vec<u64> {
        let pos = self.queue.iter().position(|&(i, _)| i == id);
        self.queue.remove(pos.expect("cancelled future is queued"));
        self.serve()
    }
}

/// The proptest settings of `tests/prop_*.rs`: fewer cases under Miri,
/// which is ~1000× slower; no failure files.
#[cfg(test)]
pub fn proptest_config() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
