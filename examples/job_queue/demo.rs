//! The job-queue system behind `cargo run --example job_queue`, kept apart
//! from `main.rs` so that `tests/job_queue.rs` can run it too.
//!
//! ```text
//!  clients ──try_send──▶ [ bounded queue ] ──recv──▶ workers ──▶ database
//!     ▲                        │ full?                (scope,     (Semaphore:
//!     └── "busy": back off ◀───┘                       limit)     2 connections)
//! ```
//!
//! * **Clients** submit jobs with `try_send`. A full queue answers at once
//!   with `TrySendError::Full(job)` — "server busy" — and hands the job
//!   back; the client retries after an exponential backoff with jitter, and
//!   after `submit_attempts` busy answers gives up: the job is *rejected*.
//! * **Workers** run inside a nested scope with a concurrency limit. Each
//!   job attempt needs one of the few database connections (a
//!   `Semaphore`); an attempt may fail, and a job is retried up to
//!   `max_attempts` times before it is *failed*.
//! * **Statistics** live under an `RwLock` (counters, read often by the
//!   progress line) and a `Mutex` (the ledger of who ended how).
//! * **A deadline** (`Scope::cancel_after` with the runtime's own timer)
//!   cancels the scope's token; everyone winds down, and every job not
//!   finished by then is *cancelled*.
//!
//! Every job ends exactly once, in `System::finish`: completed,
//! failed, rejected or cancelled. The [`Report`] lists the ids per outcome,
//! so the test can check that none is lost and none is counted twice.
//!
//! The runtime is a parameter: `run` takes the timer as a plain function
//! (`tokio::time::sleep`, or an `async fn` around `smol::Timer::after`), and
//! everything else is weftwork, which runs on any executor.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weftwork::channel::{self, Receiver, Sender, TrySendError};
use weftwork::scope::Builder;
use weftwork::{CancelToken, Mutex, RwLock, Semaphore};

/// The knobs of a run. `Default` is the demo's setting.
#[derive(Debug, Clone)]
pub struct Config {
    /// Clients submitting jobs concurrently.
    pub clients: usize,
    /// Jobs each client submits.
    pub jobs_per_client: usize,
    /// Workers: the worker scope's concurrency limit.
    pub workers: usize,
    /// Queue capacity (`channel::bounded(capacity)`).
    pub capacity: usize,
    /// The run is cancelled after this long.
    pub deadline: Duration,
    /// Seeds every random choice (timings, jitter, failures).
    pub seed: u64,
    /// Permits of the scarce resource ("database connections").
    pub connections: usize,
    /// Chance (in %) that one attempt of a job fails.
    pub fail_percent: u64,
    /// Attempts per job before it counts as failed.
    pub max_attempts: u32,
    /// "Busy" answers a client takes for one job before giving up on it.
    pub submit_attempts: u32,
    /// The first backoff after a "busy"; it doubles up to `backoff_cap`.
    pub backoff_start: Duration,
    /// The longest backoff.
    pub backoff_cap: Duration,
    /// A client pauses up to this long between two jobs.
    pub think: Duration,
    /// The typical time of one attempt (about half of it holding a connection).
    pub work: Duration,
    /// Print a live progress line on stderr.
    pub progress: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            clients: 16,
            jobs_per_client: 150,
            workers: 4,
            capacity: 8,
            deadline: Duration::from_secs(15),
            seed: 42,
            connections: 2,
            fail_percent: 10,
            max_attempts: 3,
            submit_attempts: 8,
            backoff_start: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(64),
            think: Duration::from_millis(24),
            work: Duration::from_millis(2),
            progress: true,
        }
    }
}

/// How a job ended. Every job gets exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A worker ran it successfully.
    Completed,
    /// Every one of its `max_attempts` attempts failed.
    Failed,
    /// The queue answered "busy" `submit_attempts` times; the client gave up.
    Rejected,
    /// The deadline came first (before it was submitted, while queued or
    /// while running).
    Cancelled,
}

