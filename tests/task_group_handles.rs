//! `TaskHandle` / `TaskGroup` against what a tokio `JoinHandle` /
//! `JoinSet` user expects. Each test failed before the fix it names. They
//! run on the hand-driven spawner (`Manual`): deterministic, no timing,
//! and they run under Miri.

mod common;

use common::Manual;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use weftwork::TaskGroup;
use weftwork::task_group::TaskAborted;

fn poll_noop<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Bug: `is_finished` was true only while the outcome waited in the
/// handle; once the handle had returned it, `is_finished` went back to
/// `false` (tokio's `JoinHandle::is_finished` stays `true`).
#[test]
fn is_finished_stays_true_after_the_outcome_was_taken() {
    let ex = Manual::default();
    let g = TaskGroup::new(ex.clone());
    let mut h = g.spawn(async { 3 });
    assert!(!h.is_finished());
    ex.run_once();
    assert!(h.is_finished());
    assert_eq!(poll_noop(Pin::new(&mut h)), Poll::Ready(Ok(3)));
    assert!(h.is_finished(), "is_finished went back to false");
    assert!(format!("{h:?}").contains("finished: true"));
}

/// Bug: `abort` took the handle, so an aborted task's outcome could not be
/// awaited, and aborting a task that had already panicked handed its panic
/// to the group (which then aborted every other task). Now, as with
/// tokio's `JoinHandle::abort`, aborting a finished task does nothing: the
/// handle still re-raises the panic, and the siblings run on.
#[test]
fn abort_after_a_panic_leaves_the_panic_in_the_handle() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let sibling = g.spawn(async move {
        let _ = rx.await;
        "sibling"
    });
    let h = g.spawn(async { panic!("boom") });
    ex.run_once();
    assert!(h.is_finished());
    h.abort(); // a no-op: the task has finished
    let payload = catch_unwind(AssertUnwindSafe(|| futures::executor::block_on(h)))
        .expect_err("awaiting the handle re-raises the panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    tx.send(()).unwrap();
    ex.run_once();
    assert_eq!(
        futures::executor::block_on(sibling),
        Ok("sibling"),
        "the sibling was aborted"
    );
    let mut j = Box::pin(g.join_all());
    assert_eq!(poll_noop(j.as_mut()), Poll::Ready(()), "join_all re-raised");
}

/// Awaiting a handle after `abort` (tokio: `h.abort(); h.await` is
/// `Err(cancelled)`): `Err(TaskAborted)` once the executor dropped the
/// future; the outcome if the task had finished first.
#[test]
fn awaiting_a_handle_after_abort() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    let drops = common::Drops::default();
    let guard = drops.token();
    let mut h = g.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    ex.run_once();
    h.abort();
    h.abort(); // twice is fine
    let w = common::CountingWaker::new();
    assert!(w.poll(Pin::new(&mut h)).is_pending(), "not dropped yet");
    assert!(!h.is_finished());
    ex.run_once(); // the executor drops the aborted future
    assert_eq!(drops.get(), 1);
    assert_eq!(w.count(), 1, "the handle was not woken");
    assert!(h.is_finished());
    assert_eq!(poll_noop(Pin::new(&mut h)), Poll::Ready(Err(TaskAborted)));

    // Finished before the abort: the output is still there.
    let h = g.spawn(async { 4 });
    ex.run_once();
    h.abort();
    assert_eq!(futures::executor::block_on(h), Ok(4));

    // Aborted before it was ever polled: its future never runs.
    let h = g.spawn(async { unreachable!("an aborted task ran") });
    h.abort();
    ex.run_once();
    assert_eq!(futures::executor::block_on(h), Err(TaskAborted));
    futures::executor::block_on(g.join_all());
}

/// What `len` counts (documents it; it passed before): tasks whose future
/// has not been dropped — running, waiting for a slot, aborted but not yet
/// dropped, detached — and not finished tasks whose handle was not awaited
/// (unlike tokio's `JoinSet::len`).
#[test]
fn len_counts_the_tasks_not_yet_dropped() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone()).limit(1);
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let first = g.spawn(async move {
        let _ = rx.await;
        1
    });
    let queued = g.spawn(async { 2 });
    drop(g.spawn(async {})); // detached
    ex.run_once();
    assert_eq!(g.len(), 3, "one running, two waiting for the slot");
    queued.abort();
    assert_eq!(g.len(), 3, "aborted, not dropped yet");
    ex.run_once();
    assert_eq!(g.len(), 2, "the aborted task was dropped");
    tx.send(()).unwrap();
    ex.run_once(); // `first` finishes and frees the slot for the detached one
    ex.run_once();
    assert_eq!(g.len(), 0, "finished tasks are not counted");
    assert!(first.is_finished() && g.is_empty());
    assert_eq!(futures::executor::block_on(first), Ok(1));
    assert_eq!(futures::executor::block_on(queued), Err(TaskAborted));
    let mut j = Box::pin(g.join_all());
    assert_eq!(poll_noop(j.as_mut()), Poll::Ready(()));
}
