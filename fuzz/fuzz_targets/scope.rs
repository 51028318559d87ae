//! `weftwork::scope` against a sequential model (see `../harness/scope.rs`).

#![no_main]

#[path = "../harness/scope.rs"]
mod harness;

use arbitrary::Arbitrary;
use harness::{Config, Op};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    limit: u8,
    early: bool,
    ops: Vec<FuzzOp>,
}

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    Spawn { coop: bool },
    Open(u8),
    Abort(u8),
    Detach(u8),
    Join(u8),
    Cancel { parent: bool },
    Poll,
    FinishBody,
    DropScope,
}

impl From<&FuzzOp> for Op {
    fn from(op: &FuzzOp) -> Op {
        match *op {
            FuzzOp::Spawn { coop } => Op::Spawn { coop },
            FuzzOp::Open(i) => Op::Open(i.into()),
            FuzzOp::Abort(i) => Op::Abort(i.into()),
            FuzzOp::Detach(i) => Op::Detach(i.into()),
            FuzzOp::Join(i) => Op::Join(i.into()),
            FuzzOp::Cancel { parent } => Op::Cancel { parent },
            FuzzOp::Poll => Op::Poll,
            FuzzOp::FinishBody => Op::FinishBody,
            FuzzOp::DropScope => Op::DropScope,
        }
    }
}

fuzz_target!(|input: Input| {
    // No limit, or 1..=3: small enough that children have to wait.
    let limit = match input.limit % 4 {
        0 => None,
        n => Some(usize::from(n)),
    };
    let config = Config {
        limit,
        early: input.early,
    };
    let ops: Vec<Op> = input.ops.iter().take(256).map(Op::from).collect();
    harness::run(config, &ops);
});
