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
//! Before a newcomer queues, it watches the word for a while (the
//! *window*) and retries its `try_acquire` whenever enough permits show
//! free (`RawSemaphore::try_acquire_spinning`), but only while the permits
//! are held rather than promised to a waiter: never with `HANDOFF` set,
//! and for anything but a mutex never with waiters queued (released
//! permits are then theirs). A cancel token's wait never spins.
//!
//! The watcher backs off: between two looks it spins `GAP_MIN` (16),
//! then 32, then 64 (`GAP_MAX`) CPU pause hints. Looking again at once
//! would keep pulling the word's cache line away from the holder's core, so
//! every re-lock there would wait for the line to come back; spaced looks
//! let a running holder do a run of short critical sections at its own
//! core's speed (on the 2-vCPU bench host, the 2-task contended mutex went
//! from 2.6–3.2 to 1.1 ms, the 90 %-read rwlock from 3.3–6.1 to 2.6 ms;
//! starting the gap at 1 pause instead of 16 left the 2-task row at
//! 1.9–2.4 ms). The window is counted in pause hints (27 ns each on that
//! host). A suspended holder's release never comes during a spin (one
//! thread, the holder awaiting), so the window adapts, process-wide: a spin
//! that got its permits doubles it (up to `SPIN_MAX`), one that ran out
//! halves it (down to `SPIN_MIN`). Where holders run, spins succeed and
//! the window grows; where they are suspended, it shrinks to the minimum
//! after a few misses, and a run of misses costs at most twice its first.
//! It is only a repeated `try_acquire`, so it changes no bound above.
//!
//! An `RwLock` writer's spin *claims* the permits: it sets `CLAIM` (never
//! with `LOCKED`, which a list-lock holder's store would undo), and from
//! then on every `try_acquire` by someone else fails, while holders leave.
//! Other spinners keep watching (and look every `SPIN_MIN` pauses: the
//! claim is short); the claimant's own acquire clears the flag in the same
//! CAS, and a claimant that gives up (window spent, or a stop flag)
//! clears it before it queues, so `CLAIM` never outlives the spin of the
//! thread that set it. While the free count rises the claimant's window
//! is extended (by at most `SPIN_MAX` pauses): holders that leave are
//! running. Without it, a writer on a multi-thread runtime watched a
//! stream of readers come and go, ran out, and queued; every reader then
//! queued behind a writer waiting to be scheduled, and the lock stayed in
//! that convoy for the rest of the run. The claim is advisory: whoever
//! takes the list lock (a newcomer whose spin ran out) still takes free
//! permits, so nothing can wait on a claim, and with waiters queued no
//! one claims. A claim never forms under loom or Miri, as no spin does.

use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker, ready};

use super::list::{List, Waiter};
use super::wakers::{OnUnwind, WakeBatch};

/// Wakers collected per lock hold before the lock is released to wake them.
const BATCH: usize = 16;
use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicUsize, Ordering::*};

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

/// Bounds of the spin window: CPU pause hints a newcomer spends watching
/// the state word before it queues (see
/// [`RawSemaphore::try_acquire_spinning`]).
#[cfg(not(loom))]
const SPIN_MIN: usize = 4;
#[cfg(not(loom))]
const SPIN_MAX: usize = 1024;
/// Pause hints between two looks at the word: the gap doubles from
/// `GAP_MIN` to `GAP_MAX` (at most what is left of the window).
#[cfg(not(loom))]
const GAP_MIN: usize = 16;
#[cfg(not(loom))]
const GAP_MAX: usize = 64;

/// The spin window, adapted process-wide to how spins end: doubled when a
/// spin got its permits, halved when one ran out. A hint only
/// (plain loads and stores; a lost update costs nothing).
#[cfg(not(loom))]
static SPIN_WINDOW: AtomicUsize = AtomicUsize::new(128);