const OUTCOMES: [Outcome; 4] = [
    Outcome::Completed,
    Outcome::Failed,
    Outcome::Rejected,
    Outcome::Cancelled,
];

/// What a run did: the ids per outcome and the measurements.
#[derive(Debug)]
pub struct Report {
    /// The configuration it ran with.
    pub config: Config,
    /// Job ids per outcome, indexed like [`Outcome`] (`ids[Outcome::Failed as usize]`).
    pub ids: [Vec<u64>; 4],
    /// Jobs the queue accepted.
    pub accepted: usize,
    /// "Busy" answers the clients got.
    pub busy: usize,
    /// Job attempts after the first.
    pub retries: usize,
    /// Time in system (accepted → completed) of the completed jobs, sorted.
    pub latencies: Vec<Duration>,
    /// Mean time in system of every accepted job, whatever its outcome.
    pub mean_time_in_system: Duration,
    /// The number of accepted, unfinished jobs, averaged over the run.
    pub mean_jobs_in_system: f64,
    /// From start to the last job's end.
    pub elapsed: Duration,
    /// Whether the deadline cut the run.
    pub deadline_hit: bool,
    /// Tasks spawned (clients, workers, progress monitor, worker pool).
    pub tasks_spawned: usize,
    /// Of those, how many were still alive after the scope returned.
    pub tasks_live: usize,
    /// The scope's own count of unfinished children (`Scope::live`), read
    /// at the end of its body.
    pub scope_live: usize,
}

/// A job in the queue.
#[derive(Debug)]
struct Job {
    id: u64,
    accepted: Instant,
}

/// Live numbers, read by the progress line (`RwLock`: many readers).
#[derive(Debug, Default)]
struct Counters {
    accepted: usize,
    in_system: usize,
    finished: [usize; 4],
    busy: usize,
    retries: usize,
}

/// Who ended how (`Mutex`: written once per job).
#[derive(Debug, Default)]
struct Ledger {
    ids: [Vec<u64>; 4],
    latencies: Vec<Duration>,
    time_in_system: Vec<Duration>,
}

/// Everything the tasks share. They borrow it: scope children need no
/// `Arc` and no `'static`.
struct System<S> {
    cfg: Config,
    sleep: S,
    queue: (Sender<Job>, Receiver<Job>),
    database: Semaphore,
    counters: RwLock<Counters>,
    ledger: Mutex<Ledger>,
    tasks: TaskCount,
    start: Instant,
}

/// Runs the demo to the end (or to the deadline) and reports.
///
/// `sleep` is the runtime's timer: `tokio::time::sleep`, or
/// `async fn sleep(d: Duration) { smol::Timer::after(d).await; }`.
pub async fn run<S, F>(cfg: Config, sleep: S) -> Report
where
    S: Fn(Duration) -> F + Sync,
    F: Future<Output = ()> + Send,
{
    let system = System {
        queue: channel::bounded(cfg.capacity),
        database: Semaphore::new(cfg.connections),
        counters: RwLock::default(),
        ledger: Mutex::default(),
        tasks: TaskCount::default(),
        start: Instant::now(),
        sleep,
        cfg,
    };
    let (mean_jobs_in_system, deadline_hit, scope_live) = system.serve().await;
    system.report(mean_jobs_in_system, deadline_hit, scope_live)
}

