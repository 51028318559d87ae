//! `scope`, `try_scope`, `supervise`, `race`, limits, cancellation, panics.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{CountingWaker, Drops, on_all_executors, yields};
use std::task::Waker;

fn noop_waker() -> Waker {
    Waker::noop().clone()
}
use weftwork::scope::{self, Builder, yield_now};
use weftwork::{CancelToken, try_scope};

#[test]
fn children_borrow_the_callers_locals_and_are_all_joined() {
    on_all_executors(|_| async {
        let data: Vec<u64> = (1..=100).collect();
        let mut sum = 0;
        let finished = AtomicUsize::new(0);
        weftwork::scope(async |s| {
            let hs: Vec<_> = data
                .chunks(10)
                .map(|c| {
                    let finished = &finished;
                    s.spawn(async move {
                        yields(3).await;
                        finished.fetch_add(1, SeqCst);
                        c.iter().sum::<u64>()
                    })
                })
                .collect();
            // A detached child is still joined by the scope.
            drop(s.spawn(async {
                yields(10).await;
                finished.fetch_add(1, SeqCst);
            }));
            for h in hs {
                sum += h.await;
            }
        })
        .await;
        assert_eq!(sum, 5050);
        assert_eq!(finished.load(SeqCst), 11, "every child ran to completion");
    });
}

#[test]
fn children_spawn_grandchildren_and_nested_scopes_inherit_cancellation() {
    on_all_executors(|_| async {
        let count = AtomicUsize::new(0);
        let seen_cancel = weftwork::scope(async |s| {
            let s2 = s.clone();
            let count = &count;
            let h = s.spawn(async move {
                for _ in 0..5 {
                    s2.spawn(async move {
                        yield_now().await;
                        count.fetch_add(1, SeqCst);
                    });
                }
            });
            h.await;
            s.token().cancel();
            s.nested()
                .scope(async |inner| {
                    let t = inner.token().clone();
                    inner.spawn(async move { t.cancelled().await }).await;
                    inner.token().is_cancelled()
                })
                .await
        })
        .await;
        assert!(seen_cancel);
        assert_eq!(
            count.load(SeqCst),
            5,
            "grandchildren joined before the scope returned"
        );
    });
}

#[test]
fn try_scope_fails_fast_and_polls_nobody_after_the_error() {
    on_all_executors(|_| async {
        let log = StdMutex::new(Vec::<&str>::new());
        let drops = Drops::default();
        let log = &log;
        let r: Result<(), &str> = try_scope(async |s| {
            for _ in 0..3 {
                let guard = drops.token();
                s.spawn(async move {
                    let _guard = guard;
                    loop {
                        log.lock().unwrap().push("sibling");
                        yield_now().await;
                    }
                    #[allow(unreachable_code)]
                    Ok(())
                });
            }
            s.spawn(async {
                yields(2).await;
                log.lock().unwrap().push("error");
                Err::<(), _>("boom")
            });
            let _guard = drops.token();
            loop {
                log.lock().unwrap().push("body");
                yield_now().await;
            }
        })
        .await;
        assert_eq!(r, Err("boom"));
        assert_eq!(
            drops.get(),
            4,
            "siblings and body dropped before try_scope returned"
        );
        let log = log.lock().unwrap();
        assert_eq!(
            log.last(),
            Some(&"error"),
            "nothing polled after the error: {log:?}"
        );
        assert!(log.iter().filter(|e| **e == "sibling").count() >= 3);
    });
}

#[test]
fn try_scope_body_error_and_success() {
    on_all_executors(|_| async {
        let r: Result<u8, String> = try_scope(async |s| {
            let h = s.spawn(async { Ok(1u8) });
            let v = h.await;
            Err(format!("body says {v}"))
        })
        .await;
        assert_eq!(r.unwrap_err(), "body says 1");
        let r: Result<u8, String> = try_scope(async |s| {
            let a = s.spawn(async { Ok(1u8) });
            let b = s.spawn(async {
                yield_now().await;
                Ok(2u8)
            });
            Ok(a.await + b.await)
        })
        .await;
        assert_eq!(r, Ok(3));
    });
}

