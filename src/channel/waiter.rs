//! The channel's intrusive wait list: one [`Wait`] pinned inside every
//! waiting future (no allocation per wait), linked into the channel's
//! sender or receiver queue.
//!
//! Unlike the semaphore's waiter (`crate::wait`), a channel waiter carries a
//! *value*: a parked sender's value waits in its node (until it is granted a
//! slot and places the value itself, or — rendezvous — a receiver takes it),
//! and a value handed to a parked receiver is written into its node.
//!
//! The list is not synchronized itself: every access to a linked node — and
//! to any node whose owner has not yet observed, under the lock, that it was
//! unlinked — happens with the channel's lock held.

use core::cell::Cell;
use core::marker::PhantomPinned;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::Waker;

use crate::loom::UnsafeCell;
use crate::wait::{Linked, Links};

/// Where a waiter stands. Written under the channel lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// In a queue.
    Queued,
    /// Taken out of the queue and served: a receiver's node holds its value.
    /// A sender was granted a slot (counted in `reserved`; a `send` still
    /// holds its value and places it when polled) or, on a rendezvous
    /// channel, a `send`'s value was taken (the node is then empty).
    Done,
    /// A buffered `send` moved from the queue to the woken list
    /// (`State::awake`, counted in `State::woken`) for a free slot (or a
    /// parked receiver) and woken, but not granted it: it still holds its
    /// value and, when polled, places it if it still can, else goes back
    /// into the queue by its `ticket`.
    Woken,
    /// Taken out of the queue by `close`: a sender's value is still in its
    /// node.
    Closed,
}

/// [`MAX_BYPASS`](crate::wait::MAX_BYPASS) as a count of a sender's
/// losses: woken that many times for a slot that another sender took
/// first, it is granted the next free one instead.
#[allow(clippy::cast_possible_truncation)]
pub(crate) const MAX_LOSSES: u32 = crate::wait::MAX_BYPASS as u32;

/// How many times the eldest waiting sender of a channel with `slots`
/// slots may be passed (another sender takes a slot first): fewer than
/// [`MAX_BYPASS`](crate::wait::MAX_BYPASS) per slot, so the ring turns
/// over fewer than `MAX_BYPASS` times before it has one (with one slot,
/// the mutex's bound). Then the next free slot is its. Per slot rather
/// than a fixed count: senders woken together finish in whatever order
/// their tasks run, and a bound that a full ring's worth of them could use
/// up at once would keep granting slots to tasks still waiting to be
/// scheduled (the stall described in `chan.rs`).
pub(crate) fn max_passes(slots: usize) -> u32 {
    u32::try_from(crate::wait::MAX_BYPASS.saturating_mul(slots) - 1).unwrap_or(u32::MAX)
}

/// The shared part of a waiter, reached only under the channel lock.
///
/// It exists only while its waiter is linked: [`Wait::park`] writes it whole
/// and the owner, once it saw the node leave the queue, leaves it empty
/// (value taken, waker taken by whoever unlinked it), so nothing in it needs
/// dropping and a [`Wait`] has no drop glue. A future that never parks
/// never writes it: building and moving the future costs a flag.
#[derive(Debug)]
pub(crate) struct Node<T> {
    links: Links<Wait<T>>,
    pub(crate) status: Status,
    /// Sender: the value to send (`None` for a reserve). Receiver: the value
    /// it was handed.
    pub(crate) value: Option<T>,
    pub(crate) waker: Option<Waker>,
    /// A `send`'s count of wake-ups that found their slot taken; from
    /// [`MAX_LOSSES`] on, a free slot is granted to it instead.
    pub(crate) lost: u32,
    /// A sender's place in arrival order (`State::tickets` when it
    /// parked): one that lost its slot queues again by it, and the eldest
    /// waiting sender is the one with the oldest ticket.
    pub(crate) ticket: u32,
    /// The slots a sender waits for: one for a `send` or a `reserve`, `n`
    /// for a `reserve_many(n)`, granted all at once. A `u32` (as `n` is
    /// bounded), so that it packs beside `lost` and `ticket`: a `usize`
    /// made every waiter 8 bytes bigger, and the cap-1 SPSC row 5 % slower.
    pub(crate) want: u32,
}

