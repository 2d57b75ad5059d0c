//! Cooperative cancellation — seed section 12, .NET's `CancellationTokenSource` /
//! `CancellationToken`.
//!
//! # The story
//!
//! You hire a contractor to paint your house (an asynchronous operation) and give them a
//! walkie-talkie: a [`CancellationToken`]. You keep the base station: the
//! [`CancellationTokenSource`]. If you no longer want the house painted, you call it off from
//! the base station ([`cancel`](CancellationTokenSource::cancel)). Nobody drags the painter
//! off the ladder: the painter checks the walkie-talkie at safe points
//! ([`is_cancellation_requested`](CancellationToken::is_cancellation_requested),
//! [`error_if_cancelled`](CancellationToken::error_if_cancelled)) and packs up. That is
//! *cooperative* cancellation.
//!
//! A painter who cannot keep checking — one waiting on a supplier, say — leaves a number:
//! "call me when it's called off". That is [`CancellationToken::register`]: the callback runs
//! the moment `cancel()` is called. An async painter simply awaits
//! [`cancelled`](CancellationToken::cancelled), or wraps its work in
//! [`with_cancellation`](CancellationExt::with_cancellation), which stops it — by dropping the
//! work, Rust's own way of cancelling a future — as soon as the call comes.
//!
//! ```
//! use brigade::cancel::{CancellationToken, CancellationTokenSource, Cancelled};
//! use brigade::prelude::*;
//!
//! async fn paint_house(rooms: u32, token: CancellationToken) -> Result<u32, Cancelled> {
//!     let mut painted = 0;
//!     for _ in 0..rooms {
//!         token.error_if_cancelled()?; // check the walkie-talkie at a safe point
//!         brigade::yield_now().await; // paint a room
//!         painted += 1;
//!     }
//!     Ok(painted)
//! }
//!
//! # brigade::block_on(async {
//! let base_station = CancellationTokenSource::new();
//! let job = brigade::spawn(paint_house(1_000_000, base_station.token()));
//! base_station.cancel(); // "Stop painting!"
//! assert!(job.await.is_err());
//! # });
//! ```
//!
//! Sources can be linked ([`CancellationTokenSource::linked`]): a request's source linked to
//! the server's shutdown source is cancelled by either. A source can call itself off after a
//! delay ([`CancellationTokenSource::with_timeout`], [`cancel_after`](CancellationTokenSource::cancel_after)).
//! [`Cancelled`] says which token stopped the work. [`CancellationToken::none`] is for callers with nothing to cancel.
//!
//! # Invariants (SEMANTICS.md K1-K11)
//! - `is_cancellation_requested()` is already `true` when the first callback runs (K1).
//! - Registering on a cancelled token runs the callback before `register` returns (K2).
//! - `cancel()` runs the callbacks on the cancelling thread, newest first (K3); a panicking
//!   callback does not stop the others and is re-raised after all ran; a second `cancel()`
//!   does nothing (K4).
//! - Dropping a [`Registration`] unregisters it, waiting if its callback is running on another
//!   thread; never deadlocks inside its own callback (K5).
//! - Linked sources follow their parents synchronously and leave them when dropped; parents'
//!   storage does not grow with churn (K6).
//! - `cancel_after(d)` re-arms on each call, is ignored after cancellation, and with a zero
//!   delay cancels synchronously (K7). Its timer is a task on the runtime's timer wheel.
//! - `with_cancellation` drops the work promptly after cancel (K8); `none()` allocates nothing
//!   (K10); no waiter is lost in races of register / cancel / unregister (K11, loom models).
//!
//! # Layout
//! - `registry.rs` — the registration list: a slab with O(1) insert/remove and LIFO order.
//! - `state.rs` — one source's shared state, its phases and the cancel algorithm.
//! - `source.rs`, `token.rs`, `error.rs` — the public faces.
//! - `with_cancellation.rs` — the future adapter and its extension trait.

mod error;
mod registry;
mod source;
mod state;
mod token;
mod with_cancellation;

#[cfg(all(test, loom))]
mod loom_tests;

pub use error::Cancelled;
pub use source::CancellationTokenSource;
pub use token::{CancellationToken, Registration, WhenCancelled};
pub use with_cancellation::{CancellationExt, WithCancellation};
