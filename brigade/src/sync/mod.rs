//! Async coordination primitives that know brigade's tokens and scheduler — .NET's
//! `System.Threading.Channels`, `SemaphoreSlim`, `TaskCompletionSource` and friends.
//!
//! | type | .NET analogue |
//! |---|---|
//! | [`channel()`], [`unbounded_channel`], [`channel_with`] | `Channel.CreateBounded` / `CreateUnbounded`, `BoundedChannelFullMode` |
//! | [`Semaphore`] | `SemaphoreSlim` |
//! | [`Mutex`] | `SemaphoreSlim(1, 1)` around shared state |
//! | [`RwLock`] | `ReaderWriterLockSlim`, awaitable |
//! | [`Notify`] | an async auto-reset event |
//! | [`Barrier`] | `Barrier.SignalAndWait` |
//! | [`OnceCell`] | `AsyncLazy<T>` |
//! | [`oneshot`] | `TaskCompletionSource<T>` with one reader (why not [`Promise`](crate::Promise): see its docs) |
//! | [`watch`] | a published latest value (`IObservable<T>` replaying the latest) |
//! | [`broadcast`] | every reader sees every value (Rx's `Subject<T>`), lagging readers told |
//!
//! # Invariants shared by every type (docs/SEMANTICS.md)
//! - Every wait is a future that carries its own waiter node (`waiters.rs`): no allocation per
//!   wait, and dropping the future — directly or through
//!   [`with_cancellation`](crate::cancel::CancellationExt::with_cancellation) — unlinks it
//!   cleanly. Whatever was handed to a waiter that went away goes to the next one or back (Y3).
//! - Waiters are served first come, first served (Y1).
//! - Ready operations spend from the task's cooperative budget (`coop.rs`, Y9), so a task whose
//!   channel is always ready still lets the others on its worker run.

mod barrier;
pub mod broadcast;
pub mod channel;
mod mutex;
mod notify;
mod once_cell;
pub mod oneshot;
mod permits;
mod rwlock;
mod semaphore;
pub(crate) mod waiters;
pub mod watch;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use channel::{channel, channel_with, unbounded_channel, FullMode, Receiver, Sender};
pub use mutex::{Lock, Mutex, MutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use once_cell::OnceCell;
pub use rwlock::{Acquire as RwLockAcquire, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{
    Acquire, AcquireError, AcquireOwned, OwnedPermit, Permit, Semaphore, TryAcquireError,
};

#[cfg(all(test, loom))]
mod loom_tests;
