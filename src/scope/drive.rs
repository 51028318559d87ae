//! The scope future's engine: polls the body and the children woken since
//! the last round, inside the caller's task.
//!
//! Fairness: each round polls every child woken before the round began once
//! (the body too), so a child that is always ready cannot starve its
//! siblings; after [`BUDGET`] polls the driver yields to the executor so it
//! cannot starve other tasks either.

use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use super::children::Core;
use super::mode::Mode;
use super::ready::{BODY, BodyWake};
use super::seg::SegVec;

/// Polls per call of the scope's `poll` before it yields to the executor.
const BUDGET: usize = if cfg!(loom) { 4 } else { 128 };

#[cfg(feature = "std")]
type Panic = alloc::boxed::Box<dyn core::any::Any + Send>;
#[cfg(not(feature = "std"))]
type Panic = core::convert::Infallible;

/// Runs `f`, catching a panic with `std` (without `std` a panic unwinds
/// through the scope future, whose drop then drops every child).
#[inline]
fn guard<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    #[cfg(feature = "std")]
    {
        std::panic::catch_unwind(core::panic::AssertUnwindSafe(f))
    }
    #[cfg(not(feature = "std"))]
    {
        Ok(f())
    }
}

pin_project! {
    /// Drives body `B` and the children of `core` to completion. Output:
    /// the body's output, or `None` if the mode stopped the scope early.
    pub(crate) struct Drive<'env, B: Future, M> {
        core: Arc<Core<'env>>,
        mode: M,
        #[pin]
        body: Option<B>,
        out: Option<B::Output>,
        body_wake: Arc<BodyWake>,
        body_waker: Waker,
        batch: SegVec<usize>,
        finished: bool,
    }

    impl<'env, B: Future, M> PinnedDrop for Drive<'env, B, M> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            stop(this.body, this.core, !*this.finished);
        }
    }
}

/// Drops the body, then every child, then (if `cancel`) cancels the scope's
/// token. Each step runs even if a destructor in an earlier one panics: a
/// guard runs the rest while that panic unwinds, then it goes on. A second
/// destructor panicking during that unwind aborts the process (as a `Vec`
/// whose elements panic on drop does); one panicking destructor leaves
/// every other child dropped, their handles marked, and the token
/// cancelled.
fn stop<B>(mut body: Pin<&mut Option<B>>, core: &Core<'_>, cancel: bool) {
    /// Tears down and cancels when dropped, on unwind too.
    struct Rest<'a, 'env> {
        core: &'a Core<'env>,
        cancel: bool,
    }
    impl Drop for Rest<'_, '_> {
        fn drop(&mut self) {
            // Cancels even if the teardown panics.
            let _cancel = self.cancel.then(|| self.core.token().clone().drop_guard());
            self.core.teardown();
        }
    }
    let _rest = Rest { core, cancel };
    body.set(None);
}

/// Calls the body's closure `make`. If it panics, nothing owns the
/// children it may have spawned yet (no [`Drive`] exists, and each child
/// holds the scope's shared part, a cycle): they are torn down and the
/// token cancelled, as when an unpolled scope future is dropped.
pub(crate) fn start<Fut>(core: &Core<'_>, make: impl FnOnce() -> Fut) -> Fut {
    /// Tears down when dropped: only while `make` unwinds.
    struct Abandon<'a, 'env>(&'a Core<'env>);
    impl Drop for Abandon<'_, '_> {
        fn drop(&mut self) {
            let _cancel = self.0.token().clone().drop_guard();
            self.0.teardown();
        }
    }
    let abandon = Abandon(core);
    let body = make();
    core::mem::forget(abandon);
    body
}

impl<'env, B: Future, M: Mode> Drive<'env, B, M> {
    pub(crate) fn new(core: Arc<Core<'env>>, mode: M, body: B) -> Self {
        let body_wake = BodyWake::new(&core.shared);
        Self {
            body_waker: Waker::from(body_wake.clone()),
            body_wake,
            core,
            mode,
            body: Some(body),
            out: None,
            batch: SegVec::new(),
            finished: false,
        }
    }
}

impl<B: Future, M: Mode> Future for Drive<'_, B, M> {
    type Output = Option<B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let core = &**this.core;
        let mut polls = 0;
        while core.shared.take(this.batch, cx.waker()) {
            // The child polled last, whose poll is ended under the same
            // lock as the next one starts.
            let mut prev = None;
            for k in 0..this.batch.len() {
                let i = this.batch[k];
                let res = if i == BODY {
                    core.end_poll(prev.take());
                    match this.body.as_mut().as_pin_mut() {
                        Some(body) => {
                            this.body_wake.clear_queued();
                            let mut bcx = Context::from_waker(this.body_waker);
                            match guard(|| body.poll(&mut bcx)) {
                                Ok(Poll::Ready(out)) => {
                                    *this.out = Some(out);
                                    this.body.set(None);
                                    Ok(())
                                }
                                Ok(Poll::Pending) => Ok(()),
                                Err(p) => Err(p),
                            }
                        }
                        None => Ok(()),
                    }
                } else if let Some(task) = core.next_poll(prev.take(), i) {
                    // SAFETY: the child is `Polling`: this is the only access.
                    match guard(|| unsafe { task.poll() }) {
                        Ok(p) => {
                            prev = Some((task, p.is_ready()));
                            Ok(())
                        }
                        // The panicked child is dropped by the teardown.
                        Err(p) => Err(p),
                    }
                } else {
                    Ok(())
                };
                #[cfg_attr(not(feature = "std"), allow(unreachable_patterns))]
                if let Err(payload) = res {
                    // Siblings and body go first, then the panic goes on.
                    // A destructor panicking meanwhile must not replace it:
                    // that second panic is caught (`stop` still finished
                    // its job) and dropped, and the first one resumes.
                    this.batch.clear();
                    let _ = guard(|| stop(this.body.as_mut(), core, true));
                    #[cfg(feature = "std")]
                    std::panic::resume_unwind(payload);
                    #[cfg(not(feature = "std"))]
                    match payload {}
                }
                if this.mode.stopped() {
                    // Fail-fast / first success: nothing else is polled.
                    core.end_poll(prev.take());
                    this.batch.clear();
                    *this.finished = true;
                    stop(this.body.as_mut(), core, true);
                    return Poll::Ready(None);
                }
            }
            core.end_poll(prev);
            polls += this.batch.len();
            this.batch.clear();
            // `out`, not `body.is_none()`: a `&` to the pending body would
            // be a read of all of it, invalidating (Stacked Borrows) any
            // `&mut` it holds into its own frame across an await.
            if this.out.is_some() && core.try_finish() {
                *this.finished = true;
                return Poll::Ready(this.out.take());
            }
            if polls >= BUDGET {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        if this.out.is_some() && core.try_finish() {
            *this.finished = true;
            return Poll::Ready(this.out.take());
        }
        Poll::Pending
    }
}
