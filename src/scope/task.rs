//! One child in one allocation: a header (reference count, "queued" flag,
//! finish flag, slot index, the scope's shared part, a vtable, and the
//! child's bookkeeping), then the future, replaced by its output when it
//! finishes (one [`Stage`], as big as the larger of the two). The header
//! doubles as the child's waker, so spawning costs one allocation and
//! polling clones no waker.
//!
//! Ownership: the scope's slab holds one reference ([`TaskRef`]), a
//! `JoinHandle` one more, each `Waker` made from the header one more; the
//! cell is freed when the last goes. When the slab lets go of a child that
//! still has a handle (it finished, or the scope was torn down), it sets
//! `fin` and hands its reference to the handle, which from then on owns the
//! cell's future and output alone and needs no lock to join. A finished
//! child of a completion set (`completions.rs`, no handle) is handed to its
//! set's list instead, linked through `Ctl::next`; the consumer takes the
//! list under the lock and owns those cells from then on.
//!
//! The future and output are touched only by the owner side: the driver
//! while the child is `Polling`, the slab's owner when it drops the child,
//! the handle once `fin` is set, the consumer of a completion list it took. They are always dropped (`drop_future`)
//! before the last owner lets go of its reference — so a waker that
//! outlives the scope, or `'env`, only ever frees memory whose future and
//! output are already gone.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::ready::Shared;
use crate::loom::UnsafeCell as LoomUnsafeCell;
use crate::loom::atomic::{AtomicUsize, Ordering::*};

/// `fin`: the slab still holds the child.
pub(crate) const HELD: usize = 0;
/// `fin`: finished; the output waits for the handle.
pub(crate) const DONE: usize = 1;
/// `fin`: dropped unfinished by the teardown.
pub(crate) const DROPPED: usize = 2;

struct VTable {
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    drop_future: unsafe fn(NonNull<Header>),
    dealloc: unsafe fn(NonNull<Header>),
    /// The output has no drop glue: dropping a finished child runs no user
    /// code.
    trivial_output: bool,
}

/// Where a child is, as far as the slab is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Over the concurrency limit: not polled until admitted.
    Waiting,
    Runnable,
    /// Being polled by the driver.
    Polling,
    /// Taken by the teardown (its future is being dropped).
    Dropped,
}

/// A child's bookkeeping; read and written only with the scope's lock held.
pub(crate) struct Ctl {
    pub(crate) state: State,
    /// The waker of a `JoinHandle` waiting for this child.
    pub(crate) join: Option<Waker>,
    /// [`HANDLE`], [`ABORTED`], [`COUNTED`] and [`LISTED`], one bit each:
    /// as four `bool`s they made `Ctl` 40 bytes instead of 32, and with it
    /// every child's cell, which cost `benches/scope.rs`'s completion-set
    /// row about a quarter of its time (sixteenth session).
    flags: u8,
    /// The completion set (`completions.rs`) the child's output goes to,
    /// or [`NO_SET`].
    pub(crate) set: u32,
    /// The next child in its set's list of finished children.
    pub(crate) next: Option<TaskPtr>,
}

// Kept at 32 bytes on 64-bit targets (see `Ctl::flags`).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<Ctl>() == 32);

/// A `JoinHandle` refers to this child (and takes the slab's reference
/// over when the child leaves the slab).
pub(crate) const HANDLE: u8 = 1;
/// `abort` was called while the child was being polled.
pub(crate) const ABORTED: u8 = 2;
/// Counts towards `live` and the limit (a deadline does not).
pub(crate) const COUNTED: u8 = 4;
/// Its slot index is in the queue of children over the limit
/// (`Inner::waiting`): it is `Waiting`, or was let in early by
/// `Inner::admit_now` and its entry has not been reached yet.
pub(crate) const LISTED: u8 = 8;

