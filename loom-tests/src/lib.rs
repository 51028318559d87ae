//! Loom models of weftwork live in `tests/`; run them with
//! `RUSTFLAGS="--cfg loom" cargo test -p weftwork-loom-tests --release`.
//!
//! This library holds the helpers the models share: a tracked cell to put
//! inside a lock (so loom reports a data race if a lock's happens-before
//! edges are wrong), a waker that counts its wake-ups (for models that poll
//! futures by hand), and the model runners.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// A `usize` in a `loom::cell::UnsafeCell`: every access is checked by loom
/// for causality. Put one inside a `Mutex`/`RwLock`; if the lock's
/// release/acquire edges are missing, loom fails the model with a data race.
#[derive(Debug)]
pub struct Tracked(loom::cell::UnsafeCell<usize>);

// SAFETY: the models only touch the cell through a lock guard; whether that
// is actually exclusive is exactly what loom checks on every access.
unsafe impl Sync for Tracked {}
// SAFETY: as above; the plain `usize` inside moves freely.
unsafe impl Send for Tracked {}

impl Tracked {
    /// A tracked cell holding `v`.
    pub fn new(v: usize) -> Self {
        Self(loom::cell::UnsafeCell::new(v))
    }

    /// Reads the value (a tracked immutable access).
    pub fn get(&self) -> usize {
        // SAFETY: loom checks that no write is concurrent with this read.
        self.0.with(|p| unsafe { *p })
    }

    /// Increments the value (a tracked mutable access).
    pub fn incr(&self) {
        // SAFETY: loom checks that no other access is concurrent with this.
        self.0.with_mut(|p| unsafe { *p += 1 })
    }
}

/// Counts how often a waker made by [`counting_waker`] was woken.
#[derive(Debug)]
pub struct WakeCount(AtomicUsize);

impl WakeCount {
    /// How many times the waker was woken so far.
    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

impl Wake for WakeCount {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A waker that only counts its wake-ups, for futures polled by hand.
pub fn counting_waker() -> (Waker, StdArc<WakeCount>) {
    let count = StdArc::new(WakeCount(AtomicUsize::new(0)));
    (Waker::from(count.clone()), count)
}

/// Polls a pinned future once with `waker`.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set, so a
/// plain `cargo test` under `--cfg loom` stays fast.
pub const DEFAULT_PREEMPTIONS: usize = 2;

/// Runs a model with loom's settings from the environment
/// (`LOOM_MAX_PREEMPTIONS` etc.; [`DEFAULT_PREEMPTIONS`] when unset) and
/// reports how many executions it explored (visible with `--nocapture`).
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(DEFAULT_PREEMPTIONS));
    run(builder, f);
}

/// Runs a model that is too large to explore deeper than `bound`
/// preemptions: `LOOM_MAX_PREEMPTIONS` may lower the bound, never raise it.
pub fn model_bounded<F: Fn() + Sync + Send + 'static>(bound: usize, f: F) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(bound, |b| b.min(bound)));
    run(builder, f);
}

fn run<F: Fn() + Sync + Send + 'static>(builder: loom::model::Builder, f: F) {
    use std::sync::atomic::{AtomicUsize as StdAtomic, Ordering::Relaxed};
    let runs = StdArc::new(StdAtomic::new(0));
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        f();
    });
    let bound = builder
        .preemption_bound
        .map_or_else(|| "unbounded".to_owned(), |b| b.to_string());
    eprintln!(
        "loom: {} executions explored (preemption bound {bound})",
        runs.load(Relaxed)
    );
}
