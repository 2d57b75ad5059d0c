//! Async coordination primitives that know brigade's tokens and scheduler — .NET's
//! `System.Threading.Channels`, `SemaphoreSlim`, `TaskCompletionSource` and friends.
//!
//! | type | .NET analogue |
//! |---|---|
//! | [`channel`], [`unbounded_channel`], [`channel_with`] | `Channel.CreateBounded` / `CreateUnbounded`, `BoundedChannelFullMode` |
//! | [`oneshot`] | `TaskCompletionSource<T>` with a single reader |
//! | [`watch`] | a published latest value (no direct analogue; `IObservable` with replay 1) |
//! | [`broadcast`] | every reader sees every value (a multicast `Channel`) |
//!
//! # Invariants shared by every type (docs/semantics-Y.md)
//! - Every wait is a future that carries its own waiter node (`waiters.rs`): no allocation per
//!   wait, and dropping the future — directly or through
//!   [`with_cancellation`](crate::cancel::CancellationExt::with_cancellation) — unlinks it
//!   cleanly. Whatever was handed to a waiter that went away goes to the next one or back (Y3).
//! - Waiters are served first come, first served (Y1).
//! - Ready operations spend from the task's cooperative budget (`coop.rs`, Y9), so a task whose
//!   channel is always ready still lets the others on its worker run.

pub mod channel;
pub(crate) mod coop;
pub(crate) mod waiters;

pub use channel::{channel, channel_with, unbounded_channel, FullMode, Receiver, Sender};
