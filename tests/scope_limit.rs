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
