//! Zero heap allocations per wait and per channel message (DESIGN §4).
//!
//! A counting global allocator counts only while the *current thread* has
//! armed it (a thread-local flag), so the other tests of this binary, which
//! run on other threads, cannot disturb a measurement. Every wait below
//! really suspends (`Pending` is asserted), is woken through its own waker
//! (created, like every future's `Box`, before counting starts), and then
//! completes; the counted section must allocate nothing. One warm-up round
//! runs uncounted first.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use weftwork::sync::RwLockUpgradableReadGuard;
use weftwork::{Mutex, RwLock, Semaphore};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs_during;

/// A waker that counts its wake-ups; cloning it only bumps a refcount.
#[derive(Default)]
struct Flag(AtomicUsize);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag::default());
    (f.clone(), Waker::from(f))
}

/// Polls `fut` once with a no-op waker; it must be ready (taking a lock that
/// is free).
fn ready_now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("expected the lock to be free"),
    }
}

const ROUNDS: usize = 4;
/// More than the wake batch (16) so release loops over several batches.
const QUEUED: usize = 40;
const PING_PONG: usize = 200;

/// `QUEUED` waiters made by `make` queue behind the holder from `hold`;
/// the holder leaves, and each waiter, in order, must have been woken and
/// completes (its output dropped at once, which lets the next one in).
/// All but the first of `ROUNDS` rounds must allocate nothing.
fn queued_waits<H, F: Future>(
    what: &str,
    mut hold: impl FnMut() -> H,
    mut make: impl FnMut() -> F,
) {
    let wakers: Vec<_> = (0..QUEUED).map(|_| flag()).collect();
    for round in 0..ROUNDS {
        let mut futs: Vec<Pin<Box<F>>> = (0..QUEUED).map(|_| Box::pin(make())).collect();
        let holder = hold();
        let before: Vec<usize> = wakers.iter().map(|(f, _)| f.0.load(SeqCst)).collect();
        let (n, bytes) = allocs_during(|| {
            for (fut, (_, waker)) in futs.iter_mut().zip(&wakers) {
                let poll = fut.as_mut().poll(&mut Context::from_waker(waker));
                assert!(poll.is_pending(), "{what}: the wait did not suspend");
            }
            drop(holder);
            for (i, (fut, (flag, waker))) in futs.iter_mut().zip(&wakers).enumerate() {
                assert!(
                    flag.0.load(SeqCst) > before[i],
                    "{what}: waiter {i} not woken"
                );
                match fut.as_mut().poll(&mut Context::from_waker(waker)) {
                    Poll::Ready(out) => drop(out),
                    Poll::Pending => panic!("{what}: woken waiter {i} still pending"),
                }
            }
        });
        drop(futs);
        if round > 0 {
            assert_eq!(
                (n, bytes),
                (0, 0),
                "{what}: {n} allocations ({bytes} bytes) for {QUEUED} waits"
            );
        }
    }
}

/// `PING_PONG` times: take the holder, start one waiter on the stack, see
/// it suspend, release the holder, see it woken, complete it. Counted as a
/// whole after one uncounted warm-up pass.
fn ping_pong<H, F: Future>(what: &str, mut hold: impl FnMut() -> H, mut make: impl FnMut() -> F) {
    let (flag, waker) = flag();
    let mut one = || {
        let holder = hold();
        let mut fut = pin!(make());
        let mut cx = Context::from_waker(&waker);
        assert!(
            fut.as_mut().poll(&mut cx).is_pending(),
            "{what}: the wait did not suspend"
        );
        let before = flag.0.load(SeqCst);
        drop(holder);
        assert!(flag.0.load(SeqCst) > before, "{what}: waiter not woken");
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => drop(out),
            Poll::Pending => panic!("{what}: woken waiter still pending"),
        }
    };
    one();
    let (n, bytes) = allocs_during(|| (0..PING_PONG).for_each(|_| one()));
    assert_eq!(
        (n, bytes),
        (0, 0),
        "{what}: {n} allocations ({bytes} bytes) for {PING_PONG} waits"
    );
}

#[test]
fn counter_sees_allocations_on_this_thread_only() {
    let (n, bytes) = allocs_during(|| drop(std::hint::black_box(Box::new([0u8; 24]))));
    assert_eq!((n, bytes), (1, 24));
    let (n, _) = allocs_during(|| {
        std::thread::scope(|s| {
            // The spawn itself allocates here; the thread's own work must not
            // be counted.
            s.spawn(|| drop(std::hint::black_box(vec![0u8; 1 << 20])));
        })
    });
    let (baseline, _) = allocs_during(|| std::thread::scope(|s| drop(s.spawn(|| {}))));
    assert_eq!(n, baseline, "another thread's allocation was counted");
}

#[test]
fn mutex_waits_do_not_allocate() {
    let m = Mutex::new(0u64);
    queued_waits("Mutex::lock", || ready_now(m.lock()), || m.lock());
    ping_pong("Mutex::lock", || ready_now(m.lock()), || m.lock());

    let m = Arc::new(Mutex::new(0u64));
    queued_waits(
        "Mutex::lock_arc",
        || ready_now(m.lock_arc()),
        || m.lock_arc(),
    );
    ping_pong(
        "Mutex::lock_arc",
        || ready_now(m.lock_arc()),
        || m.lock_arc(),
    );
}

