//! Lock and semaphore benchmarks: weftwork against its peers, in one run.
//!
//! Run with `cargo bench --bench locks`. Before the measurements, three
//! tables are printed to stderr (ready to paste into `benches/README.md`):
//! the `size_of` of each crate's lock types, the heap allocations each
//! crate makes per contended wait, and how often a lock operation of the
//! `rwlock_90_read` workload suspended its task (untimed).
//!
//! Scenarios (one criterion group each; every group measures all crates):
//!
//! * `mutex_uncontended`: lock, `+= 1`, unlock on one thread. Every crate —
//!   `std::sync::Mutex` included — runs inside the same `async` block polled
//!   once with a no-op waker ([`ready_now`]), so the driver costs the same
//!   for all; the lock futures are polled through their normal `poll` path
//!   (no `try_lock`).
//! * `mutex_contended`: [`TASKS`] tasks on a 2-worker tokio runtime, each
//!   doing [`MUTEX_OPS`] lock/increment/unlock; one iteration is one round
//!   (spawn, run, join).
//! * `mutex_scaling`: the contended mutex at 2, 8, 32 and 128 tasks, with
//!   the same total work per round ([`SCALING_OPS`] lock operations).
//! * `rwlock_90_read`: as above, 90 % reads and 10 % writes.
//! * `mutex_current_thread`, `rwlock_current_thread`: 2 and [`TASKS`]
//!   tasks on a current-thread runtime, each holding the lock (the
//!   rwlock: 90 % read guards) across a `yield_now()`, so a lock attempt
//!   usually finds it held by a task that cannot run meanwhile.
//! * `semaphore_4_of_32`: [`TASKS`] tasks contend for 4 permits. `no_yield`
//!   releases right away (with 2 workers at most 2 permits are ever held,
//!   so this measures the uncontended atomics under cross-core traffic);
//!   `yield` holds the permit across a `tokio::task::yield_now()`, so
//!   permits run out and the wait queue is exercised.

use std::future::Future;
use std::hint::black_box;
use std::mem::size_of;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[path = "support/counted.rs"]
mod support;
use support::counted;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use tokio::runtime::Runtime;

/// Tasks per contended round.
const TASKS: usize = 32;
/// Lock operations per task per round in `mutex_contended`.
const MUTEX_OPS: usize = 1000;
/// Lock operations per task per round in `rwlock_90_read`.
const RW_OPS: usize = 1000;
/// Acquire/release pairs per task per round in `semaphore_4_of_32`.
const SEM_OPS: usize = 400;
/// Permits in `semaphore_4_of_32`.
const PERMITS: usize = 4;

// ---------------------------------------------------------------------------
#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs_during as count_allocs;

// ---------------------------------------------------------------------------
// Drivers.

/// Polls `fut` once with a no-op waker; it must be ready. The one driver of
/// the uncontended row, for every crate.
#[inline(always)]
fn ready_now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("an uncontended lock went pending"),
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `iters` rounds of [`TASKS`] tasks made by `task(shared, task_index)`,
/// spawned on `rt` and joined; returns the total time.
fn rounds<S, F, Fut>(rt: &Runtime, shared: &Arc<S>, iters: u64, task: F) -> Duration
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    rounds_of(rt, shared, iters, TASKS, task)
}

/// [`rounds`] with `tasks` tasks per round.
fn rounds_of<S, F, Fut>(
    rt: &Runtime,
    shared: &Arc<S>,
    iters: u64,
    tasks: usize,
    task: F,
) -> Duration
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    for _ in 0..iters {
        rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|t| rt.spawn(task(shared.clone(), t)))
                .collect();
            for h in handles {
                h.await.expect("bench task panicked");
            }
        });
    }
    start.elapsed()
}

fn short(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
}

fn contended(g: &mut BenchmarkGroup<'_, WallTime>, ops_per_round: usize) {
    g.sample_size(25);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(ops_per_round as u64));
}

// ---------------------------------------------------------------------------
// Scenarios.

/// `+= 1` under an async mutex lock, driven by [`ready_now`].
macro_rules! uncontended_async {
    ($g:expr, $name:literal, $mutex:expr) => {{
        let m = $mutex;
        $g.bench_function($name, |b| {
            let m = black_box(&m);
            b.iter(|| ready_now(async { *m.lock().await += 1 }))
        });
    }};
}

