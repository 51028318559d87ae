//! `TaskGroup` on tokio (multi-thread and current-thread) and
//! async-executor: drop aborts, shutdown waits, join_all gets all, panics
//! re-raised, limit respected, cancel token observed. The thread-per-task
//! spawner at the end is the one that also runs under Miri.
//!
//! The tests spawn through local `Spawn` impls so that they run with the
//! default features; the crate's own adapters (features `tokio`,
//! `async-executor`) are exercised by the `adapters` tests.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::task::{Context, Waker};
use std::thread;
use std::time::Duration;

use common::{assert_send_sync, yield_now};
use futures::FutureExt;
use weftwork::task_group::{BoxTask, Spawn, TaskAborted, TaskHandle};
use weftwork::{CancelToken, TaskGroup};

type Spawner = Arc<dyn Spawn + Send + Sync>;
type Body = Arc<dyn Fn(Spawner) -> BoxTask + Send + Sync>;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `f` on tokio multi-thread (2 workers), tokio current-thread and
/// async-executor (2 threads), each with a timeout.
fn on_executors<F, Fut>(f: F)
where
    F: Fn(Spawner) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let body: Body = Arc::new(move |s| Box::pin(f(s)));
    type Runner = (&'static str, fn(Body));
    let runners: [Runner; 3] = [
        ("tokio multi-thread", |body| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let handle = rt.handle().clone();
            rt.block_on(body(Arc::new(Tokio(handle))));
        }),
        ("tokio current-thread", |body| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let handle = rt.handle().clone();
            rt.block_on(body(Arc::new(Tokio(handle))));
        }),
        ("async-executor", |body| {
            let ex = Arc::new(async_executor::Executor::<'static>::new());
            let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
            let helpers: Vec<_> = (0..2)
                .map(|_| {
                    let (ex, stop_rx) = (ex.clone(), stop_rx.clone());
                    thread::spawn(move || smol::block_on(ex.run(stop_rx.recv())))
                })
                .collect();
            let res = std::panic::catch_unwind(AssertUnwindSafe(|| {
                smol::block_on(ex.run(body(Arc::new(Exec(ex.clone())))));
            }));
            drop(stop_tx);
            for h in helpers {
                let _ = h.join();
            }
            if let Err(p) = res {
                std::panic::resume_unwind(p);
            }
        }),
    ];
    for (name, run) in runners {
        let (tx, rx) = mpsc::channel();
        let body = body.clone();
        let t = thread::spawn(move || {
            run(body);
            let _ = tx.send(());
        });
        match rx.recv_timeout(TIMEOUT) {
            Ok(()) => t.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                eprintln!("failed on {name}");
                std::panic::resume_unwind(t.join().unwrap_err())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("timed out on {name}"),
        }
    }
}

/// Spawns on tokio (as the `tokio` feature's adapter does).
struct Tokio(tokio::runtime::Handle);

impl Spawn for Tokio {
    fn spawn_boxed(&self, task: BoxTask) {
        drop(self.0.spawn(task));
    }
}

/// Spawns on async-executor (as the `async-executor` feature's adapter does).
struct Exec(Arc<async_executor::Executor<'static>>);

impl Spawn for Exec {
    fn spawn_boxed(&self, task: BoxTask) {
        self.0.spawn(task).detach();
    }
}

/// Counts live instances: +1 when made, -1 when dropped; `dropped` counts
/// drops. Optionally lingers in `drop` so that a caller that does not wait
/// for the drop would see it still "running".
struct Live {
    live: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    linger: Duration,
}

#[derive(Clone, Default)]
struct Counters {
    live: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl Counters {
    fn guard(&self, linger: Duration) -> Live {
        self.live.fetch_add(1, SeqCst);
        Live {
            live: self.live.clone(),
            dropped: self.dropped.clone(),
            linger,
        }
    }
    fn live(&self) -> usize {
        self.live.load(SeqCst)
    }
    fn dropped(&self) -> usize {
        self.dropped.load(SeqCst)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        thread::sleep(self.linger);
        self.live.fetch_sub(1, SeqCst);
        self.dropped.fetch_add(1, SeqCst);
    }
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting: {what}"
        );
        yield_now().await;
    }
}

#[test]
fn types_are_send_and_sync() {
    assert_send_sync::<TaskGroup<Tokio>>();
    assert_send_sync::<TaskGroup<Spawner>>();
    assert_send_sync::<TaskHandle<String>>();
    assert_send_sync::<TaskAborted>();
    // `Spawn` is object-safe.
    let _: Option<Box<dyn Spawn>> = None;
}

