//! Bounded MPMC channels with back-pressure, a true rendezvous for
//! `cap == 0`, and [`oneshot()`][oneshot()].
//!
//! * **Back-pressure**: [`Sender::send`][send] waits while the channel is
//!   full; waiting senders are woken **FIFO**, one per free slot. Another
//!   sender (one that did not wait, or a younger woken one that runs
//!   first) may take a free slot first, but the longest-waiting sender is
//!   passed that way fewer than [`Mutex::MAX_BYPASS`][bypass] (8) times
//!   per slot of capacity (the ring turns over fewer than 8 times), and a
//!   sender woken for a slot that another one took first is woken that
//!   way at most 8 times: then the next free slot is kept for it (the
//!   mutex's eventual fairness, count-based; with `cap == 1`, the mutex's
//!   bound). [`Sender::try_send`][try]
//!   never waits and always hands the value back (`Full` / `Closed`): the
//!   way a server says "busy, retry later". [`Sender::reserve`][reserve]
//!   waits for room without giving up the value;
//!   [`Sender::reserve_many`][many] for `n` slots at once.
//! * **Rendezvous**: with `cap == 0`, `send` completes only once a receiver
//!   has taken the value (CSP's unbuffered channel). `try_send` succeeds
//!   exactly when a receiver is waiting in `recv`, and hands the value to
//!   the longest-waiting one; `reserve` completes once a receiver waits.
//! * **Owned and poll-based sending**: [`Sender::reserve_owned`][owned]
//!   gives a `'static` [`OwnedPermit`][OwnedPermit] that holds the sender;
//!   [`PollSender`][PollSender] offers `poll_reserve` / `send_item` for a
//!   `Sink` implementation or a hand-written future.
//! * **Close**: `close()` on either side, or dropping every sender or every
//!   receiver. Sends then fail with the value; receivers still drain every
//!   value already sent, then get [`RecvError`][RecvError]. A value handed
//!   to one receiver's `recv` that has not returned it yet counts as not
//!   drained: others wait for it rather than report the close, since it
//!   comes back to them if that `recv` is dropped.
//! * **Nothing lost**: a value whose send reported success is received
//!   exactly once or is still in the channel (dropped with it). A dropped
//!   `recv` future never swallows a value; a dropped `send` future leaks no
//!   capacity and loses no value.
//! * **Direct hand-off**: a sender that finds a receiver parked gives it
//!   the value directly; that value does not take one of the `cap` slots
//!   (as in Go), so `cap` values can be buffered while parked receivers
//!   are being woken with theirs. A slot freed while senders wait wakes
//!   the longest-waiting one, which places its value when it runs again
//!   (so a dropped `send` never sent), or waits on at the head of the line
//!   if the slot was taken meanwhile; on a rendezvous channel a receiver
//!   takes a parked sender's value directly. One internal lock, no
//!   allocation; a woken receiver never has to queue again.
//! * Storage is allocated once, by [`bounded`][bounded]; no allocation per
//!   message or per wait (waiters live inside the futures).
//!
//! | future              | cancel-safe? | dropped before completion means        |
//! |---------------------|--------------|----------------------------------------|
//! | [`Send`][Send], `cap > 0` | yes    | not sent (value dropped with it); a slot it was woken for or granted passes on |
//! | [`Send`][Send], `cap == 0` | yes   | not sent (value dropped with it), or — if a receiver already took the value — sent (only the `Ok` is lost) |
//! | [`Reserve`][Reserve], [`ReserveMany`][ReserveMany], [`ReserveOwned`][ReserveOwned] | yes | no slot was taken |
//! | [`Recv`][Recv]      | yes          | no value was taken                     |
//!
//! Needs pointer-sized atomics (for `Arc`): on targets without them only
//! the error types exist.
//!
//! [bypass]: crate::Mutex::MAX_BYPASS
//! [oneshot()]: crate::channel::oneshot()
//! [send]: crate::channel::Sender::send
//! [try]: crate::channel::Sender::try_send
//! [reserve]: crate::channel::Sender::reserve
//! [many]: crate::channel::Sender::reserve_many
//! [RecvError]: crate::channel::RecvError
//! [owned]: crate::channel::Sender::reserve_owned
//! [OwnedPermit]: crate::channel::OwnedPermit
//! [PollSender]: crate::channel::PollSender
//! [bounded]: crate::channel::bounded
//! [Send]: crate::channel::Send
//! [Reserve]: crate::channel::Reserve
//! [ReserveOwned]: crate::channel::ReserveOwned
//! [ReserveMany]: crate::channel::ReserveMany
//! [Recv]: crate::channel::Recv
//!
//! # Examples
//! ```
//! use weftwork::channel::{bounded, TrySendError};
//! # pollster::block_on(async {
//! let (tx, rx) = bounded(2);
//! tx.send(1).await.unwrap();
//! tx.send(2).await.unwrap();
//! assert_eq!(tx.try_send(3), Err(TrySendError::Full(3))); // busy: retry later
//! assert_eq!(rx.recv().await, Ok(1));
//! # });
//! ```

#[cfg(target_has_atomic = "ptr")]
mod chan;
mod error;
#[cfg(target_has_atomic = "ptr")]
mod future;
#[cfg(target_has_atomic = "ptr")]
pub mod oneshot;
#[cfg(target_has_atomic = "ptr")]
mod permit;
#[cfg(target_has_atomic = "ptr")]
mod poll_sender;
#[cfg(target_has_atomic = "ptr")]
mod receiver;
#[cfg(target_has_atomic = "ptr")]
mod sender;
#[cfg(target_has_atomic = "ptr")]
mod state;
#[cfg(target_has_atomic = "ptr")]
mod waiter;

pub use error::{RecvError, SendError, TryRecvError, TrySendError};
#[cfg(target_has_atomic = "ptr")]
pub use future::{Closed, Recv, Reserve, ReserveMany, ReserveOwned, Send};
#[cfg(target_has_atomic = "ptr")]
pub use oneshot::oneshot;
#[cfg(target_has_atomic = "ptr")]
pub use permit::{OwnedPermit, Permit, PermitIterator};
#[cfg(target_has_atomic = "ptr")]
pub use poll_sender::PollSender;
#[cfg(target_has_atomic = "ptr")]
pub use receiver::Receiver;
#[cfg(target_has_atomic = "ptr")]
pub use sender::{Sender, WeakSender};

/// A bounded multi-producer multi-consumer channel holding up to `cap`
/// values; `cap == 0` makes a rendezvous channel. The storage is allocated
/// here, once: `cap + min(cap, 64)` slots (the extra ones hold values
/// handed to waiting receivers, see [`Sender::len`]).
///
/// # Panics
/// If `cap` exceeds `usize::MAX >> 3`.
///
/// # Examples
/// ```
/// # pollster::block_on(async {
/// let (tx, rx) = weftwork::channel::bounded::<String>(16);
/// let rx2 = rx.clone();
/// tx.send("job".to_owned()).await.unwrap();
/// assert_eq!(rx2.recv().await.as_deref(), Ok("job"));
/// # drop(rx);
/// # });
/// ```
#[cfg(target_has_atomic = "ptr")]
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = alloc::sync::Arc::new(chan::Chan::new(cap));
    let tx = Sender { chan: chan.clone() };
    (tx, Receiver::new(chan))
}
