//! Loom models of `weftwork::scope`: wake-ups that cross threads, spawning
//! from another thread while the scope completes, abort racing a wake,
//! cancellation from outside, teardown racing a wake.
//!
//! Mutations used to prove the models can fail (applied by hand to
//! `src/scope/`, run, then reverted; `*` = reported by loom as a deadlock):
//! S1 `Ready::take` does not register the driver's waker · S2
//! `TaskRef::poll` never clears the child's queued flag (a child is queued
//! once, ever) ·
//! S3 `Core::try_finish` ignores live children · S4 `Core::spawn` accepts
//! children after the scope finished · S5 `Core::abort` of a running child
//! does not admit the next waiting one · S6 dropping the scope future does
//! not tear the children down. (S1–S6 were run against the earlier design
//! with a separate slot array; the code they mutate still exists.)
//!
//! Mutations of the current design (child state in the cell, one lock,
//! lock-free join of a finished child), re-planted and run:
//! N1 `poll_join` does not re-check `fin` under the lock (registers a
//! waker after the child finished) · N2 `retire` does not take the join
//! waker · N3 ending a `Pending` poll leaves the child `Polling` (never
//! polled again) · N5 `Core::spawn` does not wake the parked driver (not
//! caught by `spawn_from_outside_racing_completion`, whose driver never
//! parks while the scope is open; `spawn_from_outside_wakes_a_parked_scope`
//! was added for it).
//!
//! | model                                   | mutations it catches |
//! |-----------------------------------------|----------------------|
//! | child_woken_from_another_thread         | S1*, S2* |
//! | spawn_from_outside_racing_completion    | S1*, S3, S4 |
//! | abort_racing_a_wake_frees_the_slot      | S5* |
//! | parent_cancel_reaches_waiting_children  | S1*, S2*, and a real bug: a waiter that saw its semaphore closed through the relaxed fast path did not see the token's flag (fixed in `RawSemaphore::try_acquire_from`) |
//! | dropped_scope_racing_a_wake             | S6 |
//! | (N1–N3 on the current design)           | |
//! | join_from_another_thread_racing_completion | N1* |
//! | child_woken_from_another_thread         | N2* |
//! | abort_racing_a_wake_frees_the_slot      | N3* |
//! | spawn_from_outside_wakes_a_parked_scope | N5* |
//! | join_from_another_thread_admits_a_waiting_child | N6* |
//! | completions_next_from_another_thread_admits_a_member | N7* |
//!
//! N6: `poll_join` lets a waiting child in without waking the driver.
//! N7: `Rx::poll_next` lets a waiting member in without waking the driver.
//!
//! Mutations of the completion sets (a set's finished children are linked
//! into a list under the scope's lock by the driver; the consumer takes the
//! whole list at once), planted and run:
//! C1 `retire_member` does not take the consumer's waker · C2
//! `Rx::poll_next` ends the set (`None`) when the list is empty, ignoring
//! children still pending · C3 `Rx::poll_next` registers the waker in a
//! lock of its own, after the one that found the list empty.
//!
//! | model                                            | mutations it catches |
//! |--------------------------------------------------|----------------------|
//! | completions_child_woken_from_another_thread      | C1*, C2 |
//! | completions_consumed_on_another_thread           | C2, C3* (not C1: the teardown at the scope's end wakes the consumer anyway) |
#![cfg(loom)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use weftwork::scope::Builder;
use weftwork::{CancelToken, Semaphore};
use weftwork_loom_tests::{counting_waker, model, poll_once};

/// A semaphore with no permit, and a thread that adds one: whatever waits
/// on it is woken from that other thread.
fn released_by_another_thread() -> (Arc<Semaphore>, thread::JoinHandle<()>) {
    let sem = Arc::new(Semaphore::new(0));
    let s2 = sem.clone();
    (sem, thread::spawn(move || s2.add_permits(1)))
}

/// A child parked on a semaphore is woken by a release on another thread:
/// the wake must reach the scope's driver (no lost wake-up, or loom reports
/// a deadlock) and the child must run to completion.
#[test]
fn child_woken_from_another_thread() {
    model(|| {
        let (sem, releaser) = released_by_another_thread();
        let got = block_on(weftwork::scope(async |s| {
            let sem = &sem;
            s.spawn(async move { sem.acquire().await.unwrap().forget() })
                .await;
            1
        }));
        releaser.join().unwrap();
        assert_eq!(got, 1);
        assert_eq!(sem.available_permits(), 0);
    });
}