#[cfg_attr(miri, ignore = "tokio/async-executor are too slow under Miri")]
#[test]
fn dropping_the_group_aborts_its_tasks() {
    on_executors(|spawner| async move {
        const N: usize = 8;
        let c = Counters::default();
        let started = Arc::new(AtomicUsize::new(0));
        let group = TaskGroup::new(spawner);
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let (guard, started) = (c.guard(Duration::ZERO), started.clone());
                group.spawn(async move {
                    let _guard = guard;
                    started.fetch_add(1, SeqCst);
                    std::future::pending::<()>().await;
                })
            })
            .collect();
        until("tasks started", || started.load(SeqCst) == N).await;
        assert_eq!(c.dropped(), 0);
        let token = group.token().clone();
        drop(group);
        assert!(token.is_cancelled(), "dropping the group cancels its token");
        until("aborted futures dropped", || c.dropped() == N).await;
        for h in handles {
            assert_eq!(h.await, Err(TaskAborted));
        }
    });
}

#[cfg_attr(miri, ignore = "tokio/async-executor are too slow under Miri")]
#[test]
fn shutdown_waits_until_every_future_is_dropped() {
    on_executors(|spawner| async move {
        const N: usize = 6;
        let c = Counters::default();
        let started = Arc::new(AtomicUsize::new(0));
        let mut group = TaskGroup::new(spawner);
        for i in 0..N {
            // Destructors linger: a shutdown that did not wait would return
            // while they still run.
            let (guard, started) = (c.guard(Duration::from_millis(20)), started.clone());
            let _detached = group.spawn(async move {
                let _guard = guard;
                started.fetch_add(1, SeqCst);
                if i % 2 == 0 {
                    std::future::pending::<()>().await;
                }
                loop {
                    yield_now().await; // busy, never finishes
                }
            });
        }
        until("tasks started", || started.load(SeqCst) == N).await;
        assert_eq!(group.len(), N);
        group.shutdown().await;
        assert_eq!(c.live(), 0, "a task still ran after shutdown returned");
        assert_eq!(c.dropped(), N);
        assert!(group.is_empty());

        // The group is usable again.
        let h = group.spawn(async { 9 });
        assert_eq!(h.await, Ok(9));
        group.join_all().await;
    });
}

#[cfg_attr(miri, ignore = "tokio/async-executor are too slow under Miri")]
#[test]
fn join_all_waits_for_every_task() {
    on_executors(|spawner| async move {
        const N: usize = 100;
        let done = Arc::new(AtomicUsize::new(0));
        let mut group = TaskGroup::new(spawner);
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let done = done.clone();
                group.spawn(async move {
                    for _ in 0..(i % 5) {
                        yield_now().await;
                    }
                    done.fetch_add(1, SeqCst);
                    i
                })
            })
            .collect();
        group.join_all().await;
        assert_eq!(done.load(SeqCst), N, "join_all returned early");
        assert!(group.is_empty());
        for (i, h) in handles.into_iter().enumerate() {
            assert!(h.is_finished());
            assert_eq!(h.await, Ok(i));
        }
        // Nothing left: returns at once, also twice.
        group.join_all().await;
        group.join_all().await;
    });
}

#[cfg_attr(miri, ignore = "tokio/async-executor are too slow under Miri")]
#[test]
fn a_detached_panic_aborts_siblings_and_is_reraised_by_join_all() {
    on_executors(|spawner| async move {
        let c = Counters::default();
        let mut group = TaskGroup::new(spawner);
        let sibling = {
            let guard = c.guard(Duration::ZERO);
            group.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            })
        };
        drop(group.spawn(async {
            yield_now().await;
            panic!("boom in a task");
        }));
        let res = AssertUnwindSafe(group.join_all()).catch_unwind().await;
        let payload = res.expect_err("join_all did not re-raise the panic");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in a task"));
        assert_eq!(
            c.dropped(),
            1,
            "the sibling was not dropped before the re-raise"
        );
        assert_eq!(sibling.await, Err(TaskAborted));

        // Re-raised once; the group runs new tasks afterwards.
        group.join_all().await;
        assert_eq!(group.spawn(async { 1 }).await, Ok(1));
    });
}

#[cfg_attr(miri, ignore = "tokio/async-executor are too slow under Miri")]
#[test]
fn a_handle_reraises_its_tasks_panic() {
    on_executors(|spawner| async move {
        let mut group = TaskGroup::new(spawner);
        let sibling = group.spawn(async {
            yield_now().await;
            "fine"
        });
        let h = group.spawn(async {
            panic!("mine");
        });
        // The handle owns the panic: join_all does not raise it and the
        // sibling is not aborted.
        group.join_all().await;
        assert_eq!(sibling.await, Ok("fine"));
        let payload = AssertUnwindSafe(h).catch_unwind().await.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"mine"));

        // A handle dropped after its task panicked passes the panic on.
        let h = group.spawn(async {
            panic!("late");
        });
        until("panicked task finished", || h.is_finished()).await;
        drop(h);
        let payload = AssertUnwindSafe(group.join_all())
            .catch_unwind()
            .await
            .unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"late"));
    });
}

