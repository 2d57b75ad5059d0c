//! The runtime: a thread pool you can start, hand work to, wait on, and shut down.
//!
//! [`Runtime`] owns the worker threads; [`Handle`] is a cheap, cloneable reference to it for
//! spawning from anywhere. The free functions [`spawn`], [`run`] and [`block_on`] use the
//! *current* runtime (the one whose worker or `block_on` is on this thread) and fall back to a
//! process-wide default runtime started on first use (`global`), the way .NET code can always
//! reach `ThreadPool` and `Task.Run`.
//!
//! # Invariants
//! - Dropping a `Runtime` shuts it down: no task is polled afterwards, every future still alive
//!   is dropped, and the worker threads are joined (P3).
//! - Spawning onto a runtime that has shut down never runs the future; the task reports
//!   `TaskError::RuntimeShutdown` ([`Handle::try_spawn`] says so up front).
//!
//! ```
//! use brigade::Runtime;
//! let rt = Runtime::builder().workers(2).build()?;
//! let total = rt.block_on(async {
//!     // Inside rt.block_on, brigade::spawn and brigade::run reach rt.
//!     let parts = (0..4).map(|i| brigade::spawn(async move { i }));
//!     brigade::when_all(parts).await.into_iter().sum::<i32>()
//! });
//! assert_eq!(total, 6);
//! let read = rt.block_on(brigade::run(|| std::fs::read_to_string("Cargo.toml")));
//! assert!(read.is_ok());
//! assert!(rt.metrics().tasks_spawned >= 4);
//! drop(rt); // shuts down: every task dropped, the workers joined (P3)
//! # Ok::<(), std::io::Error>(())
//! ```

mod block_on;
pub(crate) mod builder;
mod dump;
mod dump_wait;
mod global;
mod metrics;
mod seeds;
pub(crate) mod thread_loop;

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use crate::io::{IoDriver, IO_DRIVER_ENV};
pub use crate::pool::monitor::StallReport;
pub use crate::pool::trace::{PollRecord, ScheduleTrace, TRACE_LIMIT};
pub use builder::{
    Builder, UnhandledPanic, UnhandledPanicReport, DEFAULT_MAX_EXTRA_WORKERS,
    DEFAULT_SPARE_WORKERS, DEFAULT_STALL_THRESHOLD, MAX_STACK_SIZE, MIN_STACK_SIZE,
};
pub use dump::{RuntimeDump, TaskDump, TaskState};
pub use dump_wait::{WaitDetail, WaitOn};
pub use metrics::{RuntimeMetrics, WorkerStats};
pub use seeds::{run_with_seeds, SeededTest, SEED_VARIABLE};

use crate::pool::{self, Shared};
use crate::task::Task;

/// A brigade runtime: worker threads running tasks, plus threads for blocking closures.
///
/// ```
/// let rt = brigade::Runtime::new()?;
/// let task = rt.spawn(async { 1 + 1 });
/// assert_eq!(rt.block_on(task), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Vec<JoinHandle<()>>,
}

/// A cloneable reference to a runtime, for spawning onto it from any thread.
///
/// ```
/// let rt = brigade::Runtime::builder().workers(2).build()?;
/// let handle = rt.handle().clone();
/// // From any thread: spawn onto the runtime through its handle.
/// let task = std::thread::spawn(move || handle.spawn(async { 2 + 2 })).join().unwrap();
/// assert_eq!(rt.block_on(task), 4);
/// // Inside a task, Handle::current() is the runtime running it.
/// let workers = rt.block_on(rt.spawn(async { brigade::Handle::current().metrics().workers }));
/// assert_eq!(workers, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

/// The task could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// The runtime has shut down (it was dropped).
    RuntimeShutdown,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::RuntimeShutdown => f.write_str(
                "cannot spawn: the runtime has shut down (its Runtime was dropped); \
                 keep the Runtime alive while tasks are spawned onto it",
            ),
        }
    }
}

impl std::error::Error for SpawnError {}

