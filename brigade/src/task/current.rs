//! Which task this thread is polling right now: the one pointer the harness swaps in around
//! every poll (and around dropping a future), and clears after.
//!
//! Everything that needs "the current task" reads it here: `AsyncLocal` finds the task's
//! [`ExecutionContext`](crate::context::ExecutionContext) through it, `SyncContext::current`
//! the task's home, `configure_await` and `switch_to` the task whose home they move. Setting
//! it is the whole per-poll cost of those features: one thread-local read-and-write before the
//! poll and one write after, no atomics, no reference counting.
//!
//! # Invariants
//! - The pointer is set only by the thread that owns the task's future (it set RUNNING, or
//!   claimed the task for cancellation or shutdown) and holds a reference to the cell, and
//!   only for as long as that lasts; so whoever reads it on this thread may use the header,
//!   and the header's runner-owned fields (`context`, `home`), without further checks.
//! - Polls nest (a task polled inline inside another's poll): each restores what it found.

use std::cell::Cell;
use std::ptr::NonNull;

use super::cell::{Header, RawTask};

#[cfg(not(loom))]
std::thread_local! {
    static RUNNING: Cell<Option<NonNull<Header>>> = const { Cell::new(None) };
}

// Loom runs its model threads on one OS thread: each needs a slot of its own.
#[cfg(loom)]
loom::thread_local! {
    static RUNNING: Cell<Option<NonNull<Header>>> = Cell::new(None);
}

/// Restores the previously running task (usually none) when dropped.
pub(crate) struct RunningGuard {
    previous: Option<NonNull<Header>>,
}

/// Marks the task at `ptr` as the one running on this thread until the guard drops.
///
/// The caller must own the task's future and hold a reference for the guard's lifetime (see
/// the module invariants).
#[inline]
pub(crate) fn enter(ptr: NonNull<Header>) -> RunningGuard {
    RunningGuard {
        previous: RUNNING.with(|running| running.replace(Some(ptr))),
    }
}

impl Drop for RunningGuard {
    #[inline]
    fn drop(&mut self) {
        // `try_with`: a future dropped during thread exit may outlive the slot.
        let _ = RUNNING.try_with(|running| running.set(self.previous));
    }
}

/// The task being polled on this thread, if any.
pub(crate) fn running() -> Option<RawTask> {
    RUNNING
        .try_with(Cell::get)
        .ok()
        .flatten()
        .map(RawTask::from_header)
}