/// One waiter, pinned inside a future (or a box a handle keeps).
#[derive(Debug)]
pub(crate) struct Wait<T> {
    /// Initialized by [`Wait::park`]; see [`Node`].
    node: UnsafeCell<MaybeUninit<Node<T>>>,
    /// Owner-only: the node may be reached by the channel (it was linked and
    /// the owner has not yet seen it leave the queue under the lock). A
    /// `Cell`, so that every byte of a `Wait` is interior-mutable: the lists
    /// hold pointers derived from shared references.
    linked: Cell<bool>,
    _pin: PhantomPinned,
}

// SAFETY: the node (and the value in it) is only touched under the channel
// lock, or by the owner once it is unreachable for everyone else; `linked`
// is only read and written by the owner; moving a `Wait` to another thread
// moves at most a `T`, hence `T: Send`.
unsafe impl<T: Send> Send for Wait<T> {}
// SAFETY: shared access (`&Wait`) never touches the node without the lock,
// which serializes every access, and other threads never touch `linked`
// (only the owner, through `Pin<&mut Self>` or its own `&Self`); values only
// move through it (`T: Send`).
unsafe impl<T: Send> Sync for Wait<T> {}

impl<T> Default for Wait<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wait<T> {
    pub(crate) fn new() -> Self {
        Self {
            node: UnsafeCell::new(MaybeUninit::uninit()),
            linked: Cell::new(false),
            _pin: PhantomPinned,
        }
    }

    /// Whether the channel may still reach this waiter (see [`Wait::linked`]
    /// field docs); if `false`, nothing but the owner touches it.
    #[inline]
    pub(crate) fn is_linked(&self) -> bool {
        self.linked.get()
    }

    /// Only the owner writes it, and in the critical section that links or
    /// unlinks the node: wakers are woken after the lock is released, and
    /// one that panics must not leave the flag out of step with the queue.
    #[inline]
    pub(crate) fn set_linked(&self, linked: bool) {
        self.linked.set(linked);
    }

    /// The pointer the lists hold. Derived from a shared reference: the
    /// lists only ever write through the `UnsafeCell`.
    #[inline]
    pub(crate) fn ptr(self: Pin<&mut Self>) -> NonNull<Self> {
        NonNull::from(&*self)
    }

    /// Writes the node (queued, holding `value` and `waker`, waiting for
    /// `want` slots, not yet in a list), which may hold anything (it is
    /// never dropped: see [`Node`]).
    ///
    /// # Safety
    /// `this` is alive and pinned, and nobody else reaches it (unlinked,
    /// owned by the caller).
    #[inline]
    pub(crate) unsafe fn park(
        this: NonNull<Self>,
        value: Option<T>,
        waker: Waker,
        ticket: u32,
        want: u32,
    ) {
        // SAFETY: alive and exclusive (caller); the cell hands out its
        // pointer for the closure's duration only.
        unsafe {
            this.as_ref().node.with_mut(|p| {
                (*p).write(Node {
                    links: Links::new(),
                    status: Status::Queued,
                    value,
                    waker: Some(waker),
                    lost: 0,
                    ticket,
                    want,
                });
            });
        }
    }

    /// Runs `f` on the node.
    ///
    /// # Safety
    /// `this` is alive (pinned, not yet dropped) and was parked
    /// ([`Wait::park`]) since its owner last saw it unlinked; the caller
    /// holds the channel lock, or the waiter is unreachable for everyone
    /// else; `with` is not nested on the same waiter.
    #[inline]
    pub(crate) unsafe fn with<R>(this: NonNull<Self>, f: impl FnOnce(&mut Node<T>) -> R) -> R {
        // SAFETY: alive, initialized and exclusive (caller); the cell hands
        // out its pointer for the closure's duration only.
        unsafe { this.as_ref().node.with_mut(|p| f((*p).assume_init_mut())) }
    }
}

/// A FIFO queue of channel waiters (the wait core's intrusive list), only
/// reached under the channel lock.
pub(crate) type List<T> = crate::wait::List<Wait<T>>;

impl<T> Linked for Wait<T> {
    #[inline]
    unsafe fn links<R>(this: NonNull<Self>, f: impl FnOnce(&mut Links<Self>) -> R) -> R {
        // SAFETY: forwarded to the caller (alive, lock held, not nested).
        unsafe { Wait::with(this, |n| f(&mut n.links)) }
    }
}
