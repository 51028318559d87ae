//! The locks and the semaphore in `static`s: their `new` is a `const fn`
//! (outside `--cfg loom`), and a static one works across threads like any
//! other. Each static is used by this file's one test only (tests run in
//! parallel in one process).

mod common;

use std::thread;

use weftwork::{Mutex, RwLock, Semaphore};

static COUNTER: Mutex<u64> = Mutex::new(0);
static TABLE: RwLock<Vec<u32>> = RwLock::new(Vec::new());
static SLOTS: Semaphore = Semaphore::new(2);

/// Evaluated by the compiler: a failed `const` assertion in `new` would
/// not build.
const MAX: usize = Semaphore::MAX_PERMITS;
static FULL: Semaphore = Semaphore::new(MAX);

#[test]
fn static_mutex_counts_every_increment_across_threads() {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(|| {
                for _ in 0..common::ITERS {
                    *pollster::block_on(COUNTER.lock()) += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*COUNTER.try_lock().unwrap(), 4 * common::ITERS as u64);
}

#[test]
fn static_rwlock_reads_what_was_written() {
    pollster::block_on(TABLE.write()).extend([1, 2, 3]);
    let readers: Vec<_> = (0..3)
        .map(|_| thread::spawn(|| pollster::block_on(TABLE.read()).iter().sum::<u32>()))
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap(), 6);
    }
    assert!(TABLE.try_upgradable_read().is_some());
}

#[test]
fn static_semaphore_limits_and_gives_permits_back() {
    let a = SLOTS.try_acquire().unwrap();
    let b = pollster::block_on(SLOTS.acquire()).unwrap();
    assert!(SLOTS.try_acquire().is_err(), "only two permits");
    drop((a, b));
    assert_eq!(SLOTS.available_permits(), 2);
    assert_eq!(FULL.available_permits(), Semaphore::MAX_PERMITS);
    FULL.try_acquire_many(3).unwrap().forget();
    assert_eq!(FULL.available_permits(), Semaphore::MAX_PERMITS - 3);
}