impl Ctl {
    /// A new child's bookkeeping: `flags` from [`HANDLE`] and [`COUNTED`].
    pub(crate) fn new(state: State, flags: u8, set: u32) -> Self {
        Self {
            state,
            join: None,
            flags,
            set,
            next: None,
        }
    }

    /// Whether `flag` (one of the constants above) is set.
    #[inline]
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Sets or clears `flag`.
    #[inline]
    pub(crate) fn mark(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }
}

/// `Ctl::set` of a child that belongs to no completion set.
pub(crate) const NO_SET: u32 = u32::MAX;

pub(crate) struct Header {
    refs: AtomicUsize,
    queued: AtomicUsize,
    /// [`HELD`], [`DONE`] or [`DROPPED`]; written with the lock held, read
    /// by the handle without it.
    fin: AtomicUsize,
    index: usize,
    shared: Arc<Shared>,
    vtable: &'static VTable,
    ctl: LoomUnsafeCell<Ctl>,
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// The future, then its output, in one place: a cell is as big as the
/// larger of the two, not both (smaller cells are fewer cache lines for the
/// driver to walk through; `benches/scope.rs`).
enum Stage<F: Future> {
    Running(F),
    Finished(F::Output),
    /// The output was taken, or both were dropped.
    Gone,
}

struct Table<F>(F);

impl<F: Future> Table<F> {
    const VTABLE: VTable = VTable {
        poll: poll::<F>,
        take_output: take_output::<F>,
        drop_future: drop_future::<F>,
        dealloc: dealloc::<F>,
        trivial_output: !core::mem::needs_drop::<F::Output>(),
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
    let stage = unsafe { &mut *cell.stage.get() };
    let Stage::Running(f) = stage else {
        return Poll::Ready(());
    };
    // SAFETY: the cell is never moved while the future lives.
    let out = core::task::ready!(unsafe { Pin::new_unchecked(f) }.poll(cx));
    // The finished future is dropped at once (it releases its borrows
    // early), then the output takes its place.
    *stage = Stage::Finished(out);
    Poll::Ready(())
}

unsafe fn take_output<F: Future>(h: NonNull<Header>, dst: *mut ()) {
    // SAFETY: see `poll`; `dst` is an `Option<F::Output>` (caller's promise).
    unsafe {
        let stage = &mut *h.cast::<Cell<F>>().as_ref().stage.get();
        if matches!(stage, Stage::Finished(_)) {
            let Stage::Finished(out) = core::mem::replace(stage, Stage::Gone) else {
                unreachable!("checked above")
            };
            *dst.cast::<Option<F::Output>>() = Some(out);
        }
    }
}

unsafe fn drop_future<F: Future>(h: NonNull<Header>) {
    // SAFETY: see `poll`.
    unsafe {
        *h.cast::<Cell<F>>().as_ref().stage.get() = Stage::Gone;
    }
}

unsafe fn dealloc<F: Future>(h: NonNull<Header>) {
    // Its stage is `Gone` by now (dropped by its owner), so
    // only the header (`Arc<Shared>`, a stale join waker) has anything to
    // drop.
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
        h.shared.push(h.index);
    }
}

unsafe fn w_drop(p: *const ()) {
    // SAFETY: as in `w_clone`; this releases the waker's reference.
    unsafe { release(NonNull::new_unchecked(p.cast_mut().cast::<Header>()), 1) }
}

/// Gives back `n` references; frees the cell with the last.
///
/// # Safety
/// The caller owns `n` references to the live cell `h`.
unsafe fn release(h: NonNull<Header>, n: usize) {
    // SAFETY: the references we give back keep the header alive until here.
    let header = unsafe { h.as_ref() };
    // Holding every reference, nobody can make a new one: no read-modify-
    // write needed (`Acquire` pairs with the last waker's release).
    if header.refs.load(Acquire) == n || header.refs.fetch_sub(n, AcqRel) == n {
        // SAFETY: those were the last references.
        unsafe { (header.vtable.dealloc)(h) };
    }
}

/// A pointer to a child cell; what it may do depends on the reference its
/// holder owns (see each method).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskPtr(NonNull<Header>);

// SAFETY: the cell holds a `Send` future and output (`TaskRef::new`
// requires it), its header is made of `Sync` parts (`ctl` is reached only
// with the scope's lock held), and the future and output are reached only
// by their single owner (module docs).
unsafe impl Send for TaskPtr {}
// SAFETY: as above; `&TaskPtr` gives nothing `TaskPtr` does not.
unsafe impl Sync for TaskPtr {}

impl TaskPtr {
    /// # Safety (of every method)
    /// The cell is alive: the caller holds a reference to it, or knows one
    /// is held for as long as it uses the pointer.
    fn header(&self) -> &Header {
        // SAFETY: per the contract above.
        unsafe { self.0.as_ref() }
    }