/// The window after a spin that ended with `res`: doubled if it got its
/// permits, halved if it ran out, kept if the semaphore closed.
#[cfg(not(loom))]
fn next_window(window: usize, res: Result<(), TryFail>) -> usize {
    match res {
        Ok(()) => (window * 2).min(SPIN_MAX),
        Err(TryFail::NoPermits) => (window / 2).max(SPIN_MIN),
        Err(TryFail::Closed) => window,
    }
}

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
    pub(crate) fn new(permits: usize) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits, {permits} were requested"
        );
        Self {
            state: AtomicUsize::new(permits << SHIFT),
            waiters: UnsafeCell::new(List::new()),
            #[cfg(loom)]
            gate: loom::sync::Mutex::new(()),
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
    fn try_acquire_from(&self, n: usize, mut s: usize) -> Result<(), TryFail> {
        let mut spins = 0;
        loop {
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
            if s & LOCKED != 0 {
                self.spin_wait(&mut spins);
                s = self.state.load(Relaxed);
                continue;
            }
            match self
                .state
                .compare_exchange_weak(s, s - n * ONE, Acquire, Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => s = actual,
            }
        }
    }

    /// `try_acquire`, retried whenever the word shows enough free permits
    /// within [`SPIN_WINDOW`] pause hints (the gap between looks doubling
    /// from [`GAP_MIN`] to [`GAP_MAX`]), as long as it fails for want of
    /// permits and no flag in `stop` is set (`None`: no spin at all; see
    /// the module docs for the flags). With `claim` it claims the permits
    /// meanwhile (`CLAIM`, module docs). A spin that got its permits
    /// doubles the window, one that ran out halves it, one cut short by a
    /// flag leaves it. Under loom and Miri it does not spin: a spin is only
    /// a repeated `try_acquire`, and loom would explore every load, Miri
    /// interpret it.
    #[inline(never)]
    fn try_acquire_spinning(
        &self,
        n: usize,
        stop: Option<usize>,
        claim: bool,
    ) -> Result<(), TryFail> {
        match (stop, self.try_acquire(n)) {
            // Two copies: one that can claim, and one without any of it.
            (Some(stop), Err(TryFail::NoPermits)) if !cfg!(any(loom, miri)) => match claim {
                true => self.spin::<true>(n, stop),
                false => self.spin::<false>(n, stop),
            },
            (_, res) => res,
        }
    }

    /// The spin of [`RawSemaphore::try_acquire_spinning`], after a failed
    /// `try_acquire`.
    #[cfg(not(loom))]
    fn spin<const CLAIMS: bool>(&self, n: usize, stop: usize) -> Result<(), TryFail> {
        let window = SPIN_WINDOW.load(Relaxed);
        let mut spent = 0;
        let mut gap = GAP_MIN;
        let mut claimed = false;
        // Free permits at the last look, and pause hints not counted
        // because they came back meanwhile.
        let (mut last, mut extended) = (usize::MAX, 0);
        let res = loop {
            let mut s = self.state.load(Relaxed);
            if s & stop != 0 {
                if claimed {
                    self.unclaim();
                }
                return Err(TryFail::NoPermits);
            }
            if CLAIMS && !claimed && s & (CLAIM | LOCKED) == 0 {
                match self.state.compare_exchange(s, s | CLAIM, Relaxed, Relaxed) {
                    Ok(_) => {
                        claimed = true;
                        s |= CLAIM;
                    }
                    Err(actual) => s = actual,
                }
            }
            if s >> SHIFT >= n {
                if claimed {
                    // The claimant's own acquire clears `CLAIM` with it.
                    if s & (LOCKED | CLOSED | HANDOFF) == 0
                        && self
                            .state
                            .compare_exchange(s, (s - n * ONE) & !CLAIM, Acquire, Relaxed)
                            .is_ok()
                    {
                        break Ok(());
                    }
                } else if s & CLAIM == 0 {
                    match self.try_acquire(n) {
                        Err(TryFail::NoPermits) => {}
                        res => break res,
                    }
                }
            }
            if spent >= window {
                break Err(TryFail::NoPermits);
            }
            // Under a claim, holders are only leaving: look often.
            let quick = s & CLAIM != 0;
            let pause = if quick { SPIN_MIN } else { gap }.min(window - spent);
            for _ in 0..pause {
                core::hint::spin_loop();
            }
            // A claimant whose holders are leaving keeps its budget (up
            // to `SPIN_MAX` more pause hints).
            if claimed && s >> SHIFT > last && extended < SPIN_MAX {
                extended += pause;
            } else {
                spent += pause;
            }
            last = s >> SHIFT;
            if !quick {
                gap = (gap * 2).min(GAP_MAX);
            }
        };
        if claimed && res.is_err() {
            self.unclaim();
        }
        let next = next_window(window, res);
        if next != window {
            SPIN_WINDOW.store(next, Relaxed);
        }
        res
    }

    /// Clears the `CLAIM` this thread set. Waits for the list lock to be
    /// free first: its holder publishes the word with a store, which would
    /// put the flag back.
    #[cfg(not(loom))]
    fn unclaim(&self) {
        self.when_unlocked(|s| {
            self.state
                .compare_exchange_weak(s, s & !CLAIM, Relaxed, Relaxed)
                .map(drop)
        });
    }

    #[cfg(loom)]
    fn spin<const CLAIMS: bool>(&self, _: usize, _: usize) -> Result<(), TryFail> {
        unreachable!("no spin under loom")
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

    /// Polls the queued waiter `w` under the lock: `Ready(true)` if it
    /// took a permit freed by `unlock_one` (it stood at the head),
    /// `Ready(false)` if it has left the list meanwhile (granted or
    /// closed), `Pending` (its waker refreshed) otherwise.
    ///
    /// A new waker is cloned *outside* the lock (a clone is user code and
    /// may panic, which must not leave the lock bit set): a poll that finds
    /// the task's waker changed clones it and looks again.
    fn poll_queued(&self, w: NonNull<Waiter>, task: &Waker) -> Poll<bool> {
        let mut fresh = None;
        loop {
            let locked = self.lock();
            let mut out = Poll::Pending;
            let mut stale = None;
            let mut clone = false;
            self.with_list(locked, |list, s| {
                // SAFETY: lock held; `w` is the caller's and alive, and
                // linked in `list` if linked at all.
                unsafe {
                    if !List::is_linked(w) {
                        out = Poll::Ready(false);
                        return s;
                    }
                    let needed = Waiter::with(w, |node| node.needed);
                    if list.front() == Some(w) && s >> SHIFT >= needed {
                        // Only under `unlock_one`: a permit was freed for us
                        // (or a newcomer); take it.
                        list.remove(w);
                        out = Poll::Ready(true);
                        return s - needed * ONE;
                    }
                    Waiter::with(w, |node| match &mut node.waker {
                        Some(old) if old.will_wake(task) => {}
                        slot => match fresh.take() {
                            Some(new) => stale = slot.replace(new),
                            None => clone = true,
                        },
                    });
                }
                s
            });
            drop(stale);
            if !clone {
                drop(fresh);
                return out;
            }
            fresh = Some(task.clone());
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

impl Drop for Acquire {
    #[inline]
    fn drop(&mut self) {
        debug_assert!(
            self.stage != Stage::Queued,
            "the owner must cancel a queued waiter"
        );
        if self.stage == Stage::Left {
            // SAFETY: `Left` means the node was initialized and is unlinked;
            // nobody else can reach it any more.
            unsafe { Waiter::drop_node(NonNull::from(&self.waiter)) };
        }
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

/// Where an [`Acquire`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not queued yet: the node is uninitialized.
    Idle,
    /// Linked (or handed its permits / closed but not yet polled).
    Queued,
    /// Finished without ever queueing.
    Done,
    /// Finished after queueing: the node is initialized and unlinked.
    Left,
}

/// The waiting half of an acquire, pinned inside a public future.
///
/// The owner must call [`Acquire::cancel`] from its destructor: it unlinks a
/// queued waiter and returns any permits it was handed but never reported.
#[derive(Debug)]
pub(crate) struct Acquire {
    waiter: Waiter,
    n: usize,
    stage: Stage,
    /// Queue at the head (see [`Acquire::front`]).
    front: bool,
    /// Fast path guesses that all permits are free (see
    /// [`RawSemaphore::try_acquire_exact`]).
    exact: bool,
    /// Whether and how long a newcomer spins before it queues.
    spin: Spin,
}

/// How an [`Acquire`] spins before it queues (see
/// [`RawSemaphore::try_acquire_spinning`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spin {
    /// Not at all: nobody is about to free a permit (a cancel event has
    /// none until it closes), and a spin that fails shrinks every lock's
    /// window.
    #[cfg_attr(
        not(all(feature = "alloc", target_has_atomic = "ptr")),
        allow(dead_code, reason = "only a cancel token waits on an event")
    )]
    Never,
    /// Only while nobody is queued: permits released with waiters queued
    /// are theirs.
    Unqueued,
    /// As `Unqueued`, claiming the permits meanwhile (an `RwLock` write;
    /// see the module docs on `CLAIM`).
    Claiming,
    /// Past queued waiters too: a mutex's permit freed by
    /// [`RawSemaphore::unlock_one`] goes to whoever takes it first.
    Barging,
}

impl Acquire {
    /// A FIFO request for `n` permits.
    #[inline]
    pub(crate) fn fifo(n: usize) -> Self {
        assert!(
            n <= MAX_PERMITS,
            "cannot acquire {n} permits: the maximum is {MAX_PERMITS}"
        );
        Self {
            waiter: Waiter::new(),
            n,
            stage: Stage::Idle,
            front: false,
            exact: false,
            spin: Spin::Unqueued,
        }
    }

    /// A FIFO request that usually takes every permit (a lock). Its spin
    /// claims them (an `RwLock` write; [`Acquire::mutex`] spins otherwise).
    #[inline]
    pub(crate) fn exact(n: usize) -> Self {
        let mut this = Self::fifo(n);
        this.exact = true;
        this.spin = Spin::Claiming;
        this
    }

    /// A mutex lock (released with [`RawSemaphore::unlock_one`]).
    #[inline]
    pub(crate) fn mutex() -> Self {
        let mut this = Self::exact(1);
        this.spin = Spin::Barging;
        this
    }

    /// A wait for an event that closes the semaphore and never frees a
    /// permit (a cancel token, a channel's close): it queues without
    /// spinning.
    #[cfg(feature = "alloc")]
    #[inline]
    pub(crate) fn event() -> Self {
        let mut this = Self::fifo(1);
        this.spin = Spin::Never;
        this
    }

    /// A priority request: it queues at the head and takes over permits
    /// already handed to the old head. Only for a holder that must not
    /// wait behind others who in turn wait for it (an `RwLock` upgrade).
    pub(crate) fn front(n: usize) -> Self {
        let mut this = Self::fifo(n);
        this.front = true;
        this
    }

    fn node(self: Pin<&mut Self>) -> (NonNull<Waiter>, &mut Stage, usize, bool) {
        // SAFETY: nothing is moved out; the waiter stays pinned in place.
        let this = unsafe { self.get_unchecked_mut() };
        (
            NonNull::from(&this.waiter),
            &mut this.stage,
            this.n,
            this.front,
        )
    }

    /// Polls for the permits. On `Ready(Ok)` they belong to the caller.
    #[inline]
    pub(crate) fn poll_acquire(
        mut self: Pin<&mut Self>,
        sem: &RawSemaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        // The fast path, kept small enough to inline: one CAS, no waiter.
        if self.stage == Stage::Idle {
            let res = if self.exact {
                sem.try_acquire_exact(self.n)
            } else {
                sem.try_acquire(self.n)
            };
            if let res @ (Ok(()) | Err(TryFail::Closed)) = res {
                // SAFETY: only a plain field is written; nothing moves.
                unsafe { self.as_mut().get_unchecked_mut().stage = Stage::Done };
                return Poll::Ready(res.map_err(|_| Closed));
            }
        }
        // Only the waker goes out of line: the `Context` itself need not
        // be in memory on the fast path.
        self.poll_slow(sem, cx.waker())
    }

    #[inline(never)]
    fn poll_slow(
        self: Pin<&mut Self>,
        sem: &RawSemaphore,
        task: &Waker,
    ) -> Poll<Result<(), Closed>> {
        let stop = match self.spin {
            Spin::Never => None,
            Spin::Unqueued | Spin::Claiming => Some(WAITERS | HANDOFF | CLOSED),
            Spin::Barging => Some(HANDOFF | CLOSED),
        };
        let claim = self.spin == Spin::Claiming;
        let (w, stage, n, front) = self.node();
        match *stage {
            Stage::Done | Stage::Left => panic!("acquire future polled after completion"),
            Stage::Idle => match sem.try_acquire_spinning(n, stop, claim) {
                Ok(()) => {
                    *stage = Stage::Done;
                    Poll::Ready(Ok(()))
                }
                Err(TryFail::Closed) => {
                    *stage = Stage::Done;
                    Poll::Ready(Err(Closed))
                }
                Err(TryFail::NoPermits) => {
                    let mut waker = Some(task.clone());
                    let locked = sem.lock();
                    let mut out = Poll::Pending;
                    sem.with_list(locked, |list, s| {
                        if s & CLOSED != 0 {
                            out = Poll::Ready(Err(Closed));
                            return s;
                        }
                        // Free permits kept for the head are not ours.
                        let free = if s & HANDOFF != 0 { 0 } else { s >> SHIFT };
                        if free >= n {
                            out = Poll::Ready(Ok(()));
                            return s - n * ONE;
                        }
                        let stolen = if front {
                            // SAFETY: lock held.
                            unsafe { steal_from_head(list, n - free) }
                        } else {
                            0
                        };
                        if free + stolen < n {
                            // SAFETY: lock held; `w` is pinned inside `self`,
                            // not linked, and `cancel` unlinks it before it
                            // can be dropped.
                            unsafe {
                                Waiter::init(w, n - free - stolen, n, waker.take());
                                if front {
                                    list.push_front(w);
                                } else {
                                    list.push_back(w);
                                }
                            }
                        } else {
                            out = Poll::Ready(Ok(()));
                        }
                        // The free permits are ours (the waiter holds them).
                        s - free * ONE
                    });
                    *stage = if out.is_pending() {
                        Stage::Queued
                    } else {
                        Stage::Done
                    };
                    out
                }
            },
            Stage::Queued => {
                // SAFETY: `w` is our own waiter, alive while we are, and
                // initialized when it queued.
                if !unsafe { w.as_ref().has_left() } {
                    let taken = ready!(sem.poll_queued(w, task));
                    if taken {
                        *stage = Stage::Left;
                        return Poll::Ready(Ok(()));
                    }
                }
                // Granted or closed: the node is ours again (`has_left`, or
                // the lock in `poll_queued`, orders the granter's writes).
                // SAFETY: unlinked and not reached by anyone else.
                let (needed, wanted) = unsafe { Waiter::with(w, |n| (n.needed, n.wanted)) };
                *stage = Stage::Left;
                if needed == 0 {
                    Poll::Ready(Ok(()))
                } else {
                    sem.release(wanted - needed);
                    Poll::Ready(Err(Closed))
                }
            }
        }
    }

    /// Abandons the wait: unlinks the waiter and gives back every permit it
    /// was handed. Idempotent; a no-op unless queued.
    #[inline]
    pub(crate) fn cancel(self: Pin<&mut Self>, sem: &RawSemaphore) {
        if self.stage == Stage::Queued {
            self.cancel_slow(sem);
        }
    }

    #[inline(never)]
    fn cancel_slow(self: Pin<&mut Self>, sem: &RawSemaphore) {
        let (w, stage, _, _) = self.node();
        *stage = Stage::Left;
        // SAFETY: `w` is our own waiter, alive while we are, and
        // initialized when it queued.
        if unsafe { w.as_ref().has_left() } {
            // Granted or closed: the node is ours again, no lock needed.
            // SAFETY: unlinked, and its writer's `leave` was acquired.
            let held = unsafe { Waiter::with(w, |node| node.wanted - node.needed) };
            sem.release(held);
            return;
        }
        let locked = sem.lock();
        let mut held = 0;
        let mut pass_on = None;
        sem.with_list(locked, |list, cur| {
            // SAFETY: lock held; `w` is ours, and linked in `list` if linked;
            // the new head is linked.
            unsafe {
                held = Waiter::with(w, |node| node.wanted - node.needed);
                if List::is_linked(w) {
                    let was_head = list.front() == Some(w);
                    list.remove(w);
                    // Only under `unlock_one`: a permit freed for us is still
                    // free; the new head must hear of it. Inheriting a free
                    // lock counts as one bypass, which keeps the bound exact.
                    if cur >> SHIFT > 0 {
                        if let Some(head) = list.front() {
                            pass_on = Waiter::with(head, |node| {
                                node.bypassed += usize::from(was_head);
                                node.waker.take()
                            });
                        }
                    }
                }
            }
            cur
        });
        if let Some(waker) = pass_on {
            waker.wake();
        }
        if held > 0 {
            sem.release(held);
        }
    }
}

/// The spin: its adaptive window and the writer's claim. One test, since
/// the window is process-wide and every spin changes it.
#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use super::*;

    const STOP: Option<usize> = Some(WAITERS | HANDOFF | CLOSED);

    #[test]
    fn spins() {
        the_window_follows_how_spins_end();
        a_claim_never_outlives_its_spin();
    }

    fn two_cpus() -> bool {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        if n < 2 {
            std::eprintln!("one CPU: a threaded spin check is skipped");
        }
        n >= 2
    }

    /// Runs `spin` here and `helper` on another thread, started once both
    /// threads run (they shake hands first, however long a thread takes to
    /// start and wherever it is put). `helper` gets a check that is true
    /// while `spin` runs.
    fn side_by_side<R>(
        helper: impl FnOnce(&dyn Fn() -> bool) + Send,
        spin: impl FnOnce() -> R,
    ) -> R {
        let stage = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                stage.store(1, Release);
                while stage.load(Acquire) == 1 {
                    core::hint::spin_loop();
                }
                helper(&|| stage.load(Acquire) == 2);
            });
            while stage.load(Acquire) == 0 {
                core::hint::spin_loop();
            }
            stage.store(2, Release);
            let res = spin();
            stage.store(3, Release);
            res
        })
    }

    fn the_window_follows_how_spins_end() {
        let sem = RawSemaphore::new(0);
        // Nobody frees a permit: each spin runs out and halves the window,
        // down to the minimum.
        SPIN_WINDOW.store(1024, Relaxed);
        assert_eq!(
            sem.try_acquire_spinning(1, STOP, false),
            Err(TryFail::NoPermits)
        );
        assert_eq!(SPIN_WINDOW.load(Relaxed), 512);
        for _ in 0..20 {
            assert_eq!(
                sem.try_acquire_spinning(1, STOP, false),
                Err(TryFail::NoPermits)
            );
        }
        assert_eq!(SPIN_WINDOW.load(Relaxed), SPIN_MIN);
        // No spin at all, or one cut short by a flag: no verdict.
        assert_eq!(
            sem.try_acquire_spinning(1, None, false),
            Err(TryFail::NoPermits)
        );
        SPIN_WINDOW.store(1024, Relaxed);
        let mut wait = core::pin::pin!(Acquire::event());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(wait.as_mut().poll_acquire(&sem, &mut cx).is_pending());
        wait.as_mut().cancel(&sem);
        assert_eq!(SPIN_WINDOW.load(Relaxed), 1024, "an event wait spun");
        SPIN_WINDOW.store(SPIN_MIN, Relaxed);
        sem.close();
        assert_eq!(
            sem.try_acquire_spinning(1, STOP, false),
            Err(TryFail::Closed)
        );
        assert_eq!(SPIN_WINDOW.load(Relaxed), SPIN_MIN);

        // The verdicts and their bounds.
        assert_eq!(next_window(512, Ok(())), 1024);
        assert_eq!(next_window(SPIN_MAX, Ok(())), SPIN_MAX);
        assert_eq!(next_window(512, Err(TryFail::NoPermits)), 256);
        assert_eq!(next_window(SPIN_MIN, Err(TryFail::NoPermits)), SPIN_MIN);
        assert_eq!(next_window(512, Err(TryFail::Closed)), 512);

        // A permit released by another thread during the spin: the window
        // doubles. That needs two threads running at once: on one CPU the
        // release never comes during a spin (the verdict itself is checked
        // above). The helper waits an eighth of the window, in the same
        // pause hints, before it releases: the release lands inside the
        // spin on any CPU. (Retried: either thread may be preempted.)
        if !two_cpus() {
            return;
        }
        let sem = RawSemaphore::new(0);
        let mut doubled = false;
        for _ in 0..1000 {
            SPIN_WINDOW.store(SPIN_MAX / 2, Relaxed);
            let res = side_by_side(
                |_| {
                    for _ in 0..SPIN_MAX / 16 {
                        core::hint::spin_loop();
                    }
                    sem.release(1);
                },
                || sem.try_acquire_spinning(1, STOP, false),
            );
            match (res, SPIN_WINDOW.load(Relaxed)) {
                (Ok(()), SPIN_MAX) => {
                    doubled = true;
                    break;
                }
                // The release came before the first `try_acquire`: no spin,
                // no verdict (the permit stays taken, none is free).
                (Ok(()), window) => assert_eq!(window, SPIN_MAX / 2),
                // The release came after the spin: take it back.
                (Err(_), window) => {
                    assert_eq!(window, SPIN_MAX / 4);
                    assert_eq!(sem.try_acquire(1), Ok(()));
                }
            }
        }
        assert!(doubled, "no spin ever saw the other thread's release");
    }

    fn a_claim_never_outlives_its_spin() {
        // A claim keeps every other `try_acquire` off.
        let sem = RawSemaphore::new(4);
        sem.state.fetch_or(CLAIM, Relaxed);
        assert_eq!(sem.try_acquire(1), Err(TryFail::NoPermits));
        assert_eq!(sem.try_acquire_exact(4), Err(TryFail::NoPermits));
        sem.state.fetch_and(!CLAIM, Relaxed);
        assert_eq!(sem.try_acquire(1), Ok(()));
        // A claimant that runs out (the holder never leaves) clears it.
        SPIN_WINDOW.store(SPIN_MIN, Relaxed);
        assert_eq!(
            sem.try_acquire_spinning(4, STOP, true),
            Err(TryFail::NoPermits)
        );
        assert_eq!(sem.state.load(Relaxed), 3 * ONE, "claim left behind");
        if !two_cpus() {
            return;
        }
        // Another thread sees the claim while the claimant spins: its
        // `try_acquire` fails; then it either lets the last holder go (the
        // claimant gets every permit, its CAS clearing the claim) or closes
        // the semaphore (the claimant stops and clears it). Retried until
        // both happened: the claimant may run out before the other thread
        // looks.
        let (mut granted, mut stopped) = (false, false);
        for round in 0..2000 {
            let close = round % 2 == 1;
            SPIN_WINDOW.store(SPIN_MAX, Relaxed);
            let sem = RawSemaphore::new(4);
            assert_eq!(sem.try_acquire(1), Ok(()));
            let seen = AtomicUsize::new(0);
            let res = side_by_side(
                |spinning| {
                    while spinning() {
                        if sem.state.load(Relaxed) & CLAIM == 0 {
                            continue;
                        }
                        // The claimant cannot have the permits yet (one is
                        // held); if it gave up meanwhile, this round proves
                        // nothing.
                        match sem.try_acquire(1) {
                            Err(TryFail::NoPermits) => seen.store(1, Relaxed),
                            other => {
                                assert_eq!(other, Ok(()));
                                sem.release(1);
                            }
                        }
                        break;
                    }
                    if close {
                        sem.close();
                    } else {
                        sem.release(1);
                    }
                },
                || sem.try_acquire_spinning(4, STOP, true),
            );
            let s = sem.state.load(Relaxed);
            assert_eq!(s & CLAIM, 0, "claim left behind: {res:?}");
            if seen.load(Relaxed) == 1 {
                match res {
                    Ok(()) => {
                        assert_eq!(s, 0);
                        granted = true;
                    }
                    Err(_) if close => stopped = true,
                    Err(_) => {}
                }
            }
            if granted && stopped {
                return;
            }
        }
        panic!("never saw both ends of a claim (granted {granted}, stopped {stopped})");
    }
}
