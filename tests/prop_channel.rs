//! Property test: `weftwork::channel` against a sequential model (a
//! `VecDeque` of values plus FIFO queues of waiting senders and
//! receivers), single-threaded and deterministic.
//!
//! The model and driver live in `fuzz/harness/channel.rs`, shared with the
//! `channel` fuzz target.

#[path = "../fuzz/harness/channel.rs"]
mod harness;

use harness::Op;
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let i = any::<usize>();
    prop_oneof![
        4 => Just(Op::TrySend),
        4 => Just(Op::StartSend),
        2 => Just(Op::StartReserve),
        1 => Just(Op::TryReserve),
        2 => i.prop_map(Op::StartReserveMany),
        1 => i.prop_map(Op::TryReserveMany),
        3 => i.prop_map(Op::PollSend),
        2 => i.prop_map(Op::DropSend),
        2 => i.prop_map(Op::PermitSend),
        1 => i.prop_map(Op::DropPermit),
        4 => Just(Op::TryRecv),
        3 => Just(Op::StartRecv),
        3 => i.prop_map(Op::PollRecv),
        2 => i.prop_map(Op::DropRecv),
        1 => Just(Op::Close),
    ]
}

/// Ops per case: fewer under Miri, which is ~1000× slower.
const MAX_OPS: usize = if cfg!(miri) { 24 } else { 60 };

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 512 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn channel_matches_model(cap in 0..=3usize, ops in prop::collection::vec(op(), 0..MAX_OPS)) {
        harness::run(cap, &ops);
    }
}

/// Ops that push the eldest waiting sender towards its pass bound: mostly
/// newcomers taking slots (one or many at once) and receives freeing them,
/// with waiting senders and reservations rarely polled (a woken one that
/// does not run keeps being passed).
fn near_the_bound() -> impl Strategy<Value = Op> {
    let i = any::<usize>();
    prop_oneof![
        4 => Just(Op::TrySend),
        5 => Just(Op::TryRecv),
        2 => i.prop_map(Op::TryReserveMany),
        2 => i.prop_map(Op::StartReserveMany),
        1 => Just(Op::StartSend),
        3 => i.prop_map(Op::PermitSend),
        1 => i.prop_map(Op::PollSend),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 1024 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Long runs on 2 or 3 slots, so that the eldest sender is passed up to
    /// its bound (15 or 23 passes), with `reserve_many` taking several.
    #[test]
    fn pass_bounds_hold_with_reserve_many(
        cap in 2..=3usize,
        ops in prop::collection::vec(near_the_bound(), 0..if cfg!(miri) { 40 } else { 300 }),
    ) {
        harness::run(cap, &ops);
    }
}

/// Waiting senders are served in arrival order, whichever is polled first.
#[test]
fn waiting_senders_fifo() {
    use Op::*;
    harness::run(
        1,
        &[
            TrySend,
            StartSend,
            StartSend,
            StartReserve,
            PollSend(2),
            TryRecv,
            PollSend(2),
            PollSend(1),
            PollSend(0),
            TryRecv,
            PollSend(1),
            TryRecv,
            PollSend(0),
            PermitSend(0),
            TryRecv,
            Close,
        ],
    );
}

/// A parked send woken for a free slot loses it to a newcomer
/// `MAX_BYPASS - 1` times (queued again at the head each time, woken again
/// for the next slot); then the next slot is granted to it and newcomers
/// find the channel full until it has placed its value.
#[test]
fn woken_send_overtaken_until_granted() {
    use Op::*;
    let mut ops = vec![TrySend, StartSend, StartSend];
    for _ in 1..weftwork::Mutex::<()>::MAX_BYPASS {
        ops.extend([TryRecv, TrySend, PollSend(1), PollSend(0)]);
    }
    ops.extend([TryRecv, TrySend, PollSend(1), PollSend(0), TryRecv, TryRecv]);
    ops.extend([TryRecv, PollSend(0), TryRecv, Close]);
    harness::run(1, &ops);
}

/// While a permit holds the only slot, a parked send is woken for each
/// receiver that parks; a permit's send takes that receiver and a new
/// `try_reserve` the slot it frees, so the send is passed. After
/// `MAX_BYPASS - 1` passes the freed slot is granted to it: the last
/// `TryReserve` finds the channel full, and the send places its value
/// when polled.
#[test]
fn send_woken_for_receivers_is_granted_a_slot_past_the_bound() {
    use Op::*;
    let mut ops = vec![TryReserve, StartSend];
    for _ in 1..weftwork::Mutex::<()>::MAX_BYPASS {
        ops.extend([
            StartRecv,
            PermitSend(0),
            TryReserve,
            PollSend(0),
            PollRecv(0),
        ]);
    }
    ops.extend([StartRecv, PermitSend(0), TryReserve, TrySend, PollSend(0)]);
    ops.extend([PollRecv(0), TryRecv, TryReserve, PermitSend(0), Close]);
    harness::run(1, &ops);
}

/// Cap 2: two parked sends are woken, newcomers take both slots, and the
/// two queue again in arrival order whichever polls first.
#[test]
fn woken_sends_that_lose_queue_again_in_arrival_order() {
    use Op::*;
    let ops = [
        TrySend,
        TrySend,
        StartSend,
        StartSend,
        StartSend,
        TryRecv,
        TryRecv,
        TrySend,
        TrySend,
        PollSend(0),
        PollSend(1),
        TryRecv,
        PollSend(0),
        PollSend(0),
        TryRecv,
        PollSend(0),
        PollSend(0),
        TryRecv,
        PollSend(0),
        Close,
    ];
    harness::run(2, &ops);
}

/// Rendezvous: a dropped receiver never swallows; a dropped send retracts.
#[test]
fn rendezvous_sequences() {
    use Op::*;
    harness::run(
        0,
        &[
            StartRecv,
            StartRecv,
            StartSend,
            DropRecv(0),
            PollRecv(0),
            PollSend(0),
        ],
    );
    harness::run(
        0,
        &[
            StartRecv,
            StartSend,
            DropSend(0),
            PollRecv(0),
            StartSend,
            PollRecv(0),
            PollSend(0),
        ],
    );
    harness::run(0, &[StartSend, Close, PollSend(0), TryRecv]);
}