impl<S, F> System<S>
where
    S: Fn(Duration) -> F + Sync,
    F: Future<Output = ()> + Send,
{
    /// The whole run, as one scope: nothing it starts outlives it.
    async fn serve(&self) -> (f64, bool, usize) {
        let (queue, jobs) = &self.queue;
        weftwork::scope(async |s| {
            // The deadline: any future will do, here the runtime's timer.
            s.cancel_after((self.sleep)(self.cfg.deadline));
            let stop = s.token().clone(); // cancelled by the deadline

            let quiet = CancelToken::new(); // cancelled when every job has ended
            let monitor = s.spawn(self.monitor(quiet.clone()));

            let pool = s.spawn(self.pool(stop.clone()));
            let clients: Vec<_> = (0..self.cfg.clients)
                .map(|c| s.spawn(self.client(c, stop.clone())))
                .collect();
            for client in clients {
                client.await;
            }
            queue.close(); // no more jobs: workers drain the queue, then stop
            pool.await;
            // Only after a deadline can jobs be left in the queue.
            while let Ok(job) = jobs.try_recv() {
                self.finish(job.id, Outcome::Cancelled, Some(job.accepted))
                    .await;
            }
            quiet.cancel();
            let mean_jobs_in_system = monitor.await;
            (mean_jobs_in_system, stop.is_cancelled(), s.live())
        })
        .await
    }

    /// The worker pool: a nested scope that runs at most `workers` children
    /// at once (more would wait, unpolled, for a slot); its token is a child
    /// of `stop`, so the deadline reaches it.
    async fn pool(&self, stop: CancelToken) {
        let _alive = self.tasks.enter();
        Builder::new()
            .limit(self.cfg.workers)
            .child_of(&stop)
            .scope(async |pool| {
                for w in 0..self.cfg.workers {
                    pool.spawn(self.worker(w, pool.token().clone()));
                }
            })
            .await;
    }

    /// A client: submits its jobs one after another, with pauses between.
    async fn client(&self, c: usize, stop: CancelToken) {
        let _alive = self.tasks.enter();
        let mut rng = Rng::new(self.cfg.seed, c as u64);
        let per_client = self.cfg.jobs_per_client as u64;
        for id in c as u64 * per_client..(c as u64 + 1) * per_client {
            if stop.is_cancelled() {
                self.finish(id, Outcome::Cancelled, None).await;
                continue;
            }
            self.submit(id, &mut rng, &stop).await;
            let pause = rng.up_to(self.cfg.think);
            stop.run_until_cancelled((self.sleep)(pause)).await;
        }
    }

    /// Offers job `id` to the queue until it is taken, the client gives up,
    /// or the deadline comes.
    async fn submit(&self, id: u64, rng: &mut Rng, stop: &CancelToken) {
        let (queue, _) = &self.queue;
        let mut backoff = self.cfg.backoff_start;
        let mut job = Job {
            id,
            accepted: Instant::now(),
        };
        for attempt in 1..=self.cfg.submit_attempts {
            job.accepted = Instant::now();
            // Counted in before it is offered, so a worker never sees it first.
            self.counters.write().await.in_system += 1;
            let busy = match queue.try_send(job) {
                Ok(()) => {
                    self.counters.write().await.accepted += 1;
                    return;
                }
                Err(TrySendError::Full(back)) => back,
                Err(TrySendError::Closed(back)) => {
                    self.counters.write().await.in_system -= 1;
                    return self.finish(back.id, Outcome::Cancelled, None).await;
                }
            };
            // "Server busy, retry later": back off exponentially, with jitter.
            job = busy;
            {
                let mut counters = self.counters.write().await;
                counters.in_system -= 1;
                counters.busy += 1;
            }
            if attempt == self.cfg.submit_attempts {
                break;
            }
            let wait = backoff / 2 + rng.up_to(backoff / 2);
            if stop.run_until_cancelled((self.sleep)(wait)).await.is_none() {
                return self.finish(id, Outcome::Cancelled, None).await;
            }
            backoff = (backoff * 2).min(self.cfg.backoff_cap);
        }
        self.finish(id, Outcome::Rejected, None).await;
    }

    /// A worker: takes jobs until the queue is closed and drained, or the
    /// deadline comes.
    async fn worker(&self, w: usize, stop: CancelToken) {
        let _alive = self.tasks.enter();
        let (_, jobs) = &self.queue;
        let mut rng = Rng::new(self.cfg.seed, 1 << 32 | w as u64);
        // `recv` is cancel-safe: if the deadline wins, no job is lost.
        while let Some(Ok(job)) = stop.run_until_cancelled(jobs.recv()).await {
            let outcome = self.process(&job, &mut rng, &stop).await;
            self.finish(job.id, outcome, Some(job.accepted)).await;
        }
    }

    /// Runs a job, retrying failed attempts.
    async fn process(&self, job: &Job, rng: &mut Rng, stop: &CancelToken) -> Outcome {
        for attempt in 1..=self.cfg.max_attempts {
            if attempt > 1 {
                self.counters.write().await.retries += 1;
            }
            match stop
                .run_until_cancelled(self.attempt(job, attempt, rng))
                .await
            {
                None => return Outcome::Cancelled,
                Some(true) => return Outcome::Completed,
                Some(false) => {} // failed: try again
            }
        }
        Outcome::Failed
    }

    /// One attempt: some preparation, then a query holding a connection.
    async fn attempt(&self, job: &Job, attempt: u32, rng: &mut Rng) -> bool {
        let work = self.cfg.work;
        (self.sleep)(rng.up_to(work)).await;
        let _connection = self.database.acquire().await.expect("never closed");
        (self.sleep)(work / 2 + rng.up_to(work)).await;
        // Which attempts fail depends only on the seed, not on timing.
        let roll = Rng::new(self.cfg.seed ^ (job.id << 8), u64::from(attempt)).next_u64() % 100;
        roll >= self.cfg.fail_percent
    }

    /// The one place a job ends.
    async fn finish(&self, id: u64, outcome: Outcome, accepted: Option<Instant>) {
        let mut ledger = self.ledger.lock().await;
        ledger.ids[outcome as usize].push(id);
        if let Some(accepted) = accepted {
            let time = accepted.elapsed();
            ledger.time_in_system.push(time);
            if outcome == Outcome::Completed {
                ledger.latencies.push(time);
            }
        }
        drop(ledger);
        let mut counters = self.counters.write().await;
        counters.finished[outcome as usize] += 1;
        if accepted.is_some() {
            counters.in_system -= 1;
        }
    }

    /// Samples the number of jobs in the system every millisecond (for
    /// Little's law) and prints a progress line every 100 ms, until `quiet`
    /// is cancelled. Returns the time-average of jobs in system.
    async fn monitor(&self, quiet: CancelToken) -> f64 {
        let _alive = self.tasks.enter();
        let (queue, _) = &self.queue;
        let (mut area, mut last, mut printed) = (0.0, self.start, self.start);
        loop {
            let done = quiet.run_until_cancelled((self.sleep)(Duration::from_millis(1)));
            let stopping = done.await.is_none();
            let c = self.counters.read().await;
            let now = Instant::now();
            area += c.in_system as f64 * (now - last).as_secs_f64();
            last = now;
            if self.cfg.progress && (stopping || now - printed >= Duration::from_millis(100)) {
                printed = now;
                let total = self.cfg.clients * self.cfg.jobs_per_client;
                let [_, failed, rejected, _] = c.finished;
                eprint!(
                    "\r  [{:>5.2} s] finished {:>5}/{total}  queue {:>3}/{}  busy answers {:>6}  rejected {:>4}  retries {:>4}  failed {:>3}",
                    (now - self.start).as_secs_f64(),
                    c.finished.iter().sum::<usize>(),
                    queue.len(),
                    queue.capacity(),
                    c.busy,
                    rejected,
                    c.retries,
                    failed,
                );
            }
            if stopping {
                if self.cfg.progress {
                    eprintln!();
                }
                return area / (now - self.start).as_secs_f64().max(1e-9);
            }
        }
    }

    fn report(self, mean_jobs_in_system: f64, deadline_hit: bool, scope_live: usize) -> Report {
        let elapsed = self.start.elapsed();
        let counters = self.counters.into_inner();
        let mut ledger = self.ledger.into_inner();
        ledger.latencies.sort();
        let times = &ledger.time_in_system;
        Report {
            ids: ledger.ids,
            accepted: counters.accepted,
            busy: counters.busy,
            retries: counters.retries,
            latencies: ledger.latencies,
            mean_time_in_system: times.iter().sum::<Duration>() / times.len().max(1) as u32,
            mean_jobs_in_system,
            elapsed,
            deadline_hit,
            tasks_spawned: self.tasks.spawned.load(Ordering::SeqCst),
            tasks_live: self.tasks.live.load(Ordering::SeqCst),
            scope_live,
            config: self.cfg,
        }
    }
}

