//! Property test: `RwLock` against a sequential model (a slot and a reader
//! count, each with a FIFO queue), single-threaded and deterministic; checks
//! exclusion, write preference, upgrades and downgrades, and cancellation of
//! futures at every stage.
//!
//! The model and driver live in `fuzz/harness/rwlock.rs`, shared with the
//! `rwlock` fuzz target.

#[path = "../fuzz/harness/rwlock.rs"]
mod harness;

use harness::Op;
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::TryRead),
        1 => Just(Op::TryWrite),
        1 => Just(Op::TryUpgradable),
        3 => Just(Op::StartRead),
        3 => Just(Op::StartWrite),
        2 => Just(Op::StartUpgradable),
        1 => Just(Op::StartUpgrade),
        4 => any::<usize>().prop_map(Op::Poll),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(idx, noop)| Op::PollFresh { idx, noop }),
        2 => any::<usize>().prop_map(Op::DropFuture),
        4 => any::<usize>().prop_map(Op::DropGuard),
        1 => Just(Op::TryUpgrade),
        1 => Just(Op::DowngradeWrite),
        1 => Just(Op::DowngradeWriteToUpgradable),
        1 => Just(Op::DowngradeUpgradable),
        1 => Just(Op::Write),
    ]
}

/// Ops per case: fewer under Miri, which is ~1000× slower.
const MAX_OPS: usize = if cfg!(miri) { 24 } else { 40 };

proptest! {
    #![proptest_config(harness::common::proptest_config())]

    #[test]
    fn rwlock_matches_model(arc in any::<bool>(), ops in prop::collection::vec(op(), 0..MAX_OPS)) {
        harness::run(arc, &ops);
    }
}

/// Write preference: a read started after a writer began waiting for the
/// readers to leave queues behind it; the writer is then served first.
#[test]
fn reader_after_waiting_writer_queues_behind_it() {
    for arc in [false, true] {
        harness::run(
            arc,
            &[
                Op::TryRead,
                Op::StartWrite,
                Op::StartRead,
                Op::TryRead,
                Op::DropGuard(0),
                Op::Poll(1),
                Op::Poll(0),
                Op::Write,
                Op::DowngradeWrite,
                Op::Poll(0),
            ],
        );
    }
}

/// An upgrade waits for the readers to leave, blocks new readers meanwhile,
/// and a dropped upgrade future releases the upgradable lock.
#[test]
fn upgrade_waits_for_readers_and_cancels_cleanly() {
    harness::run(
        false,
        &[
            Op::TryUpgradable,
            Op::TryRead,
            Op::StartUpgrade,
            Op::StartRead,
            Op::StartWrite,
            Op::DropFuture(0),
            Op::Poll(0),
            Op::Poll(1),
            Op::DropGuard(0),
            Op::Poll(0),
            Op::Write,
            Op::DowngradeWriteToUpgradable,
            Op::TryUpgrade,
            Op::Write,
        ],
    );
}

/// DESIGN.md §2: "once a writer waits, new readers queue behind it" — also
/// a writer that waits behind the upgradable reader.
#[test]
fn writer_queued_behind_upgradable_blocks_new_readers() {
    use std::future::Future;
    use std::task::{Context, Waker};

    let lock = weftwork::RwLock::new(0);
    let mut cx = Context::from_waker(Waker::noop());
    let upgradable = lock.try_upgradable_read().unwrap();
    let mut write = Box::pin(lock.write());
    assert!(write.as_mut().poll(&mut cx).is_pending());
    assert!(
        lock.try_read().is_none(),
        "a new reader got in while a writer waits"
    );
    drop(upgradable);
}
