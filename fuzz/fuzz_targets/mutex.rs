//! `Mutex` against a sequential model (see `../harness/mutex.rs`).

#![no_main]

#[path = "../harness/mutex.rs"]
mod harness;

use arbitrary::Arbitrary;
use harness::Op;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    TryLock { arc: bool },
    Start { arc: bool },
    Poll(u8),
    PollFresh { idx: u8, noop: bool },
    DropFuture(u8),
    DropGuard,
    Write,
    Map,
}

impl From<&FuzzOp> for Op {
    fn from(op: &FuzzOp) -> Op {
        match *op {
            FuzzOp::TryLock { arc } => Op::TryLock { arc },
            FuzzOp::Start { arc } => Op::Start { arc },
            FuzzOp::Poll(i) => Op::Poll(i.into()),
            FuzzOp::PollFresh { idx, noop } => Op::PollFresh {
                idx: idx.into(),
                noop,
            },
            FuzzOp::DropFuture(i) => Op::DropFuture(i.into()),
            FuzzOp::DropGuard => Op::DropGuard,
            FuzzOp::Write => Op::Write,
            FuzzOp::Map => Op::Map,
        }
    }
}

fuzz_target!(|ops: Vec<FuzzOp>| {
    let ops: Vec<Op> = ops.iter().take(256).map(Op::from).collect();
    harness::run(&ops);
});