impl Report {
    /// Job ids that ended with `outcome`.
    pub fn ids(&self, outcome: Outcome) -> &[u64] {
        &self.ids[outcome as usize]
    }

    /// Jobs the clients had to submit.
    pub fn total(&self) -> usize {
        self.config.clients * self.config.jobs_per_client
    }

    /// The `p`-th percentile (0.0..=1.0) of completed jobs' latency.
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        self.latencies[((n - 1) as f64 * p).round() as usize]
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let [completed, failed, rejected, cancelled] = OUTCOMES.map(|o| self.ids(o).len());
        let total = self.total();
        writeln!(
            f,
            "outcomes:     {total} jobs = {completed} completed + {failed} failed after {} attempts \
             + {rejected} rejected after {} busy answers + {cancelled} cancelled",
            self.config.max_attempts, self.config.submit_attempts,
        )?;
        writeln!(
            f,
            "throughput:   {:.0} jobs/s completed over {secs:.2} s",
            completed as f64 / secs
        )?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        writeln!(
            f,
            "latency:      p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  (accepted → completed)",
            ms(self.percentile(0.50)),
            ms(self.percentile(0.90)),
            ms(self.percentile(0.99)),
        )?;
        writeln!(
            f,
            "back-pressure: {} busy answers ({:.1} per accepted job), {} retried attempts; \
             rejection rate {:.1} %",
            self.busy,
            self.busy as f64 / self.accepted.max(1) as f64,
            self.retries,
            100.0 * rejected as f64 / total.max(1) as f64,
        )?;
        let lambda = self.accepted as f64 / secs;
        let w = self.mean_time_in_system.as_secs_f64();
        writeln!(
            f,
            "Little's law: L = {:.2} jobs in system (sampled)  ≈  λ·W = {lambda:.0}/s × {:.2} ms = {:.2}",
            self.mean_jobs_in_system,
            w * 1e3,
            lambda * w,
        )?;
        if self.deadline_hit {
            writeln!(
                f,
                "deadline:     hit at {} ms; {cancelled} unfinished jobs cancelled",
                self.config.deadline.as_millis()
            )?;
        } else {
            writeln!(
                f,
                "deadline:     not reached ({} ms)",
                self.config.deadline.as_millis()
            )?;
        }
        write!(
            f,
            "live tasks at the end: {} (of {} spawned; the scope's own count: {})",
            self.tasks_live, self.tasks_spawned, self.scope_live
        )
    }
}

/// Counts tasks: `enter` at the start of each, the guard's drop at its end
/// (also when a task is dropped unfinished).
#[derive(Debug, Default)]
struct TaskCount {
    spawned: AtomicUsize,
    live: AtomicUsize,
}

impl TaskCount {
    fn enter(&self) -> Alive<'_> {
        self.spawned.fetch_add(1, Ordering::SeqCst);
        self.live.fetch_add(1, Ordering::SeqCst);
        Alive(&self.live)
    }
}

struct Alive<'a>(&'a AtomicUsize);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A tiny xorshift generator (no dependency): deterministic per seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator for one `stream` (a client, a worker…) of `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        // splitmix64's finaliser spreads nearby seeds apart.
        let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A duration in `0..=max`.
    pub fn up_to(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros() as u64;
        Duration::from_micros(self.next_u64() % (micros + 1))
    }
}
