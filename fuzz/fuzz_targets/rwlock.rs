//! `RwLock` against a sequential model (see `../harness/rwlock.rs`).

#![no_main]

#[path = "../harness/rwlock.rs"]
mod harness;

use arbitrary::Arbitrary;
use harness::Op;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    arc: bool,
    ops: Vec<FuzzOp>,
}

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    TryRead,
    TryWrite,
    TryUpgradable,
    StartRead,
    StartWrite,
    StartUpgradable,
    StartUpgrade,
    Poll(u8),
    PollFresh { idx: u8, noop: bool },
    DropFuture(u8),
    DropGuard(u8),
    TryUpgrade,
    DowngradeWrite,
    DowngradeWriteToUpgradable,
    DowngradeUpgradable,
    Write,
}

impl From<&FuzzOp> for Op {
    fn from(op: &FuzzOp) -> Op {
        match *op {
            FuzzOp::TryRead => Op::TryRead,
            FuzzOp::TryWrite => Op::TryWrite,
            FuzzOp::TryUpgradable => Op::TryUpgradable,
            FuzzOp::StartRead => Op::StartRead,
            FuzzOp::StartWrite => Op::StartWrite,
            FuzzOp::StartUpgradable => Op::StartUpgradable,
            FuzzOp::StartUpgrade => Op::StartUpgrade,
            FuzzOp::Poll(i) => Op::Poll(i.into()),
            FuzzOp::PollFresh { idx, noop } => Op::PollFresh {
                idx: idx.into(),
                noop,
            },
            FuzzOp::DropFuture(i) => Op::DropFuture(i.into()),
            FuzzOp::DropGuard(i) => Op::DropGuard(i.into()),
            FuzzOp::TryUpgrade => Op::TryUpgrade,
            FuzzOp::DowngradeWrite => Op::DowngradeWrite,
            FuzzOp::DowngradeWriteToUpgradable => Op::DowngradeWriteToUpgradable,
            FuzzOp::DowngradeUpgradable => Op::DowngradeUpgradable,
            FuzzOp::Write => Op::Write,
        }
    }
}

fuzz_target!(|input: Input| {
    let ops: Vec<Op> = input.ops.iter().take(256).map(Op::from).collect();
    harness::run(input.arc, &ops);
});
