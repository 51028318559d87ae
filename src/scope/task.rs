//! One child in one allocation: a header (reference count, "queued" flag,
//! slot index, the scope's ready queue, a vtable), the future, and then its
//! output. The header doubles as the child's waker, so spawning costs one
//! allocation and polling clones no waker.
//!
//! Ownership: the scope's slab holds one reference, each `Waker` made from
//! the header one more; the cell is freed when the last goes. The future
//! and output are touched only by the slab's owner side (the driver while
//! the slot says `Polling`, the join handle once it took the cell out of a
//! `Done` slot) and are always dropped (`drop_future`) before the slab lets
//! go of its reference — so a waker that outlives the scope, or `'env`,
//! only ever frees memory whose future and output are already gone.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::ready::Ready;
use crate::loom::atomic::{AtomicUsize, Ordering::*};

struct VTable {
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    drop_future: unsafe fn(NonNull<Header>),
    dealloc: unsafe fn(NonNull<Header>),
}

pub(crate) struct Header {
    refs: AtomicUsize,
    queued: AtomicUsize,
    index: usize,
    ready: Arc<Ready>,
    vtable: &'static VTable,
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    fut: UnsafeCell<Option<F>>,
    out: UnsafeCell<Option<F::Output>>,
}

struct Table<F>(F);

impl<F: Future> Table<F> {
    const VTABLE: VTable = VTable {
        poll: poll::<F>,
        take_output: take_output::<F>,
        drop_future: drop_future::<F>,
        dealloc: dealloc::<F>,
    };
}

/// # Safety (all four)
/// `h` is the header of a live `Cell<F>`, and the caller has exclusive
/// access to its future and output (see the module docs).
unsafe fn poll<F: Future>(h: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: `Cell` is `repr(C)` with the header first, so the header
    // pointer is the cell pointer; access is exclusive per the contract.
    let cell = unsafe { h.cast::<Cell<F>>().as_ref() };
    // SAFETY: as above; the future never moves (the cell is heap-pinned).
    let fut = unsafe { &mut *cell.fut.get() };
    let Some(f) = fut.as_mut() else {
        return Poll::Ready(());
    };
    // SAFETY: the cell is never moved while the future lives.
    let out = core::task::ready!(unsafe { Pin::new_unchecked(f) }.poll(cx));
    // Drop the finished future at once: it releases its borrows early.
    *fut = None;
    // SAFETY: exclusive, as above.
    unsafe { *cell.out.get() = Some(out) };
    Poll::Ready(())
}

unsafe fn take_output<F: Future>(h: NonNull<Header>, dst: *mut ()) {
    // SAFETY: see `poll`; `dst` is an `Option<F::Output>` (caller's promise).
    unsafe {
        let cell = h.cast::<Cell<F>>().as_ref();
        *dst.cast::<Option<F::Output>>() = (*cell.out.get()).take();
    }
}

unsafe fn drop_future<F: Future>(h: NonNull<Header>) {
    // SAFETY: see `poll`.
    unsafe {
        let cell = h.cast::<Cell<F>>().as_ref();
        *cell.fut.get() = None;
        *cell.out.get() = None;
    }
}

unsafe fn dealloc<F: Future>(h: NonNull<Header>) {
    // Its future and output are `None` by now (dropped by the slab), so
    // only the header's `Arc<Ready>` has anything to drop.
    // SAFETY: the last reference is gone, so nobody else can reach the
    // cell, and it came from `Box::leak` in `TaskRef::new`.
    let cell = unsafe { Box::from_raw(h.cast::<Cell<F>>().as_ptr()) };
    drop(cell);
}

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(w_clone, w_wake, w_wake_by_ref, w_drop);

unsafe fn w_clone(p: *const ()) -> RawWaker {
    // SAFETY: a waker's data is a header with a reference held by it.
    let h = unsafe { &*p.cast::<Header>() };
    // Relaxed, as for `Arc::clone`: the reference we hold keeps it alive.
    h.refs.fetch_add(1, Relaxed);
    RawWaker::new(p, &WAKER_VTABLE)
}

unsafe fn w_wake(p: *const ()) {
    // SAFETY: as in `w_clone`; `w_drop` gives the waker's reference back.
    unsafe {
        w_wake_by_ref(p);
        w_drop(p);
    }
}

