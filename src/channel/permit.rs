//! Reserved slots: [`Permit`] (borrows its sender), [`PermitIterator`]
//! (many of them) and [`OwnedPermit`] (owns its sender).

use core::fmt;
use core::iter::FusedIterator;
use core::mem::ManuallyDrop;

use super::chan::Chan;
use super::{SendError, Sender};

/// A reserved slot, from [`Sender::reserve`]: [`send`](Self::send) fills it
/// without waiting; dropping the permit frees the slot.
///
/// On a rendezvous channel the permit holds the channel's one slot,
/// granted once a receiver was waiting; `send` hands the value
/// to the longest-waiting receiver and returns at once. If every receiver
/// stopped waiting in between, the value stays offered and the next
/// receiver takes it: a value sent through a permit is never lost, but the
/// permit's `send` (unlike [`Sender::send`]) does not wait for the taker.
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let (tx, rx) = weftwork::channel::bounded(1);
/// let permit = tx.reserve().await.unwrap();
/// drop(permit); // the slot is free again
/// tx.try_send(1).unwrap();
/// # drop(rx);
/// # });
/// ```
#[must_use = "dropping a permit frees its slot"]
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<'a, T> Permit<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>) -> Self {
        Self { chan }
    }

    /// Sends `value` into the reserved slot. Fails only if the channel was
    /// closed after the slot was reserved; the value then comes back.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// let permit = tx.try_reserve().unwrap();
    /// permit.send("x").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("x"));
    /// ```
    pub fn send(self, value: T) -> Result<(), SendError<T>> {
        let this = ManuallyDrop::new(self);
        // The permit's slot passes into `send_reserved` (freed on error).
        this.chan.send_reserved(value).map_err(SendError)
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.release_reserved(1);
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// `n` reserved slots, from [`Sender::reserve_many`] or
/// [`Sender::try_reserve_many`]: each [`next`](Iterator::next) yields one
/// as a [`Permit`]; dropping the iterator frees the slots it still holds.
///
/// # Examples
/// ```
/// let (tx, rx) = weftwork::channel::bounded(3);
/// let mut permits = tx.try_reserve_many(3).unwrap();
/// assert!(tx.try_send(0).is_err()); // every slot is reserved
/// permits.next().unwrap().send(1).unwrap();
/// assert_eq!(permits.len(), 2);
/// drop(permits); // two slots free again
/// tx.try_send(2).unwrap();
/// tx.try_send(3).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
#[must_use = "dropping a permit iterator frees its slots"]
pub struct PermitIterator<'a, T> {
    chan: &'a Chan<T>,
    /// Slots still held.
    n: usize,
}

impl<'a, T> PermitIterator<'a, T> {
    /// The caller passes `n` reserved slots in.
    pub(super) fn new(chan: &'a Chan<T>, n: usize) -> Self {
        Self { chan, n }
    }
}

impl<'a, T> Iterator for PermitIterator<'a, T> {
    type Item = Permit<'a, T>;

    fn next(&mut self) -> Option<Permit<'a, T>> {
        // One slot passes into the permit.
        self.n = self.n.checked_sub(1)?;
        Some(Permit::new(self.chan))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.n, Some(self.n))
    }
}

impl<T> ExactSizeIterator for PermitIterator<'_, T> {}

impl<T> FusedIterator for PermitIterator<'_, T> {}

impl<T> Drop for PermitIterator<'_, T> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.chan.release_reserved(self.n);
        }
    }
}

impl<T> fmt::Debug for PermitIterator<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitIterator")
            .field("remaining", &self.n)
            .finish_non_exhaustive()
    }
}

/// A reserved slot that owns its [`Sender`], from
/// [`Sender::reserve_owned`]: `'static`, so it can move to another task.
/// [`send`](Self::send) fills the slot and gives the sender back;
/// [`release`](Self::release) frees the slot and gives it back; dropping
/// the permit frees the slot and drops the sender. Rendezvous channels
/// behave as for [`Permit`].
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let (tx, rx) = weftwork::channel::bounded(2);
/// let permit = tx.reserve_owned().await.unwrap();
/// let tx = permit.send(1).unwrap();
/// let tx = tx.reserve_owned().await.unwrap().release(); // nothing sent
/// assert_eq!(rx.try_recv(), Ok(1));
/// assert!(rx.try_recv().is_err());
/// # drop(tx);
/// # });
/// ```
#[must_use = "dropping a permit frees its slot"]
pub struct OwnedPermit<T> {
    /// `None` only while being taken apart.
    sender: Option<Sender<T>>,
}

impl<T> OwnedPermit<T> {
    /// The caller passes one reserved slot in.
    pub(super) fn new(sender: Sender<T>) -> Self {
        Self {
            sender: Some(sender),
        }
    }

    /// Sends `value` into the reserved slot and gives the sender back.
    /// Fails only if the channel was closed after the slot was reserved:
    /// the value then comes back and the sender, useless on a closed
    /// channel, is dropped.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = weftwork::channel::bounded(1);
    /// let tx = tx.try_reserve_owned().unwrap().send(7).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// let permit = tx.try_reserve_owned().unwrap();
    /// rx.close();
    /// assert_eq!(permit.send(8).unwrap_err().0, 8);
    /// ```
    pub fn send(mut self, value: T) -> Result<Sender<T>, SendError<T>> {
        let sender = self.sender.take().expect("an `OwnedPermit` holds a sender");
        // The permit's slot passes into `send_reserved` (freed on error).
        sender.chan.send_reserved(value).map_err(SendError)?;
        Ok(sender)
    }

    /// Frees the reserved slot without sending and gives the sender back.
    ///
    /// # Examples
    /// ```
    /// let (tx, _rx) = weftwork::channel::bounded::<u8>(1);
    /// let tx = tx.try_reserve_owned().unwrap().release();
    /// assert!(tx.try_send(1).is_ok()); // the slot is free again
    /// ```
    pub fn release(mut self) -> Sender<T> {
        let sender = self.sender.take().expect("an `OwnedPermit` holds a sender");
        sender.chan.release_reserved(1);
        sender
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = &self.sender {
            sender.chan.release_reserved(1);
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").finish_non_exhaustive()
    }
}
