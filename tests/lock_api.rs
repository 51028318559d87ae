//! The smaller pieces of lock API that users of tokio::sync and async-lock
//! reach for: `try_map` on the mutex guards, `map` / `try_map` on the
//! owned guard (`MappedMutexGuardArc`), `Display` on every mutex guard,
//! and `merge` / `split` on semaphore permits. Hand-polled with wakers the
//! test controls: no timing (one test sends a guard to another thread).

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use common::{CountingWaker, ready};
use weftwork::Semaphore;
use weftwork::sync::{MappedMutexGuard, MappedMutexGuardArc, Mutex, MutexGuard, MutexGuardArc};

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

/// A mapped guard's `try_map`: `None` returns it (still locked, still
/// pointing at the same part), `Some` narrows further. The same test for
/// the borrowed and the owned mapped guard: `$m` is the mutex (or its
/// `Arc`), `$lock` the guard it starts from, `$g`/`$mapped` the guard types.
macro_rules! mapped_try_map_none_returns_the_mapped_guard_still_locked {
    ($name:ident, $m:expr, $lock:ident, $g:ident, $mapped:ident) => {
        #[test]
        fn $name() {
            let m = $m;
            let w = CountingWaker::new();
            let g = $g::map(m.$lock().unwrap(), |v| v);
            let mut waiter = Box::pin(m.lock());
            assert!(w.poll_box(&mut waiter).is_pending());

            let mut g = $mapped::try_map(g, |v| v.1.as_mut()).expect_err("field is None");
            assert!(m.try_lock().is_none(), "the returned guard holds the lock");
            assert_eq!(w.count(), 0);
            assert_eq!(g.0, 7);
            g.1 = Some(4);

            let mut inner = $mapped::try_map(g, |v| v.1.as_mut()).expect("field is Some");
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
    };
}

mapped_try_map_none_returns_the_mapped_guard_still_locked!(
    mapped_try_map_none_returns_the_mapped_guard_still_locked,
    Mutex::new((7, None::<u32>)),
    try_lock,
    MutexGuard,
    MappedMutexGuard
);

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

// --- MutexGuardArc::map / try_map → MappedMutexGuardArc ---------------------

/// `map` moves the lock (and the `Arc`) into the mapped guard: held until
/// it drops, writes land in the part, then one unlock wakes the queued
/// waiter, and the guard's `Arc` clone is gone.
#[test]
fn arc_map_then_drop_unlocks_once() {
    let m = Arc::new(Mutex::new((0u8, vec![1, 2, 3])));
    let w = CountingWaker::new();
    let g = m.try_lock_arc().unwrap();
    let mut waiter = Box::pin(m.lock());
    assert!(w.poll_box(&mut waiter).is_pending());

    let mut v: MappedMutexGuardArc<(u8, Vec<i32>), Vec<i32>> = MutexGuardArc::map(g, |v| &mut v.1);
    assert!(m.try_lock().is_none(), "the mapped guard holds the lock");
    assert_eq!(w.count(), 0, "mapping unlocks nothing");
    assert_eq!(Arc::strong_count(&m), 2, "the mapped guard holds the Arc");
    v.push(4);
    drop(v);
    assert_eq!(w.count(), 1, "the mapped guard's drop unlocks");
    assert_eq!(Arc::strong_count(&m), 1, "and lets its Arc go");
    let g = ready(w.poll_box(&mut waiter), "waiter");
    assert_eq!(g.1, [1, 2, 3, 4]);
    drop(g);
    drop(waiter);
    assert_unlocked_once(&m);
}

/// `try_map` returning `None` gives the owned guard back, still holding
/// the lock and working: writes through it land, and its drop unlocks once.
/// `Some` then maps as `map` does.
#[test]
fn arc_try_map_none_returns_a_working_guard() {
    let m = Arc::new(Mutex::new(vec![1, 2]));
    let w = CountingWaker::new();
    let g = m.try_lock_arc().unwrap();
    let mut waiter = Box::pin(m.lock());
    assert!(w.poll_box(&mut waiter).is_pending());

    let mut g: MutexGuardArc<Vec<i32>> =
        MutexGuardArc::try_map(g, |v| v.get_mut(5)).expect_err("no element 5");
    assert!(m.try_lock().is_none(), "the returned guard holds the lock");
    assert_eq!(w.count(), 0, "nothing was unlocked: the waiter sleeps");
    assert!(Arc::ptr_eq(g.source(), &m));
    g.push(3);
    assert_eq!(*g, [1, 2, 3]);

    let mut last = MutexGuardArc::try_map(g, |v| v.last_mut()).expect("not empty");
    assert!(m.try_lock().is_none());
    assert_eq!(w.count(), 0);
    *last = 30;
    drop(last);
    assert_eq!(w.count(), 1, "the mapped guard's drop unlocks");
    let g = ready(w.poll_box(&mut waiter), "waiter");
    assert_eq!(*g, [1, 2, 30]);
    drop(g);
    assert_unlocked_once(&m);
    assert_eq!(Arc::strong_count(&m), 1);
}

mapped_try_map_none_returns_the_mapped_guard_still_locked!(
    mapped_arc_try_map_none_returns_the_mapped_guard_still_locked,
    Arc::new(Mutex::new((7, None::<u32>))),
    try_lock_arc,
    MutexGuardArc,
    MappedMutexGuardArc
);

/// A panicking closure in any of the four owned `map`s / `try_map`s
/// releases the lock exactly once (a queued waiter is woken once and gets
/// it, no second holder gets in) and lets the guard's `Arc` go; no
/// poisoning: a write made before the panic stays.
#[test]
fn panicking_arc_map_closures_unlock_exactly_once() {
    type Pair = (i32, i32);
    type Narrowing = (&'static str, fn(MutexGuardArc<Pair>));
    let m = Arc::new(Mutex::new((1, 2)));
    let narrowings: [Narrowing; 4] = [
        ("try_map", |g| {
            let _ = MutexGuardArc::try_map(g, |v: &mut Pair| -> Option<&mut i32> {
                v.0 += 1;
                panic!("try_map")
            });
        }),
        ("map", |g| {
            let _ = MutexGuardArc::map(g, |v: &mut Pair| -> &mut i32 {
                v.0 += 1;
                panic!("map")
            });
        }),
        ("mapped try_map", |g| {
            let g = MutexGuardArc::map(g, |v| v);
            let _ = MappedMutexGuardArc::try_map(g, |v: &mut Pair| -> Option<&mut i32> {
                v.0 += 1;
                panic!("mapped try_map")
            });
        }),
        ("mapped map", |g| {
            let g = MutexGuardArc::map(g, |v| v);
            let _ = MappedMutexGuardArc::map(g, |v: &mut Pair| -> &mut i32 {
                v.0 += 1;
                panic!("mapped map")
            });
        }),
    ];
    for (i, (name, narrow)) in narrowings.into_iter().enumerate() {
        let w = CountingWaker::new();
        let g = m.try_lock_arc().unwrap();
        let mut waiter = Box::pin(m.lock());
        assert!(w.poll_box(&mut waiter).is_pending());

        let r = catch_unwind(AssertUnwindSafe(|| narrow(g)));
        assert_eq!(panic_message(&*r.unwrap_err()), name);
        assert_eq!(w.count(), 1, "{name}: the unwinding guard unlocked");
        assert_eq!(Arc::strong_count(&m), 1, "{name}: its Arc went with it");
        let g = ready(w.poll_box(&mut waiter), "waiter");
        assert!(m.try_lock().is_none(), "{name}: unlocked twice");
        assert_eq!(g.0, 2 + i as i32, "{name}: no poisoning");
        drop(g);
        assert_unlocked_once(&m);
    }
}

/// The mapped guard keeps the mutex alive after the user's `Arc` is gone,
/// can be sent to another thread and unlock there; its drop then frees the
/// mutex (and the value) exactly once.
#[test]
fn mapped_arc_guard_outlives_the_users_arc() {
    let m = Arc::new(Mutex::new((String::from("a"), 1)));
    let weak = Arc::downgrade(&m);
    let g = MutexGuardArc::map(m.try_lock_arc().unwrap(), |v| &mut v.0);
    drop(m);
    assert!(weak.upgrade().is_some(), "the guard keeps the mutex alive");
    let mut g = MappedMutexGuardArc::map(g, |s| s.as_mut_str());
    g.make_ascii_uppercase();
    let g: MappedMutexGuardArc<(String, i32), str> = std::thread::spawn(move || {
        assert_eq!(&*g, "A");
        g
    })
    .join()
    .unwrap();
    let m = weak.upgrade().unwrap();
    assert!(m.try_lock().is_none(), "still locked after the thread trip");
    drop(m);
    drop(g);
    assert!(weak.upgrade().is_none(), "the last Arc went with the guard");

    let m = Arc::new(Mutex::new(vec![0u8; 3]));
    let weak = Arc::downgrade(&m);
    let mut g = MutexGuardArc::map(m.try_lock_arc().unwrap(), |v| &mut v[1]);
    drop(m);
    *g = 5;
    let m = weak.upgrade().unwrap();
    drop(g);
    assert_unlocked_once(&m);
    assert_eq!(*m.try_lock().unwrap(), [0, 5, 0]);
}

/// Mapping twice (and three times) narrows step by step; the lock is held
/// throughout and released once at the end, after a contended `lock_arc`.
#[test]
fn arc_map_twice_narrows_and_unlocks_once() {
    let m = Arc::new(Mutex::new(((String::from("x"), [1u8, 2]), 0)));
    let w = CountingWaker::new();
    let holder = m.try_lock().unwrap();
    let mut arc_waiter = Box::pin(m.lock_arc());
    assert!(w.poll_box(&mut arc_waiter).is_pending());
    drop(holder);
    let g = ready(w.poll_box(&mut arc_waiter), "lock_arc");

    let g = MutexGuardArc::map(g, |v| &mut v.0);
    let arr = MappedMutexGuardArc::map(g, |v| &mut v.1);
    assert!(m.try_lock().is_none());
    let mut second: MappedMutexGuardArc<_, u8> =
        MappedMutexGuardArc::try_map(arr, |a| a.get_mut(1)).expect("in range");
    assert!(m.try_lock().is_none());
    *second += 40;
    assert_eq!(Arc::strong_count(&m), 2, "one Arc, not one per map");
    drop(second);
    assert_unlocked_once(&m);
    assert_eq!((m.try_lock().unwrap().0).1, [1, 42]);
    assert_eq!(Arc::strong_count(&m), 1);
}

/// `Display` and `Debug` show the part, passing the formatter's options on.
#[test]
fn mapped_arc_guard_displays_and_debugs_the_part() {
    let m = Arc::new(Mutex::new((String::from("hi"), 2.5_f64)));
    let s = MutexGuardArc::map(m.try_lock_arc().unwrap(), |v| &mut v.0);
    assert_eq!(format!("{s}"), "hi");
    assert_eq!(format!("{s:>4}"), "  hi");
    assert_eq!(format!("{s:?}"), "\"hi\"");
    drop(s);
    let f = MutexGuardArc::map(m.try_lock_arc().unwrap(), |v| &mut v.1);
    assert_eq!(format!("{f:.2}"), "2.50");
    assert_eq!(format!("{f:?}"), "2.5");
}

fn assert_send<S: Send>() {}
fn assert_sync<S: Sync>() {}

/// Compile-time: `Send` needs `T: Send` and `U: Send`, `Sync` needs both
/// `Send + Sync` (as tokio's `OwnedMappedMutexGuard`); `U = T` by default.
/// (That a `!Sync` part makes it `!Sync` is a `compile_fail` doctest on the
/// type.)
#[test]
fn mapped_arc_guard_send_sync() {
    use std::cell::Cell;
    assert_send::<MappedMutexGuardArc<(u8, String), String>>();
    assert_sync::<MappedMutexGuardArc<(u8, String), String>>();
    assert_send::<MappedMutexGuardArc<(Cell<u8>, u8), Cell<u8>>>();
    // The types of the two `compile_fail` doctests are well-formed, and
    // fail there only on `Sync` (a `!Sync` part) and `Send` (a `!Send` part).
    type SyncWhole = std::sync::Mutex<Cell<u8>>;
    assert_send::<MappedMutexGuardArc<SyncWhole, Cell<u8>>>();
    assert_sync::<MappedMutexGuardArc<SyncWhole>>();
    #[allow(dead_code)]
    struct Whole(std::rc::Rc<u8>);
    // SAFETY: never used at run time; only the type is checked.
    unsafe impl Send for Whole {}
    // SAFETY: as above.
    unsafe impl Sync for Whole {}
    assert_send::<MappedMutexGuardArc<Whole>>();
    assert_sync::<MappedMutexGuardArc<Whole>>();
    assert_send::<MappedMutexGuardArc<[u8], u8>>();
    assert_sync::<MappedMutexGuardArc<str>>();
    let _: fn(MappedMutexGuardArc<u8>) -> MappedMutexGuardArc<u8, u8> = |g| g;
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

// --- SemaphorePermit / SemaphorePermitArc: merge ---------------------------

/// Merging then dropping returns the sum, once.
#[test]
fn merge_then_drop_releases_the_sum() {
    let sem = Semaphore::new(5);
    let mut a = sem.try_acquire_many(2).unwrap();
    let b = sem.try_acquire_many(3).unwrap();
    a.merge(b);
    assert_eq!(a.num_permits(), 5);
    assert_eq!(sem.available_permits(), 0, "merging returns nothing");
    drop(a);
    assert_eq!(sem.available_permits(), 5);

    let sem = Arc::new(Semaphore::new(5));
    let mut a = sem.try_acquire_many_arc(1).unwrap();
    a.merge(sem.try_acquire_many_arc(4).unwrap());
    assert_eq!(a.num_permits(), 5);
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(
        Arc::strong_count(&sem),
        2,
        "the merged-in permit's Arc is gone"
    );
    drop(a);
    assert_eq!(sem.available_permits(), 5);
    assert_eq!(Arc::strong_count(&sem), 1);
}

/// The merged permits are served to a waiter that needs all of them, only
/// when the merged permit drops.
#[test]
fn merged_permit_wakes_a_waiter_needing_the_sum() {
    let sem = Semaphore::new(3);
    let mut a = sem.try_acquire_many(1).unwrap();
    a.merge(sem.try_acquire_many(2).unwrap());
    let w = CountingWaker::new();
    let mut waiter = Box::pin(sem.acquire_many(3));
    assert!(w.poll_box(&mut waiter).is_pending());
    drop(a);
    assert_eq!(w.count(), 1);
    let p = ready(w.poll_box(&mut waiter), "waiter").unwrap();
    assert_eq!(p.num_permits(), 3);
}

/// `forget` after `merge` forgets the sum: nothing comes back.
#[test]
fn merge_then_forget_releases_nothing() {
    let sem = Semaphore::new(4);
    let mut a = sem.try_acquire_many(1).unwrap();
    a.merge(sem.try_acquire_many(2).unwrap());
    a.forget();
    assert_eq!(sem.available_permits(), 1);

    let sem = Arc::new(Semaphore::new(4));
    let mut a = sem.try_acquire_arc().unwrap();
    a.merge(sem.try_acquire_many_arc(2).unwrap());
    a.forget();
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(Arc::strong_count(&sem), 1);
}

/// Merging a permit of another semaphore panics with a message naming
/// the mistake; the other permit goes back to its own semaphore and this
/// one keeps its count.
#[test]
fn merge_across_semaphores_panics() {
    let (s1, s2) = (Semaphore::new(2), Semaphore::new(2));
    let mut a = s1.try_acquire().unwrap();
    let b = s2.try_acquire_many(2).unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| a.merge(b))).unwrap_err();
    assert_eq!(
        panic_message(&*err),
        "cannot merge permits of different semaphores"
    );
    assert_eq!(a.num_permits(), 1);
    assert_eq!(s2.available_permits(), 2, "the other permit went home");
    assert_eq!(s1.available_permits(), 1);
    drop(a);
    assert_eq!(s1.available_permits(), 2);

    let (s1, s2) = (Arc::new(Semaphore::new(2)), Arc::new(Semaphore::new(2)));
    let mut a = s1.try_acquire_arc().unwrap();
    let b = s2.try_acquire_many_arc(2).unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| a.merge(b))).unwrap_err();
    assert_eq!(
        panic_message(&*err),
        "cannot merge permits of different semaphores"
    );
    assert_eq!(a.num_permits(), 1);
    assert_eq!(s2.available_permits(), 2);
    assert_eq!(Arc::strong_count(&s2), 1);
    drop(a);
    assert_eq!(s1.available_permits(), 2);
}

