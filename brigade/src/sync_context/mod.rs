//! SynchronizationContext and ConfigureAwait: *where* a task's code runs after an await
//! (seed section 8).
//!
//! The ExecutionContext (section 4) carries *who* is running; a synchronization context
//! decides *where*. In .NET a UI thread installs one, so the code after an `await` in a click
//! handler resumes on the UI thread and may touch the window; a console app has none, so
//! continuations run on the thread pool.
//!
//! In brigade every task has a **home**, the context its wake-ups are posted to (the task's
//! continuation is its next poll, so "resume on the UI thread" means "poll on the UI thread"):
//!
//! - the thread pool, for `brigade::spawn`;
//! - a [`MainLoop`], a single-threaded loop the calling thread runs (a UI thread): tasks
//!   spawned on it, including `!Send` ones ([`spawn_local`]), are polled only there (X2, X6);
//! - any event loop of yours that implements [`SyncContext`] (winit, GTK, a game loop) and
//!   receives each wake-up as a [`Runnable`] to run on its own thread (X4).
//!
//! A `Send` task can move home at an await: [`switch_to`] moves it explicitly, and
//! [`configure_await(false)`](ConfigureAwaitExt::configure_await) moves it to the pool while
//! one future runs, then brings it back (X3). [`current`] says where the running code is (X1).
//!
//! Blocking a loop's thread on work that needs that loop — .NET's `.Result` deadlock on a UI
//! thread — is detected and fails at once with a message naming it (X5).
//!
//! # Invariants
//! - A task is polled only by its current home; its home changes only during its own poll.
//! - A wake-up is never lost: a context that drops a [`Runnable`] without running it ends the
//!   task (its awaiter gets `TaskError::RuntimeShutdown`) instead of leaving it hanging; so
//!   does a `MainLoop` that is dropped.
//!
//! ```
//! use brigade::sync_context::MainLoop;
//! let main_loop = MainLoop::new(); // this thread is now the "UI thread"
//! let ui = std::thread::current().id();
//! let on_click = main_loop.spawn_local(async move {
//!     let worker = brigade::run(|| std::thread::current().id()).await; // off the UI thread
//!     assert_ne!(worker, ui);
//!     std::thread::current().id() == ui // ... and back on it after the await
//! });
//! assert!(main_loop.run(on_click));
//! ```

mod configure_await;
mod main_loop;

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

pub use configure_await::{ConfigureAwait, ConfigureAwaitExt, SwitchTo};
pub use main_loop::{spawn_local, MainLoop, MainLoopHandle};
// Defined where tasks are (they are posted to one), named here where users look for it.
pub use crate::task::post::{Runnable, SyncContext};

use crate::pool::Shared;
use crate::runtime;
use crate::task::{self, Notified, RawTask, Schedule, Task, TaskId, TaskMeta};

/// Where the running code is: .NET's `SynchronizationContext.Current`.
///
/// - In a task: the task's home — the pool for `brigade::spawn` and `brigade::run`, the
///   [`MainLoop`] for its tasks, your context for tasks spawned with [`spawn_on`], or wherever
///   [`switch_to`] moved it (X1).
/// - Outside tasks: the `MainLoop` of this thread, if it has one; else `None` (plain threads,
///   like .NET console apps, have no context).
///
/// Compare contexts with `Arc::ptr_eq`.
pub fn current() -> Option<Arc<dyn SyncContext>> {
    match task::running() {
        Some(task) => task.current_home(),
        None => main_loop::loop_of_this_thread().map(|shared| shared as Arc<dyn SyncContext>),
    }
}

/// The current runtime's thread pool as a context (the default runtime's outside any).
pub fn pool() -> Arc<dyn SyncContext> {
    runtime::with_current_or_default_pool(|shared| shared.clone() as Arc<dyn SyncContext>)
}

/// Spawns `future` as a task homed on `context`: its first poll and every wake-up are posted
/// there as [`Runnable`]s (X4).
///
/// Work it spawns and `brigade::run` closures go to the current runtime (the default runtime
/// outside any), which also reports the task's panic if nobody awaits it.
#[track_caller]
pub fn spawn_on<F>(context: &Arc<dyn SyncContext>, future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    let pool = runtime::with_current_or_default_pool(Arc::clone);
    let home = ForeignHome {
        context: context.clone(),
        pool,
    };
    let (task, notified, list_reference) = task::new_task(future, home, None, location);
    // Not in any owned list: the task lives as long as its references (a foreign loop that
    // stops drops its Runnables, which ends the tasks).
    list_reference.drop_reference();
    context.post(Runnable::new(notified, false));
    task
}

/// Moves the running task to `context`: the code after `.await` runs there (explicit
/// switching between contexts).
///
/// ```
/// use brigade::sync_context::{self, MainLoop};
///
/// let main_loop = MainLoop::new();
/// let ui = main_loop.sync_context();
/// let on_the_loop = main_loop.run(async move {
///     brigade::spawn(async move {
///         // ... on a pool thread ...
///         sync_context::switch_to(&ui).await;
///         std::thread::current().id() // ... and now on the loop's thread
///     })
///     .await
/// });
/// assert_eq!(on_the_loop, std::thread::current().id());
/// ```
///
/// Awaiting it where the task already is completes at once.
///
/// # Panics
/// When awaited outside a task (in `block_on`'s or `MainLoop::run`'s own future, which belong
/// to the thread that runs them), and in a `spawn_local` task, whose `!Send` future cannot
/// leave its loop.
pub fn switch_to(context: &Arc<dyn SyncContext>) -> SwitchTo {
    SwitchTo::new(context.clone())
}

/// The static home of a task spawned with [`spawn_on`].
struct ForeignHome {
    context: Arc<dyn SyncContext>,
    pool: Arc<Shared>,
}

impl Schedule for ForeignHome {
    fn schedule(&self, task: Notified) {
        self.context.post(Runnable::new(task, false));
    }

    fn yield_now(&self, task: Notified) {
        self.context.post(Runnable::new(task, true));
    }

    fn release(&self, _task: RawTask) -> bool {
        false
    }

    fn unhandled_panic(&self, id: TaskId, meta: &TaskMeta, payload: Box<dyn std::any::Any + Send>) {
        self.pool.unhandled_panic(id, meta, payload);
    }

    fn sync_context(&self) -> Option<Arc<dyn SyncContext>> {
        Some(self.context.clone())
    }

    fn pool(&self) -> Option<Arc<dyn SyncContext>> {
        Some(self.pool.clone())
    }
}
