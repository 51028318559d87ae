//! The weftwork demo: a job queue with back-pressure.
//!
//! Clients submit jobs to a bounded queue. When it is full they are told
//! "server busy" at once and retry with exponential backoff and jitter.
//! Workers take jobs, run them (some fail and are retried a bounded number of
//! times), use a scarce resource guarded by a `Semaphore`, and record
//! statistics under a `Mutex` and an `RwLock`. At the end it prints
//! throughput, latency percentiles, the rejection rate and a Little's-law
//! check, and that no task is left alive.
//!
//! The bounded queue is built from weftwork's locks here (two semaphores
//! counting free slots and queued jobs, a mutex around a `VecDeque`).
//!
//! ```text
//! cargo run --example job_queue -- [--clients 16] [--workers 4] [--jobs 40] [--capacity 8]
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weftwork::{Mutex, RwLock, Semaphore};

struct Job {
    id: usize,
    accepted: Instant,
}

/// A bounded MPMC queue: `slots` counts free places, `items` queued jobs.
struct Queue {
    slots: Semaphore,
    items: Semaphore,
    jobs: Mutex<VecDeque<Job>>,
}

impl Queue {
    fn new(capacity: usize) -> Self {
        Self {
            slots: Semaphore::new(capacity),
            items: Semaphore::new(0),
            jobs: Mutex::default(),
        }
    }

    /// Never waits: a full queue answers "busy" and hands the job back.
    async fn try_submit(&self, job: Job) -> Result<(), Job> {
        let Ok(slot) = self.slots.try_acquire() else {
            return Err(job);
        };
        slot.forget();
        self.jobs.lock().await.push_back(job);
        self.items.add_permits(1);
        Ok(())
    }

    /// Waits for a job; `None` once the queue is closed (and empty).
    async fn take(&self) -> Option<Job> {
        self.items.acquire().await.ok()?.forget();
        let job = self.jobs.lock().await.pop_front();
        self.slots.add_permits(1);
        job
    }
}

#[derive(Default)]
struct Stats {
    done: usize,
    failed: usize,
    retries: usize,
    rejections: usize,
    latencies: Vec<Duration>,
}

struct Config {
    clients: usize,
    workers: usize,
    jobs_per_client: usize,
    capacity: usize,
}

fn config() -> Config {
    let mut c = Config {
        clients: 16,
        workers: 4,
        jobs_per_client: 40,
        capacity: 8,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        let value = value.unwrap_or_else(|| panic!("flag {} needs a number", pair[0]));
        match pair[0].as_str() {
            "--clients" => c.clients = value,
            "--workers" => c.workers = value,
            "--jobs" => c.jobs_per_client = value,
            "--capacity" => c.capacity = value,
            other => panic!("unknown flag {other}; see the example's doc comment"),
        }
    }
    c
}