    /// The child's slot in the slab.
    pub(crate) fn index(self) -> usize {
        self.header().index
    }

    /// The scope's shared part.
    pub(crate) fn shared(&self) -> &Shared {
        &self.header().shared
    }

    /// [`HELD`], [`DONE`] or [`DROPPED`] (`Acquire`: once not `HELD`, the
    /// output and the slab's reference belong to the handle).
    pub(crate) fn fin(self) -> usize {
        self.header().fin.load(Acquire)
    }

    /// Publishes `fin` (with the scope's lock held; `Release` pairs with
    /// [`fin`](Self::fin)).
    pub(crate) fn set_fin(self, fin: usize) {
        self.header().fin.store(fin, Release);
    }

    /// Runs `f` on the child's bookkeeping.
    ///
    /// # Safety
    /// The scope's lock is held, or the child has left the slab for a
    /// completion list that the caller took out of the shared part (so only
    /// the caller reaches it); and `f` does not reach this `ctl` again.
    pub(crate) unsafe fn with_ctl<R>(self, f: impl FnOnce(&mut Ctl) -> R) -> R {
        // SAFETY: the lock (or owning the listed child) makes this the only
        // access (our contract).
        self.header().ctl.with_mut(|c| f(unsafe { &mut *c }))
    }

    /// Moves the child from state `from` to `to`; whether it was in `from`.
    ///
    /// # Safety
    /// As for [`TaskPtr::with_ctl`].
    pub(crate) unsafe fn advance(self, from: State, to: State) -> bool {
        // SAFETY: forwarded to the caller.
        unsafe {
            self.with_ctl(|c| {
                let was = c.state == from;
                if was {
                    c.state = to;
                }
                was
            })
        }
    }

    /// Whether dropping this finished child's output runs no user code.
    pub(crate) fn trivial_output(self) -> bool {
        self.header().vtable.trivial_output
    }