#[test]
fn a_panicking_child_drops_its_siblings_first_then_the_panic_resumes() {
    let drops = Drops::default();
    let res = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(weftwork::scope(async |s| {
            let g = drops.token();
            s.spawn(async move {
                let _g = g;
                std::future::pending::<()>().await;
            });
            s.spawn(async {
                yield_now().await;
                panic!("child exploded");
            });
            let _g = drops.token();
            std::future::pending::<()>().await;
        }))
    }));
    let payload = res.expect_err("the panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child exploded"));
    assert_eq!(drops.get(), 2, "sibling and body were dropped");
}

/// Regression: a child panics; while the scope drops its sibling, the
/// sibling's destructor panics too. The child's own panic is the one that
/// reaches the caller (the destructor's replaced it).
#[test]
fn a_child_panic_survives_a_sibling_destructor_panic() {
    let body_dropped = AtomicBool::new(false);
    let r = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(weftwork::scope(async |s| {
            s.spawn(async {
                let _bomb = PanicOnDrop;
                std::future::pending::<()>().await
            });
            s.spawn(async {
                yield_now().await;
                panic!("the child's own panic");
            });
            let _f = Flag(&body_dropped);
            std::future::pending::<()>().await
        }))
    }));
    let p = r.expect_err("the panic reaches the caller");
    assert_eq!(p.downcast_ref::<&str>(), Some(&"the child's own panic"));
    assert!(body_dropped.load(SeqCst), "the body was not dropped");
}

#[test]
fn the_limit_is_respected_and_waiting_children_are_never_polled() {
    on_all_executors(|_| async {
        for limit in [1, 3] {
            let now = AtomicUsize::new(0);
            let max = AtomicUsize::new(0);
            let polled_while_waiting = AtomicUsize::new(0);
            Builder::new()
                .limit(limit)
                .scope(async |s| {
                    for _ in 0..12 {
                        let (now, max) = (&now, &max);
                        s.spawn(async move {
                            let running = now.fetch_add(1, SeqCst) + 1;
                            max.fetch_max(running, SeqCst);
                            yields(3).await;
                            now.fetch_sub(1, SeqCst);
                        });
                    }
                    // A child over the limit is never polled: count polls of a
                    // probe spawned last, while it must still be waiting.
                    let probe = PollCount::default();
                    let polls = probe.0.clone();
                    let h = s.spawn(probe);
                    yield_now().await;
                    polled_while_waiting.store(polls.load(SeqCst), SeqCst);
                    assert_eq!(s.live(), 13);
                    h.await;
                })
                .await;
            assert_eq!(max.load(SeqCst), limit, "limit {limit}");
            assert_eq!(polled_while_waiting.load(SeqCst), 0);
        }
    });
}

/// A future that counts its polls and finishes on the second.
#[derive(Default)]
struct PollCount(Arc<AtomicUsize>);
impl Future for PollCount {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.fetch_add(1, SeqCst) == 0 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}

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

#[test]
fn completions_arrive_in_completion_order() {
    on_all_executors(|_| async {
        let order = weftwork::scope(async |s| {
            let mut set = s.completions();
            for (i, delay) in [5usize, 1, 3, 0].into_iter().enumerate() {
                set.spawn(async move {
                    yields(delay * 2).await;
                    i
                });
            }
            let mut order = Vec::new();
            while let Some(i) = set.next().await {
                order.push(i);
            }
            order
        })
        .await;
        assert_eq!(order, [3, 1, 2, 0]);
    });
}

#[test]
fn supervise_collects_errors_and_keeps_siblings_running() {
    on_all_executors(|_| async {
        let (oks, errors) = scope::supervise(async |s| {
            let hs: Vec<_> = (0..6u32)
                .map(|i| {
                    s.spawn(async move {
                        yields(6 - i as usize).await;
                        if i % 3 == 0 { Err(i) } else { Ok(i * 10) }
                    })
                })
                .collect();
            let mut oks = Vec::new();
            for h in hs {
                oks.extend(h.await);
            }
            oks
        })
        .await;
        assert_eq!(oks, [10, 20, 40, 50]);
        assert_eq!(errors, [3, 0], "completion order");
    });
}

