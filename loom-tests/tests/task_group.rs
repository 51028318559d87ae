//! Loom models of `weftwork::TaskGroup`, on a spawner that runs each task
//! on its own loom thread (`LoomThreads` below).
//!
//! Each mutation was planted in `src/task_group/`, the model run and seen
//! to fail, and the mutation removed (`*` = caught as a deadlock):
//! G1 a task reports done *before* its future is dropped · G2 a finishing
//! task does not wake its handle · G3 the wrapper only *checks* the abort
//! flag instead of polling (registering for) the abort · G4 `shutdown` does
//! not wait · G5 `join_all` counts tasks still running (`len()`) instead of
//! the tasks spawned · G6 a task waiting for a slot keeps its waker for
//! the handle outside the cell's lock (after checking the let-in flag) ·
//! G7 an awaited handle does not let its task in (the code before the
//! nineteenth session) · G8 a slot handed to a task just as it is let in
//! is lost: the granted-then-cancelled wait's release is missing from
//! `Acquire::cancel` (fails with "slot lost", `available_permits` 0).
//!
//! | model                           | mutations it catches |
//! |---------------------------------|----------------------|
//! | join_all_sees_every_task        | G5 |
//! | handle_sees_completion          | G2* |
//! | abort_racing_completion         | G3* |
//! | shutdown_racing_task_finishing  | G1, G4 |
//! | awaited_handle_lets_queued_task_in | G6*, G7*, G8 |
#![cfg(loom)]

use std::sync::Arc as StdArc;

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use weftwork::TaskGroup;
use weftwork::task_group::{BoxTask, Spawn, TaskAborted};
use weftwork_loom_tests::model;

/// Runs every task to completion on a loom thread of its own.
struct LoomThreads;

impl Spawn for LoomThreads {
    fn spawn_boxed(&self, task: BoxTask) {
        thread::spawn(move || block_on(task));
    }
}

/// Counts drops of the value it guards.
struct DropCount(StdArc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Two tasks finish while `join_all` waits: it returns only once both have
/// finished *and* their futures were dropped.
#[test]
fn join_all_sees_every_task() {
    model(|| {
        let dropped = StdArc::new(AtomicUsize::new(0));
        let mut group = TaskGroup::new(LoomThreads);
        for _ in 0..2 {
            let guard = DropCount(dropped.clone());
            drop(group.spawn(async move {
                let _guard = guard;
            }));
        }
        block_on(group.join_all());
        assert_eq!(dropped.load(SeqCst), 2, "join_all returned early");
        assert!(group.is_empty());
    });
}

/// The handle is awaited while the task completes on another thread: it
/// gets the output (a lost wake-up parks `block_on` forever).
#[test]
fn handle_sees_completion() {
    model(|| {
        let group = TaskGroup::new(LoomThreads);
        let h = group.spawn(async { 7 });
        assert_eq!(block_on(h), Ok(7));
    });
}

/// A task that would pend forever (it registers no waker of its own) is
/// aborted while it starts: the abort must wake it, its future is dropped,
/// and `join_all` returns.
#[test]
fn abort_racing_completion() {
    model(|| {
        let dropped = StdArc::new(AtomicUsize::new(0));
        let mut group = TaskGroup::new(LoomThreads);
        let guard = DropCount(dropped.clone());
        let h = group.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        h.abort();
        block_on(group.join_all());
        assert_eq!(dropped.load(SeqCst), 1);
        assert!(group.is_empty());
    });
}

/// `shutdown` races a task that finishes on its own: afterwards the task's
/// future has been dropped (nothing of the group still runs), and the
/// handle reports either outcome.
#[test]
fn shutdown_racing_task_finishing() {
    model(|| {
        let dropped = StdArc::new(AtomicUsize::new(0));
        let mut group = TaskGroup::new(LoomThreads);
        let guard = DropCount(dropped.clone());
        let h = group.spawn(async move {
            let _guard = guard;
            1
        });
        block_on(group.shutdown());
        assert_eq!(dropped.load(SeqCst), 1, "a task still ran after shutdown");
        let out = block_on(h);
        assert!(out == Ok(1) || out == Err(TaskAborted), "{out:?}");
    });
}

/// Under `limit(1)`, a task holding the slot awaits the handle of a sibling
/// that waits for that slot: the handle lets the sibling in (and wakes
/// it), or the sibling is still about to queue and finds itself let in.
/// Without that both wait for ever. Afterwards the slot is free again.
/// (G6 needs two preemptions: the main thread's send must wait until the
/// sibling has looked at the flag. About 30 s.)
#[test]
fn awaited_handle_lets_queued_task_in() {
    model(|| {
        let mut group = TaskGroup::new(LoomThreads).limit(1);
        let (tx, rx) = weftwork::channel::oneshot();
        let outer = group.spawn(async move {
            let inner: weftwork::task_group::TaskHandle<u32> = rx.await.unwrap();
            inner.await.unwrap() + 1
        });
        let inner = group.spawn(async { 1 });
        tx.send(inner).unwrap();
        assert_eq!(block_on(outer), Ok(2));
        block_on(group.join_all());
        let debug = format!("{group:?}");
        assert!(debug.contains("available_permits: 1"), "slot lost: {debug}");
    });
}