/// A tiny xorshift for jitter and failures (no extra dependency).
fn rand(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Counts live tasks: +1 when a task starts, -1 when it ends or is dropped.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Live(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cfg = config();
    let queue = Arc::new(Queue::new(cfg.capacity));
    let stats = Arc::new(Mutex::new(Stats::default()));
    let in_system = Arc::new(RwLock::new(0usize)); // jobs accepted, not finished
    let database = Arc::new(Semaphore::new(2)); // the scarce resource
    let live = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();

    let mut workers = Vec::new();
    for w in 0..cfg.workers {
        let (queue, stats, in_system, database) = (
            queue.clone(),
            stats.clone(),
            in_system.clone(),
            database.clone(),
        );
        let live = Live::enter(&live);
        workers.push(tokio::spawn(async move {
            let _live = live;
            let mut seed = 0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1);
            while let Some(job) = queue.take().await {
                let mut attempts = 0;
                let ok = loop {
                    attempts += 1;
                    {
                        let _db = database.acquire().await.expect("never closed");
                        tokio::time::sleep(Duration::from_micros(300 + rand(&mut seed) % 700))
                            .await;
                    }
                    if rand(&mut seed) % 10 != 0 {
                        break true; // 90 % of attempts succeed
                    }
                    if attempts == 3 {
                        break false;
                    }
                };
                *in_system.write().await -= 1;
                let mut s = stats.lock().await;
                s.retries += attempts - 1;
                if ok {
                    s.done += 1;
                    s.latencies.push(job.accepted.elapsed());
                } else {
                    s.failed += 1;
                }
                let _ = job.id;
            }
        }));
    }

    let mut clients = Vec::new();
    for c in 0..cfg.clients {
        let (queue, stats, in_system) = (queue.clone(), stats.clone(), in_system.clone());
        let live = Live::enter(&live);
        let jobs = cfg.jobs_per_client;
        clients.push(tokio::spawn(async move {
            let _live = live;
            let mut seed = 0x2545_f491_4f6c_dd1d ^ (c as u64 + 1);
            for i in 0..jobs {
                let mut backoff = Duration::from_micros(200);
                let mut job = Job {
                    id: c * jobs + i,
                    accepted: Instant::now(),
                };
                loop {
                    job.accepted = Instant::now();
                    *in_system.write().await += 1;
                    match queue.try_submit(job).await {
                        Ok(()) => break,
                        Err(back) => {
                            // "Server busy, retry later" — with backoff and jitter.
                            *in_system.write().await -= 1;
                            stats.lock().await.rejections += 1;
                            job = back;
                            let jitter = rand(&mut seed) % (backoff.as_micros() as u64 + 1);
                            tokio::time::sleep(backoff + Duration::from_micros(jitter)).await;
                            backoff = (backoff * 2).min(Duration::from_millis(20));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_micros(rand(&mut seed) % 500)).await;
            }
        }));
    }

    // Progress line and a sampler for the average number of jobs in the system.
    let sampler = {
        let (stats, in_system, queue) = (stats.clone(), in_system.clone(), queue.clone());
        let total = cfg.clients * cfg.jobs_per_client;
        let live = Live::enter(&live);
        tokio::spawn(async move {
            let _live = live;
            let (mut sum, mut n) = (0usize, 0usize);
            for tick in 0u64.. {
                tokio::time::sleep(Duration::from_millis(1)).await;
                sum += *in_system.read().await;
                n += 1;
                let s = stats.lock().await;
                if tick % 100 == 0 {
                    eprint!(
                        "\r  done {:>5}/{total}  failed {:>3}  queue {:>3}  rejections {:>5}  retries {:>4}",
                        s.done,
                        s.failed,
                        queue.items.available_permits(),
                        s.rejections,
                        s.retries,
                    );
                }
                if s.done + s.failed == total {
                    break;
                }
            }
            eprintln!();
            sum as f64 / n.max(1) as f64
        })
    };

    for c in clients {
        c.await.expect("client panicked");
    }
    let avg_in_system = sampler.await.expect("sampler panicked");
    queue.items.close(); // every job was taken: let the workers go
    for w in workers {
        w.await.expect("worker panicked");
    }
    let elapsed = start.elapsed().as_secs_f64();

    let mut s = stats.lock().await;
    s.latencies.sort();
    let pct = |p: f64| s.latencies[((s.latencies.len() - 1) as f64 * p) as usize];
    let accepted = s.done + s.failed;
    let mean_w = s.latencies.iter().map(Duration::as_secs_f64).sum::<f64>() / s.done.max(1) as f64;
    let lambda = accepted as f64 / elapsed;
    println!(
        "jobs: {accepted} accepted = {} done + {} failed after 3 attempts",
        s.done, s.failed
    );
    println!("throughput: {:.0} jobs/s over {elapsed:.2} s", lambda);
    println!(
        "latency: p50 {:?}  p90 {:?}  p99 {:?}",
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
    println!(
        "rejections: {} ({:.1} per accepted job), retries: {}",
        s.rejections,
        s.rejections as f64 / accepted as f64,
        s.retries
    );
    println!(
        "Little's law: L = {avg_in_system:.2} jobs in system (sampled)  vs  λ·W = {lambda:.0}/s × {:.2} ms = {:.2}",
        mean_w * 1e3,
        lambda * mean_w
    );
    println!("live tasks at the end: {}", live.load(Ordering::SeqCst));
}