/// A `Scope` handle moved to another thread spawns while the body finishes:
/// either the spawn is refused (the scope had finished: a clear panic) or
/// the child runs before the scope returns. Never an orphan.
#[test]
fn spawn_from_outside_racing_completion() {
    quiet_expected_panics();
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = weftwork::channel::oneshot::<weftwork::Scope<'static>>();
        let ran2 = ran.clone();
        let spawner = thread::spawn(move || {
            let s = block_on(rx).unwrap();
            let res = catch_unwind(AssertUnwindSafe(|| {
                drop(s.spawn(async move {
                    ran2.fetch_add(1, SeqCst);
                }));
            }));
            res.is_ok()
        });
        block_on(weftwork::scope(async move |s| {
            tx.send(s.clone()).unwrap();
        }));
        let ran_before_return = ran.load(SeqCst);
        let spawned = spawner.join().unwrap();
        assert_eq!(
            ran_before_return,
            usize::from(spawned),
            "an accepted child must finish before the scope returns"
        );
    });
}

/// The body parks (its driver sleeps) until a child spawned from another
/// thread releases a permit: the spawn itself must wake the parked driver,
/// or nobody ever polls the child and loom reports a deadlock.
#[test]
fn spawn_from_outside_wakes_a_parked_scope() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let (tx, rx) = weftwork::channel::oneshot::<weftwork::Scope<'static>>();
        let s2 = sem.clone();
        let spawner = thread::spawn(move || {
            let s = block_on(rx).unwrap();
            drop(s.spawn(async move { s2.add_permits(1) }));
        });
        let sem2 = sem.clone();
        block_on(weftwork::scope(async move |s| {
            tx.send(s.clone()).unwrap();
            sem2.acquire().await.unwrap().forget();
        }));
        spawner.join().unwrap();
        assert_eq!(sem.available_permits(), 0);
    });
}

/// The model above makes `spawn` panic on purpose in many executions; keep
/// those expected messages out of the test output (others still print).
fn quiet_expected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.contains("spawn on a scope that has already finished") {
            default(info);
        }
    }));
}

/// Limit 1: a running child parked on a semaphore is aborted while another
/// thread releases the semaphore (waking it). The abort must free the slot
/// so the queued child runs, and no permit is lost.
#[test]
fn abort_racing_a_wake_frees_the_slot() {
    model(|| {
        let (sem, releaser) = released_by_another_thread();
        let taken = AtomicUsize::new(0);
        block_on(Builder::new().limit(1).scope(async |s| {
            let (sem, taken) = (&sem, &taken);
            let first = s.spawn(async move {
                sem.acquire().await.unwrap().forget();
                taken.fetch_add(1, SeqCst);
            });
            let second = s.spawn(async move { taken.fetch_add(10, SeqCst) });
            weftwork::scope::yield_now().await;
            first.abort();
            second.await;
        }));
        releaser.join().unwrap();
        let taken = taken.load(SeqCst);
        assert!(taken == 10 || taken == 11, "{taken}");
        // The first child either took the permit (1) or it is still there.
        assert_eq!(sem.available_permits() + (taken - 10), 1);
    });
}

/// A parent token cancelled on another thread reaches a child waiting on
/// the scope's own token.
#[test]
fn parent_cancel_reaches_waiting_children() {
    model(|| {
        let parent = CancelToken::new();
        let p2 = parent.clone();
        let canceller = thread::spawn(move || p2.cancel());
        let seen = block_on(Builder::new().child_of(&parent).scope(async |s| {
            let t = s.token().clone();
            let c = s
                .spawn(async move {
                    t.cancelled().await;
                    t.is_cancelled()
                })
                .await;
            let p = parent.is_cancelled();
            assert!(c, "child saw no cancel");
            assert!(s.token().is_cancelled(), "body: parent {p}");
            s.token().is_cancelled()
        }));
        canceller.join().unwrap();
        assert!(seen);
    });
}

/// The scope future is dropped while another thread wakes its parked
/// child: the child (and its semaphore wait) is dropped by the drop, so
/// the released permit is back in the semaphore afterwards, and the late
/// wake touches nothing freed.
#[test]
fn dropped_scope_racing_a_wake() {
    model(|| {
        let (sem, releaser) = released_by_another_thread();
        let dropped = Arc::new(AtomicUsize::new(0));
        {
            let d = dropped.clone();
            let sem = &sem;
            let mut fut = pin!(weftwork::scope(async move |s| {
                struct Guard(Arc<AtomicUsize>);
                impl Drop for Guard {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, SeqCst);
                    }
                }
                let g = Guard(d);
                // The child holds a handle to its scope (as a child that
                // spawns does): only the teardown breaks that cycle.
                let s2 = s.clone();
                s.spawn(async move {
                    let _s = s2;
                    let _g = g;
                    let p = sem.acquire().await.unwrap();
                    std::future::pending::<()>().await;
                    drop(p);
                });
                std::future::pending::<()>().await
            }));
            let (waker, _count) = counting_waker();
            let _ = poll_once(fut.as_mut(), &waker);
        }
        assert_eq!(
            dropped.load(SeqCst),
            1,
            "the child was dropped with the scope"
        );
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1, "no permit lost");
    });
}

