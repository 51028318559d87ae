//! [`SegVec`]: a vector in fixed segments of 16 KB, for the scope's tables
//! that grow with the number of children (the slab, the ready queue and
//! the driver's batch).
//!
//! No single allocation grows past a segment, and segments are kept (empty)
//! when the vector is cleared, until it is dropped. One big buffer, freed
//! or reallocated each time a scope of many children ends or grows, makes
//! glibc's allocator consolidate its free lists and trim its heap (on any
//! free of 64 KB or more, counting free neighbours it merges with), and
//! the next scope page-faults the memory back in. 16 KB, not 32: a slab
//! segment and a ready-queue segment are often allocated back to back, and
//! the two freed together must stay under those 64 KB.

use alloc::vec::Vec;

/// A vector of `T` in segments of [`SegVec::SEG`] elements.
pub(crate) struct SegVec<T> {
    /// Every segment before `fill` is full; those after it are empty.
    segs: Vec<Vec<T>>,
    /// The segment being filled.
    fill: usize,
}

impl<T> SegVec<T> {
    /// Elements per segment: 16 KB of them (a power of two for the sizes
    /// used here, so indexing is a shift and a mask). Under Miri a segment
    /// is 512 bytes, so a test crosses segment boundaries with a few
    /// hundred children instead of thousands (same code, smaller constant).
    const SEG: usize = {
        let bytes = if cfg!(miri) { 512 } else { 16 * 1024 };
        let n = bytes / core::mem::size_of::<T>();
        if n == 0 { 1 } else { n }
    };

    pub(crate) const fn new() -> Self {
        Self {
            segs: Vec::new(),
            fill: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self.segs.get(self.fill) {
            Some(s) => self.fill * Self::SEG + s.len(),
            None => 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segs.first().is_none_or(Vec::is_empty)
    }

    /// Appends `x` and returns its index.
    #[inline]
    pub(crate) fn push(&mut self, x: T) -> usize {
        let fill = self.fill;
        if let Some(s) = self.segs.get_mut(fill) {
            let len = s.len();
            if len < Self::SEG {
                s.push(x);
                return fill * Self::SEG + len;
            }
        }
        self.push_to_next(x)
    }

    /// [`push`](Self::push) when the segment being filled is full, or
    /// there is none yet.
    #[cold]
    fn push_to_next(&mut self, x: T) -> usize {
        if self.segs.is_empty() {
            // The first segment grows as a `Vec` does (small scopes stay
            // small); it never grows past `SEG`.
            self.segs.push(Vec::new());
        } else {
            self.fill += 1;
            if self.fill == self.segs.len() {
                self.segs.push(Vec::with_capacity(Self::SEG));
            }
        }
        let s = &mut self.segs[self.fill];
        s.push(x);
        self.fill * Self::SEG + s.len() - 1
    }

    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.segs.get(i / Self::SEG)?.get(i % Self::SEG)
    }

    /// Removes every element, keeping the segments.
    pub(crate) fn clear(&mut self) {
        let end = self.segs.len().min(self.fill + 1);
        for s in &mut self.segs[..end] {
            s.clear();
        }
        self.fill = 0;
    }
}

impl<T> core::ops::Index<usize> for SegVec<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.segs[i / Self::SEG][i % Self::SEG]
    }
}

impl<T> core::ops::IndexMut<usize> for SegVec<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.segs[i / Self::SEG][i % Self::SEG]
    }
}

#[cfg(test)]
mod tests {
    use super::SegVec;

    #[test]
    fn push_index_clear() {
        let mut v = SegVec::<u64>::new();
        assert!(v.is_empty());
        for round in 0..3 {
            let n = 10_000 + round;
            for i in 0..n {
                assert_eq!(v.push(i as u64 * 3), i);
            }
            assert_eq!(v.len(), n);
            assert!(!v.is_empty());
            for i in 0..n {
                assert_eq!(v[i], i as u64 * 3);
            }
            assert!(v.get(n).is_none());
            v.clear();
            assert!(v.is_empty());
            assert_eq!(v.len(), 0);
        }
    }
}