fn mutex_uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutex_uncontended");
    short(&mut g);
    {
        let m = std::sync::Mutex::new(0u64);
        g.bench_function("std", |b| {
            let m = black_box(&m);
            b.iter(|| ready_now(async { *m.lock().unwrap() += 1 }))
        });
    }
    uncontended_async!(g, "weftwork", weftwork::Mutex::new(0u64));
    uncontended_async!(g, "tokio", tokio::sync::Mutex::new(0u64));
    uncontended_async!(g, "async_lock", async_lock::Mutex::new(0u64));
    uncontended_async!(g, "futures", futures::lock::Mutex::new(0u64));
    uncontended_async!(g, "maitake", maitake_sync::Mutex::new(0u64));
    g.finish();
}

/// [`TASKS`] × [`MUTEX_OPS`] async-mutex increments per iteration.
macro_rules! contended_mutex {
    ($g:expr, $rt:expr, $name:literal, $mutex:expr) => {{
        let m = Arc::new($mutex);
        $g.bench_function($name, |b| {
            b.iter_custom(|iters| {
                rounds(&$rt, &m, iters, |m, _| async move {
                    for _ in 0..MUTEX_OPS {
                        *m.lock().await += 1;
                    }
                })
            })
        });
    }};
}

fn mutex_contended(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("mutex_contended");
    contended(&mut g, TASKS * MUTEX_OPS);
    contended_mutex!(g, rt, "weftwork", weftwork::Mutex::new(0u64));
    contended_mutex!(g, rt, "tokio", tokio::sync::Mutex::new(0u64));
    contended_mutex!(g, rt, "async_lock", async_lock::Mutex::new(0u64));
    contended_mutex!(g, rt, "futures", futures::lock::Mutex::new(0u64));
    contended_mutex!(g, rt, "maitake", maitake_sync::Mutex::new(0u64));
    {
        // Reference only (not an async peer): a blocking lock held for a
        // few nanoseconds never suspends the task.
        let m = Arc::new(std::sync::Mutex::new(0u64));
        g.bench_function("std_reference", |b| {
            b.iter_custom(|iters| {
                rounds(&rt, &m, iters, |m, _| async move {
                    for _ in 0..MUTEX_OPS {
                        *m.lock().unwrap() += 1;
                    }
                })
            })
        });
    }
    g.finish();
}

/// Lock operations per round in `mutex_scaling`, split over the tasks.
const SCALING_OPS: usize = 32_000;

/// The contended mutex at 2, 8, 32 and 128 tasks (same total work per
/// round), so the table shows how the cost grows with contention.
macro_rules! scaling_mutex {
    ($g:expr, $rt:expr, $name:literal, $tasks:expr, $mutex:expr) => {{
        let m = Arc::new($mutex);
        let per = SCALING_OPS / $tasks;
        $g.bench_function(BenchmarkId::new($name, $tasks), |b| {
            b.iter_custom(|iters| {
                rounds_of(&$rt, &m, iters, $tasks, move |m, _| async move {
                    for _ in 0..per {
                        *m.lock().await += 1;
                    }
                })
            })
        });
    }};
}

fn mutex_scaling(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("mutex_scaling");
    contended(&mut g, SCALING_OPS);
    g.sample_size(15).measurement_time(Duration::from_secs(2));
    for tasks in [2usize, 8, 32, 128] {
        scaling_mutex!(g, rt, "weftwork", tasks, weftwork::Mutex::new(0u64));
        scaling_mutex!(g, rt, "tokio", tasks, tokio::sync::Mutex::new(0u64));
        scaling_mutex!(g, rt, "async_lock", tasks, async_lock::Mutex::new(0u64));
        scaling_mutex!(g, rt, "futures", tasks, futures::lock::Mutex::new(0u64));
        scaling_mutex!(g, rt, "maitake", tasks, maitake_sync::Mutex::new(0u64));
    }
    g.finish();
}

/// Lock operations per task in the current-thread rows.
const CT_OPS: usize = 200;

/// `$tasks` tasks on one thread, each doing [`CT_OPS`] times `$op` (task
/// `$t`, its `$i`-th operation), which holds a lock across a yield: every
/// other task's lock attempt finds it held by a task that cannot run until
/// the attempt gives the thread back (the case a spin before queueing can
/// only lose).
macro_rules! current_thread {
    ($g:expr, $name:literal, $tasks:expr, $lock:expr, |$l:ident, $t:ident, $i:ident| $op:expr) => {{
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        let l = Arc::new($lock);
        $g.bench_function(BenchmarkId::new($name, $tasks), |b| {
            b.iter_custom(|iters| {
                rounds_of(&rt, &l, iters, $tasks, |$l, $t| async move {
                    for $i in 0..CT_OPS {
                        $op
                    }
                })
            })
        });
    }};
}

