//! The smaller pieces of lock API that users of tokio::sync and async-lock
//! reach for: `try_map` on the mutex guards and `Display` on every mutex
//! guard. Hand-polled with
//! wakers the test controls: no threads, no timing.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use common::{CountingWaker, ready};
use weftwork::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// The message of a panic caught by `catch_unwind`.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string panic>")
    }
}

/// Asserts the mutex is free and has exactly one permit: it can be locked,
/// and while so, not a second time (an unlock run twice would let both in).
#[track_caller]
fn assert_unlocked_once<T>(m: &Mutex<T>) {
    let g = m.try_lock().expect("the mutex should be unlocked");
    assert!(
        m.try_lock().is_none(),
        "the mutex was unlocked twice: it let two holders in"
    );
    drop(g);
}

// --- MutexGuard::try_map / MappedMutexGuard::try_map -----------------------

/// `None` hands the original guard back, still holding the lock: no
/// `try_lock` gets in, a queued waiter is not woken, and the value is
/// reachable through the returned guard. Dropping it then unlocks (once).
#[test]
fn try_map_none_returns_the_guard_still_locked() {
    let m = Mutex::new(vec![1, 2]);
    let g = m.try_lock().unwrap();
    let w = CountingWaker::new();
    let mut waiter = Box::pin(m.lock());
    assert!(w.poll_box(&mut waiter).is_pending());

    let mut g = MutexGuard::try_map(g, |v| v.get_mut(5)).expect_err("no element 5");
    assert!(m.try_lock().is_none(), "the returned guard holds the lock");
    assert_eq!(w.count(), 0, "nothing was unlocked: the waiter sleeps");
    g.push(3);
    assert_eq!(*g, [1, 2, 3]);

    drop(g);
    assert_eq!(w.count(), 1, "dropping the returned guard unlocks");
    let g = ready(w.poll_box(&mut waiter), "waiter");
    assert_eq!(*g, [1, 2, 3]);
    drop(g);
    assert_unlocked_once(&m);
}

/// `Some` moves the lock into the mapped guard: held until that drops,
/// writes land in the right place, then exactly one unlock.
#[test]
fn try_map_some_holds_the_lock_until_the_mapped_guard_drops() {
    let m = Mutex::new((0u8, vec![1, 2, 3]));
    let g = m.try_lock().unwrap();
    let mut last: MappedMutexGuard<'_, i32> =
        MutexGuard::try_map(g, |v| v.1.last_mut()).expect("the vec is not empty");
    assert!(m.try_lock().is_none(), "the mapped guard holds the lock");
    *last = 30;
    drop(last);
    assert_unlocked_once(&m);
    assert_eq!(m.try_lock().unwrap().1, [1, 2, 30]);
}

/// The same for a mapped guard: `None` returns it (still locked, still
/// pointing at the same part), `Some` narrows further.
#[test]
fn mapped_try_map_none_returns_the_mapped_guard_still_locked() {
    let m = Mutex::new((7, None::<u32>));
    let w = CountingWaker::new();
    let g = MutexGuard::map(m.try_lock().unwrap(), |v| v);
    let mut waiter = Box::pin(m.lock());
    assert!(w.poll_box(&mut waiter).is_pending());

    let mut g = MappedMutexGuard::try_map(g, |v| v.1.as_mut()).expect_err("field is None");
    assert!(m.try_lock().is_none(), "the returned guard holds the lock");
    assert_eq!(w.count(), 0);
    assert_eq!(g.0, 7);
    g.1 = Some(4);

    let mut inner = MappedMutexGuard::try_map(g, |v| v.1.as_mut()).expect("field is Some");
    assert!(m.try_lock().is_none());
    assert_eq!(w.count(), 0);
    *inner += 1;
    drop(inner);
    assert_eq!(w.count(), 1, "the narrowed guard's drop unlocks");
    let g = ready(w.poll_box(&mut waiter), "waiter");
    assert_eq!(*g, (7, Some(5)));
    drop(g);
    assert_unlocked_once(&m);
}