/// Two semaphores with the same count are still different semaphores;
/// `merge` compares identity, not value.
#[test]
fn merge_with_an_equal_but_distinct_semaphore_panics() {
    let (s1, s2) = (Semaphore::new(1), Semaphore::new(1));
    let mut a = s1.try_acquire().unwrap();
    let b = s2.try_acquire().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| a.merge(b))).is_err());
    assert_eq!(s2.available_permits(), 1);
}

/// A sum beyond `usize::MAX` panics instead of wrapping; neither permit
/// is lost (the other returns to the semaphore as it unwinds).
#[test]
fn merge_overflow_panics() {
    let max = Semaphore::MAX_PERMITS;
    let sem = Semaphore::new(0);
    sem.add_permits(max);
    let mut acc = sem.try_acquire_many(max).unwrap();
    // 32 · MAX_PERMITS = usize::MAX - 31 still fits...
    for _ in 1..32 {
        sem.add_permits(max);
        acc.merge(sem.try_acquire_many(max).unwrap());
    }
    assert_eq!(acc.num_permits(), 32 * max);
    // ...one more does not.
    sem.add_permits(max);
    let more = sem.try_acquire_many(max).unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| acc.merge(more))).unwrap_err();
    assert!(panic_message(&*err).contains("overflow"));
    assert_eq!(acc.num_permits(), 32 * max, "unchanged");
    assert_eq!(sem.available_permits(), max, "the other permit came back");
    acc.forget(); // returning it would overflow the semaphore
}

