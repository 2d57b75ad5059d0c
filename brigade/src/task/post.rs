//! Where a woken task is posted: the [`SyncContext`] trait (.NET's
//! `SynchronizationContext.Post`) and the [`Runnable`] a context receives.
//!
//! The trait is defined here, in the task layer, because a task's home *is* a `SyncContext`
//! (`home.rs` posts wake-ups to it) and the pool and the blocking pool, which sit below
//! `sync_context`, implement it. `brigade::sync_context` re-exports both names: that module is
//! where users meet them, with `MainLoop`, `switch_to` and `configure_await`.
//!
//! # Invariants
//! - Only `Send` tasks become `Runnable`s: a `!Send` task never leaves its `MainLoop`.
//! - A `Runnable` dropped without running ends its task (`TaskError::RuntimeShutdown`), so a
//!   context that refuses work never leaves an awaiter waiting forever.

use std::fmt;

use super::{Notified, RawTask, TaskId};

/// A place where tasks run: .NET's `SynchronizationContext`.
///
/// brigade calls [`post`](SyncContext::post) with a [`Runnable`] each time a task homed on
/// this context wakes up; the context runs it (`runnable.run()`) on its own thread(s), soon,
/// the way a GUI event loop runs posted messages. Implement it to plug in an event loop brigade
/// does not know; the thread pool and [`MainLoop`](crate::sync_context::MainLoop) are contexts too.
///
/// ```
/// use std::sync::{mpsc, Arc, Mutex};
/// use brigade::sync_context::{Runnable, SyncContext};
///
/// /// A foreign event loop: a queue that one thread drains.
/// struct MyLoop(Mutex<mpsc::Sender<Runnable>>);
///
/// impl SyncContext for MyLoop {
///     fn post(&self, task: Runnable) {
///         // A real GUI would also wake its event loop here (e.g. winit's EventLoopProxy).
///         let _ = self.0.lock().unwrap().send(task);
///     }
/// }
///
/// let (tx, rx) = mpsc::channel();
/// let my_loop: Arc<dyn SyncContext> = Arc::new(MyLoop(Mutex::new(tx)));
/// let task = brigade::sync_context::spawn_on(&my_loop, async { std::thread::current().id() });
/// rx.recv().unwrap().run(); // the loop's turn: the task runs here, on this thread
/// assert_eq!(brigade::block_on(task), std::thread::current().id());
/// ```
pub trait SyncContext: Send + Sync + 'static {
    /// Runs `task` soon on this context. Called from any thread, possibly while the task's
    /// previous poll is still finishing elsewhere; must not block for long.
    ///
    /// Dropping the `Runnable` instead of running it ends the task with
    /// `TaskError::RuntimeShutdown` (for a context that is shutting down).
    fn post(&self, task: Runnable);
}

/// A task that woke up, handed to its [`SyncContext`] to run: call [`run`](Runnable::run).
///
/// Only `Send` tasks become `Runnable`s (a `!Send` task never leaves its `MainLoop`), so a
/// context may run it on any thread it likes.
pub struct Runnable {
    task: Option<Notified>,
    is_yield: bool,
}

impl Runnable {
    pub(crate) fn new(task: Notified, is_yield: bool) -> Runnable {
        debug_assert!(
            task.raw().is_movable(),
            "a !Send task must never be handed to a SyncContext"
        );
        Runnable {
            task: Some(task),
            is_yield,
        }
    }

    /// Polls the task once on this thread: the code up to its next unready await runs here.
    pub fn run(mut self) {
        if let Some(task) = self.task.take() {
            task.run();
        }
    }

    /// Whether the task woke itself during its own poll (`yield_now`): a fair context runs
    /// the work it already had queued first.
    pub fn is_yield(&self) -> bool {
        self.is_yield
    }

    /// The id of the task to run.
    pub fn task_id(&self) -> TaskId {
        self.raw().id()
    }

    fn raw(&self) -> RawTask {
        self.task.as_ref().expect("a Runnable holds its task").raw()
    }

    pub(crate) fn into_notified(mut self) -> Notified {
        self.task.take().expect("a Runnable holds its task")
    }
}

impl Drop for Runnable {
    fn drop(&mut self) {
        // Never run: end the task rather than leave its awaiter waiting forever.
        if let Some(task) = self.task.take() {
            task.shutdown();
        }
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runnable")
            .field("task", &self.task_id())
            .field("is_yield", &self.is_yield)
            .finish()
    }
}
