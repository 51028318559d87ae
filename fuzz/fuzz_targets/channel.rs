//! `weftwork::channel` against a sequential model (see
//! `../harness/channel.rs`).

#![no_main]

#[path = "../harness/channel.rs"]
mod harness;

use arbitrary::Arbitrary;
use harness::Op;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    cap: u8,
    ops: Vec<FuzzOp>,
}

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    TrySend,
    StartSend,
    StartReserve,
    TryReserve,
    StartReserveMany(u8),
    TryReserveMany(u8),
    PollSend(u8),
    DropSend(u8),
    PermitSend(u8),
    DropPermit(u8),
    TryRecv,
    StartRecv,
    PollRecv(u8),
    DropRecv(u8),
    Close,
}

impl From<&FuzzOp> for Op {
    fn from(op: &FuzzOp) -> Op {
        match *op {
            FuzzOp::TrySend => Op::TrySend,
            FuzzOp::StartSend => Op::StartSend,
            FuzzOp::StartReserve => Op::StartReserve,
            FuzzOp::TryReserve => Op::TryReserve,
            FuzzOp::StartReserveMany(k) => Op::StartReserveMany(k.into()),
            FuzzOp::TryReserveMany(k) => Op::TryReserveMany(k.into()),
            FuzzOp::PollSend(i) => Op::PollSend(i.into()),
            FuzzOp::DropSend(i) => Op::DropSend(i.into()),
            FuzzOp::PermitSend(i) => Op::PermitSend(i.into()),
            FuzzOp::DropPermit(i) => Op::DropPermit(i.into()),
            FuzzOp::TryRecv => Op::TryRecv,
            FuzzOp::StartRecv => Op::StartRecv,
            FuzzOp::PollRecv(i) => Op::PollRecv(i.into()),
            FuzzOp::DropRecv(i) => Op::DropRecv(i.into()),
            FuzzOp::Close => Op::Close,
        }
    }
}

fuzz_target!(|input: Input| {
    let ops: Vec<Op> = input.ops.iter().take(256).map(Op::from).collect();
    // Small capacities, so the channel is full (and rendezvous) often.
    harness::run(usize::from(input.cap % 5), &ops);
});
