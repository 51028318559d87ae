//! Reserved slots: [`Permit`] (borrows its sender) and [`OwnedPermit`]
//! (owns it).

use core::fmt;
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
        self.chan.release_reserved();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
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
        sender.chan.release_reserved();
        sender
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = &self.sender {
            sender.chan.release_reserved();
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").finish_non_exhaustive()
    }
}
