//! The shared wait core: one fair batch semaphore with an intrusive wait
//! list, under `Semaphore`, `Mutex` and `RwLock`.
//!
//! Why not `event-listener`? Its listeners are woken to *compete* for a
//! resource; nothing can be handed to a particular listener. A freed permit
//! can then be taken by a newcomer's fast path before the woken listener
//! runs, so a large request is starved by a stream of small ones and FIFO
//! cannot be promised. `tests/event_listener_limits.rs` shows this on
//! `async-lock`'s event-listener based semaphore. Here permits are assigned
//! to the head waiter under the list lock, so the promise holds.

#[cfg(all(feature = "std", not(loom)))]
pub(crate) mod block_on;
mod future;
mod list;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod padded;
mod raw;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod spin;
mod wakers;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub(crate) use future::poll_event;
pub(crate) use future::{SemRef, Waiting};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub(crate) use list::{Linked, Links, List};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub(crate) use padded::CachePadded;
pub(crate) use raw::{Acquire, Closed, MAX_BYPASS, MAX_PERMITS, RawSemaphore, TryFail};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub(crate) use spin::SpinLock;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub(crate) use wakers::wake_every;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub(crate) use wakers::{OnUnwind, WakeBatch};
