//! # brigade
//!
//! An async runtime for Rust that re-creates the .NET async/await machinery — the thread pool,
//! tasks, awaiters and state machines, method builders — from scratch, as a production-grade,
//! work-stealing runtime.
//!
//! The name: a kitchen brigade, the workers at their stations.
//!
//! # Getting started
//!
//! In `Cargo.toml` (the crates live in this workspace; use a path or git dependency):
//!
//! ```toml
//! [dependencies]
//! brigade = { path = "../brigade" }              # the runtime
//! # brigade-http = { path = "../brigade-http" }   # HTTP server and client (hyper)
//! # brigade-postgres = { path = "../brigade-postgres" } # PostgreSQL (tokio-postgres)
//! ```
//!
//! Then `#[brigade::main]` makes `main` async — it starts the default runtime (one worker per
//! core) and blocks on the body:
//!
//! ```
//! use std::time::Duration;
//! use brigade::cancel::{CancellationExt, CancellationTokenSource};
//!
//! #[brigade::main]
//! async fn main() {
//!     // spawn: a task on a worker thread (Task.Run for async work); await it for its output.
//!     let soup = brigade::spawn(async { "soup" });
//!     assert_eq!(soup.await, "soup");
//!
//!     // run: blocking work on threads that never hold up async tasks.
//!     let bytes = brigade::run(|| std::fs::read("Cargo.toml").map(|b| b.len())).await;
//!     assert!(bytes.is_ok());
//!
//!     // A timeout: the wait ends with Err(Elapsed) and the future is dropped.
//!     let late = brigade::time::timeout(
//!         Duration::from_millis(10),
//!         brigade::time::sleep(Duration::from_secs(60)),
//!     )
//!     .await;
//!     assert!(late.is_err());
//!
//!     // A token: any wait ends with Err(Cancelled) once its source is cancelled.
//!     let source = CancellationTokenSource::new();
//!     let token = source.token();
//!     let waiter = brigade::spawn(async move {
//!         brigade::time::sleep(Duration::from_secs(60)).with_cancellation(&token).await
//!     });
//!     source.cancel();
//!     assert!(waiter.await.is_err());
//! }
//! ```
//!
//! Outside `main`, [`Runtime::builder`] sizes a runtime of your own and [`Runtime::block_on`]
//! enters it. Tasks coordinate through [`sync`] — channels, `Mutex`, `RwLock`, `Semaphore`,
//! `Notify`, `OnceCell`, `oneshot`, `watch`, `broadcast`, every wait cancellable:
//!
//! ```
//! # brigade::block_on(async {
//! let (orders, kitchen) = brigade::sync::channel::<&str>(16);
//! brigade::spawn(async move { orders.send("soup").await.unwrap() }).detach();
//! assert_eq!(kitchen.recv().await, Some("soup"));
//! # });
//! ```
//!
//! and [`TaskGroup`] owns a set of children: dropping the group cancels them, so none outlives
//! the code that started it (with `join_next`, `join_all`, fail-fast, a token):
//!
//! ```
//! # brigade::block_on(async {
//! let mut group = brigade::TaskGroup::new();
//! for table in 1..=3 {
//!     group.spawn(async move { table * 10 });
//! }
//! let mut total = 0;
//! while let Some(outcome) = group.join_next().await {
//!     total += outcome.unwrap(); // in completion order
//! }
//! assert_eq!(total, 60);
//! # });
//! ```
//!
//! **HTTP and PostgreSQL** are separate crates in the same workspace: `brigade-http` (hyper's
//! HTTP/1.1 and HTTP/2 server and a pooled client, on brigade's sockets and timer) and
//! `brigade-postgres` (tokio-postgres over brigade's sockets, a connection pool, queries
//! cancelled on the server by a token). Neither starts a tokio runtime.
//!
//! **Sockets**: [`net`] has TCP, UDP and Unix domain sockets; they implement futures-io's
//! `AsyncRead`/`AsyncWrite` always, tokio's with the `tokio-io` feature and hyper's with the
//! `hyper` feature ([`compat`] adds hyper's executor and timer).
//!
//! ## What brigade does not do (yet), and what to use meanwhile
//!
//! - **Linux only.** Built and tested on Linux (epoll). Windows is not supported (sockets are
//!   read through Unix file descriptors); macOS and the BSDs are not supported either, though
//!   the reactor (mio) is portable — the README lists what a port needs. Elsewhere, use tokio
//!   or async-std.
//! - **No io_uring**: sockets use epoll, and [`fs`] runs file operations on the blocking
//!   threads, as .NET does on Linux. For io_uring, tokio-uring or glommio.
//! - **TLS lives in the companion crates**: brigade-http (HTTPS client and server, `wss://`)
//!   and brigade-postgres (`sslmode=require`/`verify-full`) use brigade-tls (rustls); brigade
//!   itself has no TLS type.
//! - **Not a drop-in for tokio**: libraries that call `tokio::spawn` or need tokio's reactor
//!   do not work on brigade; those that only need the I/O traits do (`tokio-io` feature).
//!
//! A whole runtime, sized by hand:
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
#![cfg_attr(docsrs, feature(doc_cfg))]
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
