//! Why a task produced no value: the Rust form of a faulted or canceled .NET `Task`
//! (seed section 3: "a state container that holds either the result or the reason it failed").

use std::any::Any;
use std::fmt;

/// The reason a task has no output to give.
///
/// ```
/// use brigade::TaskError;
/// # brigade::block_on(async {
/// let failed = brigade::spawn(async { panic!("no more soup") });
/// match failed.join().await {
///     Err(TaskError::Panicked(payload)) => {
///         assert_eq!(payload.downcast_ref::<&str>(), Some(&"no more soup"));
///     }
///     other => panic!("expected a panic, got {other:?}"),
/// }
/// # });
/// ```
pub enum TaskError {
    /// The task was cancelled through [`Task::cancel`](crate::Task::cancel) before it finished.
    Cancelled,
    /// The task panicked; the payload is the original one, as `catch_unwind` caught it.
    Panicked(Box<dyn Any + Send + 'static>),
    /// The runtime shut down before the task finished (or before it could start), so its
    /// future was dropped. Also: the task's home went away — its `MainLoop` was dropped, or
    /// its `SyncContext` dropped the wake-up instead of running it.
    RuntimeShutdown,
}

impl TaskError {
    /// Whether the task was cancelled (explicitly, or by runtime shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled | TaskError::RuntimeShutdown)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// The panic payload, to re-raise with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task did not panic.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self {
            TaskError::Panicked(payload) => payload,
            other => panic!("TaskError::into_panic called on `{other}`, which is not a panic"),
        }
    }
}

/// The message inside a panic payload, when it is a string (as `panic!` makes it).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("the task was cancelled"),
            TaskError::Panicked(payload) => {
                write!(f, "the task panicked: {}", panic_message(payload.as_ref()))
            }
            TaskError::RuntimeShutdown => {
                f.write_str("the task's runtime (or main loop) shut down before the task finished")
            }
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&panic_message(payload.as_ref()))
                .finish(),
            TaskError::RuntimeShutdown => f.write_str("RuntimeShutdown"),
        }
    }
}

impl std::error::Error for TaskError {}