impl Runtime {
    /// Starts a runtime with one worker per available core (P1).
    ///
    /// # Errors
    /// If a worker thread cannot be started.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn start(config: crate::pool::config::Config) -> io::Result<Runtime> {
        let (shared, threads) = pool::spawn_workers(config)?;
        Ok(Runtime {
            handle: Handle { shared },
            threads,
        })
    }

    /// Runs `future` to completion on the calling thread, with this runtime as the current one
    /// (so `brigade::spawn` inside it spawns here), and returns its output.
    ///
    /// On a worker thread this is a *cooperative block* (.NET's `.Result`): the worker is taken
    /// out of service and a spare takes over its queue until the future completes, with a
    /// warning once per call site (inside async code, `.await` instead). On a `MainLoop`'s
    /// thread it fails at once if the loop has work waiting, instead of deadlocking (X5).
    ///
    /// # Panics
    /// If `future` panics, and on a `MainLoop`'s thread whose loop has work waiting (the
    /// message names the loop's thread and the waiting task).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns `future` as a task on this runtime (S1: returns at once; the future runs on a
    /// worker, never on the caller's stack).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking or CPU-heavy closure on this runtime's blocking threads; see [`run`].
    #[track_caller]
    pub fn run<F, R>(&self, closure: F) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.run(closure)
    }

    /// A handle for spawning onto this runtime from elsewhere.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    /// Every live task with its state, age, polls and time in polls; see [`RuntimeDump`].
    /// Always available, no build flag; it takes each shard lock of the task list briefly.
    ///
    /// ```
    /// let rt = brigade::Runtime::new()?;
    /// let waiting = rt.handle().spawn_named("waiter", std::future::pending::<()>());
    /// let dump = rt.dump();
    /// assert!(dump.tasks.iter().any(|t| t.name.as_deref() == Some("waiter")));
    /// println!("{dump}");
    /// # drop(waiting);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump(&self) -> RuntimeDump {
        self.handle.dump()
    }

    /// The polls of a deterministic runtime ([`Builder::deterministic`]) so far, in order:
    /// which task (numbered by first poll), and its name. The same program with the same seed
    /// gives an equal trace; print it (one line per poll) to diff two runs. `None` for a
    /// runtime that is not deterministic.
    ///
    /// ```
    /// let run = |seed| {
    ///     let rt = brigade::Runtime::builder().deterministic(seed).build().unwrap();
    ///     rt.block_on(rt.spawn(async {
    ///         let tasks: Vec<_> = (0..3)
    ///             .map(|i| brigade::spawn_named(format!("t{i}"), async {}))
    ///             .collect();
    ///         for task in tasks {
    ///             task.await;
    ///         }
    ///     }));
    ///     rt.schedule_trace().unwrap()
    /// };
    /// assert_eq!(run(7), run(7));
    /// println!("{}", run(7));
    /// ```
    pub fn schedule_trace(&self) -> Option<ScheduleTrace> {
        self.handle.schedule_trace()
    }

    /// Shuts the runtime down now; the same as dropping it: waits for every worker to finish
    /// the poll it is in, however long that takes.
    pub fn shutdown(self) {}

    /// Shuts the runtime down, waiting at most `timeout` for the workers to stop.
    ///
    /// A worker can only stop between polls, so a task blocking inside a poll (a
    /// `std::thread::sleep`, blocking I/O — work that belongs in [`run`]) holds shutdown up.
    /// Past the timeout this gives up waiting: the stuck workers are left to finish on their
    /// own and drop the remaining futures when they do. Called from inside one of this
    /// runtime's own tasks, it starts the shutdown and returns at once (its own worker can only
    /// stop after the current poll).
    ///
    /// # Errors
    /// [`ShutdownTimedOut`] if some workers were still busy when the timeout passed.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Result<(), ShutdownTimedOut> {
        let shared = &self.handle.shared;
        shared.begin_shutdown();
        shared.drop_idle_tasks();
        if pool::with_current_worker_pool(|pool| pool.is_some_and(|p| Arc::ptr_eq(p, shared))) {
            // Called from one of this runtime's own tasks: this worker cannot stop while we
            // wait here, so waiting would only ever time out. Detach the threads (dropping a
            // JoinHandle does not wait); the shutdown completes when the current poll returns.
            self.threads.clear();
            return Ok(());
        }
        if !shared.wait_for_shutdown(timeout) {
            let busy_workers = shared.busy_worker_names();
            self.threads.clear();
            return Err(ShutdownTimedOut {
                busy_workers,
                timeout,
            });
        }
        Ok(())
    }
}

/// [`Runtime::shutdown_timeout`] gave up waiting for busy workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownTimedOut {
    /// The thread names of the workers still inside a poll when the timeout passed.
    pub busy_workers: Vec<String>,
    /// The timeout that passed.
    pub timeout: Duration,
}

