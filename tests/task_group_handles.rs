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

/// The group is dropped while a handle is awaited: the handle is woken and
/// gives `Err(TaskAborted)` once the executor dropped the future, also for
/// a task still waiting for a slot, and for tasks the executor drops
/// without polling them again.
#[test]
fn dropping_the_group_while_a_handle_is_awaited() {
    let ex = Manual::default();
    let g = TaskGroup::new(ex.clone()).limit(1);
    let mut running = g.spawn(std::future::pending::<()>());
    let mut queued = g.spawn(async { 1 });
    ex.run_once();
    let (w1, w2) = (common::CountingWaker::new(), common::CountingWaker::new());
    assert!(w1.poll(Pin::new(&mut running)).is_pending());
    assert!(w2.poll(Pin::new(&mut queued)).is_pending());
    drop(g);
    assert_eq!((w1.count(), w2.count()), (0, 0), "not dropped yet");
    ex.run_once();
    assert_eq!((w1.count(), w2.count()), (1, 1));
    assert_eq!(
        poll_noop(Pin::new(&mut running)),
        Poll::Ready(Err(TaskAborted))
    );
    assert_eq!(
        poll_noop(Pin::new(&mut queued)),
        Poll::Ready(Err(TaskAborted))
    );

    // The executor drops the tasks instead of polling them.
    let g = TaskGroup::new(ex.clone());
    let mut h = g.spawn(std::future::pending::<()>());
    ex.run_once();
    let w = common::CountingWaker::new();
    assert!(w.poll(Pin::new(&mut h)).is_pending());
    drop(g);
    ex.0.lock().unwrap().clear();
    assert_eq!(w.count(), 1);
    assert_eq!(poll_noop(Pin::new(&mut h)), Poll::Ready(Err(TaskAborted)));
}

/// Under a limit, aborting the running task frees its slot, and aborting
/// a queued task neither takes nor keeps one.
#[test]
fn aborts_under_a_limit_free_the_slot() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone()).limit(1);
    let running = g.spawn(std::future::pending::<()>());
    let queued = g.spawn(async { unreachable!("an aborted queued task ran") });
    let last = g.spawn(async { 3 });
    ex.run_once();
    queued.abort();
    ex.run_once();
    assert!(queued.is_finished() && !last.is_finished());
    running.abort();
    ex.run_once(); // `running` is dropped, its slot goes to `last`
    ex.run_once();
    assert_eq!(futures::executor::block_on(last), Ok(3));
    assert_eq!(futures::executor::block_on(running), Err(TaskAborted));
    assert_eq!(futures::executor::block_on(queued), Err(TaskAborted));
    let mut j = Box::pin(g.join_all());
    assert_eq!(poll_noop(j.as_mut()), Poll::Ready(()));
}

/// A handle polled again after it returned the outcome panics (as tokio's
/// `JoinHandle`), and says so; `is_terminated` tells beforehand.
#[test]
fn a_handle_polled_after_ready_panics() {
    use futures::future::FusedFuture;
    let ex = Manual::default();
    let g = TaskGroup::new(ex.clone());
    let mut h = g.spawn(async { 1 });
    let mut aborted = g.spawn(std::future::pending::<()>());
    aborted.abort();
    ex.run_once();
    assert_eq!(poll_noop(Pin::new(&mut h)), Poll::Ready(Ok(1)));
    assert_eq!(
        poll_noop(Pin::new(&mut aborted)),
        Poll::Ready(Err(TaskAborted))
    );
    for h in [&mut h as &mut dyn Poll1, &mut aborted] {
        assert!(h.done());
        let p = catch_unwind(AssertUnwindSafe(|| h.poll1())).expect_err("polled twice");
        let msg = p.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(msg.contains("polled after"), "{msg}");
    }
    trait Poll1 {
        fn poll1(&mut self);
        fn done(&self) -> bool;
    }
    impl<T> Poll1 for weftwork::task_group::TaskHandle<T> {
        fn poll1(&mut self) {
            let _ = poll_noop(Pin::new(self));
        }
        fn done(&self) -> bool {
            self.is_terminated()
        }
    }
}

/// `join_all` after `shutdown` returns at once and re-raises nothing: the
/// panics shutdown discarded stay discarded, and a handle keeps its own.
#[test]
fn join_all_after_shutdown() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    let kept = g.spawn(async { panic!("kept") });
    drop(g.spawn(async { panic!("discarded") }));
    ex.run_once(); // both panic: caught, one kept by its handle
    let mut sd = Box::pin(g.shutdown());
    assert_eq!(poll_noop(sd.as_mut()), Poll::Ready(()));
    drop(sd);
    let mut j = Box::pin(g.join_all());
    assert_eq!(poll_noop(j.as_mut()), Poll::Ready(()));
    drop(j);
    let p = catch_unwind(AssertUnwindSafe(|| futures::executor::block_on(kept)))
        .expect_err("the handle re-raises its panic");
    assert_eq!(p.downcast_ref::<&str>(), Some(&"kept"));
}