#[cfg_attr(miri, ignore = "tokio/async-executor are too slow under Miri")]
#[test]
fn the_limit_is_respected() {
    on_executors(|spawner| async move {
        const LIMIT: usize = 3;
        let running = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let mut group = TaskGroup::new(spawner).limit(LIMIT);
        for _ in 0..24 {
            let (running, max) = (running.clone(), max.clone());
            drop(group.spawn(async move {
                let now = running.fetch_add(1, SeqCst) + 1;
                max.fetch_max(now, SeqCst);
                for _ in 0..10 {
                    yield_now().await;
                }
                running.fetch_sub(1, SeqCst);
            }));
        }
        group.join_all().await;
        let max = max.load(SeqCst);
        assert!(max <= LIMIT, "{max} tasks ran at once, limit {LIMIT}");
        assert!(max >= 2, "tasks never overlapped (max {max})");
    });
}

#[test]
#[should_panic = "the limit must be at least 1"]
fn a_zero_limit_panics() {
    struct Never;
    impl Spawn for Never {
        fn spawn_boxed(&self, _: BoxTask) {}
    }
    let _ = TaskGroup::new(Never).limit(0);
}

#[cfg_attr(miri, ignore = "tokio/async-executor are too slow under Miri")]
#[test]
fn tasks_observe_the_cancel_token() {
    on_executors(|spawner| async move {
        let outer = CancelToken::new();
        let mut group = TaskGroup::new(spawner).child_of(&outer);
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let token = group.token().clone();
                group.spawn(async move {
                    token.cancelled().await;
                    i // cooperative: the task finishes normally
                })
            })
            .collect();
        yield_now().await;
        assert_eq!(group.len(), 4);
        outer.cancel();
        group.join_all().await;
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await, Ok(i));
        }
    });
}

#[cfg_attr(miri, ignore = "tokio/async-executor are too slow under Miri")]
#[test]
fn abort_drops_one_task_only() {
    on_executors(|spawner| async move {
        let c = Counters::default();
        let mut group = TaskGroup::new(spawner);
        let victim = {
            let guard = c.guard(Duration::ZERO);
            group.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            })
        };
        let survivor = group.spawn(async {
            for _ in 0..20 {
                yield_now().await;
            }
            "survived"
        });
        victim.abort();
        until("aborted future dropped", || c.dropped() == 1).await;
        assert_eq!(survivor.await, Ok("survived"));
        group.join_all().await;
    });
}

#[cfg_attr(miri, ignore = "tokio timers are too slow under Miri")]
#[test]
fn cancel_after_with_a_tokio_timer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut group = TaskGroup::new(Tokio(tokio::runtime::Handle::current()));
        let token = group.token().clone();
        let h = group.spawn(token.run_until_cancelled_owned(std::future::pending::<()>()));
        group.cancel_after(tokio::time::sleep(Duration::from_millis(20)));
        assert_eq!(h.await, Ok(None));
        group.join_all().await; // the deadline is not a task of the group
    });
}

#[cfg_attr(miri, ignore = "tokio is too slow under Miri")]
#[test]
fn tasks_dropped_by_a_dying_runtime_count_as_finished() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = Counters::default();
    let mut group = TaskGroup::new(Tokio(rt.handle().clone()));
    let guard = c.guard(Duration::ZERO);
    let h = group.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    drop(rt); // drops the pending task
    assert_eq!(c.dropped(), 1);
    assert_eq!(group.len(), 0);
    pollster::block_on(async {
        group.join_all().await;
        assert_eq!(h.await, Err(TaskAborted));
    });
}

/// Every task on its own thread, driven by `pollster`: the spawner that
/// also runs under Miri.
struct ThreadPerTask;

impl Spawn for ThreadPerTask {
    fn spawn_boxed(&self, task: BoxTask) {
        thread::spawn(move || pollster::block_on(task));
    }
}

#[test]
fn thread_per_task_spawner_basics() {
    pollster::block_on(async {
        let c = Counters::default();
        let mut group = TaskGroup::new(ThreadPerTask).limit(2);
        let running = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..5)
            .map(|i| {
                let (running, max) = (running.clone(), max.clone());
                group.spawn(async move {
                    max.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
                    yield_now().await;
                    running.fetch_sub(1, SeqCst);
                    i * 2
                })
            })
            .collect();
        group.join_all().await;
        assert!(max.load(SeqCst) <= 2);
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await, Ok(i * 2));
        }

        let pending: Vec<_> = (0..3)
            .map(|_| {
                let guard = c.guard(Duration::ZERO);
                group.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                })
            })
            .collect();
        group.shutdown().await;
        assert_eq!((c.live(), c.dropped()), (0, 3));
        for h in pending {
            assert_eq!(h.await, Err(TaskAborted));
        }

        drop(group.spawn(async { panic!("thread task") }));
        let payload = AssertUnwindSafe(group.join_all())
            .catch_unwind()
            .await
            .unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"thread task"));
    });
}

