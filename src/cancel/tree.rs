//! The token tree: nodes, registration, cancellation and unregistration.
//!
//! Each [`Node`] is shared (`Arc`) by the tokens (and owned futures) that
//! are *handles* to it, by its children (their `parent` link) and by its
//! parent's `children` list. Loom's `Arc` has no `Weak`, so the tree avoids
//! one: the parent holds its children strongly and a node counts its
//! handles itself. When the last handle of a node goes and the node has no
//! children, it leaves its parent's list (and so on upwards), which breaks
//! every parent ⇄ child cycle and keeps a long-lived parent's list as long
//! as its *live* descendants, not its history.
//!
//! Locks are taken parent before child only (unregistering), or one at a
//! time (creating, cancelling); wakers are only woken by the event
//! semaphore, after its own lock is released, never under a node lock.

use alloc::vec::Vec;
use core::mem;

use crate::loom::Arc;
use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::wait::{OnUnwind, RawSemaphore, SpinLock};

/// One token of the tree (shared by all clones of a `CancelToken`).
pub(super) struct Node {
    /// The parent, if this node was made by `child()`. Fixed at creation.
    parent: Option<Arc<Node>>,
    /// Where this node sits in `parent.children`. Read and written only
    /// with the parent's lock held (the lock orders the accesses).
    index: AtomicUsize,
    /// Live handles (tokens, owned futures, guards). When it drops to zero
    /// it never rises again: no handle can be made from a node without one.
    handles: AtomicUsize,
    /// 1 once cancelled (set under `state`'s lock, before `event` closes).
    cancelled: AtomicUsize,
    /// A semaphore with no permits that closes on cancel: `cancelled()`
    /// waiters queue on it (intrusively) and are all woken by the close.
    pub(super) event: RawSemaphore,
    state: SpinLock<State>,
}

struct State {
    cancelled: bool,
    /// Registered children; cancelling takes the whole list.
    children: Vec<Arc<Node>>,
}

impl Node {
    /// A new root node with one handle.
    pub(super) fn root() -> Arc<Node> {
        Arc::new(Self::with_parent(None))
    }

    fn with_parent(parent: Option<Arc<Node>>) -> Node {
        Node {
            parent,
            index: AtomicUsize::new(0),
            handles: AtomicUsize::new(1),
            cancelled: AtomicUsize::new(0),
            event: RawSemaphore::new(0),
            state: SpinLock::new(State {
                cancelled: false,
                children: Vec::new(),
            }),
        }
    }

    #[inline]
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Acquire) != 0
    }

    /// A new handle to this node (the caller wraps it in a token).
    #[inline]
    pub(super) fn add_handle(&self) {
        // Relaxed as for `Arc::clone`: the new handle is made from an
        // existing one, which keeps the count above zero meanwhile.
        self.handles.fetch_add(1, Relaxed);
    }

    /// Drops one handle; the last one takes the node out of the tree
    /// (once it has no children either).
    #[inline]
    pub(super) fn release_handle(this: &Arc<Node>) {
        if this.handles.fetch_sub(1, AcqRel) == 1 && this.parent.is_some() {
            unregister(this);
        }
    }

    /// Registered children (for tests: proves dropped children leave).
    pub(super) fn registered_children(&self) -> usize {
        self.state.with(|st| st.children.len())
    }

    /// Sets the flag and takes the children; `None` if already cancelled.
    fn mark_cancelled(&self) -> Option<Vec<Arc<Node>>> {
        self.state.with(|st| {
            if st.cancelled {
                return None;
            }
            st.cancelled = true;
            self.cancelled.store(1, Release);
            Some(mem::take(&mut st.children))
        })
    }

    /// Whether the node may leave its parent's list: no handle, no child.
    /// Called with the parent's lock held (takes this node's lock inside).
    fn removable(&self) -> bool {
        self.handles.load(Acquire) == 0 && self.state.with(|st| st.children.is_empty())
    }
}

