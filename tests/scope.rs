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

use common::{Drops, on_all_executors, yields};
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

/// Stress: children woken from other threads while the scope is polled,
/// handles aborted from another thread and awaited from another task.
#[test]
#[cfg_attr(miri, ignore)] // real runtime, 1500 rounds
fn children_woken_aborted_and_joined_from_other_threads() {
    let rt = common::tokio_mt();
    rt.block_on(async {
        let fut = async {
            for iter in 0..1500u32 {
                let done = Arc::new(AtomicUsize::new(0));
                let d2 = done.clone();
                let r = weftwork::scope(async move |s| {
                    let mut senders = Vec::new();
                    let mut hs = Vec::new();
                    for k in 0..4u32 {
                        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
                        senders.push(tx);
                        let d = d2.clone();
                        hs.push(s.spawn(async move {
                            let v = rx.await.unwrap_or(0);
                            d.fetch_add(1, SeqCst);
                            v + k
                        }));
                    }
                    let th = std::thread::spawn(move || {
                        for (i, tx) in senders.into_iter().enumerate() {
                            if (iter as usize + i) % 3 == 0 {
                                std::thread::yield_now();
                            }
                            let _ = tx.send(1);
                        }
                    });
                    let h3 = hs.pop().unwrap();
                    let h2 = hs.pop().unwrap();
                    // abort from another thread, racing the wake
                    let ab = std::thread::spawn(move || h2.abort());
                    // join from another task
                    let j = tokio::spawn(h3);
                    let mut sum = 0;
                    for h in hs {
                        sum += h.await;
                    }
                    ab.join().unwrap();
                    sum += j.await.unwrap();
                    th.join().unwrap();
                    sum
                })
                .await;
                assert_eq!(r, 7);
                let n = done.load(SeqCst);
                assert!(n == 3 || n == 4, "done {n}");
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(120), fut)
            .await
            .expect("stuck");
    });
}