// --- SemaphorePermit / SemaphorePermitArc: split ---------------------------

/// `split` above the held count is `None` and changes nothing.
#[test]
fn split_more_than_held_is_none() {
    let sem = Semaphore::new(3);
    let mut p = sem.try_acquire_many(2).unwrap();
    assert!(p.split(3).is_none());
    assert_eq!(p.num_permits(), 2);
    drop(p);
    assert_eq!(sem.available_permits(), 3);

    let sem = Arc::new(Semaphore::new(3));
    let mut p = sem.try_acquire_many_arc(2).unwrap();
    assert!(p.split(3).is_none());
    assert_eq!(p.num_permits(), 2);
    assert_eq!(Arc::strong_count(&sem), 2);
    drop(p);
    assert_eq!(sem.available_permits(), 3);
}

/// The parts of a split are returned separately, each with its own
/// count, and a waiter needing exactly the split-off part is woken when
/// that part drops (not before, and the rest stays held).
#[test]
fn split_parts_release_separately() {
    let sem = Semaphore::new(5);
    let mut a = sem.try_acquire_many(5).unwrap();
    let w = CountingWaker::new();
    let mut waiter = Box::pin(sem.acquire_many(2));
    assert!(w.poll_box(&mut waiter).is_pending());

    let b = a.split(2).unwrap();
    assert_eq!((a.num_permits(), b.num_permits()), (3, 2));
    assert_eq!(w.count(), 0, "splitting returns nothing");
    assert_eq!(sem.available_permits(), 0);

    drop(b);
    assert_eq!(w.count(), 1, "the split-off part served the waiter");
    let got = ready(w.poll_box(&mut waiter), "waiter").unwrap();
    assert_eq!(got.num_permits(), 2);
    assert_eq!(sem.available_permits(), 0, "the rest is still held");

    drop(a);
    assert_eq!(sem.available_permits(), 3);
    drop(got);
    assert_eq!(sem.available_permits(), 5);
}

