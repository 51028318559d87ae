//! The fair batch semaphore every lock is built on.
//!
//! One `usize` holds everything that must change atomically:
//!
//! ```text
//!  bits: [ permits ........ | CLAIM | HANDOFF | WAITERS | CLOSED | LOCKED ]
//! ```
//!
//! * `LOCKED` is a spin lock guarding the intrusive waiter [`List`]. Only
//!   its holder changes the word while it is set (every other write is a
//!   CAS that expects `LOCKED` clear): it publishes with a plain store.
//!   Critical sections are O(1)
//!   except for the wake-up loops, which hand wakers to a [`WakeBatch`] and
//!   run them after unlocking.
//! * `WAITERS` says the list is non-empty. **Invariant: `WAITERS` ⇒ no free
//!   permits.** Released permits go to the head waiter first (partially if
//!   it needs more), so the single-CAS fast paths can never overtake a
//!   queued waiter: strict FIFO, and a large request at the head is not
//!   starved by small ones.
//! * Without waiters, acquire and release are one CAS each.
//! * A waiter unlinked by someone else (granted its permits, or closed) is
//!   told so by a flag its granter sets last (`Waiter::leave`, `Release`):
//!   its next poll, or its drop, reads the outcome from its node without
//!   taking the lock.
//!
//! A mutex uses [`RawSemaphore::unlock_one`] instead of `release(1)`: it
//! frees the permit for anyone (the woken head or a barging newcomer);
//! with waiters, it does so under the list lock, in the same store that
//! counts a bypass against the head, and wakes the head. That relaxes the invariant above to "free permits
//! with `WAITERS` set are only ever taken by the head or by a newcomer".
//! `HANDOFF`, set while the head has been bypassed `MAX_BYPASS` times,
//! keeps newcomers off the free permit: it is the head's. So a waiter is
//! overtaken at most `MAX_BYPASS` times: a count, not a clock, and exact
//! on any number of threads, as no unlock frees the permit before it is
//! counted. (Freeing it first, with one `fetch_add` before taking the
//! list lock, let a newcomer in per thread paused between the two.)
//!
//! Before a newcomer queues, it watches the word for a while (the spin of
//! `watch.rs`, which also explains `CLAIM`). The waiting half of an acquire,
//! the node a future pins, is in `acquire.rs`.

mod acquire;
mod watch;

pub(crate) use acquire::Acquire;

use super::list::{List, Waiter};
use super::wakers::{OnUnwind, WakeBatch};
use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicUsize, Ordering::*};

/// Wakers collected per lock hold before the lock is released to wake them.
const BATCH: usize = 16;

const LOCKED: usize = 1;
const CLOSED: usize = 1 << 1;
const WAITERS: usize = 1 << 2;
const HANDOFF: usize = 1 << 3;
const CLAIM: usize = 1 << 4;
const SHIFT: u32 = 5;
const ONE: usize = 1 << SHIFT;

/// How often [`RawSemaphore::unlock_one`] may leave the permit free for
/// anyone while one waiter stands at the head. (2 under loom, the smallest
/// value that still has a bypass before the hand-off.)
pub(crate) const MAX_BYPASS: usize = if cfg!(loom) { 2 } else { 8 };
// A head that inherited a free lock has one bypass counted: it must not owe
// `HANDOFF` (see `with_list`).
const _: () = assert!(MAX_BYPASS >= 2);

/// The largest number of permits a semaphore can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> SHIFT;

/// Why a non-waiting acquire failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryFail {
    NoPermits,
    Closed,
}

/// The semaphore closed while (or before) waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// A fair, FIFO, multi-permit semaphore with an intrusive wait list.
#[derive(Debug)]
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    waiters: UnsafeCell<List<Waiter>>,
    #[cfg(loom)]
    gate: loom::sync::Mutex<()>,
}

// SAFETY: the list (raw pointers to pinned waiters) is only touched with
// the LOCKED bit held, which gives exclusive access; the wakers inside the
// nodes are `Send + Sync`.
unsafe impl Send for RawSemaphore {}
// SAFETY: as above.
unsafe impl Sync for RawSemaphore {}

/// Proof that the lock bit is held, with the state word observed when it
/// was taken (without `LOCKED`).
struct Locked<'a> {
    state: usize,
    #[cfg(loom)]
    _gate: loom::sync::MutexGuard<'a, ()>,
    #[cfg(not(loom))]
    _gate: core::marker::PhantomData<&'a ()>,
}

