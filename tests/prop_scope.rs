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
