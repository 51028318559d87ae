//! Scope benchmarks: spawn and join many trivial children, weftwork against
//! `FuturesUnordered` and tokio's `JoinSet`, in one run.
//!
//! Run with `cargo bench --bench scope`.
//!
//! Scenarios (one criterion group each, every crate measured):
//!
//! * `spawn_join_100k`: spawn [`CHILDREN`] children that return their index
//!   at once, then collect every output and sum it. weftwork (`scope` +
//!   `JoinHandle`s, and `Completions`) and `FuturesUnordered` run under
//!   `futures::executor::block_on`; `JoinSet` on a current-thread tokio
//!   runtime (its natural home; a multi-thread runtime is slower still).
//! * `spawn_join_yield_1k`: [`SMALL`] children that each yield once before
//!   returning, so every child is woken and polled twice.
//! * `drain_past_full_limit_20k`: a scope with `limit(1)` whose one slot a
//!   long child holds while the body drains a `Completions` set of
//!   [`LIMITED`] children: each is let in only because the set's consumer
//!   waits for it. No peer has a limit; `FuturesUnordered` running the same
//!   children is the reference. (This row was quadratic before the
//!   nineteenth session: 0.45 s at 40 k children.)
//! * `woken_by_thread_1k`: [`SMALL`] children that each wait for a signal
//!   another OS thread gives as soon as the child has registered its waker,
//!   so every wake comes from that thread while the driver is busy polling
//!   the other children: the wake path under contention with the driver.
//!   Every crate waits on the same signals ([`Gate`]); `JoinSet` runs on a
//!   current-thread tokio runtime, the others under
//!   `futures::executor::block_on`.

use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use futures::StreamExt;
use futures::executor::block_on;
use futures::stream::FuturesUnordered;
use futures::task::AtomicWaker;
use tokio::task::JoinSet;

/// Children per round in `spawn_join_100k`.
const CHILDREN: usize = 100_000;
/// Children per round in `spawn_join_yield_1k`.
const SMALL: usize = 1_000;
/// Children per round in `drain_past_full_limit_20k`.
const LIMITED: usize = 20_000;

/// Spawns `n` children made by `child` in a scope, awaits their handles in
/// spawn order and sums the outputs.
async fn weftwork_handles<F>(n: usize, child: impl Fn(usize) -> F) -> usize
where
    F: Future<Output = usize> + Send,
{
    weftwork::scope(async |s| {
        let handles: Vec<_> = (0..n).map(|i| s.spawn(child(i))).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        sum
    })
    .await
}

/// As [`weftwork_handles`], through a completion set (completion order).
async fn weftwork_completions<F>(n: usize, child: impl Fn(usize) -> F) -> usize
where
    F: Future<Output = usize> + Send,
{
    weftwork::scope(async |s| {
        let mut set = s.completions();
        for i in 0..n {
            set.spawn(child(i));
        }
        let mut sum = 0;
        while let Some(i) = set.next().await {
            sum += i;
        }
        sum
    })
    .await
}

/// As [`weftwork_handles`], in a `FuturesUnordered`.
async fn futures_unordered<F: Future<Output = usize>>(
    n: usize,
    child: impl Fn(usize) -> F,
) -> usize {
    let mut set: FuturesUnordered<_> = (0..n).map(child).collect();
    let mut sum = 0;
    while let Some(i) = set.next().await {
        sum += i;
    }
    sum
}

/// As [`weftwork_handles`], as tasks of a `JoinSet` (on the caller's runtime).
async fn join_set<F>(n: usize, child: impl Fn(usize) -> F) -> usize
where
    F: Future<Output = usize> + Send + 'static,
{
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(child(i));
    }
    let mut sum = 0;
    while let Some(i) = set.join_next().await {
        sum += i.unwrap();
    }
    sum
}

async fn weftwork_past_full_limit(n: usize) -> usize {
    weftwork::scope::Builder::new()
        .limit(1)
        .scope(async |s| {
            let (tx, rx) = weftwork::channel::oneshot::<()>();
            s.spawn(async move {
                let _ = rx.await;
            });
            let mut set = s.completions();
            for i in 0..n {
                set.spawn(async move { i });
            }
            let mut sum = 0;
            while let Some(i) = set.next().await {
                sum += i;
            }
            let _ = tx.send(());
            sum
        })
        .await
}

fn past_full_limit(c: &mut Criterion) {
    let n = LIMITED;
    let expect = n * (n - 1) / 2;
    let mut g = c.benchmark_group("drain_past_full_limit_20k");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("weftwork_completions", |b| {
        b.iter(|| {
            let sum = block_on(weftwork_past_full_limit(black_box(n)));
            assert_eq!(sum, expect)
        })
    });
    g.bench_function("futures_unordered", |b| {
        b.iter(|| {
            let sum = block_on(futures_unordered(black_box(n), |i| async move { i }));
            assert_eq!(sum, expect)
        })
    });
    g.finish();
}

