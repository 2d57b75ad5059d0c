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
//!
//! ```
//! use std::sync::Arc;
//! use brigade::sync::{channel, Semaphore};
//! # brigade::block_on(async {
//! // A bounded channel: the producer waits while 8 are queued.
//! let (tx, rx) = channel::<u32>(8);
//! brigade::spawn(async move {
//!     for i in 1..=3 {
//!         tx.send(i).await.unwrap();
//!     }
//! })
//! .detach();
//! let mut got = Vec::new();
//! while let Some(i) = rx.recv().await {
//!     got.push(i); // None once the last sender is gone and the queue drained
//! }
//! assert_eq!(got, [1, 2, 3]);
//!
//! // A semaphore: at most two jobs at once (SemaphoreSlim.WaitAsync).
//! let limit = Arc::new(Semaphore::new(2));
//! let jobs = (0..6).map(|_| {
//!     let limit = Arc::clone(&limit);
//!     brigade::spawn(async move {
//!         let _permit = limit.acquire().await.unwrap(); // released when dropped
//!         brigade::yield_now().await;
//!     })
//! });
//! brigade::when_all(jobs).await;
//! assert_eq!(limit.available_permits(), 2);
//! # });
//! ```

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
