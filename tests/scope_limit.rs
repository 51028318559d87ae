//! The concurrency limit of `scope::Builder::limit` when handles of
//! waiting children are awaited: an awaited child is let in at once (no
//! deadlock when a child awaits a grandchild), and the limit still bounds
//! the children nobody waits on.

mod common;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::Poll;

use common::{CountingWaker, yields};
use weftwork::scope::{Builder, yield_now};

/// Polls `fut` by hand until it is ready. `None` if it is pending and did
/// not wake itself (nothing else could wake it: it would hang forever).
fn run_or_stuck<F: Future>(mut fut: Pin<&mut F>) -> Option<F::Output> {
    let w = CountingWaker::new();
    for _ in 0..10_000 {
        let before = w.count();
        if let Poll::Ready(v) = w.poll(fut.as_mut()) {
            return Some(v);
        }
        if w.count() == before {
            return None;
        }
    }
    None
}

/// Regression: under `limit(1)` a child awaiting a grandchild held the only
/// slot while the grandchild waited for it: a deadlock. A waiting child
/// whose handle is awaited is now let in at once.
#[test]
fn a_child_awaiting_its_grandchild_under_limit_one_does_not_deadlock() {
    let fut = pin!(Builder::new().limit(1).scope(async |s| {
        let s2 = s.clone();
        s.spawn(async move { s2.spawn(async { 1 }).await + 1 })
            .await
    }));
    assert_eq!(run_or_stuck(fut), Some(2), "the scope is stuck");
}

/// Many children each awaiting a grandchild (some of them two levels deep),
/// with waiting children aborted and slots reused after early admissions:
/// everything completes and the limit still bounds the others.
#[test]
fn children_awaiting_grandchildren_under_a_limit_all_complete() {
    for limit in [1, 2] {
        let fut = pin!(Builder::new().limit(limit).scope(async |s| {
            let mut hs = Vec::new();
            for i in 0..20u32 {
                let s2 = s.clone();
                hs.push(s.spawn(async move {
                    let s3 = s2.clone();
                    let g = s2.spawn(async move {
                        yield_now().await;
                        if i % 3 == 0 {
                            s3.spawn(async move { i }).await
                        } else {
                            i
                        }
                    });
                    // A waiting sibling aborted: its slot is reused later.
                    s2.spawn(std::future::pending::<()>()).abort();
                    g.await * 2
                }));
            }
            let mut sum = 0;
            for h in hs.into_iter().rev() {
                sum += h.await;
            }
            // A second wave through the freed slots, none awaited.
            for _ in 0..10 {
                s.spawn(yields(1));
            }
            sum
        }));
        assert_eq!(
            run_or_stuck(fut),
            Some(2 * (0..20).sum::<u32>()),
            "limit {limit}"
        );
    }
}

