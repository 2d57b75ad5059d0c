//! # brigade
//!
//! An async runtime for Rust that re-creates the .NET async/await machinery — the thread pool,
//! tasks, awaiters and state machines, method builders — from scratch, as a production-grade,
//! work-stealing runtime.
//!
//! The name: a kitchen brigade, the workers at their stations.
//!
//! ```
//! let rt = brigade::Runtime::new()?;
//! let answer = rt.block_on(async {
//!     let parts = (0..4).map(|i| brigade::spawn(async move { i * 2 }));
//!     brigade::when_all(parts).await.into_iter().sum::<i32>()
//! });
//! assert_eq!(answer, 12);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The module map follows the seed article:
//!
//! | module | seed section | .NET concept |
//! |---|---|---|
//! | `pool` (private; its face is [`Runtime`]) | 2. a simple thread pool | `ThreadPool` |
//! | [`task`] | 3, 6, 7, 9. tasks, state machines, builders | `Task<T>`, `AsyncTaskMethodBuilder`, `TaskCompletionSource` |
//! | [`context`] | 4. ExecutionContext | `ExecutionContext`, `AsyncLocal<T>` |
//! | [`sync_context`] | 8, 13C. SynchronizationContext | `SynchronizationContext`, `ConfigureAwait`, a UI thread's loop |
//! | [`future`] | 10, 11. best practices, advanced | `Task.WhenAll`, `Task.WhenAny`, `Task.Yield` |
//! | [`runtime`] | 2, 13D | the pool's front door, `Task.Run`, sync-over-async |
//! | [`time`] | 5, 10. an awaitable delay | `Task.Delay`, `PeriodicTimer`, `WaitAsync(timeout)` |
//! | [`cancel`] | 12. cancellation | `CancellationTokenSource`, `CancellationToken` |
//! | [`sync`] | 13. coordination | `System.Threading.Channels`, `SemaphoreSlim`, `TaskCompletionSource` |
//! | [`group`] | 10. structured concurrency | `Task.WhenAll` with ownership, `Task.WhenEach`, `Parallel.ForEachAsync` |
//! | [`signal`], [`process`], [`fs`] | 13. the operating system | `PosixSignalRegistration`, `Process.WaitForExitAsync`, async `FileStream` |
//!
//! Start with `cargo run --release --example tour`, then ARCHITECTURE.md.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cancel;
mod clock;
pub mod compat;
pub mod context;
mod coop;
pub mod fs;
pub mod future;
pub mod group;
mod io;
#[allow(dead_code, unused_imports)]
mod loom;
pub mod net;
mod park;
mod pool;
pub mod process;
mod report;
pub mod runtime;
pub mod signal;
pub mod sync;
pub mod sync_context;
pub mod task;
pub mod time;
mod timer;

pub use brigade_macros::{main, test};
pub use future::{when_all, when_any, yield_now};
pub use group::{for_each_concurrent, race, when_each, TaskGroup};
pub use runtime::{
    block_on, blocking, run, spawn, spawn_named, Builder, Handle, Runtime, SpawnError,
    UnhandledPanic,
};
pub use task::{Promise, Task, TaskError};

/// The README's examples, compiled and run as doc tests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The traits and names most async code wants in scope: `use brigade::prelude::*;`.
///
/// Extension traits land here: `fut.configure_await(false)` today, cancellation next.
pub mod prelude {
    pub use crate::cancel::CancellationExt;
    pub use crate::context::{AsyncLocal, ExecutionContext};
    pub use crate::future::{when_all, when_any, yield_now};
    pub use crate::runtime::{block_on, run, spawn};
    pub use crate::sync::{channel, unbounded_channel, Semaphore};
    pub use crate::sync_context::ConfigureAwaitExt;
    pub use crate::task::{Promise, Task, TaskError};
}
