//! `CancelToken`: tree semantics, unregistering, waking, deadlines with
//! real timers, `run_until_cancelled`, drop guards, no allocation per wait.

mod common;
#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use common::{CountingWaker, assert_send_sync, on_all_executors, poll_once, ready};
use weftwork::CancelToken;
use weftwork::cancel::{
    CancelAfter, CancelAfterOwned, CancelOnDrop, Cancelled, CancelledOwned, RunUntilCancelled,
    RunUntilCancelledOwned,
};

const MANY: usize = if cfg!(miri) { 200 } else { 100_000 };

#[test]
fn types_are_send_and_sync() {
    assert_send_sync::<CancelToken>();
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<CancelToken>();
    assert_send_sync::<CancelOnDrop>();
    assert_send_sync::<Cancelled<'static>>();
    assert_send_sync::<CancelledOwned>();
    assert_send_sync::<CancelAfter<'static, std::future::Ready<()>>>();
    assert_send_sync::<CancelAfterOwned<std::future::Ready<()>>>();
    assert_send_sync::<RunUntilCancelled<'static, std::future::Ready<()>>>();
    assert_send_sync::<RunUntilCancelledOwned<std::future::Ready<()>>>();
}

#[test]
fn tree_semantics() {
    let root = CancelToken::default();
    let a = root.child();
    let a1 = a.child();
    let b = root.child();
    let a_clone = a.clone();
    assert!(a.same_token(&a_clone) && !a.same_token(&a1));
    assert_eq!(format!("{a:?}"), "CancelToken { cancelled: false }");

    a_clone.cancel(); // a clone is the same token
    assert!(a.is_cancelled() && a1.is_cancelled(), "subtree cancelled");
    assert!(!root.is_cancelled(), "a child's cancel reached its parent");
    assert!(!b.is_cancelled(), "a child's cancel reached its sibling");

    root.cancel();
    assert!(b.is_cancelled());
    root.cancel(); // idempotent
    assert!(root.is_cancelled());
    assert_eq!(format!("{b:?}"), "CancelToken { cancelled: true }");
}

#[test]
fn child_of_a_cancelled_token_is_born_cancelled() {
    let root = CancelToken::new();
    let mid = root.child();
    root.cancel();
    let late = mid.child();
    assert!(late.is_cancelled());
    assert_eq!(root.registered_children(), 0, "cancel takes the children");
    assert_eq!(
        mid.registered_children(),
        0,
        "born-cancelled is not registered"
    );
    ready(
        poll_once(pin!(late.cancelled())),
        "cancelled() of a born-cancelled token",
    );
}

#[test]
fn dropped_children_unregister() {
    let root = CancelToken::new();
    for _ in 0..MANY {
        let c = root.child();
        let _clone = c.clone();
        let _grandchild = c.child();
    }
    assert_eq!(root.registered_children(), 0, "dropped children leaked");

    // Many alive at once, dropped in creation order (swap_remove paths).
    let kids: Vec<_> = (0..MANY / 10).map(|_| root.child()).collect();
    assert_eq!(root.registered_children(), MANY / 10);
    let keep: Vec<_> = kids.iter().step_by(7).cloned().collect();
    drop(kids);
    assert_eq!(root.registered_children(), keep.len());
    root.cancel();
    assert!(
        keep.iter().all(CancelToken::is_cancelled),
        "survivors not cancelled"
    );
}

#[test]
fn dropped_middle_token_still_forwards_cancel() {
    let root = CancelToken::new();
    let mid = root.child();
    let leaf = mid.child();
    drop(mid); // no handle left, but `leaf` still hangs below it
    assert_eq!(
        root.registered_children(),
        1,
        "mid left while it had a child"
    );
    root.cancel();
    assert!(
        leaf.is_cancelled(),
        "cancel did not reach through a dropped token"
    );

    let root = CancelToken::new();
    let mid = root.child();
    let leaf = mid.child();
    drop(mid);
    drop(leaf); // the chain leaves, bottom-up
    assert_eq!(root.registered_children(), 0);
}

#[test]
fn owned_future_keeps_a_child_registered() {
    let root = CancelToken::new();
    let fut = root.child().cancelled_owned();
    assert_eq!(root.registered_children(), 1);
    let w = CountingWaker::new();
    let mut fut = Box::pin(fut);
    assert!(w.poll_box(&mut fut).is_pending());
    root.cancel();
    assert_eq!(w.count(), 1);
    ready(w.poll_box(&mut fut), "owned waiter after parent cancel");
    ready(w.poll_box(&mut fut), "polling again after completion");
}

#[test]
fn deep_chain_cancels_and_drops_without_recursion() {
    let depth = if cfg!(miri) { 100 } else { 200_000 };
    let root = CancelToken::new();
    let mut leaf = root.child();
    for _ in 0..depth {
        leaf = leaf.child(); // each intermediate handle is dropped
    }
    assert_eq!(root.registered_children(), 1);
    root.cancel();
    assert!(leaf.is_cancelled());
    drop(leaf); // frees the whole chain: must not overflow the stack

    let root = CancelToken::new();
    let mut leaf = root.child();
    for _ in 0..depth {
        leaf = leaf.child();
    }
    drop(leaf); // unregisters the chain bottom-up, then frees it
    assert_eq!(root.registered_children(), 0);
}

