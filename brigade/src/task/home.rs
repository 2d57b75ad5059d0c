//! A task's home: the context its wake-ups are posted to (seed section 8).
//!
//! Every task is born with a *static* home, its scheduler `S` (the pool, a `MainLoop`, a
//! user's `SyncContext`, the blocking pool), fixed in the cell's type. A `Send` task can be
//! *moved* to another context at an await point — that is how `switch_to` and
//! `configure_await(false)` work — by storing the new context in the header's slot; while the
//! slot is empty (always, for a task that never switches) wake-ups take the static path,
//! which costs one pointer check.
//!
//! # Invariants
//! - Only the thread that owns the task's future (the runner, during a poll or a drop of the
//!   future) writes the slot.
//! - Besides the runner, only a thread holding the task's one pending queue entry reads it:
//!   the waker or canceller that just set NOTIFIED on an idle task, or the runner re-queueing
//!   after the poll. The task cannot be running then, and cannot run until that entry is
//!   queued, so reads and writes never overlap; the state word's acquire/release transitions
//!   order them.
//! - Once the entry is handed to a context, the task may run (and move again) at once on
//!   another thread, so the poster first takes its own `Arc` of the context it posts to.
//! - A task whose future is not `Send` (`spawn_local`) never moves: `movable` is false.

use std::sync::Arc;

use super::cell::RawTask;
use super::SyncContext;
use crate::loom::cell::UnsafeCell;

/// The header's home slot.
pub(crate) struct HomeSlot {
    /// The context the task was moved to, or `None` while it is at its static home.
    moved_to: UnsafeCell<Option<Arc<dyn SyncContext>>>,
    /// Whether the task may move at all (its future is `Send`).
    movable: bool,
}

/// A task's static home as seen from outside its cell type.
pub(crate) struct StaticHome {
    /// The static home as a `SyncContext` (`None` only for test schedulers).
    pub(crate) context: Option<Arc<dyn SyncContext>>,
    /// The thread pool `configure_await(false)` sends this task's work to.
    pub(crate) pool: Option<Arc<dyn SyncContext>>,
}

impl HomeSlot {
    pub(crate) fn new(movable: bool) -> HomeSlot {
        HomeSlot {
            moved_to: UnsafeCell::new(None),
            movable,
        }
    }

    /// The context the task was moved to, cloned for posting.
    ///
    /// # Safety
    /// The caller is the runner or holds the task's pending queue entry (module invariants).
    pub(crate) unsafe fn moved_to(&self) -> Option<Arc<dyn SyncContext>> {
        // SAFETY: per the caller's contract, no write can happen meanwhile.
        self.moved_to.with(|slot| unsafe { (*slot).clone() })
    }

    /// Replaces the moved-to context, returning the previous one.
    ///
    /// # Safety
    /// The caller is the runner.
    unsafe fn replace(&self, to: Option<Arc<dyn SyncContext>>) -> Option<Arc<dyn SyncContext>> {
        // SAFETY: the runner owns the slot (module invariants).
        self.moved_to
            .with_mut(|slot| unsafe { std::mem::replace(&mut *slot, to) })
    }
}

/// The home operations on the task running on this thread. Every method requires that the
/// task is the one this thread is running (found through `task::current::running`).
impl RawTask {
    /// Whether the task may move to another context.
    pub(crate) fn is_movable(&self) -> bool {
        self.header().home.movable
    }

    fn static_home(&self) -> StaticHome {
        // SAFETY: the cell is alive (the caller holds a reference through the running poll).
        unsafe { (self.header().vtable.static_home)(self.header_ptr()) }
    }

    /// Where the task's wake-ups go now.
    pub(crate) fn current_home(&self) -> Option<Arc<dyn SyncContext>> {
        // SAFETY: the caller is the runner.
        unsafe { self.header().home.moved_to() }.or_else(|| self.static_home().context)
    }

    /// The pool `configure_await(false)` moves this task to.
    pub(crate) fn pool_home(&self) -> Option<Arc<dyn SyncContext>> {
        self.static_home().pool
    }

    /// Moves the task's home to `to`, returning the previous moved-to slot (to restore it
    /// later with [`RawTask::restore_home`]). Moving to the static home empties the slot.
    pub(crate) fn move_home(&self, to: Arc<dyn SyncContext>) -> Option<Arc<dyn SyncContext>> {
        debug_assert!(self.is_movable(), "a task that cannot move was moved");
        let at_static_home = self
            .static_home()
            .context
            .is_some_and(|home| Arc::ptr_eq(&home, &to));
        let slot = if at_static_home { None } else { Some(to) };
        // SAFETY: the caller is the runner.
        unsafe { self.header().home.replace(slot) }
    }

    /// Puts back a slot returned by [`RawTask::move_home`].
    pub(crate) fn restore_home(&self, previous: Option<Arc<dyn SyncContext>>) {
        // SAFETY: the caller is the runner.
        let moved_from = unsafe { self.header().home.replace(previous) };
        drop(moved_from);
    }

    /// Empties the slot when the task finishes, so a finished task does not keep a context
    /// alive. The caller owns the future (it is dropping it).
    pub(crate) fn clear_home(&self) {
        // SAFETY: the caller owns the future, so it is the runner.
        let moved_to = unsafe { self.header().home.replace(None) };
        drop(moved_to);
    }
}
