//! Cooperative cancellation: the [`CancelToken`] tree.
//!
//! A [`CancelToken`] is a shared flag that can be set once, plus a way to
//! *wait* for it ([`CancelToken::cancelled`]). Tokens form a tree:
//! [`CancelToken::child`] makes a token that is cancelled whenever its parent
//! is, while cancelling the child leaves the parent alone. Scopes and task
//! groups each own one, so cancelling an outer token reaches everything
//! below it.
//!
//! # Cooperative cancel vs hard cancel
//! Async Rust has two ways to stop work:
//!
//! * **Hard cancel — drop the future.** It stops at its current `.await`
//!   and never runs again; destructors run, but the code after that
//!   `.await` does not. Immediate, but the work has no say: a half-written
//!   file stays half-written. Scopes and task groups do this on `abort`,
//!   on fail-fast errors and when they are dropped.
//! * **Cooperative cancel — a token.** [`cancel`](CancelToken::cancel) only
//!   sets a flag and wakes the waiters; the work notices it (through
//!   [`is_cancelled`](CancelToken::is_cancelled),
//!   [`cancelled().await`](CancelToken::cancelled) in a `select`, or
//!   [`run_until_cancelled`](CancelToken::run_until_cancelled)) and winds
//!   down in its own way: flushes, replies "shutting down", returns a
//!   partial result. It is a request, not a guarantee: code that never
//!   looks at the token runs on.
//!
//! A common pattern is both: cancel the token, give the work a grace
//! period, then drop what is still running.
//!
//! # Deadlines from any timer
//! weftwork has no timer. [`CancelToken::cancel_after`] takes *any* future
//! as the deadline — `tokio::time::sleep(d)`, `async_io::Timer::after(d)`,
//! `embassy_time::Timer::after(d)` — and cancels the token when it
//! completes.
//!
//! ```
//! use std::time::Duration;
//! use weftwork::CancelToken;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let token = CancelToken::new();
//! let work = token.run_until_cancelled(std::future::pending::<()>());
//! let deadline = token.cancel_after(tokio::time::sleep(Duration::from_millis(10)));
//! let (out, ()) = tokio::join!(work, deadline);
//! assert_eq!(out, None); // the deadline won
//! assert!(token.is_cancelled());
//! # });
//! ```

mod future;
mod guard;
mod tree;

use core::fmt;
use core::future::Future;

pub use future::{
    CancelAfter, CancelAfterOwned, Cancelled, CancelledOwned, RunUntilCancelled,
    RunUntilCancelledOwned,
};
pub use guard::CancelOnDrop;

use crate::loom::Arc;
use tree::Node;

/// A cancellation flag shared by its clones, arranged in a tree.
///
/// * [`cancel`](Self::cancel) sets it (once; later calls do nothing), for
///   this token, every clone, and every descendant made with
///   [`child`](Self::child), and wakes every
///   [`cancelled`](Self::cancelled) waiter.
/// * A clone is the *same* token; a [`child`](Self::child) is a new token
///   below this one.
/// * Dropping the last handle of a child takes it out of its parent, so a
///   long-lived parent that makes many short-lived children stays small.
/// * `Send + Sync`; waiting allocates nothing (the waiter lives inside the
///   future). Creating a token or child allocates one node.
///
/// See the [module docs](crate::cancel) for cooperative vs hard cancel.
///
/// # Examples
/// ```
/// use weftwork::CancelToken;
/// # pollster::block_on(async {
/// let root = CancelToken::new();
/// let child = root.child();
/// let worker = child.clone();
///
/// root.cancel();
/// assert!(worker.is_cancelled());
/// worker.cancelled().await; // completes at once
/// # });
/// ```
pub struct CancelToken {
    node: Arc<Node>,
}