#[test]
fn cancel_wakes_every_waiter_polled_by_hand() {
    let token = CancelToken::new();
    let child = token.child();
    let mut waiters: Vec<(CountingWaker, Pin<Box<Cancelled<'_>>>)> = (0..5)
        .map(|i| {
            let t = if i == 4 { &child } else { &token };
            (CountingWaker::new(), Box::pin(t.cancelled()))
        })
        .collect();
    for (w, f) in &mut waiters {
        assert!(w.poll_box(f).is_pending());
    }
    // A dropped waiter takes nothing from the others.
    drop(waiters.remove(1));
    token.cancel();
    for (i, (w, f)) in waiters.iter_mut().enumerate() {
        assert_eq!(w.count(), 1, "waiter {i} not woken exactly once");
        ready(w.poll_box(f), "a woken waiter");
    }
}

#[test]
fn cancelled_wakes_all_tasks_on_all_executors() {
    on_all_executors(|ex| async move {
        let token = CancelToken::new();
        let started = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..common::TASKS {
            let t = if i % 2 == 0 {
                token.clone()
            } else {
                token.child()
            };
            let (started, done) = (started.clone(), done.clone());
            handles.push(ex.spawn(async move {
                started.fetch_add(1, SeqCst);
                t.cancelled().await;
                assert!(t.is_cancelled());
                done.fetch_add(1, SeqCst);
            }));
        }
        while started.load(SeqCst) < common::TASKS {
            common::yield_now().await;
        }
        assert_eq!(done.load(SeqCst), 0, "{}: woke before cancel", ex.name());
        token.cancel();
        common::join_all(handles).await;
        assert_eq!(done.load(SeqCst), common::TASKS);
    });
}

#[test]
fn cancel_races_child_creation_across_threads() {
    let rounds = if cfg!(miri) { 5 } else { 200 };
    for _ in 0..rounds {
        let root = CancelToken::new();
        let makers: Vec<_> = (0..3)
            .map(|_| {
                let root = root.clone();
                thread::spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..20 {
                        let c = root.child();
                        if i % 3 == 0 {
                            kept.push(c);
                        }
                    }
                    kept
                })
            })
            .collect();
        root.cancel();
        for m in makers {
            for c in m.join().unwrap() {
                assert!(c.is_cancelled(), "a child escaped its parent's cancel");
            }
        }
        assert_eq!(root.registered_children(), 0);
    }
}

