//! Keeps a hot value on cache lines of its own.

use core::ops::Deref;

/// `T` aligned (and so padded) to the cache-line granule the CPU moves
/// between cores: 128 bytes on x86_64 (whose prefetcher pulls line pairs)
/// and aarch64, 64 elsewhere.
///
/// The channel keeps its lock and the state behind it in one, so that the
/// fields read on every operation without the lock (the capacity, the
/// closed flag) stay shared in every core's cache instead of being
/// invalidated by each write under the lock: reading them would otherwise
/// cost a second cache miss per operation when producers and consumers run
/// on different cores.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    repr(align(64))
)]
#[derive(Debug, Default)]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}
