//! Mutations used to prove the models can fail (applied to a copy of
//! `src/`, never to the real one; `*` = caught only by a hang/timeout):
//! M1 `with_list` store `Release`→`Relaxed` · M2 `Acquire::cancel` keeps
//! handed permits · M3 `release` does not wake granted waiters · M4 `release`
//! grants without unlinking · M5 write-guard drop keeps the slot · M6
//! `try_acquire` CAS `Acquire`→`Relaxed` · M7 `release` fast-path CAS
//! `Release`→`Relaxed` · M8 `close` does not wake · M9 enqueue does not set
//! `WAITERS` · M11 LIFO queue · M13 write `downgrade` keeps the slot · M14
//! `upgrade` waits for all read permits · M15 write-future drop keeps a held
//! slot · M18 `release` adds `n`, not the remainder · M19 closed waiter's
//! partial permits lost · M20 writer leaves one read permit · M21 shim uses
//! `core` atomics/cells under `cfg(loom)` · M22 mapped-guard drop does not
//! unlock · M26 read-guard drop does not release · M27 internal `lock()` CAS
//! `Acquire`→`Relaxed` · M28 upgradable `downgrade` keeps the slot · M29
//! `unlock_one` does not wake · M30 `cancel` does not pass a freed lock on ·
//! M31 `unlock_one` fast-path CAS `Release`→`Relaxed` · M32 `unlock_one`
//! never hands off.
//!
//! | model                                 | mutations it catches |
//! |---------------------------------------|----------------------|
//! | two_threads_increment_through_a_mutex | M1, M9, M29, M27* |
//! | loom_finds_a_lost_update_in_user_code | M21 (only this one: loom must see weftwork's atomics), M1, M9, M29, M27* |
//!
//
// ---------------------------------------------------------------------------
// README: "Model-check your own code with loom" (paste-ready)
// ---------------------------------------------------------------------------
//
// weftwork depends on loom under `cfg(loom)` as a *normal* dependency, and
// every atomic and cell inside it comes from one shim (`src/loom.rs`) that
// switches to loom's instrumented types under `--cfg loom`. So when your
// crate runs its own loom tests, loom also sees (and permutes) every atomic
// operation inside weftwork's `Mutex`, `RwLock` and `Semaphore`: it explores
// the interleavings of your code *and* of the locks you call.
//
// 1. Add loom to your crate, only for loom builds:
//
//        [target.'cfg(loom)'.dev-dependencies]
//        loom = { version = "0.7", features = ["futures"] }
//
//        [lints.rust]
//        unexpected_cfgs = { level = "warn", check-cfg = ["cfg(loom)"] }
//
// 2. Write the test with loom's threads and `Arc`, and drive futures with
//    `loom::future::block_on` (or weftwork's `*_blocking` methods, which
//    use it under loom):
//
//        #![cfg(loom)]
//        use loom::sync::Arc;
//        use weftwork::Mutex;
//
//        #[test]
//        fn two_threads_increment() {
//            loom::model(|| {
//                let n = Arc::new(Mutex::new(0));
//                let t = {
//                    let n = n.clone();
//                    loom::thread::spawn(move || *n.lock_blocking() += 1)
//                };
//                *loom::future::block_on(n.lock()) += 1;
//                t.join().unwrap();
//                assert_eq!(*n.try_lock().unwrap(), 2);
//            });
//        }
//
// 3. Run it in release mode (loom is slow in debug builds), bounding the
//    preemptions explored:
//
//        RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release
//
// Things to know:
// * Use `loom::thread::spawn`, `loom::sync::Arc` and `loom::future::block_on`
//   inside the model, never `std::thread` or a real runtime (tokio, smol):
//   loom can only schedule threads it created. The `*_arc` methods take a
//   `std::sync::Arc`, which is fine inside a model.
// * The value inside a weftwork lock is a plain `core` cell, so loom checks
//   the lock's happens-before edges but not your accesses to the value. To
//   have loom check those too, store a `loom::cell::UnsafeCell` inside the
//   lock and access it with `with`/`with_mut`.
// * weftwork guards its wait queue with a short internal spin lock; under
//   loom a spinner blocks on a loom mutex held by the lock's holder instead
//   of yielding, so three or more contending threads do not look like a
//   livelock to loom (see `three_threads_close_racing_two_waiters`).
// * A failing model prints the interleaving; rerun it with
//   `LOOM_LOG=trace LOOM_LOCATION=1` to see every step.
// ---------------------------------------------------------------------------

//! A test written exactly as a downstream crate would write it: only
//! `weftwork`'s public API, loom, and no helpers from this crate.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use weftwork::Mutex;

/// Two threads increment a counter through `weftwork::Mutex`; loom explores
/// the interleavings of the lock itself.
#[test]
fn two_threads_increment_through_a_mutex() {
    loom::model(|| {
        let counter = Arc::new(Mutex::new(0usize));
        let other = {
            let counter = counter.clone();
            thread::spawn(move || *counter.lock_blocking() += 1)
        };
        *loom::future::block_on(counter.lock()) += 1;
        other.join().unwrap();
        assert_eq!(*counter.try_lock().unwrap(), 2);
    });
}

/// The same counter with a bug *in the user's code*: the read and the
/// write happen in two separate critical sections. The lost update needs a
/// thread switch inside weftwork's lock/unlock calls, so loom finding it
/// shows that it explores weftwork's interleavings (if weftwork's atomics
/// were invisible to loom, each thread would run its increments without
/// interruption and the bug would go unnoticed).
#[test]
#[should_panic(expected = "lost update")]
fn loom_finds_a_lost_update_in_user_code() {
    loom::model(|| {
        fn racy_increment(counter: &Mutex<usize>) {
            let seen = *counter.lock_blocking();
            *counter.lock_blocking() = seen + 1; // BUG: not one critical section
        }
        let counter = Arc::new(Mutex::new(0usize));
        let other = {
            let counter = counter.clone();
            thread::spawn(move || racy_increment(&counter))
        };
        racy_increment(&counter);
        other.join().unwrap();
        assert_eq!(*counter.try_lock().unwrap(), 2, "lost update");
    });
}

/// Three threads on one semaphore: two wait while the third releases and
/// closes. Before the wait core blocked on a loom mutex under `cfg(loom)`
/// (instead of yielding in its spin loop), loom gave up on this model with
/// "exceeded maximum number of branches".
#[test]
fn three_threads_close_racing_two_waiters() {
    loom::model(|| {
        let sem = Arc::new(weftwork::Semaphore::new(2));
        let p1 = sem.try_acquire().unwrap();
        let p2 = sem.try_acquire().unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || loom::future::block_on(sem.acquire()).map(|p| p.forget()))
            })
            .collect();
        drop(p1);
        sem.close();
        drop(p2);
        let granted = waiters
            .into_iter()
            .filter(|_| true)
            .map(|t| t.join().unwrap().is_ok())
            .filter(|ok| *ok)
            .count();
        // Whatever was granted was forgotten; the rest came back.
        assert_eq!(sem.available_permits() + granted, 2);
    });
}
