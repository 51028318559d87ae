//! Edge cases of the wait core and the locks found in review: wakers that
//! panic (in `clone` or `wake`), a `MutexGuard::map` closure that panics,
//! and a blocking acquire from a thread-local's destructor. Each test
//! failed (or hung) before the fix it names. Tests that could hang run in
//! a child process that is killed after 5 s.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::CountingWaker;
use weftwork::{Mutex, Semaphore};

/// The wait core's wake batch (`src/wait/raw.rs`, `BATCH`).
const BATCH: usize = 16;

// ------------------------------------------------------------ wakers

fn poll_with<F: Future + ?Sized>(fut: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(w))
}

/// Runs the test `name` again in a child process with
/// `WEFTWORK_TEST_CHILD` set and returns whether it passed within 5 s (a
/// child that hangs, e.g. spinning on a lock bit left set, is killed).
fn child_passes(name: &str) -> bool {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env("WEFTWORK_TEST_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn in_child() -> bool {
    std::env::var_os("WEFTWORK_TEST_CHILD").is_some()
}

// ------------------------------------------------------------ a waker clone panics

/// Polls `fut` (queued behind a held permit or lock) with a waker whose
/// `clone` panics, then runs `release`, which must not spin for ever, and
/// checks that `fut` then completes.
fn repoll_with_a_panicking_clone<F: Future>(mut fut: Pin<Box<F>>, release: impl FnOnce()) {
    assert!(poll_with(fut.as_mut(), Waker::noop()).is_pending());
    let bad = common::clone_panicking_waker();
    let res = catch_unwind(AssertUnwindSafe(|| {
        poll_with(fut.as_mut(), &bad).is_pending()
    }));
    assert!(res.is_err(), "the clone panicked");
    release(); // used to hang
    assert!(poll_with(fut.as_mut(), Waker::noop()).is_ready());
}

/// Re-polling a queued acquire with a different waker whose `clone` panics
/// must not leave the semaphore's internal lock bit set (the clone ran
/// under it, and every later operation spun on it for ever).
#[test]
#[cfg_attr(miri, ignore)] // spawns a process
fn repoll_with_panicking_waker_clone_does_not_wedge_semaphore() {
    if !in_child() {
        assert!(
            child_passes("repoll_with_panicking_waker_clone_does_not_wedge_semaphore"),
            "child hung or failed: after the panicking clone, releasing a permit spins forever"
        );
        return;
    }
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    repoll_with_a_panicking_clone(Box::pin(sem.acquire()), || drop(held));
}

/// Same through the mutex.
#[test]
#[cfg_attr(miri, ignore)] // spawns a process
fn repoll_with_panicking_waker_clone_does_not_wedge_mutex() {
    if !in_child() {
        assert!(
            child_passes("repoll_with_panicking_waker_clone_does_not_wedge_mutex"),
            "child hung or failed: after the panicking clone, unlocking spins forever"
        );
        return;
    }
    let m = Mutex::new(0u32);
    let g = m.try_lock().unwrap();
    repoll_with_a_panicking_clone(Box::pin(m.lock()), || drop(g));
}

// ------------------------------------------------------------ a wake panics

/// Waiters in one more than a wake batch: the first queued with a waker
/// whose `wake` panics.
const N: usize = BATCH + 1;

/// Polls `futs` once, in order, the first with a waker whose `wake`
/// panics, the others with counting wakers (returned; the first is unused).
fn queue_behind_a_panicking_wake<F: Future>(futs: &mut [Pin<Box<F>>]) -> Vec<CountingWaker> {
    let bad = common::panicking_waker();
    let counts: Vec<CountingWaker> = futs.iter().map(|_| CountingWaker::new()).collect();
    assert!(poll_with(futs[0].as_mut(), &bad).is_pending());
    for (f, c) in futs.iter_mut().zip(&counts).skip(1) {
        assert!(c.poll(f.as_mut()).is_pending());
    }
    counts
}

/// A waker that panics in `wake` during `add_permits` must not lose the
/// permits still to be handed out (the release went on only after the
/// batch was woken), nor the wake-ups of the waiters served after it.
#[test]
#[cfg_attr(
    miri,
    ignore = "leaks the wakers of the panicking batch (see `WakeBatch::wake_all`)"
)]
fn panicking_wake_in_release_loses_no_permit_and_no_wakeup() {
    let sem = Semaphore::new(0);
    let mut futs: Vec<_> = (0..N).map(|_| Box::pin(sem.acquire())).collect();
    let counts = queue_behind_a_panicking_wake(&mut futs);
    let res = catch_unwind(AssertUnwindSafe(|| sem.add_permits(N)));
    assert!(
        res.is_err(),
        "the wake panicked (it propagates to the caller)"
    );
    let woken: Vec<usize> = counts[1..].iter().map(CountingWaker::count).collect();
    // Keep the permits (dropping one would hand it to the last waiter).
    let outs: Vec<_> = futs
        .iter_mut()
        .map(|f| poll_with(f.as_mut(), Waker::noop()))
        .collect();
    let ready: Vec<bool> = outs.iter().map(|p| p.is_ready()).collect();
    assert!(
        ready.iter().all(|r| *r),
        "every waiter must get its permit ({N} were added): ready = {ready:?}, free = {}",
        sem.available_permits()
    );
    // The waiters served after the batch holding the panicking waker are
    // woken; those in its batch lose their wake-up (`WakeBatch::wake_all`
    // explains why that is left), though they hold their permits.
    assert!(
        woken[BATCH - 1..].iter().all(|&c| c >= 1),
        "the waiters after the panicking batch must be woken: wake counts of waiters 1.. = {woken:?}"
    );
}