impl RawSemaphore {
    crate::loom::const_unless_loom! {
        pub(crate) fn new(permits: usize) -> Self {
            // A `const fn` cannot format the count into the message.
            assert!(
                permits <= MAX_PERMITS,
                "a semaphore holds at most Semaphore::MAX_PERMITS (usize::MAX >> 5) permits: \
                 more were requested"
            );
            Self {
                state: AtomicUsize::new(permits << SHIFT),
                waiters: UnsafeCell::new(List::new()),
                #[cfg(loom)]
                gate: loom::sync::Mutex::new(()),
            }
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.state.load(Acquire) >> SHIFT
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Acquire) & CLOSED != 0
    }

    /// Takes `n` permits without waiting.
    #[inline]
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryFail> {
        let s = self.state.load(Relaxed);
        if s & (CLOSED | LOCKED | HANDOFF | CLAIM) == 0
            && s >> SHIFT >= n
            && self
                .state
                .compare_exchange_weak(s, s - n * ONE, Acquire, Relaxed)
                .is_ok()
        {
            return Ok(());
        }
        self.try_acquire_from(n, self.state.load(Relaxed))
    }

    /// `try_acquire` for a request that usually takes *every* permit (a
    /// mutex lock, an `RwLock` write): guess that state, so the uncontended
    /// case is a single CAS with no load before it. (A wrong guess costs a
    /// failed CAS, which is why other requests load first.)
    #[inline]
    pub(crate) fn try_acquire_exact(&self, n: usize) -> Result<(), TryFail> {
        match self.state.compare_exchange(n * ONE, 0, Acquire, Relaxed) {
            Ok(_) => Ok(()),
            Err(actual) => self.try_acquire_from(n, actual),
        }
    }

    /// The general case of the two above, kept out of line so that their
    /// one-CAS fast paths inline into every acquire future.
    #[inline(never)]
    fn try_acquire_from(&self, n: usize, s: usize) -> Result<(), TryFail> {
        self.take_free(s, |s| {
            if s & CLOSED != 0 {
                // `s` may come from a relaxed load: read it again with
                // `Acquire` so whoever sees "closed" also sees everything
                // the closer did before `close` (a cancel token sets its
                // flag, then closes its event).
                let _ = self.state.load(Acquire);
                return Err(TryFail::Closed);
            }
            if s >> SHIFT < n || s & (HANDOFF | CLAIM) != 0 {
                return Err(TryFail::NoPermits);
            }
            Ok(n)
        })
        .map(drop)
    }

    /// Takes free permits from the state word with a CAS, starting from
    /// the observed state `s` and waiting out the lock bit (its holder
    /// publishes with a plain store that would undo a CAS made
    /// meanwhile). `pick` says, for each state seen, how many to take, or
    /// gives up with an error.
    #[inline]
    fn take_free<E>(
        &self,
        mut s: usize,
        pick: impl Fn(usize) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let mut spins = 0;
        loop {
            let take = pick(s)?;
            if s & LOCKED != 0 {
                self.spin_wait(&mut spins);
                s = self.state.load(Relaxed);
                continue;
            }
            match self
                .state
                .compare_exchange_weak(s, s - take * ONE, Acquire, Relaxed)
            {
                Ok(_) => return Ok(take),
                Err(actual) => s = actual,
            }
        }
    }

    /// `try_acquire` for a priority request: free permits and those already
    /// handed to the head waiter both count (see [`Acquire::front`]).
    pub(crate) fn try_acquire_front(&self, n: usize) -> Result<(), TryFail> {
        let fail = match self.try_acquire(n) {
            Err(TryFail::NoPermits) => TryFail::NoPermits,
            done => return done,
        };
        let locked = self.lock();
        let mut out = Err(fail);
        self.with_list(locked, |list, cur| {
            let s = cur;
            let free = s >> SHIFT;
            if s & CLOSED != 0 {
                out = Err(TryFail::Closed);
                return s;
            }
            // SAFETY: lock held.
            let held = list.front().map_or(0, |h| unsafe {
                Waiter::with(h, |node| node.wanted - node.needed)
            });
            if free.min(n) + held < n {
                return s;
            }
            out = Ok(());
            // SAFETY: lock held.
            unsafe { steal_from_head(list, n - free.min(n)) };
            s - free.min(n) * ONE
        });
        out
    }

