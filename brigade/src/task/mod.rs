//! Tasks: the unit of asynchronous work (seed sections 3, 6, 7 and 9).
//!
//! `spawn` turns a future — the state machine the compiler wrote for an `async` block — into a
//! *task*: one heap cell (`cell`) holding a packed state word (`state`), the future and later
//! its output, and the continuation to run when it finishes (the join waker). The scheduler moves
//! tasks around as `Notified` pointers; wakers (`waker`) are pointers to the same cell;
//! [`Task`] is the join handle; [`Promise`] is the TaskCompletionSource: a result set by hand.
//!
//! A task flows like this (see ARCHITECTURE.md for the picture):
//! spawn → cell allocated (NOTIFIED) → run queue → `run`: RUNNING, poll once →
//! `Pending`: idle until a waker fires (NOTIFIED → back to a queue) |
//! `Ready`: COMPLETE, output stored, join waker woken → the handle takes the output.
//!
//! ```
//! use brigade::{Promise, Task, TaskError};
//! # brigade::block_on(async {
//! let task: Task<u32> = brigade::spawn(async { 7 });
//! assert_eq!(task.await, 7);
//!
//! let cancelled = brigade::spawn(std::future::pending::<()>()).cancel().await;
//! assert!(matches!(cancelled, Err(TaskError::Cancelled)));
//!
//! let (promise, value) = Promise::new(); // TaskCompletionSource
//! brigade::spawn(async move { promise.set("set by hand").is_ok() }).detach();
//! assert_eq!(value.await.unwrap(), "set by hand");
//! # });
//! ```

mod cell;
#[cfg(feature = "console")]
pub(crate) mod console;
pub(crate) mod current;
mod error;
mod handle;
mod harness;
mod home;
mod id;
#[cfg(all(test, loom))]
mod loom_tests;
mod owned;
pub(crate) mod post;
mod promise;
pub(crate) mod state;
mod wait;
mod waker;

use std::any::Any;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use crate::context::ExecutionContext;

pub(crate) use cell::{Header, Notified, RawTask};
pub(crate) use current::running;
pub(crate) use error::panic_message;
pub use error::TaskError;
pub use handle::{Join, Task};
pub(crate) use id::{describe, TaskMeta};
pub use id::{GroupId, TaskId};
pub(crate) use owned::OwnedTasks;
pub(crate) use post::{Runnable, SyncContext};
pub use promise::{Abandoned, AlreadySet, Promise, PromiseTask};
pub use wait::WaitKind;
pub(crate) use wait::{
    record as record_wait, refine as refine_wait, WaitSite, A_MAX as WAIT_DETAIL_MAX,
};

/// A task's static home: where its wake-ups post it (unless it moved, see `home.rs`) and who
/// keeps its bookkeeping.
///
/// The thread pool is one home, a `MainLoop` another, a user's `SyncContext` a third.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// A task became runnable (woken while idle, or cancellation requested).
    fn schedule(&self, task: Notified);

    /// A task woke itself during its own poll (a yield): queue it behind the others.
    fn yield_now(&self, task: Notified) {
        self.schedule(task);
    }

    /// A task completed: take it out of the owned list. Returns `true` when it was there, and the
    /// list's reference must then be dropped by the caller.
    fn release(&self, task: RawTask) -> bool;

    /// A task's panic that nobody will observe (the task was detached).
    fn unhandled_panic(&self, id: TaskId, meta: &TaskMeta, payload: Box<dyn Any + Send>);

    /// This home as a `SyncContext`: what `SyncContext::current()` answers in its tasks.
    fn sync_context(&self) -> Option<Arc<dyn SyncContext>> {
        None
    }

    /// The thread pool `configure_await(false)` sends this home's tasks to.
    fn pool(&self) -> Option<Arc<dyn SyncContext>> {
        None
    }
}

/// Allocates a task cell for `future` homed on `scheduler`. Returns the join handle and the
/// first queue entry; the third reference (the owned list's) is the caller's to give to
/// `OwnedTasks::bind`, or to drop with `RawTask::drop_reference` if binding fails.
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
    name: Option<Box<str>>,
    location: &'static Location<'static>,
) -> (Task<F::Output>, Notified, RawTask)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    allocate(future, scheduler, name, location, true)
}

/// [`new_task`] for a future that is not `Send` (`spawn_local`), homed on a `MainLoop`.
///
/// # Safety
/// The caller must make sure that, for as long as the future or its output lives in the
/// cell, the task is run, shut down, cancelled into completion and its output dropped only on
/// the one thread that owns `scheduler`:
/// - `scheduler` queues the task for that thread alone, and never shuts down or drops a
///   queue entry of a live local task on another thread;
/// - that thread completes (or shuts down) every task it owns before it stops, keeping the
///   owned list's reference until then, so no other thread's last reference can free a cell
///   that still holds the future;
/// - the output is dropped on that thread too, or is `Send` (the [`Task`] handle is `Send`
///   only then).
///
/// The task never moves to another context (`movable` is false).
pub(crate) unsafe fn new_local_task<F, S>(
    future: F,
    scheduler: S,
    location: &'static Location<'static>,
) -> (Task<F::Output>, Notified, RawTask)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    allocate(future, scheduler, None, location, false)
}

fn allocate<F, S>(
    future: F,
    scheduler: S,
    name: Option<Box<str>>,
    location: &'static Location<'static>,
    movable: bool,
) -> (Task<F::Output>, Notified, RawTask)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    let id = TaskId::next();
    #[cfg(feature = "console")]
    let kind = if movable { "task" } else { "local" };
    #[cfg(feature = "console")]
    let (future, console_span_id) =
        console::instrument(future, id, name.as_deref(), location, kind);
    let birth = cell::Birth {
        id,
        #[cfg(feature = "console")]
        console_span_id,
        meta: TaskMeta {
            name,
            location,
            lineage: Default::default(),
        },
        // Seed section 4, step 1: capture the spawner's context for the new work item.
        context: ExecutionContext::capture(),
        movable,
    };
    let ptr = cell::Cell::allocate(future, scheduler, birth);
    let raw = RawTask::from_header(ptr);
    // SAFETY: the initial state counts three references and has NOTIFIED set: one for the
    // queue entry made here, one for the join handle, one returned for the owned list.
    let notified = unsafe { Notified::from_raw(raw) };
    (Task::from_raw(raw), notified, raw)
}
