//! The spin before queueing: how a newcomer watches the state word.
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

#[cfg(not(loom))]
use super::{CLAIM, CLOSED, HANDOFF, LOCKED, ONE, SHIFT};
use super::{RawSemaphore, TryFail};
#[cfg(not(loom))]
use crate::loom::atomic::{AtomicUsize, Ordering::*};

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

impl RawSemaphore {
    /// `try_acquire`, retried whenever the word shows enough free permits
    /// within [`SPIN_WINDOW`] pause hints (the gap between looks doubling
    /// from [`GAP_MIN`] to [`GAP_MAX`]), as long as it fails for want of
    /// permits and no flag in `stop` is set (`None`: no spin at all; see
    /// `raw.rs` for the flags). With `claim` it claims the permits
    /// meanwhile (`CLAIM`, module docs). A spin that got its permits
    /// doubles the window, one that ran out halves it, one cut short by a
    /// flag leaves it. Under loom and Miri it does not spin: a spin is only
    /// a repeated `try_acquire`, and loom would explore every load, Miri
    /// interpret it.
    #[inline(never)]
    pub(super) fn try_acquire_spinning(
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
}

/// The spin: its adaptive window and the writer's claim. One test, since
/// the window is process-wide and every spin changes it.
#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use core::task::{Context, Waker};

    use super::super::{Acquire, WAITERS};
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
