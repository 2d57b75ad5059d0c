//! Which pool is "current" on this thread: the answer `brigade::spawn` needs.
//!
//! A worker thread belongs to its pool. Any other thread can *enter* a pool — `block_on`
//! does, and so do `MainLoop::run` and the threads running `brigade::run` closures — for as
//! long as a guard lives. Outside both, the runtime layer falls back to the process-wide
//! default runtime (like .NET's static thread pool).
//!
//! This lives in the pool layer (the runtime's `Handle` is a thin wrapper around the pool), so
//! the blocking pool can enter its own pool without reaching up into the runtime.
//!
//! # Invariants
//! - A guard restores the previously entered pool when dropped, so entries nest.

use std::cell::RefCell;
use std::sync::Arc;

use super::Shared;

thread_local! {
    static ENTERED: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Restores the previously entered pool when dropped.
pub(crate) struct EnterGuard {
    previous: Option<Arc<Shared>>,
}

/// Makes `shared` this thread's current pool until the guard drops.
pub(crate) fn enter(shared: Arc<Shared>) -> EnterGuard {
    let previous = ENTERED.with(|entered| entered.borrow_mut().replace(shared));
    EnterGuard { previous }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // `try_with`: at thread exit the slot may already be gone; nothing to restore then.
        let _ = ENTERED.try_with(|entered| *entered.borrow_mut() = previous);
    }
}

/// Calls `f` with the current pool: this worker's, else the entered one, else `None`.
pub(crate) fn with_current_pool<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    super::with_current_worker_pool(|worker_pool| match worker_pool {
        Some(shared) => f(Some(shared)),
        None => match ENTERED.try_with(|entered| entered.borrow().clone()) {
            Ok(Some(shared)) => f(Some(&shared)),
            _ => f(None),
        },
    })
}
