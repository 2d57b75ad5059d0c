//! The trip to the blocking pool every file operation takes: `brigade::run`, which carries the
//! caller's ExecutionContext into the closure (O7), and a clear error instead of a panic when
//! the runtime shut down before the operation ran.

use std::io;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::task::{Context, Poll};

use crate::task::{Task, TaskError};

/// A function every file operation calls on the blocking thread, before its system call.
static HOOK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Installs a function each `brigade::fs` operation calls on the blocking thread just before
/// its system call (`None` removes it). For tests and tracing: it sees the caller's
/// ExecutionContext (its `AsyncLocal` values), which is how O7 is checked.
#[doc(hidden)]
pub fn set_operation_hook(hook: Option<fn()>) {
    let pointer = hook.map_or(std::ptr::null_mut(), |hook| hook as *mut ());
    HOOK.store(pointer, Ordering::Release);
}

/// Calls the operation hook, if one is installed: on the blocking thread, or just before a
/// file operation goes to the io_uring reactor (in the caller's context).
pub(super) fn call_hook() {
    let pointer = HOOK.load(Ordering::Acquire);
    if !pointer.is_null() {
        // SAFETY: only `set_operation_hook` stores a non-null pointer, and it stores an `fn()`.
        let hook: fn() = unsafe { std::mem::transmute::<*mut (), fn()>(pointer) };
        hook();
    }
}

/// Starts `operation` on the current runtime's blocking threads.
pub(super) fn start<R: Send + 'static>(operation: impl FnOnce() -> R + Send + 'static) -> Task<R> {
    crate::run(move || {
        call_hook();
        operation()
    })
}

/// Polls an operation started by [`start`]: panics travel on, a shut-down runtime is an error.
pub(super) fn poll_finished<R>(task: &mut Task<R>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
    match task.poll_result(cx) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(value)) => Poll::Ready(Ok(value)),
        Poll::Ready(Err(TaskError::Panicked(payload))) => resume_unwind(payload),
        Poll::Ready(Err(_)) => Poll::Ready(Err(io::Error::other(
            "brigade::fs: the runtime shut down before the file operation ran",
        ))),
    }
}

/// Runs `operation` on the blocking pool and awaits its result.
pub(super) async fn asyncify<R: Send + 'static>(
    operation: impl FnOnce() -> io::Result<R> + Send + 'static,
) -> io::Result<R> {
    let mut task = start(operation);
    std::future::poll_fn(|cx| poll_finished(&mut task, cx)).await?
}