impl fmt::Display for ShutdownTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "runtime shutdown timed out after {:?}: {} still busy inside a poll. A task is \
             blocking its worker (std::thread::sleep, blocking I/O, a long computation); move \
             that work into brigade::run",
            self.timeout,
            self.busy_workers.join(", ")
        )
    }
}

impl std::error::Error for ShutdownTimedOut {}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.handle.shared.begin_shutdown();
        self.handle.shared.drop_idle_tasks();
        // A runtime dropped on one of its own workers (inside one of its tasks) cannot join that
        // thread; it exits by itself once the task returns, and the last worker out sweeps.
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
        self.handle.shared.join_spares();
    }
}

// A panic caught around `block_on` (or anything else) leaves no broken invariant behind: task
// panics are caught into their tasks, and every lock the runtime holds recovers from poisoning
// (`unwrap_or_else(|e| e.into_inner())`), its state being consistent between statements.
impl std::panic::UnwindSafe for Runtime {}
impl std::panic::RefUnwindSafe for Runtime {}
impl std::panic::UnwindSafe for Handle {}
impl std::panic::RefUnwindSafe for Handle {}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// This runtime's thread pool as a
    /// [`SyncContext`](crate::sync_context::SyncContext) (to
    /// [`switch_to`](crate::sync_context::switch_to) it, or compare with
    /// [`sync_context::current`](crate::sync_context::current)).
    pub fn sync_context(&self) -> Arc<dyn crate::task::SyncContext> {
        self.shared.clone()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The current runtime: the one whose worker, `block_on` or blocking closure is running on
    /// this thread.
    ///
    /// # Panics
    /// Outside any runtime; use [`Handle::try_current`] to get an `Option`.
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "Handle::current() called outside a brigade runtime: call it from a task, from inside \
             block_on, or from a brigade::run closure (or use brigade::spawn, which falls back to \
             the default runtime)",
        )
    }

    /// The current runtime, if this thread is in one.
    pub fn try_current() -> Option<Handle> {
        pool::current::with_current_pool(|pool| {
            pool.map(|shared| Handle {
                shared: shared.clone(),
            })
        })
    }

    /// Spawns `future` as a task on this runtime.
    ///
    /// If the runtime has shut down, the future is dropped without running and the task
    /// reports `TaskError::RuntimeShutdown`; see [`Handle::try_spawn`] to be told up front.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, None, Location::caller())
    }

    /// Spawns a task with a name, shown in diagnostics (panic reports, metrics, dumps).
    #[track_caller]
    pub fn spawn_named<F>(&self, name: impl Into<String>, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(
            future,
            Some(name.into().into_boxed_str()),
            Location::caller(),
        )
    }

    /// Spawns `future`, or says why it cannot.
    ///
    /// # Errors
    /// [`SpawnError::RuntimeShutdown`] if the runtime has shut down.
    #[track_caller]
    pub fn try_spawn<F>(&self, future: F) -> Result<Task<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if self.shared.is_shutdown() {
            return Err(SpawnError::RuntimeShutdown);
        }
        Ok(self.spawn(future))
    }

    /// Runs a blocking or CPU-heavy closure on this runtime's blocking threads; see [`run`].
    #[track_caller]
    pub fn run<F, R>(&self, closure: F) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.spawn_blocking(closure, Location::caller())
    }

    /// Runs `future` to completion on the calling thread with this runtime current; see
    /// [`Runtime::block_on`].
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on::block_on(self, "Runtime::block_on", future)
    }

    /// Whether the runtime has shut down.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::collect(&self.shared)
    }

    /// Every live task; see [`Runtime::dump`].
    pub fn dump(&self) -> RuntimeDump {
        RuntimeDump::collect(&self.shared)
    }

    /// The schedule so far of a deterministic runtime; see [`Runtime::schedule_trace`].
    pub fn schedule_trace(&self) -> Option<ScheduleTrace> {
        self.shared.schedule_trace()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.num_workers())
            .field("is_shutdown", &self.is_shutdown())
            .finish()
    }
}

/// Calls `f` with the current runtime's pool, or the default runtime's outside any runtime.
/// The timer driver of the current runtime (or of the default runtime).
pub(crate) fn current_timers() -> Arc<crate::timer::driver::TimeDriver> {
    with_current_or_default_pool(|shared| shared.timers.clone())
}