#[test]
fn children_dropped_concurrently_leave_no_trace() {
    let root = CancelToken::new();
    let per = if cfg!(miri) { 20 } else { 5_000 };
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let root = root.clone();
            thread::spawn(move || {
                let mut live = Vec::new();
                for i in 0..per {
                    live.push(root.child());
                    if i % 2 == 0 {
                        live.swap_remove(i % live.len());
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(root.registered_children(), 0);
}

#[test]
fn waiting_allocates_nothing() {
    let token = CancelToken::new();
    let (allocs, _) = counting_alloc::allocs_during(|| {
        for _ in 0..10 {
            let mut f = pin!(token.cancelled());
            assert!(poll_once(f.as_mut()).is_pending());
            let mut g = pin!(token.run_until_cancelled(std::future::pending::<()>()));
            assert!(poll_once(g.as_mut()).is_pending());
        }
    });
    assert_eq!(allocs, 0, "cancelled() allocated");
}

/// Counts how often it was dropped and polled.
struct Probe {
    drops: Arc<AtomicUsize>,
    polls: Arc<AtomicUsize>,
}

impl Future for Probe {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, SeqCst);
        Poll::Pending
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

fn probe() -> (Probe, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    let polls = Arc::new(AtomicUsize::new(0));
    let p = Probe {
        drops: drops.clone(),
        polls: polls.clone(),
    };
    (p, drops, polls)
}

#[test]
fn cancel_after_ends_early_and_drops_the_deadline() {
    let token = CancelToken::new();
    let (deadline, drops, polls) = probe();
    let w = CountingWaker::new();
    let mut fut = Box::pin(token.cancel_after(deadline));
    assert!(w.poll_box(&mut fut).is_pending());
    assert_eq!(polls.load(SeqCst), 1);
    token.cancel();
    assert_eq!(w.count(), 1, "cancel did not wake cancel_after");
    ready(w.poll_box(&mut fut), "cancel_after after cancel");
    assert_eq!(
        drops.load(SeqCst),
        1,
        "the deadline was not dropped on completion"
    );
    assert_eq!(
        polls.load(SeqCst),
        1,
        "the deadline was polled after the cancel"
    );
    ready(w.poll_box(&mut fut), "cancel_after polled again");

    // Dropping it neither cancels nor leaks.
    let token = CancelToken::new();
    let (deadline, drops, _) = probe();
    let mut fut = Box::pin(token.cancel_after_owned(deadline));
    assert!(w.poll_box(&mut fut).is_pending());
    drop(fut);
    assert!(!token.is_cancelled());
    assert_eq!(drops.load(SeqCst), 1);
}

#[cfg_attr(miri, ignore = "tokio timers under Miri are too slow")]
#[test]
fn cancel_after_with_a_tokio_timer() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let token = CancelToken::new();
        let child = token.child();
        let start = Instant::now();
        let work = tokio::spawn(child.run_until_cancelled_owned(std::future::pending::<()>()));
        tokio::spawn(token.cancel_after_owned(tokio::time::sleep(Duration::from_millis(30))));
        assert_eq!(work.await.unwrap(), None);
        assert!(child.is_cancelled());
        assert!(
            start.elapsed() >= Duration::from_millis(30),
            "cancelled before the deadline"
        );

        // Cancelled first: the timer is abandoned at once.
        let token = CancelToken::new();
        token.cancel();
        let start = Instant::now();
        token
            .cancel_after(tokio::time::sleep(Duration::from_secs(600)))
            .await;
        assert!(start.elapsed() < Duration::from_secs(60));
    });
}

#[cfg_attr(miri, ignore = "smol timers under Miri are too slow")]
#[test]
fn cancel_after_with_a_smol_timer() {
    smol::block_on(async {
        let token = CancelToken::new();
        let start = Instant::now();
        let work = token.run_until_cancelled(async {
            smol::Timer::after(Duration::from_secs(600)).await;
            "finished"
        });
        let deadline = token.cancel_after(smol::Timer::after(Duration::from_millis(30)));
        let (out, ()) = futures::join!(work, deadline);
        assert_eq!(out, None);
        assert!(start.elapsed() >= Duration::from_millis(30));

        // The work wins when it is faster than the deadline.
        let token = CancelToken::new();
        let work = token.run_until_cancelled(async {
            smol::Timer::after(Duration::from_millis(1)).await;
            "finished"
        });
        let deadline = token.cancel_after(smol::Timer::after(Duration::from_secs(600)));
        let (work, deadline) = (pin!(work), pin!(deadline));
        let out = futures::future::select(work, deadline).await;
        match out {
            futures::future::Either::Left((out, _)) => assert_eq!(out, Some("finished")),
            futures::future::Either::Right(_) => panic!("the 600 s deadline fired"),
        }
        assert!(!token.is_cancelled());
    });
}

#[test]
fn run_until_cancelled_outcomes() {
    pollster::block_on(async {
        let token = CancelToken::new();
        assert_eq!(token.run_until_cancelled(async { 3 }).await, Some(3));
        let owned = token.run_until_cancelled_owned(async { 4 });
        assert_eq!(owned.await, Some(4));
    });

    // Cancelled while pending: None, and the inner future is not polled
    // again (it is dropped with the outer one).
    let token = CancelToken::new();
    let (inner, drops, polls) = probe();
    let w = CountingWaker::new();
    let mut fut = Box::pin(token.run_until_cancelled(inner));
    assert!(w.poll_box(&mut fut).is_pending());
    token.cancel();
    assert_eq!(w.count(), 1);
    assert_eq!(ready(w.poll_box(&mut fut), "after cancel"), None);
    assert_eq!(polls.load(SeqCst), 1);
    drop(fut);
    assert_eq!(drops.load(SeqCst), 1);

    // Both ready: cancellation wins, the inner future is never polled.
    let polled = AtomicUsize::new(0);
    let out = pollster::block_on(token.run_until_cancelled(async {
        polled.fetch_add(1, SeqCst);
        5
    }));
    assert_eq!(out, None);
    assert_eq!(polled.load(SeqCst), 0);
}

#[test]
fn drop_guard_cancels_unless_disarmed() {
    let token = CancelToken::new();
    let guard = token.child().drop_guard();
    assert!(!guard.token().is_cancelled());
    let child = guard.token().clone();
    drop(guard);
    assert!(child.is_cancelled());
    assert!(!token.is_cancelled());

    let guard = token.clone().drop_guard();
    let back = guard.disarm();
    assert!(!back.is_cancelled() && back.same_token(&token));

    // Also on unwind.
    let t = token.clone();
    let res = std::panic::catch_unwind(move || {
        let _guard = t.drop_guard();
        panic!("boom");
    });
    assert!(res.is_err());
    assert!(token.is_cancelled());
}

#[test]
fn cancelled_from_another_thread_wakes_blocked_thread() {
    let token = CancelToken::new();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let fut = token.child().cancelled_owned();
            thread::spawn(move || pollster::block_on(fut))
        })
        .collect();
    thread::sleep(Duration::from_millis(if cfg!(miri) { 0 } else { 10 }));
    token.cancel();
    for w in waiters {
        w.join().unwrap();
    }
}
