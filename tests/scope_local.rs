//! `local_scope` and the `Builder::local_*` entry points: the branded scope
//! whose handles cannot leave the body, run on executors that do not ask
//! for `Send`.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{Drops, yields};
use weftwork::scope::Builder;
use weftwork::{CancelToken, LocalScope, local_scope};

/// How long one executor may take for one test body before we call it a
/// deadlock.
const TIMEOUT: Duration = Duration::from_secs(120);

type Runner = (&'static str, fn(&(dyn Fn() -> LocalFuture + Send + Sync)));
type LocalFuture = std::pin::Pin<Box<dyn Future<Output = ()>>>;

/// Runs the future `f` makes on each executor that polls it without asking
/// for `Send`: pollster, `futures::executor::block_on`, tokio's
/// current-thread `block_on`, a `!Send` task on a tokio `LocalSet`, a task on
/// an `async_executor::LocalExecutor` (driven by `smol::block_on`). Each runs
/// on its own thread, so a deadlock fails the test after [`TIMEOUT`].
fn on_local_executors<F, Fut>(f: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let f = Arc::new(move || Box::pin(f()) as LocalFuture);
    let runners: [Runner; 5] = [
        ("pollster", |f| pollster::block_on(f())),
        ("futures::executor", |f| futures::executor::block_on(f())),
        ("tokio current-thread", |f| tokio_ct().block_on(f())),
        ("tokio LocalSet", |f| {
            let rt = tokio_ct();
            let set = tokio::task::LocalSet::new();
            let task = set.spawn_local(f());
            if let Err(e) = set.block_on(&rt, task) {
                std::panic::resume_unwind(e.into_panic());
            }
        }),
        ("async-executor LocalExecutor", |f| {
            let ex = async_executor::LocalExecutor::new();
            smol::block_on(ex.run(ex.spawn(f())));
        }),
    ];
    for (name, run) in runners {
        let (tx, rx) = mpsc::channel();
        let f = f.clone();
        let handle = thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                run(&*f);
                let _ = tx.send(());
            })
            .expect("spawn executor thread");
        match rx.recv_timeout(TIMEOUT) {
            Ok(()) => handle.join().expect("executor thread"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                eprintln!("test body panicked on executor `{name}`");
                std::panic::resume_unwind(handle.join().expect_err("the body panicked"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("test body timed out on executor `{name}`")
            }
        }
    }
}

fn tokio_ct() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn children_borrow_the_callers_data_and_run_concurrently() {
    on_local_executors(|| async {
        let data: Vec<u64> = (1..=100).collect();
        let mut total = 0;
        let order = std::sync::Mutex::new(Vec::new());
        local_scope(async |s| {
            let hs: Vec<_> = data
                .chunks(10)
                .map(|c| s.spawn(async move { c.iter().sum::<u64>() }))
                .collect();
            // `a` can only finish after `b` ran: they run concurrently.
            let (tx, rx) = weftwork::channel::oneshot::<u8>();
            let order = &order;
            let a = s.spawn(async move {
                let v = rx.await.expect("b sends");
                order.lock().unwrap().push("a");
                v
            });
            let b = s.spawn(async move {
                order.lock().unwrap().push("b");
                tx.send(7).unwrap();
            });
            for h in hs {
                total += h.await;
            }
            b.await;
            assert_eq!(a.await, 7);
        })
        .await;
        assert_eq!(total, 5050);
        assert_eq!(*order.lock().unwrap(), ["b", "a"]);
    });
}

#[test]
fn a_child_spawns_through_a_clone_of_the_local_scope() {
    on_local_executors(|| async {
        let words = ["a", "bb", "ccc"];
        let grandchildren = AtomicUsize::new(0);
        let n = local_scope(async |s| {
            let s2: LocalScope<'_, '_> = s.clone();
            let child = s.spawn(async {
                let s2 = s2;
                let hs: Vec<_> = words
                    .iter()
                    .map(|w| {
                        let grandchildren = &grandchildren;
                        s2.spawn(async move {
                            grandchildren.fetch_add(1, SeqCst);
                            w.len()
                        })
                    })
                    .collect();
                let mut n = 0;
                for h in hs {
                    n += h.await;
                }
                n
            });
            child.await
        })
        .await;
        assert_eq!(n, 6);
        assert_eq!(grandchildren.load(SeqCst), 3);
    });
}

#[test]
fn nested_local_scopes_borrow_the_outer_bodys_locals_and_inherit_cancellation() {
    on_local_executors(|| async {
        let outer_token = CancelToken::new();
        let (sum, inner_saw_cancel) = Builder::new()
            .child_of(&outer_token)
            .local_scope(async |outer| {
                // A local of the outer body: it outlives the inner scope.
                let nums = [1, 2, 3, 4];
                let sum = outer
                    .nested()
                    .local_scope(async |inner| {
                        let (l, r) = nums.split_at(2);
                        let a = inner.spawn(async { l.iter().sum::<i32>() });
                        let b = inner.spawn(async { r.iter().sum::<i32>() });
                        a.await + b.await
                    })
                    .await;
                // Cancelling the outer scope's token reaches a nested scope.
                let token = outer.token().clone();
                outer.spawn(async move {
                    yields(2).await;
                    token.cancel();
                });
                let inner_saw_cancel = outer
                    .nested()
                    .local_scope(async |inner| {
                        inner.token().cancelled().await;
                        inner.token().is_cancelled()
                    })
                    .await;
                (sum, inner_saw_cancel)
            })
            .await;
        assert!(!outer_token.is_cancelled());
        assert_eq!(sum, 10);
        assert!(inner_saw_cancel);
    });
}

#[test]
fn the_builder_limit_caps_concurrent_children() {
    on_local_executors(|| async {
        let (now, max, done) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        Builder::new()
            .limit(2)
            .local_scope(async |s| {
                for _ in 0..10 {
                    s.spawn(async {
                        max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                        yields(3).await;
                        now.fetch_sub(1, SeqCst);
                        done.fetch_add(1, SeqCst);
                    });
                }
                assert_eq!(s.live(), 10);
            })
            .await;
        assert_eq!(done.load(SeqCst), 10);
        assert_eq!(max.load(SeqCst), 2);
    });
}

#[test]
fn local_policies_borrow_caller_data() {
    on_local_executors(|| async {
        let inputs = ["1", "x", "3"];
        let dropped = Drops::default();

        let r: Result<u32, String> = Builder::new()
            .local_try_scope(async |s| {
                let g = dropped.token();
                s.spawn(async move {
                    let _g = g;
                    std::future::pending::<Result<(), String>>().await
                });
                let mut sum = 0;
                for i in inputs {
                    sum += s
                        .spawn(async move { i.parse::<u32>().map_err(|e| format!("{i}: {e}")) })
                        .await;
                }
                Ok(sum)
            })
            .await;
        assert_eq!(r, Err("x: invalid digit found in string".to_string()));
        assert_eq!(dropped.get(), 1, "fail-fast drops the pending sibling");

        let (ok, errors) = Builder::new()
            .local_supervise(async |s| {
                let hs: Vec<_> = inputs
                    .iter()
                    .map(|i| s.spawn(async move { i.parse::<u32>().map_err(|_| *i) }))
                    .collect();
                let mut ok = Vec::new();
                for h in hs {
                    ok.extend(h.await);
                }
                ok
            })
            .await;
        assert_eq!(ok, [1, 3]);
        assert_eq!(errors, ["x"]);

        let first = Builder::new()
            .local_race(async |s| {
                for i in &inputs[1..] {
                    s.spawn(async move { i.parse::<u32>().map_err(|_| *i) });
                }
            })
            .await;
        assert_eq!(first, Ok(3));
        let none = Builder::new()
            .local_race(async |s| {
                s.spawn(async { inputs[1].parse::<u32>().map_err(|_| inputs[1]) });
            })
            .await;
        assert_eq!(none, Err(vec!["x"]));
    });
}

/// Only a `local_scope` future awaited *inside* a future that must be `Send`
/// trips rustc; the future itself is `Send` and can be spawned.
#[test]
fn a_local_scope_future_can_itself_be_spawned_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");
    let data = Arc::new(vec![1u32, 2, 3]);
    let fut = local_scope(async move |s| {
        let (d1, d2) = (data.clone(), data.clone());
        let a = s.spawn(async move { d1[0] + d1[1] });
        let b = s.spawn(async move { d2[2] });
        a.await * b.await
    });
    let h = rt.spawn(fut);
    assert_eq!(rt.block_on(h).expect("no panic"), 9);
}