#[test]
fn debug_output() {
    let group = TaskGroup::new(ThreadPerTask);
    let s = format!("{group:?}");
    assert!(s.starts_with("TaskGroup { len: 0"), "{s}");
    let h = group.spawn(async {});
    assert_eq!(pollster::block_on(h), Ok(()));
    assert!(format!("{:?}", group.spawn(async {})).starts_with("TaskHandle"));
}

/// The crate's own adapters.
#[cfg(all(feature = "tokio", feature = "async-executor"))]
mod adapters {
    use super::*;

    #[test]
    fn adapter_types() {
        assert_send_sync::<TaskGroup<tokio::runtime::Handle>>();
        assert_send_sync::<TaskGroup<Arc<async_executor::Executor<'static>>>>();
        assert_send_sync::<TaskGroup<&'static async_executor::Executor<'static>>>();
    }

    #[cfg_attr(miri, ignore = "tokio is too slow under Miri")]
    #[test]
    fn tokio_handle() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut group = TaskGroup::new(tokio::runtime::Handle::current());
            let h = group.spawn(async { 1 });
            let p = group.spawn(std::future::pending::<()>());
            assert_eq!(h.await, Ok(1));
            group.shutdown().await;
            assert_eq!(p.await, Err(TaskAborted));
        });
    }

    #[cfg_attr(miri, ignore = "async-executor is too slow under Miri")]
    #[test]
    fn async_executor() {
        static EX: async_executor::Executor<'static> = async_executor::Executor::new();
        let ex = Arc::new(async_executor::Executor::new());
        smol::block_on(ex.run(async {
            let mut group = TaskGroup::new(ex.clone());
            assert_eq!(group.spawn(async { 2 }).await, Ok(2));
            group.join_all().await;
        }));
        smol::block_on(EX.run(async {
            let mut group = TaskGroup::new(&EX);
            assert_eq!(group.spawn(async { 3 }).await, Ok(3));
            group.shutdown().await;
        }));
    }
}

// ---- With a hand-driven spawner (single-threaded; runs under Miri) ----

use common::Manual;

/// A `join_all` future dropped while it waits, then a second one: the
/// second still completes, and the handles still give their outputs.
#[test]
fn join_all_dropped_midway_then_awaited_again() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let a = g.spawn(async { 1 });
    let b = g.spawn(async move {
        let _ = rx.await;
        2
    });
    ex.run_once();
    {
        let mut cx = Context::from_waker(Waker::noop());
        let mut j = Box::pin(g.join_all());
        assert!(j.as_mut().poll(&mut cx).is_pending());
    }
    tx.send(()).unwrap();
    ex.run_once();
    let mut cx = Context::from_waker(Waker::noop());
    let mut j = Box::pin(g.join_all());
    assert!(
        j.as_mut().poll(&mut cx).is_ready(),
        "second join_all completes"
    );
    drop(j);
    assert_eq!(g.len(), 0);
    assert_eq!(futures::executor::block_on(a), Ok(1));
    assert_eq!(futures::executor::block_on(b), Ok(2));
}

/// A task panics while its handle exists; the handle is dropped after
/// that: the panic is now the group's, and `join_all` re-raises it.
#[test]
fn a_panic_whose_handle_was_dropped_later_is_reraised_by_join_all() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    let h = g.spawn(async { panic!("boom") });
    let _ = catch_unwind(AssertUnwindSafe(|| ex.run_once()));
    drop(h); // handle dropped after the task panicked: now detached
    let r = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(g.join_all())
    }));
    assert!(
        r.is_err(),
        "join_all re-raises the panic of a task whose handle was dropped"
    );
}

/// After a `shutdown` the group takes new tasks and runs them.
#[test]
fn a_group_takes_new_tasks_after_a_shutdown() {
    let ex = Manual::default();
    let mut g = TaskGroup::new(ex.clone());
    let h = g.spawn(std::future::pending::<()>());
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut sd = Box::pin(g.shutdown());
        assert!(sd.as_mut().poll(&mut cx).is_pending());
        ex.run_once();
        assert!(sd.as_mut().poll(&mut cx).is_ready());
    }
    assert!(futures::executor::block_on(h).is_err());
    let h2 = g.spawn(async { 3 });
    ex.run_once();
    assert_eq!(futures::executor::block_on(h2), Ok(3));
    futures::executor::block_on(g.join_all());
}
