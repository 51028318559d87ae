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
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::Waker;

use crate::loom::UnsafeCell;

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
    /// Taken out of the queue by `close`: a sender's value is still in its
    /// node.
    Closed,
}

/// The shared part of a waiter, reached only under the channel lock.
#[derive(Debug)]
pub(crate) struct Node<T> {
    next: Option<NonNull<Wait<T>>>,
    prev: Option<NonNull<Wait<T>>>,
    pub(crate) status: Status,
    /// Sender: the value to send (`None` for a reserve). Receiver: the value
    /// it was handed.
    pub(crate) value: Option<T>,
    pub(crate) waker: Option<Waker>,
}

/// One waiter, pinned inside a future (or a box a handle keeps).
#[derive(Debug)]
pub(crate) struct Wait<T> {
    node: UnsafeCell<Node<T>>,
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
            node: UnsafeCell::new(Node {
                next: None,
                prev: None,
                status: Status::Done,
                value: None,
                waker: None,
            }),
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

    /// Takes `Pin<&mut Self>` to prove ownership: only the owner writes it.
    #[inline]
    pub(crate) fn set_linked(self: Pin<&mut Self>, linked: bool) {
        self.linked.set(linked);
    }

    /// The pointer the lists hold. Derived from a shared reference: the
    /// lists only ever write through the `UnsafeCell`.
    #[inline]
    pub(crate) fn ptr(self: Pin<&mut Self>) -> NonNull<Self> {
        NonNull::from(&*self)
    }

    /// Runs `f` on the node.
    ///
    /// # Safety
    /// `this` is alive (pinned, not yet dropped); the caller holds the
    /// channel lock, or the waiter is unreachable for everyone else; `with`
    /// is not nested on the same waiter.
    #[inline]
    pub(crate) unsafe fn with<R>(this: NonNull<Self>, f: impl FnOnce(&mut Node<T>) -> R) -> R {
        // SAFETY: alive and exclusive (caller); the cell hands out its
        // pointer for the closure's duration only.
        unsafe { this.as_ref().node.with_mut(|p| f(&mut *p)) }
    }
}

/// A FIFO queue of waiters: circular and doubly linked; `head.prev` is the
/// tail. Only reached under the channel lock.
#[derive(Debug)]
pub(crate) struct List<T> {
    head: Option<NonNull<Wait<T>>>,
}

// SAFETY: the list only holds pointers to `Wait<T>`s, which are `Send`
// when `T: Send`; it is only used under the channel lock.
unsafe impl<T: Send> Send for List<T> {}

impl<T> List<T> {
    pub(crate) const fn new() -> Self {
        Self { head: None }
    }

    #[inline]
    pub(crate) fn front(&self) -> Option<NonNull<Wait<T>>> {
        self.head
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Appends `w` at the tail and marks it [`Status::Queued`].
    ///
    /// # Safety
    /// The channel lock is held, `w` is alive, pinned and not linked, and it
    /// stays alive until it is removed.
    pub(crate) unsafe fn push_back(&mut self, w: NonNull<Wait<T>>) {
        let Some(head) = self.head else {
            // SAFETY: lock held, `w` alive and unlinked (caller).
            unsafe {
                Wait::with(w, |n| {
                    n.next = Some(w);
                    n.prev = Some(w);
                    n.status = Status::Queued;
                });
            }
            self.head = Some(w);
            return;
        };
        // SAFETY: lock held, so every linked node is alive and reached by
        // this thread alone; `with` is never nested on one node.
        unsafe {
            let tail = Wait::with(head, |h| h.prev.expect("a linked head has a prev"));
            Wait::with(w, |n| {
                n.next = Some(head);
                n.prev = Some(tail);
                n.status = Status::Queued;
            });
            Wait::with(tail, |t| t.next = Some(w));
            Wait::with(head, |h| h.prev = Some(w));
        }
    }

    /// Unlinks `w` (status unchanged: the caller sets it).
    ///
    /// # Safety
    /// The channel lock is held and `w` is linked in `self`.
    pub(crate) unsafe fn remove(&mut self, w: NonNull<Wait<T>>) {
        // SAFETY: lock held and `w` linked, so alive.
        let (next, prev) = unsafe {
            Wait::with(w, |n| {
                let (next, prev) = (n.next.take(), n.prev.take());
                (next.expect("linked"), prev.expect("linked"))
            })
        };
        if next == w {
            self.head = None;
            return;
        }
        // SAFETY: the neighbours are linked (alive); lock held.
        unsafe {
            Wait::with(prev, |p| p.next = Some(next));
            Wait::with(next, |n| n.prev = Some(prev));
        }
        if self.head == Some(w) {
            self.head = Some(next);
        }
    }

    /// Unlinks the head, if any.
    ///
    /// # Safety
    /// The channel lock is held.
    #[inline]
    pub(crate) unsafe fn pop_front(&mut self) -> Option<NonNull<Wait<T>>> {
        let w = self.head?;
        // SAFETY: `w` is the linked head; lock held (caller).
        unsafe { self.remove(w) };
        Some(w)
    }
}
