//! Which runtime is "current" on this thread: the answer `brigade::spawn` needs.
//!
//! A worker thread belongs to its pool. Any other thread can *enter* a runtime — `block_on`
//! does, and so do the threads running `brigade::run` closures — for as long as a guard lives.
//! Outside both, the process-wide default runtime is used (like .NET's static thread pool).

use std::cell::RefCell;
use std::sync::Arc;

use super::Handle;
use crate::pool::{self, Shared};

thread_local! {
    static ENTERED: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Restores the previously entered runtime when dropped.
pub(crate) struct EnterGuard {
    previous: Option<Handle>,
}

/// Makes `handle` this thread's current runtime until the guard drops.
pub(crate) fn enter(handle: Handle) -> EnterGuard {
    let previous = ENTERED.with(|entered| entered.borrow_mut().replace(handle));
    EnterGuard { previous }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // `try_with`: at thread exit the slot may already be gone; nothing to restore then.
        let _ = ENTERED.try_with(|entered| *entered.borrow_mut() = previous);
    }
}

/// Calls `f` with the current runtime's pool: this worker's, else the entered one, else `None`.
pub(crate) fn with_current_pool<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    pool::with_current_worker_pool(|worker_pool| match worker_pool {
        Some(shared) => f(Some(shared)),
        None => {
            match ENTERED.try_with(|entered| entered.borrow().as_ref().map(|h| h.shared.clone())) {
                Ok(Some(shared)) => f(Some(&shared)),
                _ => f(None),
            }
        }
    })
}
