//! Property test: `Semaphore` against a sequential model (a free counter and
//! a FIFO queue of pending requests), single-threaded and deterministic.
//!
//! The model and driver live in `fuzz/harness/semaphore.rs`, shared with the
//! `semaphore` fuzz target.

#[path = "../fuzz/harness/semaphore.rs"]
mod harness;

use harness::Op;
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let n = prop_oneof![4 => 0..=3usize, 1 => 4..=8usize];
    prop_oneof![
        3 => (n.clone(), any::<bool>()).prop_map(|(n, arc)| Op::TryAcquire { n, arc }),
        5 => (n.clone(), any::<bool>()).prop_map(|(n, arc)| Op::Start { n, arc }),
        3 => any::<usize>().prop_map(Op::Poll),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(idx, noop)| Op::PollFresh { idx, noop }),
        2 => any::<usize>().prop_map(Op::DropFuture),
        4 => any::<usize>().prop_map(Op::DropPermit),
        1 => any::<usize>().prop_map(Op::Forget),
        1 => (any::<usize>(), n.clone()).prop_map(|(idx, n)| Op::Split { idx, n }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(into, from)| Op::Merge { into, from }),
        2 => n.clone().prop_map(Op::Add),
        1 => n.prop_map(Op::ForgetPermits),
        1 => Just(Op::Close),
    ]
}

/// Ops per case: fewer under Miri, which is ~1000× slower.
const MAX_OPS: usize = if cfg!(miri) { 24 } else { 40 };

proptest! {
    #![proptest_config(harness::common::proptest_config())]

    #[test]
    fn semaphore_matches_model(initial in 0..=4usize, ops in prop::collection::vec(op(), 0..MAX_OPS)) {
        harness::run(initial, &ops);
    }
}

/// A hand-written sequence for the FIFO promise: a large request at the head
/// is not starved by small ones that arrive later.
#[test]
fn large_head_request_is_not_starved() {
    harness::run(
        1,
        &[
            Op::Start { n: 3, arc: false },
            Op::Start { n: 1, arc: true },
            Op::TryAcquire { n: 1, arc: false },
            Op::Add(1),
            Op::Poll(1),
            Op::Add(1),
            Op::Poll(0),
            Op::Poll(0),
            Op::DropPermit(0),
            Op::Close,
        ],
    );
}

/// More waiters than one internal batch of wakers (16): `add_permits` and
/// `close` must still serve and wake every one of them, in order.
#[test]
fn more_waiters_than_one_wake_batch() {
    let mut ops: Vec<Op> = (0..40)
        .map(|i| Op::Start {
            n: 1 + i % 2,
            arc: i % 3 == 0,
        })
        .collect();
    ops.extend([Op::Add(30), Op::DropFuture(5), Op::Add(1), Op::Close]);
    ops.extend((0..40).map(Op::Poll));
    harness::run(0, &ops);
}