/// [`current_thread`] with a mutex: lock, yield, `+= 1`.
macro_rules! current_thread_mutex {
    ($g:expr, $name:literal, $tasks:expr, $mutex:expr) => {
        current_thread!($g, $name, $tasks, $mutex, |m, _t, _i| {
            let mut g = m.lock().await;
            tokio::task::yield_now().await;
            *g += 1;
        })
    };
}

fn mutex_current_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutex_current_thread");
    contended(&mut g, TASKS * CT_OPS);
    g.measurement_time(Duration::from_secs(2));
    for tasks in [2usize, TASKS] {
        g.throughput(Throughput::Elements((tasks * CT_OPS) as u64));
        current_thread_mutex!(g, "weftwork", tasks, weftwork::Mutex::new(0u64));
        current_thread_mutex!(g, "tokio", tasks, tokio::sync::Mutex::new(0u64));
        current_thread_mutex!(g, "async_lock", tasks, async_lock::Mutex::new(0u64));
        current_thread_mutex!(g, "futures", tasks, futures::lock::Mutex::new(0u64));
        current_thread_mutex!(g, "maitake", tasks, maitake_sync::Mutex::new(0u64));
    }
    g.finish();
}

/// [`current_thread`] with an `RwLock`, 90 % reads as in `rwlock_90_read`;
/// both kinds of guard are held across the yield.
macro_rules! current_thread_rwlock {
    ($g:expr, $name:literal, $tasks:expr, $lock:expr) => {
        current_thread!($g, $name, $tasks, $lock, |l, t, i| if (i + t) % 10 == 0 {
            let mut g = l.write().await;
            tokio::task::yield_now().await;
            *g += 1;
        } else {
            let g = l.read().await;
            tokio::task::yield_now().await;
            black_box(*g);
        })
    };
}

fn rwlock_current_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("rwlock_current_thread");
    contended(&mut g, TASKS * CT_OPS);
    g.measurement_time(Duration::from_secs(2));
    for tasks in [2usize, TASKS] {
        g.throughput(Throughput::Elements((tasks * CT_OPS) as u64));
        current_thread_rwlock!(g, "weftwork", tasks, weftwork::RwLock::new(0u64));
        current_thread_rwlock!(g, "tokio", tasks, tokio::sync::RwLock::new(0u64));
        current_thread_rwlock!(g, "async_lock", tasks, async_lock::RwLock::new(0u64));
        current_thread_rwlock!(g, "maitake", tasks, maitake_sync::RwLock::new(0u64));
    }
    g.finish();
}

/// Task `t`'s `i`-th operation writes when `(i + t) % 10 == 0`.
macro_rules! rwlock_90_read {
    ($g:expr, $rt:expr, $name:literal, $lock:expr) => {{
        let l = Arc::new($lock);
        $g.bench_function($name, |b| {
            b.iter_custom(|iters| {
                rounds(&$rt, &l, iters, |l, t| async move {
                    for i in 0..RW_OPS {
                        if (i + t) % 10 == 0 {
                            *l.write().await += 1;
                        } else {
                            black_box(*l.read().await);
                        }
                    }
                })
            })
        });
    }};
}

/// Rounds per crate in the suspension table.
const SUSPENSION_ROUNDS: u64 = 50;

/// Polls that returned `Pending`, counted by [`counted`].
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// A contended workload (`$op`, run `$ops` times by each of [`TASKS`]
/// tasks) outside criterion, with every lock future counted: prints how
/// often a lock operation suspended its task, and the fastest round (a
/// round in which no convoy formed).
macro_rules! suspensions {
    ($rt:expr, $name:literal, $lock:expr, $tasks:expr, $ops:expr, |$l:ident, $t:ident, $i:ident| $op:expr) => {{
        let l = Arc::new($lock);
        PENDING.store(0, Relaxed);
        let fastest = (0..SUSPENSION_ROUNDS)
            .map(|_| {
                rounds_of(&$rt, &l, 1, $tasks, |$l, $t| async move {
                    for $i in 0..$ops {
                        $op
                    }
                })
            })
            .min()
            .expect("at least one round");
        let ops = SUSPENSION_ROUNDS as usize * $tasks * $ops;
        let per_op = PENDING.load(Relaxed) as f64 / ops as f64;
        eprintln!("| {:<10} | {per_op:>14.3} | {fastest:>13.2?} |", $name);
    }};
}

