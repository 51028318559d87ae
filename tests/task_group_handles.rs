//! `TaskHandle` / `TaskGroup` against what a tokio `JoinHandle` /
//! `JoinSet` user expects. Each test failed before the fix it names. They
//! run on the hand-driven spawner (`Manual`): deterministic, no timing,
//! and they run under Miri.

mod common;

use common::Manual;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use weftwork::TaskGroup;

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
