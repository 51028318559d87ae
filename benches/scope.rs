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

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::task::JoinSet;

/// Children per round in `spawn_join_100k`.
const CHILDREN: usize = 100_000;
/// Children per round in `spawn_join_yield_1k`.
const SMALL: usize = 1_000;
/// Children per round in `drain_past_full_limit_20k`.
const LIMITED: usize = 20_000;

async fn weftwork_handles(n: usize, yield_once: bool) -> usize {
    weftwork::scope(async |s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(async move {
                    if yield_once {
                        weftwork::scope::yield_now().await;
                    }
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        sum
    })
    .await
}

async fn weftwork_completions(n: usize, yield_once: bool) -> usize {
    weftwork::scope(async |s| {
        let mut set = s.completions();
        for i in 0..n {
            set.spawn(async move {
                if yield_once {
                    weftwork::scope::yield_now().await;
                }
                i
            });
        }
        let mut sum = 0;
        while let Some(i) = set.next().await {
            sum += i;
        }
        sum
    })
    .await
}

async fn futures_unordered(n: usize, yield_once: bool) -> usize {
    let mut set: FuturesUnordered<_> = (0..n)
        .map(|i| async move {
            if yield_once {
                tokio::task::yield_now().await;
            }
            i
        })
        .collect();
    let mut sum = 0;
    while let Some(i) = set.next().await {
        sum += i;
    }
    sum
}

async fn join_set(n: usize, yield_once: bool) -> usize {
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(async move {
            if yield_once {
                tokio::task::yield_now().await;
            }
            i
        });
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
            let sum = futures::executor::block_on(weftwork_past_full_limit(black_box(n)));
            assert_eq!(sum, expect)
        })
    });
    g.bench_function("futures_unordered", |b| {
        b.iter(|| {
            let sum = futures::executor::block_on(futures_unordered(black_box(n), false));
            assert_eq!(sum, expect)
        })
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
    g.bench_function("weftwork_handles", |b| {
        b.iter(|| {
            assert_eq!(
                futures::executor::block_on(weftwork_handles(black_box(n), yield_once)),
                expect
            )
        })
    });
    g.bench_function("weftwork_completions", |b| {
        b.iter(|| {
            assert_eq!(
                futures::executor::block_on(weftwork_completions(black_box(n), yield_once)),
                expect
            )
        })
    });
    g.bench_function("futures_unordered", |b| {
        b.iter(|| {
            assert_eq!(
                futures::executor::block_on(futures_unordered(black_box(n), yield_once)),
                expect
            )
        })
    });
    g.bench_function("tokio_joinset", |b| {
        b.iter(|| assert_eq!(rt.block_on(join_set(black_box(n), yield_once)), expect))
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    group(&mut c, "spawn_join_100k", CHILDREN, false);
    group(&mut c, "spawn_join_yield_1k", SMALL, true);
    past_full_limit(&mut c);
    c.final_summary();
}
