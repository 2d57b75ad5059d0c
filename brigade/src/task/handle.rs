//! `Task<T>`: the handle to a spawned task — the Rust face of .NET's `Task<TResult>`.
//!
//! Awaiting it gives the output and re-raises the task's panic, as `await` rethrows a faulted
//! task's exception (seed section 3). `join()` gives the failure as a value instead;
//! `cancel()` asks the task to stop; dropping the handle detaches the task, which keeps
//! running (S5).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::cell::RawTask;
use super::error::TaskError;
use super::id::{describe, TaskId};

/// A handle to a spawned task; await it for the task's output.
///
/// - `task.await` gives the output, and re-raises the task's panic with its original payload.
/// - [`join`](Task::join) gives `Result<T, TaskError>` instead.
/// - [`cancel`](Task::cancel) drops the task's future at its next opportunity.
/// - Dropping the handle (or [`detach`](Task::detach)) lets the task run to completion on its own.
///
/// ```
/// # brigade::block_on(async {
/// let soup = brigade::spawn(async { "soup" });
/// assert_eq!(soup.await, "soup");
///
/// // join(): the panic as a value, instead of re-raised
/// let burnt = brigade::spawn(async { panic!("the oven caught fire") });
/// assert!(burnt.join().await.unwrap_err().is_panic());
///
/// // cancel(): the future is dropped at its next opportunity
/// let slow = brigade::spawn(brigade::time::sleep(std::time::Duration::from_secs(60)));
/// assert!(slow.cancel().await.unwrap_err().is_cancelled());
/// # });
/// ```
///
/// A `Task` is awaited once: `.await` consumes it, so .NET's ValueTask rule ("await it exactly
/// once") is a compile error here. To share one result, use [`crate::sync::watch`],
/// [`crate::sync::broadcast`] or [`crate::sync::OnceCell`].
///
/// ```compile_fail,E0382
/// # brigade::block_on(async {
/// let task = brigade::spawn(async { 1 });
/// let first = task.await;
/// let second = task.await; // error[E0382]: use of moved value: `task`
/// # });
/// ```
#[must_use = "a Task runs in the background even if dropped; use `.detach()` to say so"]
pub struct Task<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output (which is `Send`) out of the cell.
unsafe impl<T: Send> Send for Task<T> {}
// SAFETY: `&Task` gives access to nothing but the id and the state word.
unsafe impl<T: Send> Sync for Task<T> {}

impl<T> Unpin for Task<T> {}

// A panic while holding a handle cannot leave the task's state inconsistent: every
// transition is a single atomic step, and the output is only moved out whole.
impl<T> std::panic::UnwindSafe for Task<T> {}
impl<T> std::panic::RefUnwindSafe for Task<T> {}

impl<T> Task<T> {
    /// Wraps the join handle's reference to a new task.
    pub(crate) fn from_raw(raw: RawTask) -> Task<T> {
        Task {
            raw,
            _output: PhantomData,
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.raw.id()
    }

    /// The cell, for task groups (lineage, cancelling by reference).
    pub(crate) fn raw(&self) -> RawTask {
        self.raw
    }

    /// The name given at spawn, if any.
    pub fn name(&self) -> Option<&str> {
        self.raw.header().meta.name.as_deref()
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.raw.state().load().is_complete()
    }

    /// Waits for the task and gives its outcome as a value: `Ok(output)`, or
    /// `Err(TaskError::Panicked(payload))`, `Err(TaskError::Cancelled)`, ...
    pub fn join(self) -> Join<T> {
        Join { task: self }
    }

    /// Asks the task to stop, then waits for it (S4).
    ///
    /// The request is made at once, when `cancel` is called, even if the returned future is
    /// never awaited. The task's future is dropped at its next opportunity — never in the middle
    /// of a poll, and on the task's own scheduler. The outcome is `Err(TaskError::Cancelled)`
    /// if the cancellation took effect, or `Ok(output)` if the task finished first (already
    /// done, or its poll in progress at that moment returned the output).
    pub fn cancel(self) -> Join<T> {
        if self.raw.state().transition_to_cancel_requested() {
            // The task was idle: it now has a queue entry and must be run to be cancelled.
            self.raw.schedule();
        }
        self.join()
    }

    /// Lets the task run to completion without anyone waiting for it. Same as dropping the
    /// handle; a panic in a detached task goes to the runtime's unhandled-panic policy.
    pub fn detach(self) {}

    pub(crate) fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        // Joining finished tasks in a loop spends the cooperative budget like any ready
        // operation (Y9).
        let spend = std::task::ready!(crate::coop::poll_proceed(cx));
        let mut result: Poll<Result<T, TaskError>> = Poll::Pending;
        // SAFETY: `result` has the type the cell's `try_read_output` writes for output `T`
        // (the handle was created with the cell's output type).
        unsafe {
            (self.raw.header().vtable.try_read_output)(
                self.raw.header_ptr(),
                &mut result as *mut _ as *mut (),
                cx.waker(),
            )
        };
        if result.is_ready() {
            spend.made_progress();
        } else {
            super::wait::record(super::WaitKind::Join, None, self.raw.id().as_u64(), 0);
        }
        result
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.poll_result(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(output)) => Poll::Ready(output),
            Poll::Ready(Err(TaskError::Panicked(payload))) => resume_unwind(payload),
            Poll::Ready(Err(error)) => panic!(
                "awaited {} but {error}; use `task.join().await` to handle this as an error",
                describe(self.raw.id(), &self.raw.header().meta)
            ),
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        // SAFETY: the handle owns one reference, which this consumes.
        unsafe { (self.raw.header().vtable.drop_join_handle)(self.raw.header_ptr()) }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("state", self.raw.state())
            .finish()
    }
}

/// The future returned by [`Task::join`] and [`Task::cancel`]: the task's outcome as a value.
///
/// ```
/// use brigade::task::Join;
/// # brigade::block_on(async {
/// let join: Join<i32> = brigade::spawn(async { 6 * 7 }).join();
/// assert!(matches!(join.await, Ok(42)));
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Join<T> {
    task: Task<T>,
}

impl<T> Join<T> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.id()
    }
}

impl<T> Future for Join<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.task.poll_result(cx)
    }
}