#[test]
fn race_returns_the_first_success_and_drops_the_rest() {
    on_all_executors(|_| async {
        let drops = Drops::default();
        let r = scope::race(async |s| {
            s.spawn(async {
                yield_now().await;
                Err::<&str, _>("fast failure")
            });
            let g = drops.token();
            s.spawn(async move {
                let _g = g;
                std::future::pending::<Result<&str, &str>>().await
            });
            s.spawn(async {
                yields(3).await;
                Ok("winner")
            });
        })
        .await;
        assert_eq!(r, Ok("winner"));
        assert_eq!(drops.get(), 1, "the pending competitor was dropped");
        let all_fail = scope::race(async |s| {
            s.spawn(async { Err::<(), _>(1) });
            s.spawn(async {
                yield_now().await;
                Err(2)
            });
        })
        .await;
        assert_eq!(all_fail, Err(vec![1, 2]));
    });
}

#[test]
fn abort_drops_a_child_and_the_scope_ends() {
    on_all_executors(|_| async {
        let drops = Drops::default();
        weftwork::scope(async |s| {
            let g = drops.token();
            let h = s.spawn(async move {
                let _g = g;
                std::future::pending::<()>().await;
            });
            yield_now().await;
            assert!(!h.is_finished());
            h.abort();
            assert_eq!(drops.get(), 1);
        })
        .await;
        // Aborting a child still waiting under the limit.
        let ran = AtomicBool::new(false);
        Builder::new()
            .limit(1)
            .scope(async |s| {
                let first = s.spawn(yields(2));
                let queued = s.spawn(async { ran.store(true, SeqCst) });
                queued.abort();
                first.await;
            })
            .await;
        assert!(!ran.load(SeqCst));
    });
}

/// Waiting children aborted in bulk (enough to compact the wait queue
/// several times) never run, are dropped at once, and the rest are still
/// admitted in spawn order — also children spawned after the aborts, which
/// may reuse aborted children's slots and must not jump the queue.
#[test]
fn aborting_waiting_children_keeps_spawn_order() {
    on_all_executors(|_| async {
        let drops = Drops::default();
        let order = StdMutex::new(Vec::new());
        let gate = Arc::new(AtomicBool::new(false));
        Builder::new()
            .limit(1)
            .scope(async |s| {
                let g = gate.clone();
                let blocker = s.spawn(async move {
                    while !g.load(SeqCst) {
                        yield_now().await;
                    }
                });
                let spawn = |i: usize| {
                    let order = &order;
                    let g = drops.token();
                    s.spawn(async move {
                        let _g = g;
                        order.lock().unwrap().push(i);
                    })
                };
                let mut kept = Vec::new();
                let mut doomed = Vec::new();
                for i in 0..300 {
                    let h = spawn(i);
                    if i % 3 == 0 {
                        kept.push(h);
                    } else {
                        doomed.push(h);
                    }
                }
                for h in doomed {
                    h.abort();
                }
                assert_eq!(drops.get(), 200, "each abort dropped its child at once");
                // New children, possibly in the aborted children's slots.
                for i in 300..320 {
                    kept.push(spawn(i));
                }
                yield_now().await;
                assert!(
                    order.lock().unwrap().is_empty(),
                    "nothing ran past the blocker"
                );
                gate.store(true, SeqCst);
                blocker.await;
                for h in kept {
                    h.await;
                }
            })
            .await;
        let expected: Vec<usize> = (0..300).filter(|i| i % 3 == 0).chain(300..320).collect();
        assert_eq!(*order.lock().unwrap(), expected);
        assert_eq!(drops.get(), 320);
    });
}

#[test]
fn dropping_the_scope_future_drops_every_child_and_cancels_its_token() {
    let drops = Drops::default();
    let token = CancelToken::new();
    {
        let mut fut = pin!(Builder::new().child_of(&token).scope(async |s| {
            for _ in 0..3 {
                let g = drops.token();
                s.spawn(async move {
                    let _g = g;
                    std::future::pending::<()>().await;
                });
            }
            std::future::pending::<()>().await;
        }));
        let waker = noop_waker();
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        assert_eq!(drops.get(), 0);
    }
    assert_eq!(drops.get(), 3);
    assert!(
        !token.is_cancelled(),
        "a child token never cancels its parent"
    );
}