/// A spawner that keeps each task with its own counting waker, so a test
/// sees which task was woken (and polls it by hand).
#[derive(Clone, Default)]
struct Woken(std::sync::Arc<std::sync::Mutex<Vec<weftwork::task_group::BoxTask>>>);

impl weftwork::task_group::Spawn for Woken {
    fn spawn_boxed(&self, task: weftwork::task_group::BoxTask) {
        self.0.lock().unwrap().push(task);
    }
}

/// Bug (a deadlock): awaiting a `TaskHandle` did not let its task in ahead
/// of the limit, so a task holding the only slot while it awaited a queued
/// sibling waited for ever. Now the awaited task runs at once, over the
/// limit, and its waiting executor task is woken for it; a task whose
/// handle nobody awaits still waits for the slot.
#[test]
fn awaiting_a_queued_task_lets_it_in() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let ex = Woken::default();
    let g = TaskGroup::new(ex.clone()).limit(1);
    let (tx, rx) = futures::channel::oneshot::channel();
    // `outer` takes the only slot, then awaits `inner`, queued behind it.
    let outer = g.spawn(async move {
        let inner: weftwork::task_group::TaskHandle<u32> = rx.await.unwrap();
        inner.await.unwrap() + 1
    });
    let inner = g.spawn(async { 41 });
    let ran = std::sync::Arc::new(AtomicBool::new(false));
    let seen = ran.clone();
    let bystander = g.spawn(async move { seen.store(true, SeqCst) });
    let wakers: Vec<common::CountingWaker> = (0..3).map(|_| common::CountingWaker::new()).collect();
    let mut tasks = std::mem::take(&mut *ex.0.lock().unwrap());
    assert_eq!(tasks.len(), 3);
    // `outer` takes the slot and waits for the handle; the other two wait
    // for the slot.
    for (t, w) in tasks.iter_mut().zip(&wakers) {
        assert!(w.poll_box(t).is_pending());
    }
    tx.send(inner).unwrap();
    assert_eq!(wakers[0].count(), 1);
    assert!(wakers[0].poll_box(&mut tasks[0]).is_pending());
    assert_eq!(
        wakers[1].count(),
        1,
        "the awaited task was not woken to run"
    );
    assert_eq!(wakers[2].count(), 0);
    // `inner` runs without the slot; `outer` is woken with its output.
    assert!(wakers[1].poll_box(&mut tasks[1]).is_ready(), "not let in");
    assert!(
        wakers[2].poll_box(&mut tasks[2]).is_pending(),
        "the limit still holds"
    );
    assert_eq!(wakers[0].count(), 2);
    assert!(wakers[0].poll_box(&mut tasks[0]).is_ready());
    // `outer` gave the slot back: the bystander's turn.
    assert_eq!(wakers[2].count(), 1);
    assert!(!ran.load(SeqCst));
    assert!(wakers[2].poll_box(&mut tasks[2]).is_ready());
    assert!(ran.load(SeqCst));
    assert_eq!(poll_noop(std::pin::pin!(outer)), Poll::Ready(Ok(42)));
    assert_eq!(poll_noop(std::pin::pin!(bystander)), Poll::Ready(Ok(())));
}

/// `abort_all` (tokio's `JoinSet::abort_all`): every current task is
/// aborted without waiting, including one still waiting for a slot;
/// tasks spawned afterwards run; the slot under the limit comes back.
#[test]
fn abort_all_aborts_current_tasks_only() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone()).limit(1);
    let running = g.spawn(std::future::pending::<()>());
    let queued = g.spawn(async { 1 });
    ex.run_once(); // `running` holds the slot, `queued` waits for it
    g.abort_all();
    let later = g.spawn(async { 2 });
    ex.run_once();
    ex.run_once();
    assert_eq!(
        ex.len(),
        0,
        "a task survived abort_all or never got the slot"
    );
    assert_eq!(futures::executor::block_on(running), Err(TaskAborted));
    assert_eq!(futures::executor::block_on(queued), Err(TaskAborted));
    assert_eq!(futures::executor::block_on(later), Ok(2));
    futures::executor::block_on(g.join_all());
    assert!(g.is_empty());
}
