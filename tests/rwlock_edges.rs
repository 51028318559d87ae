//! Edge cases of `RwLock` found in review. Each test failed before the fix
//! it names.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use weftwork::RwLock;
use weftwork::sync::{RwLockUpgradableReadGuard, RwLockWriteGuard};

fn poll_with<F: Future + ?Sized>(fut: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(w))
}

// ------------------------------------------------------------ downgrades and a panicking wake

/// Queues `waiter` on `lock` with a waker whose `wake` panics, runs
/// `downgrade` (which serves it) and drops its result: the panic must
/// reach the caller, the waiter must hold what it waited for, and once it
/// is dropped every permit must be back (`try_write` succeeds).
fn downgrade_with_a_panicking_wake<F: Future>(
    lock: &RwLock<u32>,
    mut waiter: Pin<Box<F>>,
    downgrade: impl FnOnce(),
) {
    assert!(poll_with(waiter.as_mut(), &common::panicking_waker()).is_pending());
    let res = catch_unwind(AssertUnwindSafe(downgrade));
    assert!(
        res.is_err(),
        "the wake panicked (it propagates to the caller)"
    );
    // The queued waiter was handed its permits before the wake.
    let Poll::Ready(guard) = poll_with(waiter.as_mut(), Waker::noop()) else {
        panic!("the queued waiter was not served");
    };
    drop(guard);
    assert!(
        lock.try_write().is_some(),
        "a permit leaked: the lock can never be written again"
    );
}

/// Bug: `RwLockWriteGuard::downgrade` moved the lock reference out of the
/// write guard, released the other permits (waking the waiters they
/// served) and only then built the read guard. A `wake` that panicked in
/// that release unwound past the read permit the new guard was to hold:
/// it was never given back, and no writer could ever lock again.
#[test]
fn write_downgrade_with_panicking_wake_keeps_no_permit() {
    let lock = RwLock::new(0u32);
    let w = lock.try_write().unwrap();
    downgrade_with_a_panicking_wake(&lock, Box::pin(lock.read()), || {
        drop(RwLockWriteGuard::downgrade(w))
    });
}

/// Bug: the same in `RwLockWriteGuard::downgrade_to_upgradable` (the
/// upgradable reader's permits leaked: no writer, and no upgradable reader,
/// could ever get in again).
#[test]
fn write_downgrade_to_upgradable_with_panicking_wake_keeps_no_permit() {
    let lock = RwLock::new(0u32);
    let w = lock.try_write().unwrap();
    downgrade_with_a_panicking_wake(&lock, Box::pin(lock.read()), || {
        drop(RwLockWriteGuard::downgrade_to_upgradable(w))
    });
    assert!(
        lock.try_upgradable_read().is_some(),
        "the upgradable permits leaked"
    );
}

/// Bug: the same in `RwLockUpgradableReadGuard::downgrade`: a waiting
/// upgradable reader served by the released permits panics in `wake`, and
/// the plain read permit the downgraded guard was to keep leaked.
#[test]
fn upgradable_downgrade_with_panicking_wake_keeps_no_permit() {
    let lock = RwLock::new(0u32);
    let up = lock.try_upgradable_read().unwrap();
    downgrade_with_a_panicking_wake(&lock, Box::pin(lock.upgradable_read()), || {
        drop(RwLockUpgradableReadGuard::downgrade(up))
    });
}
