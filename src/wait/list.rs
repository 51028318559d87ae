//! An intrusive, circular, doubly-linked list of waiters, and the
//! semaphore's waiter.
//!
//! The nodes live pinned inside the futures that wait (no allocation per
//! wait). The list is not synchronized itself: every access happens with its
//! owner's lock held (the [`RawSemaphore`](super::RawSemaphore)'s lock bit,
//! or a channel's spin lock). [`List`] is generic over the waiter type
//! ([`Linked`]) so the channel, whose waiters also carry a value, shares it.

use core::marker::PhantomPinned;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::task::Waker;

use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicBool, Ordering};

/// The mutable part of a waiter, reached only under the list's lock.
#[derive(Debug)]
pub(crate) struct Node {
    links: Links<Waiter>,
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
    /// Set (`Release`) by whoever else unlinks the waiter — a grant or a
    /// close — as its last touch of the node, so the owner can see that it
    /// was served (and read its node) without taking the lock. Written by
    /// [`Waiter::init`] with the node: initializing it in [`Waiter::new`]
    /// made the compiler zero the whole waiter on every fast-path lock.
    left: MaybeUninit<AtomicBool>,
    _pin: PhantomPinned,
}

// SAFETY: the raw links are only followed with the owning semaphore's lock
// held, which serializes every access to the node, except the owner's once
// `left` (acquired) says nobody else reaches it any more; the waker is
// `Send + Sync`.
unsafe impl Send for Waiter {}
// SAFETY: as above: shared access never touches the node without the lock,
// other than through that flag.
unsafe impl Sync for Waiter {}

impl Waiter {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            node: UnsafeCell::new(MaybeUninit::uninit()),
            left: MaybeUninit::uninit(),
            _pin: PhantomPinned,
        }
    }

    /// Tells the owner that the semaphore unlinked its waiter (granted, or
    /// closed): from this store on the node is the owner's again.
    ///
    /// # Safety
    /// The caller holds the list's lock, has just unlinked `this` (alive
    /// until now) and does not touch it afterwards: the owner may free it
    /// as soon as it sees the flag.
    #[inline]
    pub(crate) unsafe fn leave(this: NonNull<Waiter>) {
        // SAFETY: alive until this store, and initialized by `init`
        // before it was linked (caller).
        unsafe { this.as_ref().left.assume_init_ref() }.store(true, Ordering::Release);
    }

    /// Whether the semaphore unlinked this waiter ([`Waiter::leave`]); if
    /// so, the node (written before the flag) belongs to the owner again.
    ///
    /// # Safety
    /// The waiter was initialized ([`Waiter::init`]).
    #[inline]
    pub(crate) unsafe fn has_left(&self) -> bool {
        // SAFETY: initialized (caller).
        unsafe { self.left.assume_init_ref() }.load(Ordering::Acquire)
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
            links: Links::new(),
            needed,
            wanted,
            waker,
            bypassed: 0,
        };
        // SAFETY: exclusive access (caller); writing never reads the old
        // (uninitialized) contents.
        unsafe { this.as_ref().node.with_mut(|p| (*p).write(node)) };
        // SAFETY: alive and exclusive (caller); `left` is an atomic, so
        // interior-mutable: writing it through the lists' pointer (derived
        // from a shared reference) is allowed.
        unsafe { (&raw mut (*this.as_ptr()).left).write(MaybeUninit::new(AtomicBool::new(false))) };
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

/// The links of a node in a [`List`].
#[derive(Debug)]
pub(crate) struct Links<W> {
    next: Option<NonNull<W>>,
    prev: Option<NonNull<W>>,
}

impl<W> Links<W> {
    pub(crate) const fn new() -> Self {
        Self {
            next: None,
            prev: None,
        }
    }
}

/// A waiter type that a [`List`] can link: the semaphore's [`Waiter`] and
/// the channel's waiter (which also carries a value).
pub(crate) trait Linked: Sized {
    /// Runs `f` on the waiter's links.
    ///
    /// # Safety
    /// `this` is alive, the caller holds the lock that guards the list (or
    /// is the only thread that can reach the waiter), and accesses to one
    /// waiter's node are not nested.
    unsafe fn links<R>(this: NonNull<Self>, f: impl FnOnce(&mut Links<Self>) -> R) -> R;
}

impl Linked for Waiter {
    #[inline]
    unsafe fn links<R>(this: NonNull<Self>, f: impl FnOnce(&mut Links<Self>) -> R) -> R {
        // SAFETY: forwarded to the caller; a waiter that is in a list (the
        // only time its links are read) was initialized.
        unsafe { Waiter::with(this, |n| f(&mut n.links)) }
    }
}

/// An intrusive, circular, doubly-linked FIFO list of waiters. `None` when
/// empty; otherwise `head.prev` is the tail. Not synchronized itself: its
/// owner's lock guards it and every node linked into it.
#[derive(Debug)]
pub(crate) struct List<W> {
    head: Option<NonNull<W>>,
}

impl<W> Default for List<W> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: the list only holds pointers to waiters that live pinned in their
// futures; it is used only under its owner's lock, and every waiter it
// reaches can be shared across threads (`W: Sync`) and moved (`W: Send`).
unsafe impl<W: Send + Sync> Send for List<W> {}

impl<W> List<W> {
    pub(crate) const fn new() -> Self {
        Self { head: None }
    }