/// Panics when dropped, unless a panic is already unwinding (a second
/// panic there would abort the test process).
struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("destructor panics");
        }
    }
}

/// Sets its flag when dropped.
struct Flag<'a>(&'a AtomicBool);
impl Drop for Flag<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// Regression: the body's destructor panics while the scope future is
/// dropped. The children must still be dropped and the token cancelled
/// before the panic reaches the caller (they were skipped).
#[test]
fn a_panicking_body_destructor_still_drops_children_and_cancels_the_token() {
    let child_dropped = AtomicBool::new(false);
    let scope_token = StdMutex::new(None);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(weftwork::scope(async |s| {
        *scope_token.lock().unwrap() = Some(s.token().clone());
        let flag = Flag(&child_dropped);
        s.spawn(async move {
            let _f = flag;
            std::future::pending::<()>().await
        });
        let _bomb = PanicOnDrop;
        std::future::pending::<()>().await
    }));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let r = catch_unwind(AssertUnwindSafe(|| drop(fut)));
    assert!(r.is_err(), "the body's destructor panicked");
    assert!(child_dropped.load(SeqCst), "the child was not dropped");
    let token = scope_token.lock().unwrap().take().unwrap();
    assert!(token.is_cancelled(), "the scope token was not cancelled");
}

/// Regression: a child's destructor panics while the scope future is
/// dropped. The scope's token must still be cancelled (nested scopes rely
/// on it); it was skipped.
#[test]
fn a_panicking_child_destructor_still_cancels_the_token() {
    let scope_token = StdMutex::new(None);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(weftwork::scope(async |s| {
        *scope_token.lock().unwrap() = Some(s.token().clone());
        s.spawn(async {
            let _bomb = PanicOnDrop;
            std::future::pending::<()>().await
        });
        std::future::pending::<()>().await
    }));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| drop(fut))).is_err());
    let token = scope_token.lock().unwrap().take().unwrap();
    assert!(token.is_cancelled(), "the scope token was not cancelled");
}

/// Regression: the teardown stopped at a child whose destructor panicked.
/// The children after it must still be dropped, and a handle kept outside
/// the scope must see its child dropped (its awaiter woken, and awaiting
/// it panics) instead of waiting forever.
#[test]
fn a_panicking_child_destructor_does_not_stop_the_teardown() {
    let sibling_dropped = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let dropped = &sibling_dropped;
    let mut fut = Box::pin(weftwork::scope(async move |s| {
        // Spawned first: dropped first by the teardown.
        s.spawn(async {
            let _bomb = PanicOnDrop;
            std::future::pending::<()>().await
        });
        let flag = Flag(dropped);
        tx.send(s.spawn(async move {
            let _f = flag;
            std::future::pending::<()>().await
        }))
        .unwrap();
        std::future::pending::<()>().await
    }));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let mut h = rx.recv().unwrap();
    let joiner = CountingWaker::new();
    assert!(joiner.poll(Pin::new(&mut h)).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| drop(fut))).is_err());
    assert!(sibling_dropped.load(SeqCst), "the sibling was not dropped");
    assert_eq!(joiner.count(), 1, "the sibling's awaiter was not woken");
    let joined = catch_unwind(AssertUnwindSafe(|| joiner.poll(Pin::new(&mut h))));
    let msg = joined.expect_err("awaiting a dropped child panics");
    let msg = msg.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("never finished"), "{msg:?}");
}

#[test]
#[cfg_attr(miri, ignore)] // real runtimes and timers
fn an_always_ready_child_starves_neither_siblings_nor_other_tasks() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        // Another task on the same single thread: runs only if the scope
        // yields to the executor.
        let other = tokio::spawn(async move { f2.store(true, SeqCst) });
        let sibling_ran = AtomicBool::new(false);
        weftwork::scope(async |s| {
            s.spawn(async {
                while !flag.load(SeqCst) || !sibling_ran.load(SeqCst) {
                    yield_now().await;
                }
            });
            s.spawn(async { sibling_ran.store(true, SeqCst) });
        })
        .await;
        other.await.unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore)] // real runtimes and timers
