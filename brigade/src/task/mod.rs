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

mod cell;
mod error;
mod handle;
mod harness;
mod id;
#[cfg(all(test, loom))]
mod loom_tests;
mod owned;
mod promise;
pub(crate) mod state;
mod waker;

use std::any::Any;
use std::future::Future;
use std::panic::Location;

pub(crate) use cell::{Notified, RawTask};
pub(crate) use error::panic_message;
pub use error::TaskError;
pub use handle::{Join, Task};
pub use id::TaskId;
pub(crate) use id::{describe, TaskMeta};
pub(crate) use owned::OwnedTasks;
pub use promise::{Abandoned, AlreadySet, Promise, PromiseTask};

/// A task's home: where its wake-ups post it and who keeps its bookkeeping.
///
/// The thread pool is one home; later a main loop or a user's synchronization context.
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
    let ptr = cell::Cell::allocate(future, scheduler, TaskId::next(), name, location);
    let raw = RawTask::from_header(ptr);
    // SAFETY: the initial state counts three references and has NOTIFIED set: one for the
    // queue entry made here, one for the join handle, one returned for the owned list.
    let notified = unsafe { Notified::from_raw(raw) };
    (Task::from_raw(raw), notified, raw)
}
