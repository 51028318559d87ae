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

/// Bug: `RwLockWriteGuard::downgrade` moved the lock reference out of the
/// write guard, released the other permits (waking the waiters they
/// served) and only then built the read guard. A `wake` that panicked in
/// that release unwound past the read permit the new guard was to hold:
/// it was never given back, and no writer could ever lock again.
#[test]
#[cfg_attr(miri, ignore = "leaks the wakers of the panicking batch")]
fn write_downgrade_with_panicking_wake_keeps_no_permit() {
    let lock = RwLock::new(0u32);
    let w = lock.try_write().unwrap();
    let mut reader = Box::pin(lock.read());
    let bad = common::panicking_waker();
    assert!(poll_with(reader.as_mut(), &bad).is_pending());
    let res = catch_unwind(AssertUnwindSafe(|| drop(RwLockWriteGuard::downgrade(w))));
    assert!(
        res.is_err(),
        "the wake panicked (it propagates to the caller)"
    );
    // The queued reader was handed its permit before the wake.
    let Poll::Ready(r) = poll_with(reader.as_mut(), Waker::noop()) else {
        panic!("the queued reader was served");
    };
    drop(r);
    assert!(
        lock.try_write().is_some(),
        "a read permit leaked: the lock can never be written again"
    );
}

/// Bug: the same in `RwLockWriteGuard::downgrade_to_upgradable` (the
/// upgradable reader's permits leaked: no writer, and no upgradable reader,
/// could ever get in again).
#[test]
#[cfg_attr(miri, ignore = "leaks the wakers of the panicking batch")]
fn write_downgrade_to_upgradable_with_panicking_wake_keeps_no_permit() {
    let lock = RwLock::new(0u32);
    let w = lock.try_write().unwrap();
    let mut reader = Box::pin(lock.read());
    let bad = common::panicking_waker();
    assert!(poll_with(reader.as_mut(), &bad).is_pending());
    let res = catch_unwind(AssertUnwindSafe(|| {
        drop(RwLockWriteGuard::downgrade_to_upgradable(w))
    }));
    assert!(
        res.is_err(),
        "the wake panicked (it propagates to the caller)"
    );
    let Poll::Ready(r) = poll_with(reader.as_mut(), Waker::noop()) else {
        panic!("the queued reader was served");
    };
    drop(r);
    assert!(
        lock.try_upgradable_read().is_some(),
        "the upgradable permits leaked"
    );
    assert!(lock.try_write().is_some(), "the upgradable permits leaked");
}

/// Bug: the same in `RwLockUpgradableReadGuard::downgrade`: a waiting
/// upgradable reader served by the released permits panics in `wake`, and
/// the plain read permit the downgraded guard was to keep leaked.
#[test]
#[cfg_attr(miri, ignore = "leaks the wakers of the panicking batch")]
fn upgradable_downgrade_with_panicking_wake_keeps_no_permit() {
    let lock = RwLock::new(0u32);
    let up = lock.try_upgradable_read().unwrap();
    let mut up2 = Box::pin(lock.upgradable_read());
    let bad = common::panicking_waker();
    assert!(poll_with(up2.as_mut(), &bad).is_pending());
    let res = catch_unwind(AssertUnwindSafe(|| {
        drop(RwLockUpgradableReadGuard::downgrade(up))
    }));
    assert!(
        res.is_err(),
        "the wake panicked (it propagates to the caller)"
    );
    let Poll::Ready(g) = poll_with(up2.as_mut(), Waker::noop()) else {
        panic!("the queued upgradable reader was served");
    };
    drop(g);
    assert!(
        lock.try_write().is_some(),
        "a read permit leaked: the lock can never be written again"
    );
}