fn scope_futures_are_send_and_run_on_tokio_spawn() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let shared = Arc::new(vec![1, 2, 3]);
        let h = tokio::spawn(async move {
            let v = &shared;
            weftwork::scope(async |s| {
                let a = s.spawn(async move {
                    tokio::task::yield_now().await;
                    v.len()
                });
                a.await + v.len()
            })
            .await
        });
        assert_eq!(h.await.unwrap(), 6);
    });
}

#[test]
#[cfg_attr(miri, ignore)] // real runtimes and timers
fn deadline_cancels_the_scope_token_with_a_tokio_timer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let rounds = weftwork::scope(async |s| {
            s.cancel_after(tokio::time::sleep(Duration::from_millis(20)));
            let t = s.token().clone();
            s.spawn(async move {
                let mut rounds = 0;
                while t
                    .run_until_cancelled(tokio::time::sleep(Duration::from_millis(1)))
                    .await
                    .is_some()
                {
                    rounds += 1;
                }
                rounds
            })
            .await
        })
        .await;
        assert!(rounds >= 1);
    });
}

#[test]
#[cfg_attr(miri, ignore)] // real runtimes and timers
fn deadline_cancels_the_scope_token_with_a_smol_timer() {
    smol::block_on(async {
        let cancelled = weftwork::scope(async |s| {
            s.cancel_after(smol::Timer::after(Duration::from_millis(10)));
            s.token().cancelled().await;
            s.token().is_cancelled()
        })
        .await;
        assert!(cancelled);
        // The deadline does not hold a scope open once the work is done.
        let started = std::time::Instant::now();
        weftwork::scope(async |s| {
            s.cancel_after(smol::Timer::after(Duration::from_secs(3600)));
        })
        .await;
        assert!(started.elapsed() < Duration::from_secs(60));
    });
}

#[test]
fn hard_cancel_through_run_until_cancelled_drops_children() {
    on_all_executors(|_| async {
        let token = CancelToken::new();
        let drops = Drops::default();
        let r = token
            .run_until_cancelled(weftwork::scope(async |s| {
                let g = drops.token();
                s.spawn(async move {
                    let _g = g;
                    std::future::pending::<()>().await
                });
                yield_now().await;
                token.cancel();
                std::future::pending::<()>().await
            }))
            .await;
        assert!(r.is_none());
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn an_escaped_join_handle_yields_the_finished_output() {
    let h = futures::executor::block_on(weftwork::scope(async |s| s.spawn(async { 7 })));
    assert!(h.is_finished());
    assert_eq!(futures::executor::block_on(h), 7);
}

#[test]
#[should_panic(expected = "spawn on a scope that has already finished")]
fn spawning_on_an_escaped_scope_panics() {
    let s = futures::executor::block_on(weftwork::scope(async |s| s));
    drop(s.spawn(async {}));
}

#[test]
#[should_panic(expected = "the limit must be at least 1")]
fn a_zero_limit_is_refused() {
    let _ = Builder::new().limit(0);
}

/// Enough children to span several segments of the slab and of the ready
/// queue (and the driver's batch), reused across rounds: slots freed by
/// finished children are taken again, and a limit queues most of a wave.
#[test]
fn many_children_span_segments() {
    // Under Miri a segment holds 512 bytes (seg.rs), so 300 children span
    // several of them.
    let n: usize = if cfg!(miri) { 300 } else { 20_000 };
    futures::executor::block_on(async {
        let total = weftwork::scope(async |s| {
            let hs: Vec<_> = (0..n)
                .map(|i| {
                    s.spawn(async move {
                        yields(i % 3).await;
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for h in hs.into_iter().rev() {
                sum += h.await;
            }
            // A second wave into the freed slots.
            let hs: Vec<_> = (0..n).map(|i| s.spawn(async move { i })).collect();
            for h in hs {
                sum += h.await;
            }
            sum
        })
        .await;
        assert_eq!(total, n * (n - 1));
        let running = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        Builder::new()
            .limit(7)
            .scope(async |s| {
                for i in 0..n {
                    let (running, done) = (&running, &done);
                    s.spawn(async move {
                        assert!(running.fetch_add(1, SeqCst) < 7);
                        yields(i % 2).await;
                        running.fetch_sub(1, SeqCst);
                        done.fetch_add(1, SeqCst);
                    });
                }
            })
            .await;
        assert_eq!(done.load(SeqCst), n);
    });
}