/// A panicking `try_map` closure leaves the mutex unlocked exactly once
/// (no poisoning, no double unlock), and wakes a queued waiter.
#[test]
fn panicking_try_map_closure_unlocks_exactly_once() {
    let m = Mutex::new(1);
    let w = CountingWaker::new();
    let g = m.try_lock().unwrap();
    let mut waiter = Box::pin(m.lock());
    assert!(w.poll_box(&mut waiter).is_pending());

    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = MutexGuard::try_map(g, |v: &mut i32| -> Option<&mut i32> {
            *v = 2;
            panic!("closure panics")
        });
    }));
    assert_eq!(panic_message(&*r.unwrap_err()), "closure panics");
    assert_eq!(w.count(), 1, "the unwinding guard unlocked");
    let g = ready(w.poll_box(&mut waiter), "waiter");
    assert_eq!(*g, 2, "no poisoning: the write before the panic stays");
    drop(g);
    assert_unlocked_once(&m);
}

/// As above, through `MappedMutexGuard::try_map`, and through both `map`s
/// (which share `try_map`'s code).
#[test]
fn panicking_map_closures_unlock_exactly_once() {
    let m = Mutex::new((1, 2));

    let g = MutexGuard::map(m.try_lock().unwrap(), |v| v);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = MappedMutexGuard::try_map(g, |_| -> Option<&mut i32> { panic!("mapped") });
    }));
    assert!(r.is_err());
    assert_unlocked_once(&m);

    let g = m.try_lock().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = MutexGuard::map(g, |_| -> &mut i32 { panic!("map") });
    }));
    assert!(r.is_err());
    assert_unlocked_once(&m);

    let g = MutexGuard::map(m.try_lock().unwrap(), |v| v);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = MappedMutexGuard::map(g, |_| -> &mut i32 { panic!("mapped map") });
    }));
    assert!(r.is_err());
    assert_unlocked_once(&m);
    assert_eq!(*m.try_lock().unwrap(), (1, 2));
}

/// `try_map` on a guard from `lock().await` (a waiter that was handed the
/// lock), and `try_map` to an unsized part.
#[test]
fn try_map_after_a_contended_lock_and_to_an_unsized_part() {
    let m = Mutex::new(String::from("abc"));
    let w = CountingWaker::new();
    let g = m.try_lock().unwrap();
    let mut waiter = Box::pin(m.lock());
    assert!(w.poll_box(&mut waiter).is_pending());
    drop(g);
    let g = ready(w.poll_box(&mut waiter), "waiter");
    let mut s: MappedMutexGuard<'_, str> =
        MutexGuard::try_map(g, |s| s.get_mut(1..)).expect("in range");
    s.make_ascii_uppercase();
    drop(s);
    assert_unlocked_once(&m);
    assert_eq!(*m.try_lock().unwrap(), "aBC");
}

// --- Display ---------------------------------------------------------------

/// Every guard displays its value with `Display` (not `Debug`), passing
/// the formatter's options on.
#[test]
fn every_mutex_guard_displays_its_value() {
    let m = Arc::new(Mutex::new((String::from("hi"), 5)));

    let g = m.try_lock().unwrap();
    let mapped = MutexGuard::map(g, |v| &mut v.0);
    assert_eq!(format!("{mapped}"), "hi");
    assert_eq!(format!("{mapped:>4}"), "  hi");
    assert_eq!(format!("{mapped:?}"), "\"hi\"");
    drop(mapped);

    let g = m.try_lock_arc().unwrap();
    assert_eq!(format!("{:?}", g), "(\"hi\", 5)");
    let m2 = Arc::new(Mutex::new(String::from("owned")));
    let g2 = m2.try_lock_arc().unwrap();
    assert_eq!(format!("{g2}"), "owned");
    assert_eq!(format!("{g2:-<7}"), "owned--");
    assert_eq!(format!("{g2:?}"), "\"owned\"");
    drop((g, g2));

    let n = Arc::new(Mutex::new(2.71_f64));
    assert_eq!(format!("{:.2}", n.try_lock_arc().unwrap()), "2.71");
    let g = MutexGuard::map(n.try_lock().unwrap(), |v| v);
    assert_eq!(format!("{g:.1}"), "2.7");
}
