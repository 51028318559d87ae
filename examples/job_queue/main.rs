//! The weftwork demo: a job queue with back-pressure, on tokio or smol.
//!
//! Clients submit jobs to a bounded channel; when it is full they are told
//! "server busy" and retry with exponential backoff and jitter. A pool of
//! workers — a scope with a concurrency limit — runs the jobs, sharing two
//! database connections (a `Semaphore`) and keeping statistics under a
//! `Mutex` and an `RwLock`. Failed jobs are retried a few times. A deadline
//! cancels the whole run cleanly. The system itself is in `demo.rs`; this
//! file only reads the flags and picks the runtime.
//!
//! ```text
//! cargo run --example job_queue -- [--runtime tokio|smol] [--clients 16] [--workers 4]
//!     [--jobs 150] [--capacity 8] [--deadline-ms 15000] [--seed 42]
//! ```
//!
//! `--jobs` is per client. Try `--deadline-ms 500` to watch the deadline
//! cut the run, or `--capacity 64` to see back-pressure disappear.

mod demo;

use std::time::Duration;

fn main() {
    let (runtime, cfg) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    println!(
        "weftwork job queue on {runtime}: {} clients × {} jobs, {} workers, queue capacity {}, \
         {} database connections, seed {}",
        cfg.clients, cfg.jobs_per_client, cfg.workers, cfg.capacity, cfg.connections, cfg.seed
    );

    // The same `demo::run` on either runtime: only the timer differs.
    let report = match runtime {
        "tokio" => tokio::runtime::Runtime::new()
            .expect("a tokio runtime")
            .block_on(demo::run(cfg, tokio::time::sleep)),
        _ => smol::block_on(demo::run(cfg, smol_sleep)),
    };
    println!("{report}");
}

async fn smol_sleep(d: Duration) {
    smol::Timer::after(d).await;
}

const USAGE: &str = "usage: cargo run --example job_queue -- [--runtime tokio|smol] \
[--clients N] [--workers N] [--jobs N-per-client] [--capacity N] [--deadline-ms MS] [--seed N]";

fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> Result<(&'static str, demo::Config), String> {
    let mut runtime = "tokio";
    let mut cfg = demo::Config::default();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err("weftwork's demo: a job queue with back-pressure".into());
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        if flag == "--runtime" {
            runtime = match value.as_str() {
                "tokio" => "tokio",
                "smol" => "smol",
                other => return Err(format!("unknown runtime {other:?} (tokio or smol)")),
            };
            continue;
        }
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{flag} needs a number, not {value:?}"))?;
        let at_least_1 = |n: u64| {
            usize::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{flag} must be at least 1"))
        };
        match flag.as_str() {
            "--clients" => cfg.clients = at_least_1(n)?,
            "--workers" => cfg.workers = at_least_1(n)?,
            "--jobs" => cfg.jobs_per_client = n as usize,
            "--capacity" => cfg.capacity = n as usize,
            "--deadline-ms" => cfg.deadline = Duration::from_millis(n),
            "--seed" => cfg.seed = n,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok((runtime, cfg))
}
