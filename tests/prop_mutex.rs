//! Property test: `Mutex` against a sequential model (a `locked` flag and a
//! FIFO queue of waiting `lock()` futures), single-threaded and
//! deterministic.
//!
//! The model and driver live in `fuzz/harness/mutex.rs`, shared with the
//! `mutex` fuzz target.

#[path = "../fuzz/harness/mutex.rs"]
mod harness;

use harness::Op;
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<bool>().prop_map(|arc| Op::TryLock { arc }),
        5 => any::<bool>().prop_map(|arc| Op::Start { arc }),
        4 => any::<usize>().prop_map(Op::Poll),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(idx, noop)| Op::PollFresh { idx, noop }),
        2 => any::<usize>().prop_map(Op::DropFuture),
        3 => Just(Op::DropGuard),
        2 => Just(Op::Write),
        1 => Just(Op::Map),
    ]
}

/// Ops per case: fewer under Miri, which is ~1000× slower.
const MAX_OPS: usize = if cfg!(miri) { 24 } else { 64 };

proptest! {
    #![proptest_config(harness::common::proptest_config())]

    #[test]
    fn mutex_matches_model(ops in prop::collection::vec(op(), 0..MAX_OPS)) {
        harness::run(&ops);
    }
}

/// A waiter that was handed the lock and then dropped passes it on to the
/// next waiter, in FIFO order.
#[test]
fn woken_then_dropped_passes_the_lock_on() {
    harness::run(&[
        Op::TryLock { arc: false },
        Op::Start { arc: false },
        Op::Start { arc: true },
        Op::Start { arc: false },
        Op::DropGuard,
        Op::DropFuture(0),
        Op::Poll(1),
        Op::Write,
        Op::Map,
        Op::Write,
        Op::DropGuard,
        Op::Poll(0),
    ]);
}

/// Barging is bounded: after `MAX_BYPASS` unlocks that left the lock free
/// for anyone (here taken by `try_lock` each time), the next unlock hands it
/// to the waiting head, and `try_lock` fails.
#[test]
fn head_waiter_is_overtaken_at_most_max_bypass_times() {
    let mut ops = vec![Op::TryLock { arc: false }, Op::Start { arc: true }];
    for _ in 0..=weftwork::Mutex::<()>::MAX_BYPASS + 1 {
        ops.extend([Op::Write, Op::DropGuard, Op::TryLock { arc: false }]);
    }
    ops.extend([Op::Poll(0), Op::Write, Op::DropGuard]);
    harness::run(&ops);
}

/// A head that inherits a lock left free for a woken head that was then
/// dropped counts that as one bypass, so the bound stays `MAX_BYPASS`.
#[test]
fn inherited_free_lock_counts_as_a_bypass() {
    let mut ops = vec![
        Op::TryLock { arc: false },
        Op::Start { arc: false },
        Op::Start { arc: true },
        Op::DropGuard,
        Op::DropFuture(0),
    ];
    for _ in 0..=weftwork::Mutex::<()>::MAX_BYPASS + 1 {
        ops.extend([Op::TryLock { arc: false }, Op::Write, Op::DropGuard]);
    }
    ops.extend([Op::Poll(0), Op::Write, Op::DropGuard]);
    harness::run(&ops);
}

/// Once the head has `MAX_BYPASS` bypasses counted, a freed lock is kept
/// for it: neither `try_lock` nor a new `lock()` takes it (the new one
/// queues behind the head).
#[test]
fn lock_kept_for_the_head_refuses_newcomers() {
    let mut ops = vec![Op::TryLock { arc: false }, Op::Start { arc: true }];
    for _ in 0..weftwork::Mutex::<()>::MAX_BYPASS {
        ops.extend([
            Op::Write,
            Op::DropGuard,
            Op::Start { arc: false },
            Op::TryLock { arc: false },
        ]);
    }
    ops.extend([Op::Poll(0), Op::Write, Op::DropGuard]);
    harness::run(&ops);
}
