#![doc = include_str!("../README.md")]
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
#[allow(unused_extern_crates)] // used only where `Arc` exists
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub mod cancel;
/// Bounded MPMC channels (back-pressure, rendezvous, oneshot); needs `alloc`.
#[cfg(feature = "alloc")]
pub mod channel;
mod loom;
mod mutex;
mod rwlock;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub mod scope;
mod semaphore;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub mod task_group;
mod wait;

/// Locks and semaphores: [`Mutex`], [`RwLock`], [`Semaphore`] and their
/// guards, permits and futures.
///
/// # Examples
/// ```
/// use weftwork::sync::{Mutex, RwLock, Semaphore};
/// # pollster::block_on(async {
/// let (count, config, slots) = (Mutex::new(0), RwLock::new("v1"), Semaphore::new(2));
/// let _permit = slots.acquire().await.unwrap();
/// *count.lock().await += 1;
/// assert_eq!(*config.read().await, "v1");
/// assert_eq!((*count.lock().await, slots.available_permits()), (1, 1));
/// # });
/// ```
pub mod sync {
    pub use crate::mutex::{Lock, MappedMutexGuard, Mutex, MutexGuard};
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub use crate::mutex::{LockArc, MappedMutexGuardArc, MutexGuardArc};
    pub use crate::rwlock::*;
    pub use crate::semaphore::{
        Acquire, AcquireError, Semaphore, SemaphorePermit, TryAcquireError,
    };
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    pub use crate::semaphore::{AcquireArc, SemaphorePermitArc};
}

pub use sync::{
    AcquireError, Mutex, MutexGuard, RwLock, Semaphore, SemaphorePermit, TryAcquireError,
};

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use cancel::CancelToken;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use scope::{JoinHandle, LocalScope, Scope, local_scope, scope, try_scope};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use task_group::TaskGroup;