/// Calls `f` with the timer driver of the current runtime, or `None` outside any (no fallback
/// to the default runtime: reading the clock must not start one).
pub(crate) fn with_current_timers<R>(
    f: impl FnOnce(Option<&Arc<crate::timer::driver::TimeDriver>>) -> R,
) -> R {
    pool::current::with_current_pool(|pool| f(pool.map(|shared| &shared.timers)))
}

/// The I/O reactor of the current runtime (or of the default runtime).
pub(crate) fn current_io() -> Arc<crate::io::driver::Reactor> {
    with_current_or_default_pool(|shared| shared.io.clone())
}

pub(crate) fn with_current_or_default_pool<R>(f: impl FnOnce(&Arc<Shared>) -> R) -> R {
    pool::current::with_current_pool(|pool| match pool {
        Some(shared) => f(shared),
        None => f(&global::default_handle().shared),
    })
}

/// Spawns `future` as a task on the current runtime — inside a task, the runtime running it;
/// otherwise the process-wide default runtime (started on first use).
///
/// Returns at once (S1). Await the [`Task`] for the output; drop it to let the task run on
/// detached (S5).
///
/// ```
/// # brigade::block_on(async {
/// let orders = (1..=3).map(|table| brigade::spawn(async move { table * 10 }));
/// assert_eq!(brigade::when_all(orders).await, vec![10, 20, 30]);
/// # });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    with_current_or_default_pool(|shared| shared.spawn(future, None, location))
}

/// [`spawn`] with a task name, shown in diagnostics.
///
/// ```
/// # brigade::block_on(async {
/// let task = brigade::spawn_named("bake-bread", async { "bread" });
/// assert_eq!(task.name(), Some("bake-bread")); // also in stall reports and rt.dump()
/// assert_eq!(task.await, "bread");
/// # });
/// ```
#[track_caller]
pub fn spawn_named<F>(name: impl Into<String>, future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    let name = Some(name.into().into_boxed_str());
    with_current_or_default_pool(|shared| shared.spawn(future, name, location))
}

/// Runs `f`, which blocks the calling thread, without starving the pool — for code that knows
/// it blocks and cannot move to [`run`] (it borrows from the caller, or must stay on this
/// thread).
///
/// On a brigade worker, the worker is flagged out of service at once and a spare worker takes
/// over its queue (the cooperative form of stall detection); the closure then runs right here.
/// Anywhere else it simply runs `f`. Prefer [`run`] when the closure can move: it keeps the
/// worker free altogether.
///
/// ```
/// # brigade::block_on(async {
/// let config = brigade::spawn(async {
///     brigade::blocking(|| std::fs::read_to_string("Cargo.toml"))
/// })
/// .await;
/// assert!(config.is_ok());
/// # });
/// ```
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    pool::block_in_place(f)
}

/// `Task.Run`: runs a blocking or CPU-heavy closure on the current runtime's blocking threads,
/// which never hold up async tasks (S10), and returns a [`Task`] for its result.
///
/// Use it for `std::thread::sleep`, blocking file or database calls, and long computations.
/// A closure that has started cannot be cancelled; `cancel()` before it starts drops it.
///
/// ```
/// # brigade::block_on(async {
/// // A blocking read moves off the workers; the awaiting task holds no thread meanwhile.
/// let length = brigade::run(|| std::fs::read("Cargo.toml").map(|bytes| bytes.len())).await;
/// assert!(length.unwrap() > 0);
/// # });
/// ```
#[track_caller]
pub fn run<F, R>(closure: F) -> Task<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let location = Location::caller();
    with_current_or_default_pool(|shared| shared.spawn_blocking(closure, location))
}

/// Runs `future` to completion on this thread and returns its output: on the current runtime
/// if this thread has entered one, else on the process-wide default runtime.
///
/// On a worker thread this is a cooperative block (see [`Runtime::block_on`]): it works, with
/// a warning; inside async code `.await` instead, and use [`run`] for blocking work.
///
/// # Panics
/// If `future` panics, and on a `MainLoop`'s thread whose loop has work waiting (X5).
///
/// ```
/// // The bridge from synchronous code (main, a test, a callback) into async code.
/// let answer = brigade::block_on(async {
///     brigade::time::sleep(std::time::Duration::from_millis(1)).await;
///     42
/// });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let handle = Handle::try_current().unwrap_or_else(|| global::default_handle().clone());
    block_on::block_on(&handle, "brigade::block_on", future)
}
