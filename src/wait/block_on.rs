//! The executor behind the `*_blocking` methods: park the thread until woken.
//!
//! It never panics inside an async runtime (it just blocks that worker) and
//! allocates its waker once per thread, not per call.

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};
use std::thread::{self, Thread};

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

std::thread_local! {
    static WAKER: Waker = Waker::from(Arc::new(Unparker(thread::current())));
}

/// Polls `fut` to completion on the current thread.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    if let Ok(out) = WAKER.try_with(|waker| run(fut.as_mut(), waker)) {
        return out;
    }
    // Called from a thread-local's destructor, after this one was
    // destroyed: a waker for this call alone.
    run(fut, &Waker::from(Arc::new(Unparker(thread::current()))))
}

fn run<F: Future>(mut fut: Pin<&mut F>, waker: &Waker) -> F::Output {
    let mut cx = Context::from_waker(waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}
