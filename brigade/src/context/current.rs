//! The current flow's context slot: the running task's, or else this thread's own.
//!
//! Inside a poll the slot is the task's (in its cell header, found through the running-task
//! pointer the harness sets), so a value set there stays with the task across awaits and
//! thread hops (C1) and no other task ever sees it (C7). Outside any task — `main`, a
//! `block_on` caller, a plain thread — the slot is a thread-local.
//!
//! # Invariants
//! - No user code runs while a slot is borrowed mutably: a replaced context is handed back to
//!   the caller and dropped after the borrow ends, because dropping it can run values'
//!   destructors, which may read `AsyncLocal`s again.
//! - A write while the slot is borrowed for reading (`AsyncLocal::with`'s closure) panics with
//!   an explanation instead of invalidating the reader's reference.

use std::cell::RefCell;
use std::sync::Arc;

use super::values::Values;
use super::ExecutionContext;
use crate::task;

#[cfg(not(loom))]
std::thread_local! {
    static THREAD_CONTEXT: RefCell<ExecutionContext> = const { RefCell::new(ExecutionContext::EMPTY) };
}

#[cfg(loom)]
loom::thread_local! {
    static THREAD_CONTEXT: RefCell<ExecutionContext> = RefCell::new(ExecutionContext::EMPTY);
}

/// Calls `f` with the current slot; `None` only during thread exit, when this thread's slot
/// is already gone.
fn with_slot<R>(f: impl FnOnce(&RefCell<ExecutionContext>) -> R) -> Option<R> {
    match task::running() {
        Some(task) => Some(f(&task.header().context)),
        None => THREAD_CONTEXT.try_with(f).ok(),
    }
}

/// Reads the current context's map (`None`: empty). `f` may run user code (a value's
/// `Clone`); the slot stays borrowed for reading meanwhile.
pub(crate) fn with_values<R>(f: impl FnOnce(Option<&Arc<Values>>) -> R) -> R {
    let mut f = Some(f);
    let read = with_slot(|slot| {
        let context = slot.borrow();
        (f.take().expect("called once"))(context.values.as_ref())
    });
    match read {
        Some(result) => result,
        None => (f.take().expect("not called yet"))(None),
    }
}

/// Replaces the current context and returns the previous one, which the caller must drop
/// (outside any borrow of the slot).
pub(crate) fn replace(context: ExecutionContext) -> ExecutionContext {
    let mut context = Some(context);
    let previous = with_slot(|slot| {
        let new = context.take().expect("called once");
        std::mem::replace(&mut *borrow_mut(slot), new)
    });
    // During thread exit there is no slot: the new context is simply dropped.
    previous.unwrap_or_default()
}

/// Builds the next context from the current map; `None` from `next` leaves it unchanged.
/// `next` must not run user code (it runs with the slot borrowed for writing).
pub(crate) fn update(next: impl FnOnce(Option<&Values>) -> Option<Option<Arc<Values>>>) {
    let previous = with_slot(|slot| {
        let mut context = borrow_mut(slot);
        let values = next(context.values.as_deref())?;
        Some(std::mem::replace(&mut context.values, values))
    });
    // Dropped here, after the borrow: the old map's values may have destructors.
    drop(previous);
}

#[track_caller]
fn borrow_mut(slot: &RefCell<ExecutionContext>) -> std::cell::RefMut<'_, ExecutionContext> {
    slot.try_borrow_mut().unwrap_or_else(|_| {
        panic!(
            "the current ExecutionContext was changed (AsyncLocal::set or clear, \
             ExecutionContext::run or suppress_flow, or polling a context scope) inside an \
             AsyncLocal::with closure, which is still reading it. Read what you need inside \
             the closure and make the change after it returns."
        )
    })
}