    /// Polls the future (storing its output when it finishes) with the
    /// cell's own waker; the "queued" flag is cleared first, so a wake from
    /// now on queues the child again.
    ///
    /// # Safety
    /// The caller has exclusive access to the future (the child is
    /// `Polling`).
    pub(crate) unsafe fn poll(self) -> Poll<()> {
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
    pub(crate) unsafe fn take_output(self, dst: *mut ()) {
        // SAFETY: per our caller.
        unsafe { (self.header().vtable.take_output)(self.0, dst) }
    }

    /// Drops the future and output (user code: never with a lock held).
    ///
    /// # Safety
    /// Exclusive access to them.
    pub(crate) unsafe fn drop_future(self) {
        // SAFETY: per our caller.
        unsafe { (self.header().vtable.drop_future)(self.0) }
    }

    /// Gives back `n` references.
    ///
    /// # Safety
    /// The caller owns `n` references and uses the pointer no more.
    pub(crate) unsafe fn release(self, n: usize) {
        // SAFETY: per our caller.
        unsafe { release(self.0, n) }
    }

    /// Drops the future and output, then gives back `n` references — also
    /// if a destructor panics (a guard gives them back while it unwinds;
    /// the stage is `Gone` by then), so a panicking destructor
    /// does not leak the cell and the scope's shared part.
    ///
    /// # Safety
    /// Both of [`drop_future`](Self::drop_future) and
    /// [`release`](Self::release).
    pub(crate) unsafe fn drop_and_release(self, n: usize) {
        /// Gives the references back when dropped.
        struct Release(TaskPtr, usize);
        impl Drop for Release {
            fn drop(&mut self) {
                // SAFETY: the references of our caller, who uses the
                // pointer no more.
                unsafe { self.0.release(self.1) }
            }
        }
        let release = Release(self, n);
        // SAFETY: per our caller.
        unsafe { self.drop_future() };
        drop(release);
    }
}

/// The slab's reference to a child cell.
pub(crate) struct TaskRef(TaskPtr);

impl TaskRef {
    /// Allocates the cell for `fut` in the scope `shared`, with one
    /// reference for the slab and, if `ctl.handle`, one for a `JoinHandle`.
    /// Its slot index is set by [`set_index`](Self::set_index) before any
    /// waker exists.
    #[inline]
    pub(crate) fn new<F>(fut: F, shared: &Arc<Shared>, ctl: Ctl) -> Self
    where
        F: Future + Send,
        F::Output: Send,
    {
        let cell = Box::new(Cell {
            header: Header {
                refs: AtomicUsize::new(1 + usize::from(ctl.has(HANDLE))),
                // Queued: the spawner puts it in the ready queue itself (or
                // the admission does).
                queued: AtomicUsize::new(1),
                fin: AtomicUsize::new(HELD),
                index: usize::MAX,
                shared: shared.clone(),
                vtable: &Table::<F>::VTABLE,
                ctl: LoomUnsafeCell::new(ctl),
            },
            stage: UnsafeCell::new(Stage::Running(fut)),
        });
        Self(TaskPtr(NonNull::from(Box::leak(cell)).cast()))
    }

    /// Records the child's slot. Only before it is published (no waker, no
    /// other reader of the header yet).
    pub(crate) fn set_index(&mut self, index: usize) {
        // SAFETY: unpublished: nobody else reads the header.
        unsafe { (*self.0.0.as_ptr()).index = index };
    }

    pub(crate) fn ptr(&self) -> TaskPtr {
        self.0
    }

    /// Hands the slab's reference to the child's handle (which then owns
    /// two): nothing is dropped.
    pub(crate) fn hand_over(self) {
        core::mem::forget(self);
    }
}

impl Drop for TaskRef {
    /// Drops the future and output (user code: never call with a lock
    /// held), then gives the slab's reference back.
    fn drop(&mut self) {
        // SAFETY: the slab's reference is exclusive owner-side access
        // (a `TaskRef` is dropped only outside any `Polling` window and
        // before `fin` hands the cell to a handle).
        unsafe { self.0.drop_and_release(1) }
    }
}

#[cfg(test)]
mod tests {
    use super::{Cell, Header};
    use core::future::Future;
    use core::mem::size_of;

    /// A future of 256 bytes whose output is 256 bytes too.
    async fn big() -> [u8; 256] {
        let buf = [1u8; 256];
        core::future::ready(()).await;
        buf
    }

    #[test]
    fn a_cell_holds_the_future_or_its_output_not_both() {
        fn cell_size<F: Future>(_: &F) -> usize {
            size_of::<Cell<F>>()
        }
        let fut = big();
        let (f, out) = (size_of_val(&fut), size_of::<[u8; 256]>());
        assert!(f >= 256, "the future keeps its buffer across the await");
        let cell = cell_size(&fut);
        // One stage as big as the larger of the two, plus a tag: the
        // future and the output side by side would be 512 bytes more.
        assert!(
            cell <= size_of::<Header>() + f.max(out) + 16,
            "cell {cell} bytes for a {f}-byte future and a {out}-byte output"
        );
    }
}