/// Same for `close`: the waiters after the panicking one must still be
/// told the semaphore closed.
#[test]
#[cfg_attr(
    miri,
    ignore = "leaks the wakers of the panicking batch (see `WakeBatch::wake_all`)"
)]
fn panicking_wake_in_close_still_fails_every_waiter() {
    let sem = Semaphore::new(0);
    let mut futs: Vec<_> = (0..N).map(|_| Box::pin(sem.acquire())).collect();
    let counts = queue_behind_a_panicking_wake(&mut futs);
    let res = catch_unwind(AssertUnwindSafe(|| sem.close()));
    assert!(res.is_err());
    assert!(sem.is_closed());
    let woken: Vec<usize> = counts[1..].iter().map(CountingWaker::count).collect();
    let outcome: Vec<&str> = futs
        .iter_mut()
        .map(|f| match poll_with(f.as_mut(), Waker::noop()) {
            Poll::Ready(Ok(_)) => "ok",
            Poll::Ready(Err(_)) => "closed",
            Poll::Pending => "pending",
        })
        .collect();
    assert!(
        outcome.iter().all(|o| *o == "closed"),
        "every waiter must fail with Closed: {outcome:?}"
    );
    assert!(
        woken[BATCH - 1..].iter().all(|&c| c >= 1),
        "the waiters after the panicking batch must be woken by close: {woken:?}"
    );
}

// ------------------------------------------------------------ MutexGuard::map

/// A panicking `MutexGuard::map` closure must release the lock (no
/// poisoning, and `MappedMutexGuard::map` does release it).
#[test]
fn mutex_guard_map_panicking_closure_releases_the_lock() {
    let m = Mutex::new(0u32);
    let g = m.try_lock().unwrap();
    let res = catch_unwind(AssertUnwindSafe(|| {
        let _mapped = weftwork::sync::MutexGuard::map(g, |_v: &mut u32| -> &mut u32 {
            panic!("map closure panics")
        });
    }));
    assert!(res.is_err());
    assert!(
        m.try_lock().is_some(),
        "the mutex stays locked forever after a panicking map closure"
    );
}

// ------------------------------------------------------------ blocking in a TLS destructor

/// `acquire_blocking` from a thread-local destructor (after the blocking
/// executor's own thread-local waker was destroyed) must not panic — a
/// panic there aborts the process. Run in a child process.
#[test]
#[cfg_attr(miri, ignore)] // spawns a process
fn acquire_blocking_in_tls_destructor_does_not_abort() {
    if in_child() {
        struct D;
        impl Drop for D {
            fn drop(&mut self) {
                let sem = Semaphore::new(1);
                drop(sem.acquire_blocking().unwrap());
                eprintln!("CHILD: acquire_blocking in TLS dtor ok");
            }
        }
        thread_local!(static TLS_D: D = const { D });
        std::thread::spawn(|| {
            TLS_D.with(|_| {}); // registered first, destroyed last
            let sem = Semaphore::new(1);
            drop(sem.acquire_blocking().unwrap()); // registers the waker TLS
        })
        .join()
        .unwrap();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acquire_blocking_in_tls_destructor_does_not_abort",
            "--test-threads=1",
            "--nocapture",
        ])
        .env("WEFTWORK_TEST_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("CHILD: acquire_blocking in TLS dtor ok"),
        "child failed: {:?}\n{stderr}",
        out.status
    );
}