#[test]
fn semaphore_waits_do_not_allocate() {
    let s = Semaphore::new(1);
    queued_waits(
        "Semaphore::acquire",
        || ready_now(s.acquire()),
        || s.acquire(),
    );
    ping_pong(
        "Semaphore::acquire",
        || ready_now(s.acquire()),
        || s.acquire(),
    );

    // Partial hand-offs: 3 permits freed, waiters want 2 each.
    let s = Semaphore::new(3);
    queued_waits(
        "Semaphore::acquire_many",
        || ready_now(s.acquire_many(3)),
        || s.acquire_many(2),
    );

    let s = Arc::new(Semaphore::new(1));
    queued_waits(
        "Semaphore::acquire_arc",
        || ready_now(s.acquire_arc()),
        || s.acquire_arc(),
    );
    ping_pong(
        "Semaphore::acquire_arc",
        || ready_now(s.acquire_arc()),
        || s.acquire_arc(),
    );
}

#[test]
fn rwlock_waits_do_not_allocate() {
    let l = RwLock::new(0u64);
    queued_waits("RwLock::read", || ready_now(l.write()), || l.read());
    queued_waits(
        "RwLock::write behind a reader",
        || ready_now(l.read()),
        || l.write(),
    );
    queued_waits(
        "RwLock::write behind a writer",
        || ready_now(l.write()),
        || l.write(),
    );
    queued_waits(
        "RwLock::upgradable_read",
        || ready_now(l.write()),
        || l.upgradable_read(),
    );
    ping_pong("RwLock::read", || ready_now(l.write()), || l.read());
    ping_pong("RwLock::write", || ready_now(l.read()), || l.write());
    // The upgradable guard is taken while a reader holds the lock; the
    // upgrade waits for that reader.
    ping_pong(
        "RwLockUpgradableReadGuard::upgrade",
        || ready_now(l.read()),
        || RwLockUpgradableReadGuard::upgrade(ready_now(l.upgradable_read())),
    );

    let l = Arc::new(RwLock::new(0u64));
    queued_waits(
        "RwLock::read_arc",
        || ready_now(l.write_arc()),
        || l.read_arc(),
    );
    queued_waits(
        "RwLock::write_arc",
        || ready_now(l.read_arc()),
        || l.write_arc(),
    );
}

/// After creation a channel allocates nothing: not per message (buffered,
/// handed to a parked receiver, or placed by a parked sender granted a
/// slot) and not per wait, on a buffered and on a rendezvous channel.
#[test]
fn channel_messages_and_waits_do_not_allocate() {
    let (tx, rx) = weftwork::channel::bounded::<u64>(4);
    let (tx0, rx0) = weftwork::channel::bounded::<u64>(0);
    let (_flag, waker) = flag();
    let mut cx = Context::from_waker(&waker);
    let mut round = || {
        // Buffered: fill, then drain in order.
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        for i in 0..4 {
            assert_eq!(rx.try_recv().unwrap(), i);
        }
        // A parked receiver is handed the value directly.
        {
            let mut r = pin!(rx.recv());
            assert!(r.as_mut().poll(&mut cx).is_pending());
            ready_now(tx.send(7)).unwrap();
            assert!(matches!(r.as_mut().poll(&mut cx), Poll::Ready(Ok(7))));
        }
        // A parked sender is granted the slot a receive frees.
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        {
            let mut s = pin!(tx.send(9));
            assert!(s.as_mut().poll(&mut cx).is_pending());
            assert_eq!(rx.try_recv().unwrap(), 0);
            assert!(matches!(s.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        }
        for want in [1, 2, 3, 9] {
            assert_eq!(rx.try_recv().unwrap(), want);
        }
        // Rendezvous: a parked receiver takes a `try_send`, and a parked
        // sender's value is taken by `try_recv`.
        {
            let mut r = pin!(rx0.recv());
            assert!(r.as_mut().poll(&mut cx).is_pending());
            tx0.try_send(5).unwrap();
            assert!(matches!(r.as_mut().poll(&mut cx), Poll::Ready(Ok(5))));
            let mut s = pin!(tx0.send(6));
            assert!(s.as_mut().poll(&mut cx).is_pending());
            assert_eq!(rx0.try_recv().unwrap(), 6);
            assert!(matches!(s.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        }
    };
    round();
    let (n, bytes) = allocs_during(|| (0..100).for_each(|_| round()));
    assert_eq!(
        (n, bytes),
        (0, 0),
        "channel: {n} allocations ({bytes} bytes) for 100 rounds"
    );
}

#[test]
#[cfg(target_pointer_width = "64")]
fn mutex_is_at_most_16_bytes() {
    assert!(
        size_of::<Mutex<()>>() <= 16,
        "size_of::<Mutex<()>>() = {}",
        size_of::<Mutex<()>>()
    );
}

/// The harness is not vacuous: a peer whose waits allocate (async-lock's
/// event listener is boxed per wait) fails it.
#[test]
#[should_panic(expected = "allocations")]
fn harness_catches_an_allocating_wait() {
    let m = async_lock::Mutex::new(0u64);
    ping_pong(
        "async_lock::Mutex::lock",
        || ready_now(m.lock()),
        || m.lock(),
    );
}