unsafe fn w_wake_by_ref(p: *const ()) {
    // SAFETY: as in `w_clone`.
    let h = unsafe { &*p.cast::<Header>() };
    if h.queued.swap(1, AcqRel) == 0 {
        h.ready.push(h.index);
    }
}

unsafe fn w_drop(p: *const ()) {
    // SAFETY: as in `w_clone`; this releases the waker's reference.
    unsafe { release(NonNull::new_unchecked(p.cast_mut().cast::<Header>())) }
}

/// Gives back one reference; frees the cell with the last.
///
/// # Safety
/// The caller owns one reference to the live cell `h`.
unsafe fn release(h: NonNull<Header>) {
    // SAFETY: the reference we give back keeps the header alive until here.
    let header = unsafe { h.as_ref() };
    if header.refs.fetch_sub(1, AcqRel) == 1 {
        // SAFETY: that was the last reference.
        unsafe { (header.vtable.dealloc)(h) };
    }
}

/// The slab's reference to a child cell.
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: the cell holds a `Send` future and output (`TaskRef::new`
// requires it), its header is made of `Sync` parts, and the future and
// output are reached only by whoever holds the slab slot exclusively.
unsafe impl Send for TaskRef {}

impl TaskRef {
    /// Allocates the cell for `fut`; `ready` is the scope's queue. Its
    /// slot index is set by [`set_index`](Self::set_index) before any waker
    /// exists.
    pub(crate) fn new<F>(fut: F, ready: &Arc<Ready>) -> Self
    where
        F: Future + Send,
        F::Output: Send,
    {
        let cell = Box::new(Cell {
            header: Header {
                refs: AtomicUsize::new(1),
                // Queued: the spawner puts it in the ready queue itself.
                queued: AtomicUsize::new(1),
                index: usize::MAX,
                ready: ready.clone(),
                vtable: &Table::<F>::VTABLE,
            },
            fut: UnsafeCell::new(Some(fut)),
            out: UnsafeCell::new(None),
        });
        Self(NonNull::from(Box::leak(cell)).cast())
    }

    /// Records the child's slot. Only before its first poll: no waker (no
    /// other reader of the header) exists yet.
    pub(crate) fn set_index(&mut self, index: usize) {
        // SAFETY: `&mut self` and no waker yet: nobody else reads the header.
        unsafe { (*self.0.as_ptr()).index = index };
    }

    fn header(&self) -> &Header {
        // SAFETY: we hold a reference, so the cell is alive.
        unsafe { self.0.as_ref() }
    }

    /// Polls the future (storing its output when it finishes) with the
    /// cell's own waker; the "queued" flag is cleared first, so a wake from
    /// now on queues the child again.
    ///
    /// # Safety
    /// The caller has exclusive access to the future (the slot is
    /// `Polling`).
    pub(crate) unsafe fn poll(&self) -> Poll<()> {
        // A read-modify-write (not a store), so the poll sees everything a
        // waker did before a wake that found the child already queued.
        self.header().queued.swap(0, AcqRel);
        let raw = RawWaker::new(self.0.as_ptr().cast_const().cast(), &WAKER_VTABLE);
        // SAFETY: the vtable's contract holds for this data pointer; the
        // waker is borrowed (`ManuallyDrop`), so it takes no reference.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        let mut cx = Context::from_waker(&waker);
        // SAFETY: exclusive access per our caller.
        unsafe { (self.header().vtable.poll)(self.0, &mut cx) }
    }

    /// Moves the output into `*dst`.
    ///
    /// # Safety
    /// Exclusive access, and `dst` points to an `Option<F::Output>` of this
    /// cell's `F`.
    pub(crate) unsafe fn take_output(&self, dst: *mut ()) {
        // SAFETY: per our caller.
        unsafe { (self.header().vtable.take_output)(self.0, dst) }
    }
}

impl Drop for TaskRef {
    /// Drops the future and output (user code: never call with a lock
    /// held), then gives the slab's reference back.
    fn drop(&mut self) {
        // SAFETY: the slab's reference is exclusive owner-side access
        // (a `TaskRef` exists only outside any `Polling` window).
        unsafe {
            (self.header().vtable.drop_future)(self.0);
            release(self.0);
        }
    }
}