impl CancelToken {
    /// A new, uncancelled root token.
    ///
    /// # Examples
    /// ```
    /// let token = weftwork::CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self { node: Node::root() }
    }

    /// A new token below this one: cancelled when this one is (at once if
    /// this one already is), while cancelling it does not cancel this one.
    ///
    /// The child is registered in this token until its last clone (and
    /// every owned future or guard made from it) is dropped.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// let parent = CancelToken::new();
    /// let child = parent.child();
    /// child.cancel();
    /// assert!(!parent.is_cancelled());
    ///
    /// let other = parent.child();
    /// parent.cancel();
    /// assert!(other.is_cancelled());
    /// assert!(parent.child().is_cancelled()); // born cancelled
    /// ```
    #[must_use]
    pub fn child(&self) -> CancelToken {
        CancelToken {
            node: tree::child(&self.node),
        }
    }

    /// Cancels this token and all its descendants and wakes every task
    /// waiting in [`cancelled`](Self::cancelled). Idempotent. When it
    /// returns, the token and every descendant read
    /// [`is_cancelled`](Self::is_cancelled), also while another thread is
    /// still cancelling part of the same tree.
    ///
    /// Cancelling does not stop anything by itself: it is a request the
    /// work observes (see the [module docs](crate::cancel)).
    ///
    /// # Examples
    /// ```
    /// let token = weftwork::CancelToken::new();
    /// token.cancel();
    /// token.cancel(); // no effect
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        tree::cancel(&self.node);
    }

    /// Whether this token (or an ancestor, which cancels it) was cancelled.
    ///
    /// # Examples
    /// ```
    /// let token = weftwork::CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Waits until the token is cancelled (at once if it already is).
    ///
    /// Any number of tasks may wait; one `cancel` wakes them all. No
    /// allocation: the waiter lives inside the future.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future only unregisters its waiter.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// # pollster::block_on(async {
    /// let token = CancelToken::new();
    /// let t = token.clone();
    /// let waiter = std::thread::spawn(move || pollster::block_on(t.cancelled()));
    /// token.cancel();
    /// waiter.join().unwrap();
    /// # });
    /// ```
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled::new(self)
    }

    /// [`cancelled`](Self::cancelled) as a `'static` future that holds its
    /// own handle to the token (to move into a spawned task).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future only unregisters its waiter.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// let token = CancelToken::new();
    /// let fut = token.cancelled_owned();
    /// let waiter = std::thread::spawn(move || pollster::block_on(fut));
    /// token.cancel();
    /// waiter.join().unwrap();
    /// ```
    pub fn cancelled_owned(&self) -> CancelledOwned {
        CancelledOwned::new(self.clone())
    }

    /// Awaits `deadline`, then cancels the token. Completes early (dropping
    /// `deadline` without polling it again) if the token is cancelled first.
    ///
    /// `deadline` is any future, so any timer gives the deadline:
    /// `tokio::time::sleep(d)`, `smol::Timer::after(d)`,
    /// `embassy_time::Timer::after(d)`… Run it next to the work (in a
    /// `join`, `select`, a scope or a spawned task).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it drops `deadline` and does **not** cancel
    /// the token.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use weftwork::CancelToken;
    /// # smol::block_on(async {
    /// let token = CancelToken::new();
    /// token.cancel_after(smol::Timer::after(Duration::from_millis(5))).await;
    /// assert!(token.is_cancelled());
    /// # });
    /// ```
    pub fn cancel_after<F: Future>(&self, deadline: F) -> CancelAfter<'_, F> {
        CancelAfter::new(self, deadline)
    }

    /// [`cancel_after`](Self::cancel_after) as a future that holds its own
    /// handle to the token (`'static` if `deadline` is), for spawning.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it drops `deadline` and does **not** cancel
    /// the token.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use weftwork::CancelToken;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let token = CancelToken::new();
    /// tokio::spawn(token.cancel_after_owned(tokio::time::sleep(Duration::from_millis(5))));
    /// token.cancelled().await;
    /// # });
    /// ```
    pub fn cancel_after_owned<F: Future>(&self, deadline: F) -> CancelAfterOwned<F> {
        CancelAfterOwned::new(self.clone(), deadline)
    }

    /// Runs `fut` until it completes (`Some(output)`) or the token is
    /// cancelled (`None`, and `fut` is dropped when this future is).
    ///
    /// The token is checked **before** each poll of `fut`: once it is
    /// cancelled, `fut` is not polled again, even if it would have
    /// completed on that poll. So a future that is always ready cannot
    /// outrun a cancellation.
    ///
    /// # Cancel safety
    /// As cancel-safe as `fut`: dropping this drops `fut`.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// # pollster::block_on(async {
    /// let token = CancelToken::new();
    /// assert_eq!(token.run_until_cancelled(async { 7 }).await, Some(7));
    /// token.cancel();
    /// assert_eq!(token.run_until_cancelled(async { 7 }).await, None);
    /// # });
    /// ```
    pub fn run_until_cancelled<F: Future>(&self, fut: F) -> RunUntilCancelled<'_, F> {
        RunUntilCancelled::new(self, fut)
    }

    /// [`run_until_cancelled`](Self::run_until_cancelled) as a future that
    /// holds its own handle to the token (`'static` if `fut` is).
    ///
    /// # Cancel safety
    /// As cancel-safe as `fut`: dropping this drops `fut`.
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let token = CancelToken::new();
    /// let task = tokio::spawn(token.run_until_cancelled_owned(std::future::pending::<()>()));
    /// token.cancel();
    /// assert_eq!(task.await.unwrap(), None);
    /// # });
    /// ```
    pub fn run_until_cancelled_owned<F: Future>(&self, fut: F) -> RunUntilCancelledOwned<F> {
        RunUntilCancelledOwned::new(self.clone(), fut)
    }

    /// Turns the token into a guard that cancels it when dropped (unless
    /// [`disarm`](CancelOnDrop::disarm)ed): "cancel the helpers when I
    /// leave, however I leave".
    ///
    /// # Examples
    /// ```
    /// use weftwork::CancelToken;
    /// let token = CancelToken::new();
    /// {
    ///     let _guard = token.clone().drop_guard();
    /// }
    /// assert!(token.is_cancelled());
    /// ```
    pub fn drop_guard(self) -> CancelOnDrop {
        CancelOnDrop::new(self)
    }

    /// Whether `self` and `other` are the same token (clones of each other).
    ///
    /// # Examples
    /// ```
    /// let token = weftwork::CancelToken::new();
    /// assert!(token.same_token(&token.clone()));
    /// assert!(!token.same_token(&token.child()));
    /// ```
    #[must_use]
    pub fn same_token(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }

    /// How many children are registered in this token right now. For
    /// tests (dropped children must leave); not part of the stable API.
    #[doc(hidden)]
    #[must_use]
    pub fn registered_children(&self) -> usize {
        self.node.registered_children()
    }

    /// The wait event (a zero-permit semaphore that closes on cancel).
    pub(crate) fn event(&self) -> &crate::wait::RawSemaphore {
        &self.node.event
    }
}

impl Clone for CancelToken {
    /// The same token (not a child): cancelling either cancels both.
    fn clone(&self) -> Self {
        self.node.add_handle();
        Self {
            node: self.node.clone(),
        }
    }
}

impl Drop for CancelToken {
    fn drop(&mut self) {
        Node::release_handle(&self.node);
    }
}

// A token's state is a flag and a tree that no user code ever runs inside
// (no callbacks under its locks), so a panic elsewhere cannot leave it
// half-updated.
impl core::panic::UnwindSafe for CancelToken {}
impl core::panic::RefUnwindSafe for CancelToken {}

impl Default for CancelToken {
    /// Same as [`CancelToken::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