/// Makes a child of `parent`: registered in its list, or born cancelled if
/// `parent` already is.
pub(super) fn child(parent: &Arc<Node>) -> Arc<Node> {
    let node = Arc::new(Node::with_parent(Some(parent.clone())));
    let registered = parent.state.with(|st| {
        if st.cancelled {
            return false;
        }
        node.index.store(st.children.len(), Relaxed);
        st.children.push(node.clone());
        true
    });
    if !registered {
        cancel(&node);
    }
    node
}

/// Cancels `root` and its whole subtree (iteratively: no recursion, so a
/// deep tree cannot overflow the stack). Idempotent.
///
/// Two passes: every node of the subtree is marked first (no foreign code
/// runs there), then the events are closed, which wakes waiters. So a
/// waker that panics cannot leave a descendant uncancelled, and the events
/// after it are still closed (a second panic there aborts).
pub(super) fn cancel(root: &Arc<Node>) {
    let Some(mut nodes) = root.mark_cancelled() else {
        return;
    };
    // `nodes[..i]` are marked by us; `nodes[i..]` are still to visit.
    let mut i = 0;
    while i < nodes.len() {
        if let Some(mut children) = nodes[i].mark_cancelled() {
            nodes.append(&mut children);
            i += 1;
        } else {
            // Cancelled by another thread, which closes its event.
            nodes.swap_remove(i);
        }
    }
    // Close after the flags are set: a `cancelled()` waiter either queues
    // before the close (and is woken by it) or finds the event closed.
    let rest = OnUnwind::new(|| close_all(&nodes));
    root.event.close();
    rest.disarm();
    close_all(&nodes);
    // The nodes (the cancelled parents no longer list them) are dropped
    // here, outside every lock.
}

/// Closes the events of `nodes` in order, and on unwind (a waker panicked)
/// the ones after the one that panicked.
fn close_all(nodes: &[Arc<Node>]) {
    for (i, node) in nodes.iter().enumerate() {
        let rest = OnUnwind::new(|| close_all(&nodes[i + 1..]));
        node.event.close();
        rest.disarm();
    }
}

/// Takes `node` (whose last handle is gone) out of its parent's list, then
/// the parent if that left it without handles and children, and so on.
#[cold]
fn unregister(node: &Arc<Node>) {
    let mut cur = node;
    while let Some(parent) = &cur.parent {
        let mut parent_empty = false;
        let removed = parent.state.with(|st| {
            if st.cancelled {
                // Cancelling took the list: nothing to leave.
                return None;
            }
            let i = cur.index.load(Relaxed);
            let listed = st.children.get(i).is_some_and(|c| Arc::ptr_eq(c, cur));
            // `listed` fails if another thread (the last child leaving
            // while the last handle went) unregistered it already.
            if !listed || !cur.removable() {
                return None;
            }
            let removed = st.children.swap_remove(i);
            if let Some(moved) = st.children.get(i) {
                moved.index.store(i, Relaxed);
            }
            let (len, cap) = (st.children.len(), st.children.capacity());
            if cap > 8 && len < cap / 4 {
                st.children.shrink_to(cap / 2);
            }
            parent_empty = st.children.is_empty();
            Some(removed)
        });
        // Dropped outside the lock; never the last reference to `cur`
        // (the caller's handle or `cur`'s child's link keeps it alive).
        let Some(removed) = removed else { return };
        drop(removed);
        if !parent_empty || parent.handles.load(Acquire) != 0 {
            return;
        }
        cur = parent;
    }
}

impl Drop for Node {
    /// Frees a chain of otherwise unreferenced ancestors in a loop: the
    /// default (recursive) drop could overflow the stack on a deep chain.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(parent) = next {
            next = match Arc::try_unwrap(parent) {
                // The last reference: free it here, its parent next.
                Ok(mut node) => node.parent.take(),
                // Still referenced elsewhere: dropping ours ends the chain.
                Err(_) => None,
            };
        }
    }
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}
