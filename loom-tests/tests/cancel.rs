//! Loom models of `weftwork::CancelToken`.
//!
//! Each mutation was planted in `src/cancel/`, the model run and seen to
//! fail, and the mutation removed (`*` = caught as a deadlock, `L` = caught
//! by loom's leak check on `Arc`):
//! C1 `child()` reads the parent's cancelled flag *before* taking its lock
//! (check-then-push race) · C2 `cancel` does not close the root's event ·
//! C3 `cancel` marks descendants but does not close their events · C4
//! `cancel` clones the children instead of taking them (they stay listed;
//! today: `mark_done` does not take them) · C5 `unregister` trusts the
//! stored index without the identity check · C6 `removable` ignores the
//! node's own children · C7 `mark` skips a node another cancel marked and
//! has not finished (the design before the seventeenth session: `cancel`
//! returned before that cancel had reached the leaf).
//!
//! | model                                  | mutations it catches |
//! |----------------------------------------|----------------------|
//! | cancel_racing_child_creation           | C1 |
//! | cancel_racing_waiter_registration      | C2* |
//! | cancel_reaches_waiter_on_grandchild    | C3*, C6* |
//! | child_drop_racing_parent_cancel        | C4, C6 |
//! | last_handle_racing_last_child          | C4 L, C5 |
//! | cancel_returns_with_the_subtree_cancelled_while_another_cancels_a_branch | C7 |
//! | cancel_of_one_token_from_two_threads_returns_with_the_subtree_cancelled | C7 |
#![cfg(loom)]

use loom::future::block_on;
use loom::thread;
use weftwork::CancelToken;
use weftwork_loom_tests::model;

/// A child is created on another thread while the parent is cancelled:
/// whichever comes first, the child ends up cancelled and not registered.
#[test]
fn cancel_racing_child_creation() {
    model(|| {
        let root = CancelToken::new();
        let maker = {
            let root = root.clone();
            thread::spawn(move || root.child())
        };
        root.cancel();
        let child = maker.join().unwrap();
        assert!(
            child.is_cancelled(),
            "the child escaped its parent's cancel"
        );
        assert_eq!(root.registered_children(), 0);
    });
}

/// A task registers in `cancelled()` while another thread cancels: it is
/// woken (a lost wake-up parks `block_on` forever: loom reports deadlock).
#[test]
fn cancel_racing_waiter_registration() {
    model(|| {
        let token = CancelToken::new();
        let waiter = {
            let fut = token.cancelled_owned();
            thread::spawn(move || block_on(fut))
        };
        token.cancel();
        waiter.join().unwrap();
    });
}

/// The waiter waits on a grandchild; the root is cancelled: the cancel
/// travels down the tree and wakes it.
#[test]
fn cancel_reaches_waiter_on_grandchild() {
    model(|| {
        let root = CancelToken::new();
        let grandchild = root.child().child(); // the middle handle is dropped
        let waiter = thread::spawn(move || block_on(grandchild.cancelled()));
        root.cancel();
        waiter.join().unwrap();
    });
}

/// A middle token's last handle is dropped while the root is cancelled;
/// its child (still alive) must be cancelled either way, and nothing is
/// left registered or leaked (loom checks every `Arc` is freed).
#[test]
fn child_drop_racing_parent_cancel() {
    model(|| {
        let root = CancelToken::new();
        let mid = root.child();
        let leaf = mid.child();
        let dropper = thread::spawn(move || drop(mid));
        root.cancel();
        dropper.join().unwrap();
        assert!(leaf.is_cancelled(), "the cancel did not reach the leaf");
        drop(leaf);
        assert_eq!(root.registered_children(), 0);
    });
}

/// The last handle of `mid` and the last handle of its only child go at
/// the same time: both threads may try to take `mid` out of the root;
/// exactly `mid` leaves, the sibling stays registered and reachable.
#[test]
fn last_handle_racing_last_child() {
    model(|| {
        let root = CancelToken::new();
        let mid = root.child();
        let sibling = root.child();
        let leaf = mid.child();
        let t = thread::spawn(move || drop(leaf));
        drop(mid);
        t.join().unwrap();
        assert_eq!(root.registered_children(), 1, "the wrong child left");
        root.cancel();
        assert!(sibling.is_cancelled());
    });
}

/// Two cancels race on one path: another thread cancels `mid` while the
/// main thread cancels `root`. When `root.cancel()` returns, the whole
/// subtree must read cancelled, even though the other thread marked `mid`
/// first and may not have reached `leaf` yet.
#[test]
fn cancel_returns_with_the_subtree_cancelled_while_another_cancels_a_branch() {
    model(|| {
        let root = CancelToken::new();
        let mid = root.child();
        let leaf = mid.child();
        let t = thread::spawn(move || mid.cancel());
        root.cancel();
        assert!(
            leaf.is_cancelled(),
            "cancel returned before the leaf was cancelled"
        );
        t.join().unwrap();
    });
}

/// The same when both cancel the same token: the second `cancel` to
/// return must not come back before the first has marked the subtree.
#[test]
fn cancel_of_one_token_from_two_threads_returns_with_the_subtree_cancelled() {
    model(|| {
        let root = CancelToken::new();
        let leaf = root.child().child();
        let leaf2 = leaf.clone();
        let other = root.clone();
        let t = thread::spawn(move || {
            other.cancel();
            assert!(
                leaf2.is_cancelled(),
                "cancel returned before the leaf was cancelled"
            );
        });
        root.cancel();
        assert!(
            leaf.is_cancelled(),
            "cancel returned before the leaf was cancelled"
        );
        t.join().unwrap();
    });
}