/// Children whose handles are kept but never awaited still run at most
/// `limit` at a time.
#[test]
fn the_limit_still_bounds_children_whose_handles_are_not_awaited() {
    let (now, max) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let fut = pin!(Builder::new().limit(2).scope(async |s| {
        let hs: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(async {
                    max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    yields(2).await;
                    now.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        while s.live() > 0 {
            yield_now().await;
        }
        drop(hs);
    }));
    assert_eq!(run_or_stuck(fut), Some(()));
    assert_eq!(max.load(SeqCst), 2);
}

/// The body awaits handles of waiting children (in spawn order, then in
/// reverse) under `limit(1)`: each awaited child is let in at once, and no
/// waiting child is let in while that puts the scope over the limit, so
/// never more than two run at once.
#[test]
fn the_body_awaiting_waiting_children_lets_one_in_at_a_time() {
    for reverse in [false, true] {
        let (now, max) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let fut = pin!(Builder::new().limit(1).scope(async |s| {
            let mut hs: Vec<_> = (0..10usize)
                .map(|i| {
                    let (now, max) = (&now, &max);
                    s.spawn(async move {
                        max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                        yields(3).await;
                        now.fetch_sub(1, SeqCst);
                        i
                    })
                })
                .collect();
            if reverse {
                hs.reverse();
            }
            let mut out = Vec::new();
            for h in hs {
                out.push(h.await);
            }
            out
        }));
        let mut expected: Vec<usize> = (0..10).collect();
        if reverse {
            expected.reverse();
        }
        assert_eq!(run_or_stuck(fut), Some(expected), "reverse: {reverse}");
        let max = max.load(SeqCst);
        assert!(max <= 2, "{max} children ran at once (reverse: {reverse})");
    }
}

/// A completion set and awaited handles share a limited scope: early
/// admissions of awaited children leave the set's children queued in
/// order, and every output arrives.
#[test]
fn completions_and_awaited_handles_share_a_limit() {
    let fut = pin!(Builder::new().limit(1).scope(async |s| {
        let mut set = s.completions();
        for i in 0..5u32 {
            set.spawn(async move {
                yields(1).await;
                i
            });
        }
        let late = s.spawn(async { 100u32 });
        // `late` is behind all five: awaiting it lets it in at once.
        let first = late.await;
        let mut got = vec![first];
        while let Some(v) = set.next().await {
            got.push(v);
        }
        got
    }));
    assert_eq!(run_or_stuck(fut), Some(vec![100, 0, 1, 2, 3, 4]));
}

/// Regression: under `limit(1)` a child awaiting a completion set held the
/// only slot while every member of the set waited for it: a deadlock. A
/// set whose consumer waits with no member running lets its oldest waiting
/// member in at once.
#[test]
fn a_child_awaiting_a_completion_set_under_limit_one_does_not_deadlock() {
    let fut = pin!(Builder::new().limit(1).scope(async |s| {
        let s2 = s.clone();
        s.spawn(async move {
            let mut set = s2.completions();
            for i in 1..=4u32 {
                set.spawn(async move {
                    yields(2).await;
                    i
                });
            }
            let mut sum = 0;
            while let Some(v) = set.next().await {
                sum += v;
            }
            sum
        })
        .await
    }));
    assert_eq!(run_or_stuck(fut), Some(10), "the scope is stuck");
}

/// A set's consumer lets in one member at a time, and only while none of
/// the set's members runs: the others still wait for a slot, so the limit
/// is exceeded by at most one per waiting consumer.
#[test]
fn a_waiting_completion_set_lets_in_one_member_at_a_time() {
    let (now, max) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let fut = pin!(Builder::new().limit(1).scope(async |s| {
        let s2 = s.clone();
        let (now, max) = (&now, &max);
        s.spawn(async move {
            let mut set = s2.completions();
            for i in 0..8u32 {
                set.spawn(async move {
                    max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    yields(3).await;
                    now.fetch_sub(1, SeqCst);
                    i
                });
            }
            let mut got = Vec::new();
            while let Some(v) = set.next().await {
                got.push(v);
            }
            got
        })
        .await
    }));
    assert_eq!(run_or_stuck(fut), Some((0..8).collect::<Vec<u32>>()));
    assert_eq!(max.load(SeqCst), 1, "members ran at once");
}

/// Members of a set that wait behind the limit while an unrelated child
/// that nobody awaits holds the slot: the body awaiting the set gets every
/// output, and the other
/// waiting children keep their order.
#[test]
fn completion_set_members_behind_unrelated_waiting_children() {
    let order = std::sync::Mutex::new(Vec::new());
    // Holds the only slot until the set is drained.
    let gate = AtomicUsize::new(0);
    let (order, gate) = (&order, &gate);
    let fut = pin!(Builder::new().limit(1).scope(async |s| {
        s.spawn(async move {
            while gate.load(SeqCst) == 0 {
                yield_now().await;
            }
            order.lock().unwrap().push(100);
        });
        s.spawn(async move { order.lock().unwrap().push(101) });
        let mut set = s.completions();
        for i in 0..3u32 {
            set.spawn(async move {
                order.lock().unwrap().push(i);
                i
            });
        }
        let mut got = Vec::new();
        while let Some(v) = set.next().await {
            got.push(v);
        }
        gate.store(1, SeqCst);
        got
    }));
    assert_eq!(run_or_stuck(fut).expect("the scope is stuck"), [0, 1, 2]);
    // The set's members ran first (let in one by one while the gate child
    // held the slot); the unrelated waiting child ran after the gate.
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 100, 101]);
}
