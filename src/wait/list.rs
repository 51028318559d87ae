//! An intrusive, circular, doubly-linked list of waiters.
//!
//! The nodes live pinned inside the futures that wait (no allocation per
//! wait). The list is not synchronized itself: every access happens with the
//! owning [`RawSemaphore`](super::RawSemaphore)'s lock bit held.

use core::marker::PhantomPinned;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::task::Waker;

use crate::loom::UnsafeCell;

/// The mutable part of a waiter, reached only under the list's lock.
#[derive(Debug)]
pub(crate) struct Node {
    next: Option<NonNull<Waiter>>,
    prev: Option<NonNull<Waiter>>,
    /// Permits still missing. A waiter that has left the list with
    /// `needed == 0` was granted; with `needed > 0` the semaphore closed.
    pub(crate) needed: usize,
    /// Permits requested in all; `wanted - needed` are held already.
    pub(crate) wanted: usize,
    pub(crate) waker: Option<Waker>,
    /// How often the lock was released to everyone (not handed to this
    /// waiter) while it stood at the head; see `RawSemaphore::unlock_one`.
    pub(crate) bypassed: usize,
}

/// One waiter: pinned inside a future for as long as it is linked.
///
/// The node is written only when the future first queues, so building a
/// future that completes on the fast path costs no stores for it.
#[derive(Debug)]
pub(crate) struct Waiter {
    node: UnsafeCell<MaybeUninit<Node>>,
    _pin: PhantomPinned,
}

// SAFETY: the raw links are only followed with the owning semaphore's lock
// held, which serializes every access to the node; the waker is `Send + Sync`.
unsafe impl Send for Waiter {}
// SAFETY: as above: shared access never touches the node without the lock.
unsafe impl Sync for Waiter {}

impl Waiter {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            node: UnsafeCell::new(MaybeUninit::uninit()),
            _pin: PhantomPinned,
        }
    }

    /// Writes the node before the waiter is linked for the first time.
    ///
    /// # Safety
    /// The caller owns `this` exclusively, it was never initialized (or its
    /// node was dropped), and it is not linked.
    pub(crate) unsafe fn init(
        this: NonNull<Waiter>,
        needed: usize,
        wanted: usize,
        waker: Option<Waker>,
    ) {
        let node = Node {
            next: None,
            prev: None,
            needed,
            wanted,
            waker,
            bypassed: 0,
        };
        // SAFETY: exclusive access (caller); writing never reads the old
        // (uninitialized) contents.
        unsafe { this.as_ref().node.with_mut(|p| (*p).write(node)) };
    }

    /// Drops the node (its waker).
    ///
    /// # Safety
    /// The node was initialized, is not linked, and nobody else can reach
    /// it; it is not used again unless re-initialized.
    pub(crate) unsafe fn drop_node(this: NonNull<Waiter>) {
        // SAFETY: forwarded to the caller.
        unsafe { this.as_ref().node.with_mut(|p| (*p).assume_init_drop()) };
    }

    /// Runs `f` on the node.
    ///
    /// # Safety
    /// The node was initialized with [`Waiter::init`]; the caller holds the
    /// list's lock (or is the only thread that can reach the waiter), and
    /// does not nest `with` on the same waiter.
    pub(crate) unsafe fn with<R>(this: NonNull<Waiter>, f: impl FnOnce(&mut Node) -> R) -> R {
        // SAFETY: the caller guarantees the waiter is alive and initialized
        // (it is linked or owned) and that access is exclusive.
        unsafe { this.as_ref().node.with_mut(|p| f((*p).assume_init_mut())) }
    }
}

/// The list head. `None` when empty; otherwise `head.prev` is the tail.
#[derive(Debug, Default)]
pub(crate) struct List {
    head: Option<NonNull<Waiter>>,
}

impl List {
    pub(crate) const fn new() -> Self {
        Self { head: None }
    }

    pub(crate) fn front(&self) -> Option<NonNull<Waiter>> {
        self.head
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Whether `w` is in a list.
    ///
    /// # Safety
    /// As for [`Waiter::with`].
    pub(crate) unsafe fn is_linked(w: NonNull<Waiter>) -> bool {
        // SAFETY: forwarded to the caller.
        unsafe { Waiter::with(w, |n| n.next.is_some()) }
    }

    /// Appends `w` at the tail.
    ///
    /// # Safety
    /// The lock is held, `w` is not linked and stays pinned until removed.
    pub(crate) unsafe fn push_back(&mut self, w: NonNull<Waiter>) {
        let Some(head) = self.head else {
            // SAFETY: the caller owns `w` exclusively (lock held, unlinked).
            unsafe {
                Waiter::with(w, |n| {
                    n.next = Some(w);
                    n.prev = Some(w);
                });
            }
            self.head = Some(w);
            return;
        };
        // SAFETY: the lock is held, so every linked node is alive and reached
        // by this thread alone; `with` is never nested on one node.
        unsafe {
            let tail = Waiter::with(head, |h| h.prev.expect("linked head has a prev"));
            Waiter::with(w, |n| {
                n.next = Some(head);
                n.prev = Some(tail);
            });
            Waiter::with(tail, |t| t.next = Some(w));
            Waiter::with(head, |h| h.prev = Some(w));
        }
    }

    /// Puts `w` at the head (used by the one priority waiter, an upgrade).
    ///
    /// # Safety
    /// As for [`List::push_back`].
    pub(crate) unsafe fn push_front(&mut self, w: NonNull<Waiter>) {
        // SAFETY: forwarded; in a circular list the new tail's successor is
        // the head, so making it the head puts it in front.
        unsafe { self.push_back(w) };
        self.head = Some(w);
    }

    /// Unlinks `w`, which must be in this list.
    ///
    /// # Safety
    /// The lock is held and `w` is linked in `self`.
    pub(crate) unsafe fn remove(&mut self, w: NonNull<Waiter>) {
        // SAFETY: the lock is held and `w` is linked, so it is alive.
        let (next, prev) = unsafe {
            Waiter::with(w, |n| {
                let links = (n.next.take(), n.prev.take());
                (links.0.expect("linked"), links.1.expect("linked"))
            })
        };
        if next == w {
            self.head = None;
            return;
        }
        // SAFETY: the neighbours are linked (alive) and the lock is held.
        unsafe {
            Waiter::with(prev, |p| p.next = Some(next));
            Waiter::with(next, |n| n.prev = Some(prev));
        }
        if self.head == Some(w) {
            self.head = Some(next);
        }
    }
}
