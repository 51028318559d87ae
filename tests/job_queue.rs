//! The demo's accounting (`examples/job_queue`), on tokio and smol: every
//! job ends exactly once — completed, failed after retries, rejected after
//! busy answers, or cancelled by the deadline — and no task outlives the run.

#[allow(dead_code)] // the example's `main.rs` uses parts the test does not
#[path = "../examples/job_queue/demo.rs"]
mod demo;

use std::collections::BTreeSet;
use std::time::Duration;

use demo::{Config, Outcome, Report};

const OUTCOMES: [Outcome; 4] = [
    Outcome::Completed,
    Outcome::Failed,
    Outcome::Rejected,
    Outcome::Cancelled,
];

/// Small and quick; the deadline is far away unless a test shortens it.
fn tiny() -> Config {
    Config {
        clients: 4,
        jobs_per_client: 10,
        workers: 2,
        capacity: 2,
        deadline: Duration::from_secs(60),
        seed: 7,
        connections: 1,
        fail_percent: 40,
        max_attempts: 2,
        submit_attempts: 3,
        backoff_start: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(4),
        think: Duration::from_millis(1),
        work: Duration::from_millis(1),
        progress: false,
    }
}

fn on_tokio(cfg: Config) -> Report {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(demo::run(cfg, tokio::time::sleep))
}

async fn smol_sleep(d: Duration) {
    smol::Timer::after(d).await;
}

fn on_smol(cfg: Config) -> Report {
    smol::block_on(demo::run(cfg, smol_sleep))
}

/// The ids of one outcome, checked for duplicates.
fn ids(report: &Report, outcome: Outcome) -> BTreeSet<u64> {
    let ids = report.ids(outcome);
    let set: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "{outcome:?} has a job twice: {ids:?}");
    set
}

/// None lost, none counted twice, nobody left running.
fn check_accounting(report: &Report) {
    let total = report.total() as u64;
    let mut seen = BTreeSet::new();
    for outcome in OUTCOMES {
        for id in ids(report, outcome) {
            assert!(
                seen.insert(id),
                "job {id} has two outcomes (one is {outcome:?})"
            );
        }
    }
    assert_eq!(seen, (0..total).collect(), "some job has no outcome");
    // Every accepted job ended in a worker's hands (or was drained when cut).
    let not_accepted = ids(report, Outcome::Rejected).len();
    assert!(report.accepted + not_accepted <= report.total());
    assert_eq!(report.tasks_live, 0, "a task outlived the scope");
    assert_eq!(report.scope_live, 0, "the scope counts a live child");
    // clients + workers + the pool scope + the progress monitor
    assert_eq!(
        report.tasks_spawned,
        report.config.clients + report.config.workers + 2
    );
    assert_eq!(
        report.latencies.len(),
        ids(report, Outcome::Completed).len()
    );
}

fn full_run(report: &Report) {
    check_accounting(report);
    assert!(!report.deadline_hit, "{report}");
    assert!(ids(report, Outcome::Cancelled).is_empty(), "{report}");
    assert!(!ids(report, Outcome::Completed).is_empty(), "{report}");
    // No deadline: every accepted job was completed or failed.
    let worked = ids(report, Outcome::Completed).len() + ids(report, Outcome::Failed).len();
    assert_eq!(report.accepted, worked, "{report}");
}

/// Which attempts fail depends only on the seed, not on timing or on
/// which worker ran them: with patient clients (no rejections) and no
/// deadline, the failed set is the same on both runtimes.
#[test]
#[cfg_attr(miri, ignore)] // real runtimes and timers
fn every_job_is_accounted_for_on_tokio_and_smol() {
    let cfg = Config {
        submit_attempts: 1_000,
        ..tiny()
    };
    let tokio = on_tokio(cfg.clone());
    let smol = on_smol(cfg);
    for report in [&tokio, &smol] {
        full_run(report);
        assert!(ids(report, Outcome::Rejected).is_empty(), "{report}");
    }
    let failed = ids(&tokio, Outcome::Failed);
    assert!(!failed.is_empty(), "with 40 % failing attempts: {tokio}");
    assert_eq!(failed, ids(&smol, Outcome::Failed));
    // 2 attempts per job: a failed job was retried once, and so was every
    // completed job whose first attempt failed.
    assert!(tokio.retries >= failed.len(), "{tokio}");
}

/// Overload: one slot, one slow worker, clients that take no for an answer.
#[test]
#[cfg_attr(miri, ignore)] // real runtimes and timers
fn rejected_jobs_are_reported() {
    let cfg = Config {
        clients: 6,
        capacity: 1,
        workers: 1,
        submit_attempts: 1,
        think: Duration::ZERO,
        fail_percent: 0,
        ..tiny()
    };
    for report in [on_tokio(cfg.clone()), on_smol(cfg)] {
        full_run(&report);
        assert!(!ids(&report, Outcome::Rejected).is_empty(), "{report}");
        assert_eq!(report.busy, ids(&report, Outcome::Rejected).len());
        assert!(ids(&report, Outcome::Failed).is_empty());
    }
}

/// A short deadline cuts the run: jobs not done are cancelled, the sum
/// still matches, and nothing is left running.
#[test]
#[cfg_attr(miri, ignore)] // real runtimes and timers
fn a_deadline_cancels_the_rest() {
    let cfg = Config {
        jobs_per_client: 50,
        deadline: Duration::from_millis(30),
        // At least 200 × 0.5 ms on the one connection: far beyond 30 ms.
        ..tiny()
    };
    for report in [on_tokio(cfg.clone()), on_smol(cfg)] {
        check_accounting(&report);
        assert!(report.deadline_hit, "{report}");
        assert!(!ids(&report, Outcome::Cancelled).is_empty(), "{report}");
        assert!(report.elapsed < Duration::from_secs(5), "{report}");
    }
}

/// A zero-capacity queue is a rendezvous: `try_send` succeeds only when a
/// worker is already waiting. The accounting still holds.
#[test]
#[cfg_attr(miri, ignore)] // real runtimes and timers
fn rendezvous_queue() {
    let cfg = Config {
        capacity: 0,
        ..tiny()
    };
    for report in [on_tokio(cfg.clone()), on_smol(cfg)] {
        full_run(&report);
    }
}