    /// Returns `n` permits, handing them to waiters in FIFO order first.
    ///
    /// Panics (after unlocking) if the free count would exceed `MAX_PERMITS`.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            if let Some(locked) = self.add_or_lock(n) {
                self.release_slow(locked, n);
            }
        }
    }

    /// Takes up to `n` free permits away for good and returns how many it
    /// took. Never waits, and never takes a share already handed to a
    /// waiter (with waiters, no permit is free).
    pub(crate) fn forget(&self, n: usize) -> usize {
        let s = self.state.load(Relaxed);
        self.take_free(s, |s| match n.min(s >> SHIFT) {
            0 => Err(()),
            take => Ok(take),
        })
        .unwrap_or(0)
    }

    /// Without waiters, adds `n` free permits (one CAS) and returns `None`;
    /// with waiters, takes the lock bit instead.
    #[inline]
    fn add_or_lock(&self, n: usize) -> Option<Locked<'_>> {
        let mut spins = 0;
        let mut s = self.state.load(Relaxed);
        loop {
            if s & LOCKED != 0 {
                self.spin_wait(&mut spins);
                s = self.state.load(Relaxed);
            } else if s & WAITERS == 0 {
                let total = (s >> SHIFT).checked_add(n).filter(|&t| t <= MAX_PERMITS);
                let total = total.unwrap_or_else(|| overflow(s >> SHIFT, n));
                let new = (s & (ONE - 1)) | total << SHIFT;
                match self.state.compare_exchange_weak(s, new, Release, Relaxed) {
                    Ok(_) => return None,
                    Err(actual) => s = actual,
                }
            } else {
                match self.lock_from(s) {
                    Ok(locked) => return Some(locked),
                    Err(actual) => s = actual,
                }
            }
        }
    }

    #[inline(never)]
    fn release_slow<'a>(&'a self, mut locked: Locked<'a>, n: usize) {
        let mut rem = n;
        loop {
            let mut wakers = WakeBatch::<BATCH>::new();
            let mut overflowed = None;
            self.with_list(locked, |list, cur| {
                while rem > 0 && wakers.room() > 0 {
                    let Some(head) = list.front() else { break };
                    // SAFETY: the lock is held and `head` is linked.
                    let done = unsafe {
                        Waiter::with(head, |node| {
                            let take = rem.min(node.needed);
                            node.needed -= take;
                            rem -= take;
                            if node.needed == 0 {
                                wakers.push(node.waker.take());
                            }
                            node.needed == 0
                        })
                    };
                    if done {
                        // SAFETY: lock held, `head` linked in `list`; not
                        // touched after `leave`.
                        unsafe {
                            list.remove(head);
                            Waiter::leave(head);
                        }
                    }
                }
                let mut new = cur;
                if list.is_empty() {
                    let free = new >> SHIFT;
                    match free.checked_add(rem).filter(|&t| t <= MAX_PERMITS) {
                        Some(total) => new = (new & (ONE - 1)) | total << SHIFT,
                        None => overflowed = Some((free, rem)),
                    }
                    rem = 0;
                }
                new
            });
            if rem > 0 {
                // Should a `wake` panic, the rest of the release still
                // happens (the permits are not lost).
                let pass_on = OnUnwind::new(|| self.release(rem));
                wakers.wake_all();
                pass_on.disarm();
            } else {
                wakers.wake_all();
            }
            if let Some((free, rem)) = overflowed {
                overflow(free, rem);
            }
            if rem == 0 {
                return;
            }
            match self.add_or_lock(rem) {
                Some(next) => locked = next,
                None => return,
            }
        }
    }

    /// Releases the single permit of a mutex-like semaphore.
    ///
    /// Without waiters or flags, one CAS frees the permit. With waiters,
    /// the permit is freed under the list lock, in the same store that
    /// counts a bypass against the head (and wakes it); from its
    /// `MAX_BYPASS`-th on, that store also sets `HANDOFF`, which reserves
    /// the permit for the head. Must only be used on semaphores whose
    /// permits are all taken one at a time.
    #[inline]
    pub(crate) fn unlock_one(&self) {
        // Locked, no waiters, no flags: the common case.
        if self
            .state
            .compare_exchange(0, ONE, Release, Relaxed)
            .is_err()
        {
            self.unlock_one_slow();
        }
    }

    #[inline(never)]
    fn unlock_one_slow(&self) {
        debug_assert!(self.available() == 0, "a mutex was unlocked twice");
        if let Some(locked) = self.add_or_lock(1) {
            self.bypass_head(locked);
        }
    }

    /// An unlock with waiters: frees the permit, counts a bypass against
    /// the head and wakes it; from its `MAX_BYPASS`-th on, sets `HANDOFF`.
    fn bypass_head(&self, locked: Locked<'_>) {
        let mut waker = None;
        self.with_list(locked, |list, cur| {
            let cur = cur + ONE;
            let Some(head) = list.front() else { return cur };
            // SAFETY: lock held, `head` linked.
            let bypassed = unsafe {
                Waiter::with(head, |node| {
                    node.bypassed += 1;
                    waker = node.waker.take();
                    node.bypassed
                })
            };
            if bypassed >= MAX_BYPASS {
                cur | HANDOFF
            } else {
                cur
            }
        });
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Closes the semaphore: every waiter and every later acquire fails.
    pub(crate) fn close(&self) {
        loop {
            let mut wakers = WakeBatch::<BATCH>::new();
            let locked = self.lock();
            let mut more = false;
            self.with_list(locked, |list, cur| {
                while let Some(head) = list.front() {
                    if wakers.room() == 0 {
                        more = true;
                        break;
                    }
                    // SAFETY: lock held; `head` is linked, and not touched
                    // after `leave`. Leaving with `needed > 0` tells the
                    // owner the semaphore closed.
                    unsafe {
                        Waiter::with(head, |node| wakers.push(node.waker.take()));
                        list.remove(head);
                        Waiter::leave(head);
                    }
                }
                cur | CLOSED
            });
            if more {
                // Should a `wake` panic, the waiters left are still failed.
                let finish = OnUnwind::new(|| self.close());
                wakers.wake_all();
                finish.disarm();
            } else {
                wakers.wake_all();
                return;
            }
        }
    }

    /// Spins until the lock bit is ours.
    fn lock(&self) -> Locked<'_> {
        self.when_unlocked(|s| self.lock_from(s))
    }

    /// Runs `step` on the word once the lock bit is clear, until it
    /// succeeds; a failed `step` returns the word it found instead.
    #[inline]
    fn when_unlocked<R>(&self, mut step: impl FnMut(usize) -> Result<R, usize>) -> R {
        let mut spins = 0;
        let mut s = self.state.load(Relaxed);
        loop {
            if s & LOCKED != 0 {
                self.spin_wait(&mut spins);
                s = self.state.load(Relaxed);
                continue;
            }
            match step(s) {
                Ok(r) => return r,
                Err(actual) => s = actual,
            }
        }
    }

    /// Sets the lock bit if the state is still `s`.
    ///
    /// Under loom the holder also holds `gate` (taken before the bit), so a
    /// spinner can block on the gate instead of yielding: loom cannot tell
    /// a yielding spin loop from a livelock once three threads contend.
    #[inline]
    fn lock_from(&self, s: usize) -> Result<Locked<'_>, usize> {
        #[cfg(loom)]
        let gate = self.gate.lock().expect("gate never poisoned");
        match self
            .state
            .compare_exchange_weak(s, s | LOCKED, Acquire, Relaxed)
        {
            Ok(_) => Ok(Locked {
                state: s,
                #[cfg(loom)]
                _gate: gate,
                #[cfg(not(loom))]
                _gate: core::marker::PhantomData,
            }),
            Err(actual) => Err(actual),
        }
    }

    /// Waits while someone else holds the lock bit.
    #[inline]
    fn spin_wait(&self, spins: &mut u32) {
        // The bit's holder holds the gate until it has cleared the bit.
        #[cfg(loom)]
        drop((spins, self.gate.lock()));
        #[cfg(not(loom))]
        crate::loom::spin_wait(spins);
    }

    /// Runs `f` on the list with the lock held; `f` gets the state word as
    /// it was when the lock was taken (without `LOCKED`) and returns the
    /// new one, with `WAITERS` then set from the list and `HANDOFF` cleared
    /// if the head changed; it is published with `Release`.
    fn with_list(&self, locked: Locked<'_>, f: impl FnOnce(&mut List<Waiter>, usize) -> usize) {
        let new = self.waiters.with_mut(|list| {
            // SAFETY: `Locked` is only made by taking the LOCKED bit, which
            // gives this thread exclusive access to the list until the store.
            let list = unsafe { &mut *list };
            let head = list.front();
            let mut new = f(list, locked.state);
            if list.front() != head {
                // A new head has at most one bypass counted (inherited in
                // `cancel_slow`), below `MAX_BYPASS`.
                new &= !HANDOFF;
            }
            if list.is_empty() {
                new & !WAITERS
            } else {
                new | WAITERS
            }
        });
        debug_assert_eq!(new & LOCKED, 0);
        // A plain store: while `LOCKED` is set nobody else changes the word
        // (every other write is a CAS that expects `LOCKED` clear).
        self.state.store(new, Release);
        // Under loom, `locked` holds the gate until here, after the store.
        #[cfg(loom)]
        drop(locked);
    }
}

/// Takes up to `max` of the permits already handed to the head waiter
/// (which then needs them again) and returns how many it took.
///
/// # Safety
/// The semaphore's lock is held.
unsafe fn steal_from_head(list: &mut List<Waiter>, max: usize) -> usize {
    let Some(head) = list.front() else { return 0 };
    // SAFETY: lock held (caller) and `head` is linked.
    unsafe {
        Waiter::with(head, |node| {
            let take = (node.wanted - node.needed).min(max);
            node.needed += take;
            take
        })
    }
}

#[cold]
#[track_caller]
fn overflow(free: usize, added: usize) -> usize {
    panic!(
        "semaphore permit count overflow: {free} free + {added} added exceeds the maximum of {MAX_PERMITS}"
    )
}
