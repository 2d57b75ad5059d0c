//! Channels — .NET's `System.Threading.Channels`: `Channel.CreateBounded<T>(capacity)` with its
//! `BoundedChannelFullMode`s, and `Channel.CreateUnbounded<T>()`. Many writers and many readers
//! (both ends are `Clone`); each value goes to exactly one reader.
//!
//! ```
//! use brigade::sync::channel;
//!
//! # brigade::block_on(async {
//! let (tx, rx) = channel::<u32>(16);
//! let producer = brigade::spawn(async move {
//!     for i in 0..100 {
//!         tx.send(i).await.unwrap(); // waits while 16 are queued
//!     }
//!     // the last Sender dropped: the channel closes once drained
//! });
//! let mut sum = 0;
//! while let Some(i) = rx.recv().await {
//!     sum += i;
//! }
//! producer.await;
//! assert_eq!(sum, 4950);
//! # });
//! ```
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y1: values come out in the order they were accepted; waiting senders and waiting
//!   receivers are each served first come, first served.
//! - Y2: no lost wake-up: a value sent while a receiver waits reaches a receiver; room made
//!   while a sender waits lets a sender in.
//! - Y3: a receive cancelled (dropped, e.g. by `with_cancellation`) after a value was handed to
//!   it passes the value to the next receiver or puts it back at the front; a send cancelled
//!   while waiting was not sent.
//! - Y4: after close (any end's `close()`, the last sender or the last receiver dropped) sends
//!   fail with their value; receivers drain what is queued, then get `None`. When the last
//!   receiver goes, queued values are dropped.
//! - Y9: a ready `send`/`recv` spends one unit of the task's cooperative budget.
//! - Waiting allocates nothing: the waiter node lives in the `send`/`recv` future.
//!
//! The default limit is the capacity you pass; an unbounded channel grows without limit, so
//! give it only producers that are themselves bounded.

mod chan;
mod error;
mod receiver;
mod sender;

use std::sync::Arc;

pub use error::{SendError, TryRecvError, TrySendError};
pub use receiver::{Receiver, Receiving};
pub use sender::{Sender, Sending};

use chan::Chan;

/// What a bounded channel does with a write when it is full — .NET's `BoundedChannelFullMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FullMode {
    /// `send` waits for room; `try_send` reports `Full`. The default.
    #[default]
    Wait,
    /// Drop the oldest queued value to make room; the write succeeds.
    DropOldest,
    /// Drop the newest queued value to make room; the write succeeds.
    DropNewest,
    /// Drop the value being written; the write "succeeds" and the queue is unchanged.
    DropWrite,
}

/// A bounded channel holding at most `capacity` values; `send` waits while it is full.
///
/// # Panics
/// If `capacity` is 0 (.NET rejects it too); for a single hand-off use
/// [`oneshot`](crate::sync::oneshot).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    channel_with(capacity, FullMode::Wait)
}

/// A bounded channel with the given [`FullMode`].
///
/// ```
/// use brigade::sync::{channel_with, FullMode};
///
/// let (tx, rx) = channel_with::<u32>(2, FullMode::DropOldest);
/// for i in 0..5 {
///     tx.try_send(i).unwrap(); // never full: the oldest makes room
/// }
/// assert_eq!(rx.try_recv(), Ok(3));
/// assert_eq!(rx.try_recv(), Ok(4));
/// ```
///
/// # Panics
/// If `capacity` is 0.
pub fn channel_with<T>(capacity: usize, mode: FullMode) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "brigade::sync::channel: capacity must be at least 1 (got 0); use \
         brigade::sync::oneshot for a single hand-off"
    );
    pair(Chan::new(capacity, mode))
}

/// An unbounded channel: `send` never waits. Memory grows with what is queued.
///
/// ```
/// # brigade::block_on(async {
/// let (tx, rx) = brigade::sync::unbounded_channel();
/// tx.send("hello").await.unwrap();
/// drop(tx);
/// assert_eq!(rx.recv().await, Some("hello"));
/// assert_eq!(rx.recv().await, None);
/// # });
/// ```
pub fn unbounded_channel<T>() -> (Sender<T>, Receiver<T>) {
    pair(Chan::new(usize::MAX, FullMode::Wait))
}

fn pair<T>(chan: Chan<T>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(chan);
    (Sender { chan: chan.clone() }, Receiver::new(chan))
}