    #[inline]
    pub(crate) fn front(&self) -> Option<NonNull<W>> {
        self.head
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }
}

impl<W: Linked> List<W> {
    /// Whether `w` is in a list.
    ///
    /// # Safety
    /// As for [`Linked::links`].
    pub(crate) unsafe fn is_linked(w: NonNull<W>) -> bool {
        // SAFETY: forwarded to the caller.
        unsafe { W::links(w, |l| l.next.is_some()) }
    }

    /// Appends `w` at the tail.
    ///
    /// # Safety
    /// The lock is held, `w` is alive and not linked, and it stays pinned
    /// until removed.
    pub(crate) unsafe fn push_back(&mut self, w: NonNull<W>) {
        let Some(head) = self.head else {
            // SAFETY: the caller owns `w` exclusively (lock held, unlinked).
            unsafe {
                W::links(w, |n| {
                    n.next = Some(w);
                    n.prev = Some(w);
                });
            }
            self.head = Some(w);
            return;
        };
        // SAFETY: forwarded; in a circular list, just before the head is
        // the tail's place.
        unsafe { self.link_before(head, w) };
    }

    /// Links `w` between `at` and its predecessor; the head stays.
    ///
    /// # Safety
    /// As for [`List::push_back`], and `at` is linked in `self`.
    #[inline]
    unsafe fn link_before(&mut self, at: NonNull<W>, w: NonNull<W>) {
        // SAFETY: the lock is held, so every linked node is alive and reached
        // by this thread alone; `links` is never nested on one node.
        unsafe {
            let prev = W::links(at, |l| l.prev.expect("linked node has a prev"));
            W::links(w, |n| {
                n.next = Some(at);
                n.prev = Some(prev);
            });
            W::links(prev, |p| p.next = Some(w));
            W::links(at, |a| a.prev = Some(w));
        }
    }

    /// Puts `w` at the head (used by the one priority waiter, an upgrade).
    ///
    /// # Safety
    /// As for [`List::push_back`].
    pub(crate) unsafe fn push_front(&mut self, w: NonNull<W>) {
        // SAFETY: forwarded; in a circular list the new tail's successor is
        // the head, so making it the head puts it in front.
        unsafe { self.push_back(w) };
        self.head = Some(w);
    }

    /// The node after `w`, or `None` if `w` is the tail.
    ///
    /// # Safety
    /// The lock is held and `w` is linked in `self`.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub(crate) unsafe fn next(&self, w: NonNull<W>) -> Option<NonNull<W>> {
        // SAFETY: forwarded to the caller.
        let next = unsafe { W::links(w, |l| l.next.expect("linked")) };
        (Some(next) != self.head).then_some(next)
    }

    /// The tail, if any.
    ///
    /// # Safety
    /// The lock is held.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub(crate) unsafe fn back(&self) -> Option<NonNull<W>> {
        // SAFETY: the head is linked (alive) and the lock is held (caller).
        self.head
            .map(|h| unsafe { W::links(h, |l| l.prev.expect("linked")) })
    }

    /// The node before `w`, or `None` if `w` is the head.
    ///
    /// # Safety
    /// The lock is held and `w` is linked in `self`.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub(crate) unsafe fn prev(&self, w: NonNull<W>) -> Option<NonNull<W>> {
        // SAFETY: forwarded to the caller.
        (Some(w) != self.head).then(|| unsafe { W::links(w, |l| l.prev.expect("linked")) })
    }

    /// Links `w` just after `at`, a node of this list (at the tail if `at`
    /// is the tail).
    ///
    /// # Safety
    /// As for [`List::push_back`], and `at` is linked in `self`.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub(crate) unsafe fn insert_after(&mut self, at: NonNull<W>, w: NonNull<W>) {
        // SAFETY: forwarded to the caller; linking before `at`'s successor
        // (the head, if `at` is the tail) keeps the head where it is.
        unsafe {
            let next = W::links(at, |l| l.next.expect("linked"));
            self.link_before(next, w);
        }
    }

    /// Links `w` just before `at`, a node of this list (at the head if
    /// `at` is the head).
    ///
    /// # Safety
    /// As for [`List::push_back`], and `at` is linked in `self`.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub(crate) unsafe fn insert_before(&mut self, at: NonNull<W>, w: NonNull<W>) {
        // SAFETY: forwarded to the caller.
        unsafe { self.link_before(at, w) };
        if self.head == Some(at) {
            self.head = Some(w);
        }
    }

    /// Unlinks `w`, which must be in this list.
    ///
    /// # Safety
    /// The lock is held and `w` is linked in `self`.
    pub(crate) unsafe fn remove(&mut self, w: NonNull<W>) {
        // SAFETY: the lock is held and `w` is linked, so it is alive.
        let (next, prev) = unsafe {
            W::links(w, |n| {
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
            W::links(prev, |p| p.next = Some(next));
            W::links(next, |n| n.prev = Some(prev));
        }
        if self.head == Some(w) {
            self.head = Some(next);
        }
    }

    /// Unlinks the head, if any (the channel's queues).
    ///
    /// # Safety
    /// The lock is held.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    #[inline]
    pub(crate) unsafe fn pop_front(&mut self) -> Option<NonNull<W>> {
        let w = self.head?;
        // SAFETY: `w` is the linked head; the lock is held (caller).
        unsafe { self.remove(w) };
        Some(w)
    }
}
