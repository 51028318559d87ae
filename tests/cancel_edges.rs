//! Edge cases of `CancelToken` found in review. Each test failed before
//! the fix it names.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Context;

use common::CountingWaker;
use weftwork::CancelToken;

/// Bug: `cancel` closed a node's event (waking its waiters) before it had
/// marked the node's children; a waker that panicked there unwound out of
/// the walk, and the children it had already taken out of the list were
/// dropped unmarked: the parent was cancelled, its child never would be
/// (and the child's waiters were never woken).
#[test]
fn a_panicking_waker_does_not_stop_the_cancel_of_the_subtree() {
    let root = CancelToken::new();
    let child = root.child();
    let grandchild = child.child();

    let bad = common::panicking_waker();
    let mut on_root = Box::pin(root.cancelled());
    assert!(
        on_root
            .as_mut()
            .poll(&mut Context::from_waker(&bad))
            .is_pending()
    );
    let w = CountingWaker::new();
    let mut on_grandchild = Box::pin(grandchild.cancelled());
    assert!(w.poll_box(&mut on_grandchild).is_pending());

    let res = catch_unwind(AssertUnwindSafe(|| root.cancel()));
    assert!(res.is_err(), "the root's waiter panicked");
    assert!(root.is_cancelled());
    assert!(child.is_cancelled(), "the child was not cancelled");
    assert!(
        grandchild.is_cancelled(),
        "the grandchild was not cancelled"
    );
    assert_eq!(w.count(), 1, "the grandchild's waiter was not woken");
    assert!(w.poll_box(&mut on_grandchild).is_ready());
}