/// [`suspensions`] of the `rwlock_90_read` workload.
macro_rules! rwlock_suspensions {
    ($rt:expr, $name:literal, $lock:expr) => {
        suspensions!(
            $rt,
            $name,
            $lock,
            TASKS,
            RW_OPS,
            |l, t, i| if (i + t) % 10 == 0 {
                *counted(&PENDING, l.write()).await += 1;
            } else {
                black_box(*counted(&PENDING, l.read()).await);
            }
        )
    };
}

/// [`suspensions`] of the `mutex_contended` workload.
macro_rules! mutex_suspensions {
    ($rt:expr, $name:literal, $lock:expr) => {
        mutex_suspensions!($rt, $name, $lock, TASKS, MUTEX_OPS)
    };
    ($rt:expr, $name:literal, $lock:expr, $tasks:expr, $ops:expr) => {
        suspensions!($rt, $name, $lock, $tasks, $ops, |m, _t, _i| {
            *counted(&PENDING, m.lock()).await += 1
        })
    };
}

/// Why `rwlock_90_read` and `mutex_contended` differ so much between
/// crates: the share of lock operations that suspended their task (a reader
/// convoy suspends almost every one).
fn print_suspensions() {
    let rt = runtime();
    eprintln!(
        "rwlock_90_read untimed, lock futures counted ({SUSPENSION_ROUNDS} rounds): pending polls per lock operation, fastest round:\n"
    );
    eprintln!("| crate      | pending per op | fastest round |");
    eprintln!("|------------|---------------:|--------------:|");
    rwlock_suspensions!(rt, "weftwork", weftwork::RwLock::new(0u64));
    rwlock_suspensions!(rt, "tokio", tokio::sync::RwLock::new(0u64));
    rwlock_suspensions!(rt, "async_lock", async_lock::RwLock::new(0u64));
    rwlock_suspensions!(rt, "maitake", maitake_sync::RwLock::new(0u64));
    eprintln!();
    eprintln!(
        "mutex_contended untimed, lock futures counted ({SUSPENSION_ROUNDS} rounds): pending polls per lock operation, fastest round:\n"
    );
    eprintln!("| crate      | pending per op | fastest round |");
    eprintln!("|------------|---------------:|--------------:|");
    mutex_suspensions!(rt, "weftwork", weftwork::Mutex::new(0u64));
    mutex_suspensions!(rt, "tokio", tokio::sync::Mutex::new(0u64));
    mutex_suspensions!(rt, "async_lock", async_lock::Mutex::new(0u64));
    mutex_suspensions!(rt, "futures", futures::lock::Mutex::new(0u64));
    mutex_suspensions!(rt, "maitake", maitake_sync::Mutex::new(0u64));
    eprintln!();
    eprintln!(
        "mutex_scaling/2 untimed, lock futures counted ({SUSPENSION_ROUNDS} rounds): pending polls per lock operation, fastest round:\n"
    );
    eprintln!("| crate      | pending per op | fastest round |");
    eprintln!("|------------|---------------:|--------------:|");
    let ops = SCALING_OPS / 2;
    mutex_suspensions!(rt, "weftwork", weftwork::Mutex::new(0u64), 2, ops);
    mutex_suspensions!(rt, "async_lock", async_lock::Mutex::new(0u64), 2, ops);
    mutex_suspensions!(rt, "futures", futures::lock::Mutex::new(0u64), 2, ops);
    eprintln!();
}

fn rwlock_contended(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("rwlock_90_read");
    contended(&mut g, TASKS * RW_OPS);
    rwlock_90_read!(g, rt, "weftwork", weftwork::RwLock::new(0u64));
    rwlock_90_read!(g, rt, "tokio", tokio::sync::RwLock::new(0u64));
    rwlock_90_read!(g, rt, "async_lock", async_lock::RwLock::new(0u64));
    rwlock_90_read!(g, rt, "maitake", maitake_sync::RwLock::new(0u64));
    g.finish();
}

