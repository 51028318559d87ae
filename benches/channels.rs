//! Channel benchmarks: weftwork against its peers, in one run.
//!
//! Run with `cargo bench --bench channels`. Every scenario is one criterion
//! group measuring every crate that supports it, on the same 2-worker
//! tokio runtime; one iteration is one round: spawn the producers and
//! consumers, move [`MSGS`] `u64`s through the channel, join.
//!
//! * `spsc_cap1`, `spsc_cap1024`: one producer, one consumer.
//! * `mpsc_8x1_cap64`: eight producers, one consumer.
//! * `mpmc_4x4_cap64`: four producers, four consumers (crates whose
//!   receiver is not `Clone` — tokio, futures — cannot take part).
//! * `mpmc_scaling_cap64`: MPMC at 2, 8, 32 and 128 tasks (half producers,
//!   half consumers), to show how the cost grows with contention.
//! * `rendezvous_1x1`: capacity 0 (only crates with a true rendezvous:
//!   weftwork, flume, kanal; tokio and async-channel reject 0, and
//!   futures' `channel(0)` still buffers one value per sender).
//!
//! Before the measurements, a table of how often each crate's send and
//! receive futures suspended their task in the `spsc_cap1`, MPSC, MPMC,
//! 128-task MPMC and rendezvous workloads is printed to stderr (untimed;
//! see `benches/README.md`).
//!
//! Note on `futures::channel::mpsc::channel(n)`: its capacity is
//! `n + number of senders`; it is given `cap - 1` so that the SPSC rows
//! compare like with like.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[path = "support/counted.rs"]
mod support;
use support::counted;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use futures::{SinkExt, StreamExt};
use tokio::runtime::Runtime;

/// Messages per round.
const MSGS: usize = 20_000;

/// One channel implementation, seen through the operations the scenarios
/// need.
trait Flavor: 'static {
    type Tx: Clone + Send + 'static;
    type Rx: Send + 'static;
    fn new(cap: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &mut Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_;
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_;
}