/// The same for `SemaphorePermitArc`: the split-off part carries its own
/// `Arc`, which goes when it drops.
#[test]
fn split_arc_parts_release_separately() {
    let sem = Arc::new(Semaphore::new(4));
    let mut a = sem.try_acquire_many_arc(4).unwrap();
    let w = CountingWaker::new();
    let mut waiter = Box::pin(sem.acquire_many_arc(1));
    assert!(w.poll_box(&mut waiter).is_pending());

    let b = a.split(1).unwrap();
    assert!(Arc::ptr_eq(b.semaphore(), &sem));
    assert_eq!((a.num_permits(), b.num_permits()), (3, 1));
    assert_eq!(w.count(), 0);

    drop(b);
    assert_eq!(w.count(), 1);
    let got = ready(w.poll_box(&mut waiter), "waiter").unwrap();
    assert_eq!(got.num_permits(), 1);
    drop(waiter);
    assert_eq!(sem.available_permits(), 0);
    drop(a);
    assert_eq!(sem.available_permits(), 3);
    drop(got);
    assert_eq!(sem.available_permits(), 4);
    assert_eq!(Arc::strong_count(&sem), 1);
}

/// Splitting off everything leaves a permit of 0, whose drop returns
/// nothing and wakes nobody; `split(0)` makes such a permit too.
#[test]
fn a_permit_split_to_zero_releases_nothing() {
    let sem = Semaphore::new(2);
    let mut a = sem.try_acquire_many(2).unwrap();
    let w = CountingWaker::new();
    let mut waiter = Box::pin(sem.acquire());
    assert!(w.poll_box(&mut waiter).is_pending());

    let zero = a.split(0).unwrap();
    assert_eq!((zero.num_permits(), a.num_permits()), (0, 2));
    drop(zero);
    let all = a.split(2).unwrap();
    assert_eq!(a.num_permits(), 0);
    drop(a);
    assert_eq!(w.count(), 0, "empty permits woke nobody");
    assert_eq!(sem.available_permits(), 0);

    drop(all);
    assert_eq!(w.count(), 1);
    drop(ready(w.poll_box(&mut waiter), "waiter").unwrap());
    assert_eq!(sem.available_permits(), 2);

    let sem = Arc::new(Semaphore::new(1));
    let mut a = sem.try_acquire_arc().unwrap();
    let all = a.split(1).unwrap();
    drop(a);
    assert_eq!(sem.available_permits(), 0);
    drop(all);
    assert_eq!(sem.available_permits(), 1);
}

/// `forget` on one part of a split forgets only that part.
#[test]
fn forget_after_split_forgets_only_that_part() {
    let sem = Semaphore::new(5);
    let mut a = sem.try_acquire_many(5).unwrap();
    let b = a.split(2).unwrap();
    b.forget();
    drop(a);
    assert_eq!(sem.available_permits(), 3);

    let sem = Arc::new(Semaphore::new(5));
    let mut a = sem.try_acquire_many_arc(5).unwrap();
    let b = a.split(2).unwrap();
    a.forget();
    assert_eq!(sem.available_permits(), 0);
    drop(b);
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(Arc::strong_count(&sem), 1);
}

/// Split then merge back: the count round-trips and the whole is
/// returned once.
#[test]
fn split_then_merge_round_trips() {
    let sem = Semaphore::new(6);
    let mut a = sem.try_acquire_many(6).unwrap();
    let b = a.split(4).unwrap();
    let mut c = a.split(1).unwrap();
    c.merge(b);
    c.merge(a);
    assert_eq!(c.num_permits(), 6);
    assert_eq!(sem.available_permits(), 0);
    drop(c);
    assert_eq!(sem.available_permits(), 6);
}
