//! `Semaphore` against a sequential model (see `../harness/semaphore.rs`).

#![no_main]

#[path = "../harness/semaphore.rs"]
mod harness;

use arbitrary::Arbitrary;
use harness::Op;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    initial: u8,
    ops: Vec<FuzzOp>,
}

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    TryAcquire { n: u8, arc: bool },
    Start { n: u8, arc: bool },
    Poll(u8),
    PollFresh { idx: u8, noop: bool },
    DropFuture(u8),
    DropPermit(u8),
    Forget(u8),
    Split { idx: u8, n: u8 },
    Merge { into: u8, from: u8 },
    Add(u8),
    ForgetPermits(u8),
    Close,
}

/// Small permit counts, so requests both fit and have to wait.
fn permits(n: u8) -> usize {
    usize::from(n % 9)
}

impl From<&FuzzOp> for Op {
    fn from(op: &FuzzOp) -> Op {
        match *op {
            FuzzOp::TryAcquire { n, arc } => Op::TryAcquire { n: permits(n), arc },
            FuzzOp::Start { n, arc } => Op::Start { n: permits(n), arc },
            FuzzOp::Poll(i) => Op::Poll(i.into()),
            FuzzOp::PollFresh { idx, noop } => Op::PollFresh {
                idx: idx.into(),
                noop,
            },
            FuzzOp::DropFuture(i) => Op::DropFuture(i.into()),
            FuzzOp::DropPermit(i) => Op::DropPermit(i.into()),
            FuzzOp::Forget(i) => Op::Forget(i.into()),
            FuzzOp::Split { idx, n } => Op::Split {
                idx: idx.into(),
                n: permits(n),
            },
            FuzzOp::Merge { into, from } => Op::Merge {
                into: into.into(),
                from: from.into(),
            },
            FuzzOp::Add(n) => Op::Add(permits(n)),
            FuzzOp::ForgetPermits(n) => Op::ForgetPermits(permits(n)),
            FuzzOp::Close => Op::Close,
        }
    }
}

fuzz_target!(|input: Input| {
    let ops: Vec<Op> = input.ops.iter().take(256).map(Op::from).collect();
    harness::run(permits(input.initial), &ops);
});