/// `|$s| $acquire` makes the acquire future from the semaphore `$s`.
macro_rules! semaphore_4_of_32 {
    ($g:expr, $rt:expr, $name:literal, $sem:expr, |$s:ident| $acquire:expr) => {{
        let s = Arc::new($sem);
        $g.bench_function(concat!($name, "/no_yield"), |b| {
            b.iter_custom(|iters| {
                rounds(&$rt, &s, iters, |$s, _| async move {
                    for _ in 0..SEM_OPS {
                        let permit = $acquire.await;
                        black_box(&permit);
                    }
                })
            })
        });
        $g.bench_function(concat!($name, "/yield"), |b| {
            b.iter_custom(|iters| {
                rounds(&$rt, &s, iters, |$s, _| async move {
                    for _ in 0..SEM_OPS {
                        let permit = $acquire.await;
                        tokio::task::yield_now().await;
                        black_box(&permit);
                    }
                })
            })
        });
    }};
}

fn semaphore_contended(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("semaphore_4_of_32");
    contended(&mut g, TASKS * SEM_OPS);
    semaphore_4_of_32!(g, rt, "weftwork", weftwork::Semaphore::new(PERMITS), |s| s
        .acquire());
    semaphore_4_of_32!(g, rt, "tokio", tokio::sync::Semaphore::new(PERMITS), |s| s
        .acquire());
    semaphore_4_of_32!(
        g,
        rt,
        "async_lock",
        async_lock::Semaphore::new(PERMITS),
        |s| s.acquire()
    );
    semaphore_4_of_32!(
        g,
        rt,
        "maitake",
        maitake_sync::Semaphore::new(PERMITS),
        |s| s.acquire(1)
    );
    g.finish();
}

// ---------------------------------------------------------------------------
// Tables printed before the measurements.

fn print_sizes() {
    fn row(name: &str, mutex: Option<usize>, rwlock: Option<usize>, sem: Option<usize>) {
        let cell = |v: Option<usize>| v.map_or("—".to_owned(), |v| v.to_string());
        eprintln!(
            "| {name:<12} | {:>11} | {:>12} | {:>9} |",
            cell(mutex),
            cell(rwlock),
            cell(sem)
        );
    }
    eprintln!("size_of on this target (bytes):\n");
    eprintln!("| crate        | `Mutex<()>` | `RwLock<()>` | Semaphore |");
    eprintln!("|--------------|------------:|-------------:|----------:|");
    row(
        "std",
        Some(size_of::<std::sync::Mutex<()>>()),
        Some(size_of::<std::sync::RwLock<()>>()),
        None,
    );
    row(
        "weftwork",
        Some(size_of::<weftwork::Mutex<()>>()),
        Some(size_of::<weftwork::RwLock<()>>()),
        Some(size_of::<weftwork::Semaphore>()),
    );
    row(
        "tokio",
        Some(size_of::<tokio::sync::Mutex<()>>()),
        Some(size_of::<tokio::sync::RwLock<()>>()),
        Some(size_of::<tokio::sync::Semaphore>()),
    );
    row(
        "async_lock",
        Some(size_of::<async_lock::Mutex<()>>()),
        Some(size_of::<async_lock::RwLock<()>>()),
        Some(size_of::<async_lock::Semaphore>()),
    );
    row(
        "futures",
        Some(size_of::<futures::lock::Mutex<()>>()),
        None,
        None,
    );
    row(
        "maitake",
        Some(size_of::<maitake_sync::Mutex<()>>()),
        Some(size_of::<maitake_sync::RwLock<()>>()),
        Some(size_of::<maitake_sync::Semaphore>()),
    );
    eprintln!();
}

/// Waiters queued per measurement in the allocation table.
const WAITERS: usize = 64;

