//! Edge cases of `TaskGroup` found in review. Each test failed before the
//! fix it names. They run on a hand-driven spawner (`Manual`), so they are
//! deterministic: a "hang" shows as a `join_all` that stays pending after
//! every task has been run to its end.

mod common;

use common::Manual;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use weftwork::task_group::TaskAborted;
use weftwork::{CancelToken, TaskGroup};

fn poll_noop<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Bug: once a detached task's panic had failed the group (its abort root
/// cancelled), the next `spawn` replaced the root with a fresh one, so a
/// task spawned before `join_all` reported the panic ran normally. A
/// never-ending one kept `join_all` from ever re-raising the panic: the
/// group did not fail fast.
#[test]
fn a_task_spawned_after_an_unreported_panic_is_aborted() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    drop(g.spawn(async { panic!("boom") }));
    ex.run_once(); // the detached task panics: the group fails
    let late = g.spawn(std::future::pending::<()>());
    ex.run_once();
    assert_eq!(ex.len(), 0, "the late task was not aborted");
    let mut j = Box::pin(g.join_all());
    let res = catch_unwind(AssertUnwindSafe(|| poll_noop(j.as_mut())));
    let payload = res.expect_err("join_all re-raises the panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    drop(j);
    assert_eq!(futures::executor::block_on(late), Err(TaskAborted));

    // The panic was reported: the group runs new tasks again.
    let h = g.spawn(async { 7 });
    ex.run_once();
    assert_eq!(futures::executor::block_on(h), Ok(7));
    futures::executor::block_on(g.join_all());
}

/// Bug: a task's wrapper told the group it was done (`done.add_permits`)
/// only after waking the handle and dropping a detached task's output; a
/// handle waker whose `wake` panicked, or an output whose destructor
/// panicked, unwound past that, the executor dropped the (already
/// finished) task, and the task was never counted: `join_all` and
/// `shutdown` waited for ever.
#[test]
fn a_panic_after_the_future_is_dropped_does_not_lose_the_task() {
    // A detached task whose output panics when dropped.
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("output drop panics");
        }
    }
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    drop(g.spawn(async { PanicOnDrop }));
    let res = catch_unwind(AssertUnwindSafe(|| ex.run_once()));
    assert!(res.is_err(), "the output's destructor panicked");
    assert_eq!(ex.len(), 0);
    let mut j = Box::pin(g.join_all());
    assert!(
        poll_noop(j.as_mut()).is_ready(),
        "join_all waits for a task whose output was dropped"
    );
    drop(j);

    // A handle whose waker panics when the task finishes.
    let gate = CancelToken::new();
    let wait = gate.clone();
    let mut h = g.spawn(async move {
        wait.cancelled().await;
        5
    });
    ex.run_once();
    let bad = common::panicking_waker();
    assert!(
        Pin::new(&mut h)
            .poll(&mut Context::from_waker(&bad))
            .is_pending()
    );
    gate.cancel();
    let res = catch_unwind(AssertUnwindSafe(|| ex.run_once()));
    assert!(res.is_err(), "the handle's waker panicked in the executor");
    assert_eq!(ex.len(), 0);
    let mut j = Box::pin(g.join_all());
    assert!(
        poll_noop(j.as_mut()).is_ready(),
        "join_all waits for a task that finished"
    );
    drop(j);
    assert!(g.is_empty());
    assert_eq!(futures::executor::block_on(h), Ok(5));
}

/// Bug: `cancel_after`'s deadline hung below the group's abort root, so a
/// detached task's panic (which cancels that root to abort the tasks)
/// dropped it too: the group's token was never cancelled at the deadline,
/// though the deadline is documented to be dropped only with the group or
/// by `shutdown`.
#[test]
fn a_detached_panic_does_not_drop_the_deadline() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    let (fire, deadline) = futures::channel::oneshot::channel::<()>();
    g.cancel_after(async move {
        let _ = deadline.await;
    });
    drop(g.spawn(async { panic!("boom") }));
    ex.run_once();
    let res = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(g.join_all())
    }));
    assert!(res.is_err(), "join_all re-raises the panic");
    assert!(!g.token().is_cancelled());
    fire.send(()).unwrap();
    ex.run_once();
    assert!(
        g.token().is_cancelled(),
        "the deadline was dropped by the panic"
    );
}

/// Bug: dropping the group cancels its abort root, then the deadlines'
/// token, then the group's token. A task's waker that panicked while the
/// first was cancelled left the group's token uncancelled (work watching
/// `token()` was never told the group was gone).
#[test]
fn a_panicking_waker_in_drop_still_cancels_the_group_token() {
    let ex = Manual::default();
    let g = TaskGroup::new(ex.clone());
    let token = g.token().clone();
    let watcher = token.child();
    drop(g.spawn(std::future::pending::<()>()));
    // Poll the task once with a waker whose `wake` panics: it waits on the
    // abort root with that waker.
    let mut tasks = std::mem::take(&mut *ex.0.lock().unwrap());
    let bad = common::panicking_waker();
    assert!(
        tasks[0]
            .as_mut()
            .poll(&mut Context::from_waker(&bad))
            .is_pending()
    );
    let res = catch_unwind(AssertUnwindSafe(|| drop(g)));
    assert!(res.is_err(), "the waker panicked");
    assert!(token.is_cancelled(), "the group's token was not cancelled");
    assert!(watcher.is_cancelled());
    drop(tasks);
}

/// Bug: a finishing task gave its slot under the limit back (waking the
/// next task waiting for one) *before* handing its outcome to its handle.
/// A waker of the next task whose `wake` panicked unwound past that: the
/// outcome was lost and the handle stayed pending for ever, though the
/// task was gone.
#[test]
fn a_panic_while_freeing_the_slot_does_not_lose_the_outcome() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone()).limit(1);
    let gate = CancelToken::new();
    let wait = gate.clone();
    let mut first = g.spawn(async move {
        wait.cancelled().await;
        1
    });
    let second = g.spawn(async { 2 });
    // Poll the first with a no-op waker, the second (which waits for the
    // slot) with a waker whose `wake` panics.
    let mut tasks = std::mem::take(&mut *ex.0.lock().unwrap());
    assert!(poll_noop(tasks[0].as_mut()).is_pending());
    let bad = common::panicking_waker();
    let mut bad_cx = Context::from_waker(&bad);
    assert!(tasks[1].as_mut().poll(&mut bad_cx).is_pending());
    gate.cancel();
    let res = catch_unwind(AssertUnwindSafe(|| poll_noop(tasks[0].as_mut())));
    assert!(res.is_err(), "the second task's waker panicked");
    drop(tasks.remove(0)); // an executor drops a task whose poll panicked
    assert_eq!(
        poll_noop(Pin::new(&mut first)),
        Poll::Ready(Ok(1)),
        "the first task's outcome was lost"
    );
    assert!(poll_noop(tasks[0].as_mut()).is_ready());
    assert_eq!(futures::executor::block_on(second), Ok(2));
    futures::executor::block_on(g.join_all());
}
