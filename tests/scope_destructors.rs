//! Panics in destructors while a scope drops its children: the teardown
//! still drops every child, marks their handles and cancels the token, and
//! a child's own panic is the one that reaches the caller.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Waker};

use common::CountingWaker;
use weftwork::scope::yield_now;

fn noop_waker() -> Waker {
    Waker::noop().clone()
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

/// A detached child whose *output* panics when dropped (right after it
/// finished): its siblings are dropped and the token cancelled before the
/// panic reaches the caller.
#[test]
fn a_panicking_output_destructor_drops_the_siblings_before_the_caller_sees_it() {
    let sibling_dropped = AtomicBool::new(false);
    let token_seen = StdMutex::new(None);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(weftwork::scope(async |s| {
        *token_seen.lock().unwrap() = Some(s.token().clone());
        let flag = Flag(&sibling_dropped);
        s.spawn(async move {
            let _f = flag;
            std::future::pending::<()>().await
        });
        s.spawn(async { PanicOnDrop });
        std::future::pending::<()>().await
    }));
    let r = catch_unwind(AssertUnwindSafe(|| {
        for _ in 0..10 {
            let _ = fut.as_mut().poll(&mut cx);
        }
    }));
    assert!(r.is_err(), "the panic reaches the caller");
    let dropped = sibling_dropped.load(SeqCst);
    let cancelled = token_seen.lock().unwrap().as_ref().unwrap().is_cancelled();
    drop(fut);
    assert!(
        dropped,
        "the sibling was not dropped before the panic reached the caller"
    );
    assert!(
        cancelled,
        "the token was not cancelled before the panic reached the caller"
    );
}

/// For Miri: a child's destructor panics while the scope future is dropped,
/// with an escaped handle (kept outside the body) and completion-set
/// members around. Nothing may touch freed memory afterwards, and the
/// escaped handle sees its child dropped.
#[test]
fn a_panicking_child_destructor_with_an_escaped_handle_and_a_completion_set() {
    let data = vec![7u32; 4];
    let (tx, rx) = std::sync::mpsc::channel::<weftwork::scope::JoinHandle<'_, u32>>();
    {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let data = &data;
        let mut fut = Box::pin(weftwork::scope(async move |s| {
            let set = s.completions::<u32>();
            set.spawn(async { data[0] });
            set.spawn(async {
                std::future::pending::<()>().await;
                data[1]
            });
            let h = s.spawn(async {
                std::future::pending::<()>().await;
                data[2]
            });
            tx.send(h).unwrap();
            s.spawn(async {
                let _bomb = PanicOnDrop;
                std::future::pending::<()>().await
            });
            let _set = set;
            std::future::pending::<()>().await
        }));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(catch_unwind(AssertUnwindSafe(|| drop(fut))).is_err());
    }
    let mut h = rx.recv().unwrap();
    assert!(!h.is_finished());
    let w = CountingWaker::new();
    let joined = catch_unwind(AssertUnwindSafe(|| w.poll(Pin::new(&mut h))));
    assert!(
        joined.is_err(),
        "awaiting a child dropped unfinished panics"
    );
    drop(h);
}

/// Regression: a completion set dropped with finished outputs not taken,
/// the first of which panics on drop. The other outputs must still be
/// dropped (the rest of the set's list was leaked, cells and all).
#[test]
fn a_dropped_completion_set_drops_every_output_when_one_panics() {
    let dropped: [AtomicBool; 3] = Default::default();
    let dropped = &dropped;
    let fut = weftwork::scope(async |s| {
        let set = s.completions();
        for (i, flag) in dropped.iter().enumerate() {
            set.spawn(async move {
                // Finish in spawn order: the panicking one first.
                for _ in 0..i {
                    yield_now().await;
                }
                let bomb = if i == 0 { Some(PanicOnDrop) } else { None };
                (Flag(flag), bomb)
            });
        }
        while s.live() > 0 {
            yield_now().await;
        }
        catch_unwind(AssertUnwindSafe(|| drop(set))).is_err()
    });
    let panicked = pollster::block_on(fut);
    assert!(panicked, "the output's destructor panicked");
    for (i, d) in dropped.iter().enumerate() {
        assert!(d.load(SeqCst), "output {i} was not dropped");
    }
}

/// The same with outputs in both of a dropped set's lists: some taken by
/// `next` and not yet yielded (the first of those panics on drop), one
/// finished after that. Every output is still dropped.
#[test]
fn a_dropped_completion_set_drops_both_lists_when_one_output_panics() {
    let dropped: [AtomicBool; 4] = Default::default();
    let (dropped, gate) = (&dropped, &AtomicBool::new(false));
    let fut = weftwork::scope(async |s| {
        let mut set = s.completions();
        for (i, flag) in dropped[..3].iter().enumerate() {
            set.spawn(async move {
                for _ in 0..i {
                    yield_now().await;
                }
                let bomb = if i == 1 { Some(PanicOnDrop) } else { None };
                (Flag(flag), bomb)
            });
        }
        set.spawn(async move {
            while !gate.load(SeqCst) {
                yield_now().await;
            }
            (Flag(&dropped[3]), None)
        });
        while s.live() > 1 {
            yield_now().await;
        }
        // Takes the list of three, yields the first.
        drop(set.next().await);
        gate.store(true, SeqCst);
        while s.live() > 0 {
            yield_now().await;
        }
        catch_unwind(AssertUnwindSafe(|| drop(set))).is_err()
    });
    assert!(pollster::block_on(fut), "the output's destructor panicked");
    for (i, d) in dropped.iter().enumerate() {
        assert!(d.load(SeqCst), "output {i} was not dropped");
    }
}

/// Regression: two escaped handles, awaited by two other tasks, when the
/// scope is dropped with their children unfinished. The first joiner's
/// waker panics when woken; the second joiner must still be woken (it was
/// not: the teardown woke from a `Vec` whose rest the panic dropped, and
/// that task would have waited for ever).
#[test]
fn teardown_wakes_every_joiner_when_one_wake_panics() {
    let (tx, rx) = std::sync::mpsc::channel::<weftwork::scope::JoinHandle<'_, ()>>();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(weftwork::scope(async move |s| {
        for _ in 0..2 {
            tx.send(s.spawn(std::future::pending::<()>())).unwrap();
        }
        std::future::pending::<()>().await
    }));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let (mut first, mut second) = (rx.recv().unwrap(), rx.recv().unwrap());
    let bad = common::panicking_waker();
    assert!(
        Pin::new(&mut first)
            .poll(&mut Context::from_waker(&bad))
            .is_pending()
    );
    let w = CountingWaker::new();
    assert!(w.poll(Pin::new(&mut second)).is_pending());
    let r = catch_unwind(AssertUnwindSafe(|| drop(fut)));
    assert!(r.is_err(), "the first joiner's wake panicked");
    assert_eq!(w.count(), 1, "the second joiner was not woken");
    for h in [first, second] {
        let mut h = h;
        assert!(catch_unwind(AssertUnwindSafe(|| w.poll(Pin::new(&mut h)))).is_err());
    }
}