/// Heap allocations per contended wait: `$hold` takes the lock (synchronously
/// or via [`ready_now`]), `$wait` makes a future that must go pending. The
/// futures are boxed before counting starts; counting covers queueing all
/// [`WAITERS`] of them, releasing, and polling each to completion in order
/// (each releases before the next is polled). The first round is a warm-up.
macro_rules! allocs_per_wait {
    ($hold:expr, $wait:expr) => {{
        let mut cx = Context::from_waker(Waker::noop());
        let mut result = (0.0, 0.0);
        for round in 0..2 {
            let mut futs: Vec<Pin<Box<_>>> = (0..WAITERS).map(|_| Box::pin($wait)).collect();
            let holder = $hold;
            let (n, bytes) = count_allocs(|| {
                for f in &mut futs {
                    assert!(
                        f.as_mut().poll(&mut cx).is_pending(),
                        "wait did not suspend"
                    );
                }
                drop(holder);
                for f in &mut futs {
                    match f.as_mut().poll(&mut cx) {
                        Poll::Ready(out) => drop(out),
                        Poll::Pending => panic!("waiter not served in order"),
                    }
                }
            });
            drop(futs);
            if round == 1 {
                result = (n as f64 / WAITERS as f64, bytes as f64 / WAITERS as f64);
            }
        }
        result
    }};
}

fn print_allocs() {
    fn row(name: &str, cells: [Option<(f64, f64)>; 4]) {
        let cells =
            cells.map(|c| c.map_or("—".to_owned(), |(n, b)| format!("{n:.2} ({b:.0} B)")));
        eprintln!(
            "| {name:<10} | {:>14} | {:>14} | {:>14} | {:>14} |",
            cells[0], cells[1], cells[2], cells[3]
        );
    }
    eprintln!(
        "heap allocations per contended wait, after warm-up ({WAITERS} queued waiters; allocations (bytes)):\n"
    );
    eprintln!(
        "| crate      | Mutex::lock    | RwLock::read   | RwLock::write  | Semaphore::acquire |"
    );
    eprintln!("|------------|---------------:|---------------:|---------------:|---------------:|");

    let (m, l, s) = (
        weftwork::Mutex::new(0u64),
        weftwork::RwLock::new(0u64),
        weftwork::Semaphore::new(1),
    );
    row(
        "weftwork",
        [
            Some(allocs_per_wait!(ready_now(m.lock()), m.lock())),
            Some(allocs_per_wait!(ready_now(l.write()), l.read())),
            Some(allocs_per_wait!(ready_now(l.read()), l.write())),
            Some(allocs_per_wait!(ready_now(s.acquire()), s.acquire())),
        ],
    );

    let (m, l, s) = (
        tokio::sync::Mutex::new(0u64),
        tokio::sync::RwLock::new(0u64),
        tokio::sync::Semaphore::new(1),
    );
    row(
        "tokio",
        [
            Some(allocs_per_wait!(ready_now(m.lock()), m.lock())),
            Some(allocs_per_wait!(ready_now(l.write()), l.read())),
            Some(allocs_per_wait!(ready_now(l.read()), l.write())),
            Some(allocs_per_wait!(ready_now(s.acquire()), s.acquire())),
        ],
    );

    let (m, l, s) = (
        async_lock::Mutex::new(0u64),
        async_lock::RwLock::new(0u64),
        async_lock::Semaphore::new(1),
    );
    row(
        "async_lock",
        [
            Some(allocs_per_wait!(ready_now(m.lock()), m.lock())),
            Some(allocs_per_wait!(ready_now(l.write()), l.read())),
            Some(allocs_per_wait!(ready_now(l.read()), l.write())),
            Some(allocs_per_wait!(ready_now(s.acquire()), s.acquire())),
        ],
    );

    let m = futures::lock::Mutex::new(0u64);
    row(
        "futures",
        [
            Some(allocs_per_wait!(ready_now(m.lock()), m.lock())),
            None,
            None,
            None,
        ],
    );

    let (m, l, s) = (
        maitake_sync::Mutex::new(0u64),
        maitake_sync::RwLock::new(0u64),
        maitake_sync::Semaphore::new(1),
    );
    row(
        "maitake",
        [
            Some(allocs_per_wait!(ready_now(m.lock()), m.lock())),
            Some(allocs_per_wait!(ready_now(l.write()), l.read())),
            Some(allocs_per_wait!(ready_now(l.read()), l.write())),
            Some(allocs_per_wait!(ready_now(s.acquire(1)), s.acquire(1))),
        ],
    );
    eprintln!();
}

fn main() {
    print_sizes();
    print_allocs();
    print_suspensions();
    let mut c = Criterion::default().configure_from_args();
    mutex_uncontended(&mut c);
    mutex_contended(&mut c);
    mutex_scaling(&mut c);
    mutex_current_thread(&mut c);
    rwlock_contended(&mut c);
    rwlock_current_thread(&mut c);
    semaphore_contended(&mut c);
    c.final_summary();
}
