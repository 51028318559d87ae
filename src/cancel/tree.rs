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
    /// [`LIVE`], [`MARKED`] once cancelled (set under `state`'s lock,
    /// before `event` closes), [`DONE`] once its whole subtree is marked.
    cancelled: AtomicUsize,
    /// A semaphore with no permits that closes on cancel: `cancelled()`
    /// waiters queue on it (intrusively) and are all woken by the close.
    pub(super) event: RawSemaphore,
    state: SpinLock<State>,
}

/// Not cancelled.
const LIVE: usize = 0;
/// Cancelled; some descendants may not be marked yet.
const MARKED: usize = 1;
/// Cancelled, and so is every descendant.
const DONE: usize = 2;

struct State {
    cancelled: bool,
    /// Registered children. A cancel reads (clones) the list while it
    /// marks the subtree, and takes it once every descendant is marked.
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
        self.cancelled.load(Acquire) != LIVE
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

    /// Marks the node cancelled (if it is not yet) and returns whether
    /// this call marked it, with its children to visit; `None` if its
    /// whole subtree is marked already ([`DONE`]). A node marked by a
    /// cancel still under way elsewhere is visited again: that cancel may
    /// not have reached its descendants yet.
    fn mark(&self) -> Option<(bool, Vec<Arc<Node>>)> {
        self.state.with(|st| {
            if self.cancelled.load(Relaxed) == DONE {
                return None;
            }
            let ours = !st.cancelled;
            if ours {
                st.cancelled = true;
                self.cancelled.store(MARKED, Release);
            }
            Some((ours, st.children.clone()))
        })
    }

    /// Every descendant is marked: the flag says so, and the cancelled
    /// node lets go of its children (returned, to be dropped outside the
    /// lock).
    fn mark_done(&self) -> Vec<Arc<Node>> {
        self.state.with(|st| {
            self.cancelled.store(DONE, Release);
            mem::take(&mut st.children)
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
/// deep tree cannot overflow the stack). Idempotent; when it returns,
/// every descendant reads cancelled, also while another thread's cancel
/// of part of the subtree is still under way (this one marks what that one
/// has not reached yet).
///
/// Three passes: every node of the subtree is marked first (no foreign
/// code runs there), then each visited node is flagged [`DONE`] and lets
/// go of its children, then the events of the nodes this call marked are
/// closed, which wakes waiters. So a waker that panics cannot leave a
/// descendant uncancelled, and the events after it are still closed (a
/// second panic there aborts).
pub(super) fn cancel(root: &Arc<Node>) {
    if root.cancelled.load(Acquire) == DONE {
        return;
    }
    let Some((ours, children)) = root.mark() else {
        return;
    };
    if children.is_empty() {
        // A leaf (the usual case): nothing to walk, nothing to allocate.
        drop(root.mark_done());
        if ours {
            root.event.close();
        }
        return;
    }
    // Visited nodes, and whether this call marked each.
    let mut visited = alloc::vec![(root.clone(), ours)];
    let mut todo = children;
    while let Some(node) = todo.pop() {
        if let Some((ours, children)) = node.mark() {
            todo.extend(children);
            visited.push((node, ours));
        }
    }
    for (node, _) in &visited {
        // Dropped outside the lock.
        drop(node.mark_done());
    }
    // Close after the flags are set: a `cancelled()` waiter either queues
    // before the close (and is woken by it) or finds the event closed.
    visited.retain(|(_, ours)| *ours);
    close_all(&visited);
}

/// Closes the events of `nodes` in order, and on unwind (a waker panicked)
/// the ones after the one that panicked.
fn close_all(nodes: &[(Arc<Node>, bool)]) {
    for (i, (node, _)) in nodes.iter().enumerate() {
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
