//! Property test: `weftwork::scope` against a sequential model (children in
//! spawn order, the first `limit` live ones admitted), single-threaded and
//! deterministic: children spawned, opened, aborted, detached, joined and
//! cancelled in random orders between polls of the scope future.
//!
//! The model and driver live in `fuzz/harness/scope.rs`, shared with the
//! `scope` fuzz target.

#[path = "../fuzz/harness/scope.rs"]
mod harness;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

use harness::common::CountWaker;
use harness::{Config, Op};
use proptest::prelude::*;
use weftwork::Scope;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<bool>().prop_map(|coop| Op::Spawn { coop }),
        4 => any::<usize>().prop_map(Op::Open),
        2 => any::<usize>().prop_map(Op::Abort),
        1 => any::<usize>().prop_map(Op::Detach),
        2 => any::<usize>().prop_map(Op::Join),
        1 => any::<bool>().prop_map(|parent| Op::Cancel { parent }),
        6 => Just(Op::Poll),
        1 => Just(Op::FinishBody),
        1 => Just(Op::DropScope),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (prop::option::of(1..=3usize), any::<bool>()).prop_map(|(limit, early)| Config { limit, early })
}

/// Ops per case: fewer under Miri, which is ~1000× slower.
const MAX_OPS: usize = if cfg!(miri) { 24 } else { 40 };

proptest! {
    #![proptest_config(harness::common::proptest_config())]

    #[test]
    fn scope_matches_model(config in config(), ops in prop::collection::vec(op(), 0..MAX_OPS)) {
        harness::run(config, &ops);
    }
}

/// A limit of one: children run strictly one after the other, in spawn
/// order, whatever order their gates open in; aborting the running child or
/// a waiting one lets the next in.
#[test]
fn limit_one_admits_in_spawn_order() {
    let mut ops = vec![Op::Poll];
    ops.extend((0..6).map(|i| Op::Spawn { coop: i % 2 == 1 }));
    ops.extend([
        Op::Open(3),
        Op::Open(5),
        Op::Poll,
        Op::Abort(0), // child 0 (running): child 1 is admitted
        Op::Poll,
        Op::Abort(1), // child 2 (waiting): leaves the queue
        Op::Open(1),
        Op::Poll, // child 1 finishes, child 3 runs and finishes, child 4 runs
        Op::Cancel { parent: true },
        Op::Poll, // child 4 is not cooperative; it keeps its slot
        Op::Join(0),
        Op::FinishBody,
        Op::Open(4),
        Op::Poll,
    ]);
    harness::run(
        Config {
            limit: Some(1),
            early: false,
        },
        &ops,
    );
}

/// Dropping the scope future drops every child (running or waiting) and
/// the body, and cancels the scope's token; handles of children that
/// finished still give their output, the others panic.
#[test]
fn drop_scope_drops_every_child() {
    let mut ops = vec![Op::Poll];
    ops.extend((0..5).map(|_| Op::Spawn { coop: false }));
    ops.extend([
        Op::Open(0),
        Op::Poll,
        Op::DropScope,
        Op::Spawn { coop: true },
    ]);
    ops.extend((0..6).map(|_| Op::Join(0)));
    harness::run(
        Config {
            limit: Some(2),
            early: false,
        },
        &ops,
    );
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// Regression (found by this harness): a scope future dropped
/// before its first poll must still drop the children spawned through an
/// escaped `Scope` and cancel the scope's token.
#[test]
fn dropping_an_unpolled_scope_tears_it_down() {
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    let fut = weftwork::scope(move |s: Scope<'static>| {
        *k.lock().unwrap() = Some(s.clone());
        async {}
    });
    let s = kept.lock().unwrap().take().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let h = s.spawn(async move {
        let _flag = flag;
        std::future::pending::<()>().await
    });
    drop(fut);
    assert!(dropped.load(SeqCst), "the child outlived its scope future");
    assert!(
        s.token().is_cancelled(),
        "the scope's token was not cancelled"
    );
    drop(h);
}

/// Regression (found by this harness): aborting the last live
/// child from outside the scope's task, after the body finished, must wake
/// the scope (which can now finish); otherwise it hangs.
#[test]
fn abort_of_the_last_child_wakes_the_scope() {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut fut = Box::pin(weftwork::scope(async move |s: Scope<'static>| {
        tx.send(s.spawn(std::future::pending::<()>())).unwrap();
    }));
    let count = Arc::new(CountWaker::default());
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let seen = count.count();
    rx.recv().unwrap().abort();
    assert!(count.count() > seen, "the scope was not woken");
    assert!(fut.as_mut().poll(&mut cx).is_ready());
}

/// Counts drops of the outputs of one completion-set case.
struct Counted(usize, Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, SeqCst);
    }
}

proptest! {
    #![proptest_config(harness::common::proptest_config())]

    /// Completion sets: children with random delays (some spawned by other
    /// children), a random limit, two sets sharing the scope, and the first
    /// set dropped after `take` outputs. Each output is delivered at most
    /// once, to its own set, in completion order (no child finishes before
    /// one delivered earlier: delays are yields counted from the spawn), and
    /// every output is dropped exactly once, delivered or not.
    #[test]
    fn completion_sets_deliver_each_output_once(
        delays in prop::collection::vec(0..4usize, 0..12),
        limit in prop::option::of(1..=3usize),
        take in 0..14usize,
    ) {
        let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut b = weftwork::scope::Builder::new();
        if let Some(l) = limit {
            b = b.limit(l);
        }
        let (got, other) = futures::executor::block_on(b.scope(async |s| {
            let mut set = s.completions();
            let mut evens = s.completions::<usize>();
            for (i, &d) in delays.iter().enumerate() {
                let dropped = dropped.clone();
                set.spawn(async move {
                    for _ in 0..d {
                        weftwork::scope::yield_now().await;
                    }
                    Counted(i, dropped)
                });
                if i % 2 == 0 {
                    evens.spawn(async move { i });
                }
            }
            prop_assert_eq!(set.len(), delays.len());
            let mut got = Vec::new();
            while got.len() < take {
                match set.next().await {
                    Some(c) => got.push(c.0),
                    None => break,
                }
            }
            prop_assert_eq!(set.len(), delays.len() - got.len());
            // Let more finish into the set's list before it is dropped.
            for _ in 0..take % 3 {
                weftwork::scope::yield_now().await;
            }
            drop(set);
            let mut other = Vec::new();
            while let Some(i) = evens.next().await {
                other.push(i);
            }
            prop_assert!(evens.is_empty());
            Ok((got, other))
        }))?;
        prop_assert_eq!(got.len(), take.min(delays.len()));
        let mut seen = got.clone();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), got.len(), "an output delivered twice");
        if limit.is_none() {
            // Unlimited: finishing order is by delay, then spawn order.
            let mut model: Vec<usize> = (0..delays.len()).collect();
            model.sort_by_key(|&i| delays[i]);
            prop_assert_eq!(&got[..], &model[..got.len()]);
        }
        let mut other_sorted = other.clone();
        other_sorted.sort_unstable();
        prop_assert_eq!(other_sorted, (0..delays.len()).step_by(2).collect::<Vec<_>>());
        prop_assert_eq!(dropped.load(SeqCst), delays.len(), "every output dropped once");
    }
}
