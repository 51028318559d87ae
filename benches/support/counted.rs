//! Suspension counting shared by the `locks` and `channels` benches (each
//! includes this file as a module): how often an operation's future was
//! polled and returned `Pending`, which is the cost that separates the
//! crates in the contended rows.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Awaits `fut`, adding one to `pending` for each poll of it that returned
/// `Pending`.
pub async fn counted<F: Future>(pending: &AtomicUsize, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        let out = fut.as_mut().poll(cx);
        if out.is_pending() {
            pending.fetch_add(1, Relaxed);
        }
        out
    })
    .await
}