struct Weftwork;
impl Flavor for Weftwork {
    type Tx = weftwork::channel::Sender<u64>;
    type Rx = weftwork::channel::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        weftwork::channel::bounded(cap)
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

struct Tokio;
impl Flavor for Tokio {
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(cap)
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

struct AsyncChannel;
impl Flavor for AsyncChannel {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

struct Flume;
impl Flavor for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send_async(v).await.unwrap()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

struct Kanal;
impl Flavor for Kanal {
    type Tx = kanal::AsyncSender<u64>;
    type Rx = kanal::AsyncReceiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(cap)
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

struct Futures;
impl Flavor for Futures {
    type Tx = futures::channel::mpsc::Sender<u64>;
    type Rx = futures::channel::mpsc::Receiver<u64>;
    fn new(cap: usize) -> (Self::Tx, Self::Rx) {
        futures::channel::mpsc::channel(cap.saturating_sub(1))
    }
    async fn send(tx: &mut Self::Tx, v: u64) {
        SinkExt::send(tx, v).await.unwrap()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.next().await
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `iters` rounds of `producers` × `consumers` moving [`MSGS`] values;
/// `split` makes the consumers' receivers (one, or clones). With `COUNT`,
/// every send and receive future is [`counted`] (in [`SEND_PENDING`] and
/// [`RECV_PENDING`]); the timed rows run without.
fn rounds<F: Flavor, const COUNT: bool>(
    rt: &Runtime,
    iters: u64,
    cap: usize,
    producers: usize,
    consumers: usize,
    split: fn(F::Rx, usize) -> Vec<F::Rx>,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        rt.block_on(async {
            let (tx, rx) = F::new(cap);
            let mut handles = Vec::new();
            let per = MSGS / producers;
            for _ in 0..producers {
                let mut tx = tx.clone();
                handles.push(rt.spawn(async move {
                    for i in 0..per {
                        let send = F::send(&mut tx, i as u64);
                        if COUNT {
                            counted(&SEND_PENDING, send).await;
                        } else {
                            send.await;
                        }
                    }
                }));
            }
            drop(tx);
            let counted: Vec<_> = split(rx, consumers)
                .into_iter()
                .map(|mut rx| {
                    rt.spawn(async move {
                        let mut n = 0usize;
                        loop {
                            let recv = F::recv(&mut rx);
                            let got = if COUNT {
                                counted(&RECV_PENDING, recv).await
                            } else {
                                recv.await
                            };
                            if got.is_none() {
                                break n;
                            }
                            n += 1;
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("producer panicked");
            }
            let mut total = 0;
            for h in counted {
                total += h.await.expect("consumer panicked");
            }
            assert_eq!(total, per * producers);
        });
    }
    start.elapsed()
}

fn single<R>(rx: R, _: usize) -> Vec<R> {
    vec![rx]
}

fn cloned<R: Clone>(rx: R, n: usize) -> Vec<R> {
    vec![rx; n]
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(MSGS as u64));
}

macro_rules! bench {
    ($g:expr, $rt:expr, $name:literal, $flavor:ty, $cap:expr, $p:expr, $c:expr, $split:expr) => {
        $g.bench_function($name, |b| {
            b.iter_custom(|iters| rounds::<$flavor, false>(&$rt, iters, $cap, $p, $c, $split))
        });
    };
}

fn spsc(c: &mut Criterion, rt: &Runtime, cap: usize) {
    let mut g = c.benchmark_group(format!("spsc_cap{cap}"));
    configure(&mut g);
    bench!(g, rt, "weftwork", Weftwork, cap, 1, 1, single);
    bench!(g, rt, "tokio", Tokio, cap, 1, 1, single);
    bench!(g, rt, "async_channel", AsyncChannel, cap, 1, 1, single);
    bench!(g, rt, "flume", Flume, cap, 1, 1, single);
    bench!(g, rt, "kanal", Kanal, cap, 1, 1, single);
    bench!(g, rt, "futures", Futures, cap, 1, 1, single);
    g.finish();
}

fn mpsc(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("mpsc_8x1_cap64");
    configure(&mut g);
    bench!(g, rt, "weftwork", Weftwork, 64, 8, 1, single);
    bench!(g, rt, "tokio", Tokio, 64, 8, 1, single);
    bench!(g, rt, "async_channel", AsyncChannel, 64, 8, 1, single);
    bench!(g, rt, "flume", Flume, 64, 8, 1, single);
    bench!(g, rt, "kanal", Kanal, 64, 8, 1, single);
    bench!(g, rt, "futures", Futures, 64, 8, 1, single);
    g.finish();
}

fn mpmc(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("mpmc_4x4_cap64");
    configure(&mut g);
    bench!(g, rt, "weftwork", Weftwork, 64, 4, 4, cloned);
    bench!(g, rt, "async_channel", AsyncChannel, 64, 4, 4, cloned);
    bench!(g, rt, "flume", Flume, 64, 4, 4, cloned);
    bench!(g, rt, "kanal", Kanal, 64, 4, 4, cloned);
    g.finish();
}

/// MPMC at 2, 8, 32 and 128 tasks (half producers, half consumers), cap 64.
fn mpmc_scaling(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("mpmc_scaling_cap64");
    configure(&mut g);
    g.sample_size(15).measurement_time(Duration::from_secs(2));
    for tasks in [2usize, 8, 32, 128] {
        let n = tasks / 2;
        macro_rules! at {
            ($name:literal, $flavor:ty) => {
                g.bench_function(BenchmarkId::new($name, tasks), |b| {
                    b.iter_custom(|iters| rounds::<$flavor, false>(rt, iters, 64, n, n, cloned))
                });
            };
        }
        at!("weftwork", Weftwork);
        at!("async_channel", AsyncChannel);
        at!("flume", Flume);
        at!("kanal", Kanal);
    }
    g.finish();
}

fn rendezvous(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("rendezvous_1x1");
    configure(&mut g);
    bench!(g, rt, "weftwork", Weftwork, 0, 1, 1, single);
    bench!(g, rt, "flume", Flume, 0, 1, 1, single);
    bench!(g, rt, "kanal", Kanal, 0, 1, 1, single);
    g.finish();
}

/// Pending polls of send futures, counted by [`rounds`] with `COUNT`.
static SEND_PENDING: AtomicUsize = AtomicUsize::new(0);
/// Pending polls of receive futures, counted by [`rounds`] with `COUNT`.
static RECV_PENDING: AtomicUsize = AtomicUsize::new(0);

/// Rounds per crate and scenario in the suspension table.
const SUSPENSION_ROUNDS: u32 = 30;

/// One row of the suspension table: `F` through `SUSPENSION_ROUNDS` counted
/// rounds of `p` producers and `c` consumers; pending polls per message on
/// each side, and the fastest round.
fn suspensions<F: Flavor>(
    rt: &Runtime,
    (name, scenario): (&str, &str),
    cap: usize,
    (p, c): (usize, usize),
    split: fn(F::Rx, usize) -> Vec<F::Rx>,
) {
    SEND_PENDING.store(0, Relaxed);
    RECV_PENDING.store(0, Relaxed);
    let fastest = (0..SUSPENSION_ROUNDS)
        .map(|_| rounds::<F, true>(rt, 1, cap, p, c, split))
        .min()
        .expect("at least one round");
    let msgs = f64::from(SUSPENSION_ROUNDS) * (MSGS / p * p) as f64;
    let send = SEND_PENDING.load(Relaxed) as f64 / msgs;
    let recv = RECV_PENDING.load(Relaxed) as f64 / msgs;
    eprintln!("| {scenario:<16} | {name:<13} | {send:>13.3} | {recv:>13.3} | {fastest:>9.2?} |");
}

/// Why the SPSC cap 1, MPSC, MPMC, 128-task and rendezvous rows differ
/// between crates:
/// how often a send or receive suspended its task (untimed, printed before
/// the runs).
fn print_suspensions(rt: &Runtime) {
    eprintln!(
        "untimed, futures counted ({SUSPENSION_ROUNDS} rounds): pending polls per message, fastest round:\n"
    );
    eprintln!("| scenario         | crate         | send pending  | recv pending  | fastest   |");
    eprintln!("|------------------|---------------|--------------:|--------------:|----------:|");
    let spsc = "spsc_cap1";
    suspensions::<Weftwork>(rt, ("weftwork", spsc), 1, (1, 1), single);
    suspensions::<Tokio>(rt, ("tokio", spsc), 1, (1, 1), single);
    suspensions::<AsyncChannel>(rt, ("async_channel", spsc), 1, (1, 1), single);
    suspensions::<Flume>(rt, ("flume", spsc), 1, (1, 1), single);
    suspensions::<Kanal>(rt, ("kanal", spsc), 1, (1, 1), single);
    let mpsc = "mpsc_8x1_cap64";
    suspensions::<Weftwork>(rt, ("weftwork", mpsc), 64, (8, 1), single);
    suspensions::<Kanal>(rt, ("kanal", mpsc), 64, (8, 1), single);
    let mpmc = "mpmc_4x4_cap64";
    suspensions::<Weftwork>(rt, ("weftwork", mpmc), 64, (4, 4), cloned);
    suspensions::<Kanal>(rt, ("kanal", mpmc), 64, (4, 4), cloned);
    let mpmc = "mpmc_scaling/128";
    suspensions::<Weftwork>(rt, ("weftwork", mpmc), 64, (64, 64), cloned);
    suspensions::<AsyncChannel>(rt, ("async_channel", mpmc), 64, (64, 64), cloned);
    suspensions::<Flume>(rt, ("flume", mpmc), 64, (64, 64), cloned);
    suspensions::<Kanal>(rt, ("kanal", mpmc), 64, (64, 64), cloned);
    let rdv = "rendezvous_1x1";
    suspensions::<Weftwork>(rt, ("weftwork", rdv), 0, (1, 1), single);
    suspensions::<Flume>(rt, ("flume", rdv), 0, (1, 1), single);
    suspensions::<Kanal>(rt, ("kanal", rdv), 0, (1, 1), single);
    eprintln!();
}

fn main() {
    let rt = runtime();
    print_suspensions(&rt);
    let mut c = Criterion::default().configure_from_args();
    spsc(&mut c, &rt, 1);
    spsc(&mut c, &rt, 1024);
    mpsc(&mut c, &rt);
    mpmc(&mut c, &rt);
    mpmc_scaling(&mut c, &rt);
    rendezvous(&mut c, &rt);
    c.final_summary();
}
