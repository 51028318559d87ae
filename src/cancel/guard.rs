//! [`CancelOnDrop`]: cancel a token when a scope is left.

use core::fmt;

use super::CancelToken;

/// Cancels its token when dropped, unless [`disarm`](Self::disarm)ed. Made
/// by [`CancelToken::drop_guard`].
///
/// # Examples
/// ```
/// use weftwork::CancelToken;
/// let token = CancelToken::new();
/// let guard = token.clone().drop_guard();
/// assert!(guard.token().same_token(&token));
/// drop(guard);
/// assert!(token.is_cancelled());
/// ```
#[must_use = "the token is cancelled as soon as the guard is dropped"]
pub struct CancelOnDrop {
    token: Option<CancelToken>,
}

impl CancelOnDrop {
    pub(super) fn new(token: CancelToken) -> Self {
        Self { token: Some(token) }
    }

    /// The guarded token.
    ///
    /// # Examples
    /// ```
    /// let guard = weftwork::CancelToken::new().drop_guard();
    /// assert!(!guard.token().is_cancelled());
    /// ```
    #[must_use]
    pub fn token(&self) -> &CancelToken {
        self.token
            .as_ref()
            .expect("present until dropped or disarmed")
    }

    /// Gives the token back without cancelling it.
    ///
    /// # Examples
    /// ```
    /// let guard = weftwork::CancelToken::new().drop_guard();
    /// let token = guard.disarm();
    /// assert!(!token.is_cancelled());
    /// ```
    #[must_use = "dropping the token here makes disarming pointless"]
    pub fn disarm(mut self) -> CancelToken {
        self.token
            .take()
            .expect("present until dropped or disarmed")
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = &self.token {
            token.cancel();
        }
    }
}

impl fmt::Debug for CancelOnDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelOnDrop")
            .field("token", &self.token)
            .finish()
    }
}