/// One signal per child for `woken_by_thread_1k`.
struct Signal {
    /// The child has registered its waker.
    armed: AtomicBool,
    /// The signal was given.
    fired: AtomicBool,
    waker: AtomicWaker,
}

/// The signals of one round, and the thread that gives them: told to go,
/// it waits for each child (in index order) to register, then wakes it
/// from its own thread, and reports when it has woken them all.
struct Gate {
    signals: &'static [Signal],
    go: mpsc::Sender<()>,
    done: mpsc::Receiver<()>,
}

impl Gate {
    fn new(n: usize) -> Gate {
        let (go, go_rx) = mpsc::channel::<()>();
        let (done_tx, done) = mpsc::channel();
        // Leaked: the thread and the children of every round borrow them.
        let signals: &'static [Signal] = (0..n)
            .map(|_| Signal {
                armed: AtomicBool::new(false),
                fired: AtomicBool::new(false),
                waker: AtomicWaker::new(),
            })
            .collect::<Vec<_>>()
            .leak();
        std::thread::spawn(move || {
            while go_rx.recv().is_ok() {
                for s in signals {
                    while !s.armed.load(Acquire) {
                        std::hint::spin_loop();
                    }
                    s.fired.store(true, Release);
                    s.waker.wake();
                }
                if done_tx.send(()).is_err() {
                    break;
                }
            }
        });
        Gate { signals, go, done }
    }

    /// Runs one round: `round` (the crate's set of children) while the
    /// thread gives the signals.
    fn round<R>(&self, round: impl FnOnce() -> R) -> R {
        for s in self.signals {
            s.armed.store(false, Relaxed);
            s.fired.store(false, Relaxed);
        }
        self.go.send(()).unwrap();
        let out = round();
        self.done.recv().unwrap();
        out
    }

    /// Child `i`'s wait for its signal.
    fn wait(&self, i: usize) -> impl Future<Output = usize> + Send + 'static {
        let s = &self.signals[i];
        poll_fn(move |cx| {
            if s.fired.load(Acquire) {
                return Poll::Ready(i);
            }
            s.waker.register(cx.waker());
            s.armed.store(true, Release);
            if s.fired.load(Acquire) {
                Poll::Ready(i)
            } else {
                Poll::Pending
            }
        })
    }
}

fn woken_by_thread(c: &mut Criterion) {
    let n = SMALL;
    let expect = n * (n - 1) / 2;
    let gate = Gate::new(n);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("woken_by_thread_1k");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    let child = |i| gate.wait(i);
    g.bench_function("weftwork_handles", |b| {
        b.iter(|| {
            let sum = gate.round(|| block_on(weftwork_handles(n, child)));
            assert_eq!(sum, expect)
        })
    });
    g.bench_function("weftwork_completions", |b| {
        b.iter(|| {
            let sum = gate.round(|| block_on(weftwork_completions(n, child)));
            assert_eq!(sum, expect)
        })
    });
    g.bench_function("futures_unordered", |b| {
        b.iter(|| {
            let sum = gate.round(|| block_on(futures_unordered(n, child)));
            assert_eq!(sum, expect)
        })
    });
    g.bench_function("tokio_joinset", |b| {
        b.iter(|| assert_eq!(gate.round(|| rt.block_on(join_set(n, child))), expect))
    });
    g.finish();
}

fn group(c: &mut Criterion, name: &str, n: usize, yield_once: bool) {
    let expect = n * (n - 1) / 2;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    // The same children as always: weftwork's own `yield_now` in a scope,
    // tokio's elsewhere.
    let weftwork_child = move |i| async move {
        if yield_once {
            weftwork::scope::yield_now().await;
        }
        i
    };
    let tokio_child = move |i| async move {
        if yield_once {
            tokio::task::yield_now().await;
        }
        i
    };
    g.bench_function("weftwork_handles", |b| {
        b.iter(|| {
            let sum = block_on(weftwork_handles(black_box(n), weftwork_child));
            assert_eq!(sum, expect)
        })
    });
    g.bench_function("weftwork_completions", |b| {
        b.iter(|| {
            let sum = block_on(weftwork_completions(black_box(n), weftwork_child));
            assert_eq!(sum, expect)
        })
    });
    g.bench_function("futures_unordered", |b| {
        b.iter(|| {
            let sum = block_on(futures_unordered(black_box(n), tokio_child));
            assert_eq!(sum, expect)
        })
    });
    g.bench_function("tokio_joinset", |b| {
        b.iter(|| assert_eq!(rt.block_on(join_set(black_box(n), tokio_child)), expect))
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    group(&mut c, "spawn_join_100k", CHILDREN, false);
    group(&mut c, "spawn_join_yield_1k", SMALL, true);
    past_full_limit(&mut c);
    woken_by_thread(&mut c);
    c.final_summary();
}