/// A `JoinHandle` awaited on another thread while the driver finishes its
/// child: the join either finds the output (`fin` set, no lock) or
/// registers its waker before the driver looks for one — never in between
/// (a lost wake-up is a loom deadlock). The driver's output hand-off and
/// the handle's lock-free read meet only through `fin`.
#[test]
fn join_from_another_thread_racing_completion() {
    model(|| {
        let (tx, rx) = weftwork::channel::oneshot::<weftwork::JoinHandle<'static, usize>>();
        let joiner = thread::spawn(move || {
            let h = block_on(rx).unwrap();
            block_on(h)
        });
        block_on(weftwork::scope(async move |s| {
            let h = s.spawn(async {
                weftwork::scope::yield_now().await;
                7
            });
            tx.send(h).unwrap();
        }));
        assert_eq!(joiner.join().unwrap(), 7);
    });
}

/// Limit 1: the running child waits for a message from a child queued
/// behind it, whose handle is awaited on another thread. Awaiting it lets
/// it in over the limit and must wake the parked driver (a lost wake-up,
/// or no early admission at all, is a loom deadlock).
#[test]
fn join_from_another_thread_admits_a_waiting_child() {
    model(|| {
        let (tx, rx) = weftwork::channel::oneshot::<weftwork::JoinHandle<'static, usize>>();
        let joiner = thread::spawn(move || {
            let h = block_on(rx).unwrap();
            block_on(h)
        });
        let got = block_on(Builder::new().limit(1).scope(async move |s| {
            let (msg_tx, msg_rx) = weftwork::channel::oneshot::<usize>();
            let first = s.spawn(async move { msg_rx.await.unwrap() });
            let queued = s.spawn(async move {
                msg_tx.send(5).unwrap();
                7
            });
            tx.send(queued).unwrap();
            first.await
        }));
        assert_eq!(got, 5);
        assert_eq!(joiner.join().unwrap(), 7);
    });
}

/// Limit 1: the running child waits for a message from a member of a
/// completion set queued behind it, and the set is consumed on another
/// thread. The consumer finds no member running and lets one in over the
/// limit; that must wake the parked driver (a lost wake-up, or no early
/// admission at all, is a loom deadlock).
#[test]
fn completions_next_from_another_thread_admits_a_member() {
    model(|| {
        let (tx, rx) = weftwork::channel::oneshot::<weftwork::scope::Completions<'static, usize>>();
        let consumer = thread::spawn(move || {
            let mut set = block_on(rx).unwrap();
            block_on(set.next())
        });
        let got = block_on(Builder::new().limit(1).scope(async move |s| {
            let (msg_tx, msg_rx) = weftwork::channel::oneshot::<usize>();
            let first = s.spawn(async move { msg_rx.await.unwrap() });
            let set = s.completions();
            set.spawn(async move {
                msg_tx.send(5).unwrap();
                7
            });
            tx.send(set).unwrap();
            first.await
        }));
        assert_eq!(got, 5);
        assert_eq!(consumer.join().unwrap(), Some(7));
    });
}

/// A completion set whose child is woken from another thread: the wake
/// reaches the driver, the child's output reaches the body waiting in
/// `next`, and the set ends only after both children were delivered.
#[test]
fn completions_child_woken_from_another_thread() {
    model(|| {
        let (sem, releaser) = released_by_another_thread();
        let got = block_on(weftwork::scope(async |s| {
            let sem = &sem;
            let mut set = s.completions();
            set.spawn(async move {
                sem.acquire().await.unwrap().forget();
                1
            });
            set.spawn(async { 2 });
            let mut sum = 0;
            while let Some(v) = set.next().await {
                sum += v;
            }
            sum
        }));
        releaser.join().unwrap();
        assert_eq!(got, 3);
    });
}

/// A completion set moved to another thread and drained there while the
/// driver finishes its children: the consumer takes the driver's list under
/// the scope's lock or registers its waker before the driver looks for one
/// (a lost wake-up is a loom deadlock), and sees every output exactly once.
#[test]
fn completions_consumed_on_another_thread() {
    model(|| {
        let (tx, rx) = weftwork::channel::oneshot::<weftwork::scope::Completions<'static, usize>>();
        let consumer = thread::spawn(move || {
            let mut set = block_on(rx).unwrap();
            block_on(async move {
                let mut sum = 0;
                while let Some(v) = set.next().await {
                    sum += v;
                }
                sum
            })
        });
        block_on(weftwork::scope(async move |s| {
            let set = s.completions();
            set.spawn(async {
                weftwork::scope::yield_now().await;
                3
            });
            set.spawn(async { 4 });
            tx.send(set).unwrap();
        }));
        assert_eq!(consumer.join().unwrap(), 7);
    });
}
