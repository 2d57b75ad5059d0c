//! The cooperative budget: a task that keeps finding its channel ready still lets others run.
//!
//! A consumer whose channel always has a message would never return `Pending`, so it would keep
//! its worker forever and every other task queued there would starve. .NET's thread pool has
//! no such guard (a hot `await` on a completed task runs synchronously, too); tokio calls it
//! "coop". Each task poll starts with [`BUDGET`] units; every ready operation of a
//! `brigade::sync` primitive, socket operation or task join spends one; when none are left the next operation wakes its own
//! task and returns `Pending` once, which sends the task to the back of its worker's queue
//! (a wake during one's own poll is a yield, S9).
//!
//! # Invariants (Y9)
//! - The budget is a thread-local reset at the start of every task poll (`task/harness.rs`)
//!   and every `block_on` poll; a thread that never does either is unconstrained.
//! - Only a *ready* operation spends; an operation that waits anyway costs nothing.
//! - An operation refused for lack of budget has done nothing (no value taken, no permit
//!   acquired), so the refusal loses nothing.
//!
//! Socket reads, writes and accepts (`net/poll_evented.rs`) and `Task` joins
//! (`task/handle.rs`) spend from it too.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Ready operations per task poll before one is refused. tokio uses the same figure; not
/// configurable (a task that needs more should do more per operation, e.g. `try_recv` in a loop
/// is not budgeted).
pub(crate) const BUDGET: u32 = 128;

/// `u32::MAX`: not inside a task poll, unconstrained.
const UNCONSTRAINED: u32 = u32::MAX;

thread_local! {
    static REMAINING: Cell<u32> = const { Cell::new(UNCONSTRAINED) };
}

/// Gives the current thread a fresh budget: called before every task poll.
#[inline]
pub(crate) fn reset() {
    // `try_with`: a poll during thread teardown simply runs unconstrained.
    let _ = REMAINING.try_with(|remaining| remaining.set(BUDGET));
}

/// Whether the current task may do one more ready operation. When it may not, its waker is
/// woken (so it runs again after the others) and `Pending` comes back; the caller returns
/// `Pending` without touching its primitive.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<Spend> {
    let exhausted = REMAINING
        .try_with(|remaining| remaining.get() == 0)
        .unwrap_or(false);
    if exhausted {
        cx.waker().wake_by_ref();
        Poll::Pending
    } else {
        Poll::Ready(Spend(()))
    }
}

/// Permission from [`poll_proceed`]; [`made_progress`](Spend::made_progress) spends the unit
/// when the operation turns out ready (a wait costs nothing).
#[must_use]
pub(crate) struct Spend(());

impl Spend {
    #[inline]
    pub(crate) fn made_progress(self) {
        let _ = REMAINING.try_with(|remaining| {
            let left = remaining.get();
            if left != UNCONSTRAINED && left > 0 {
                remaining.set(left - 1);
            }
        });
    }
}

/// The units left in the current poll, for tests.
#[cfg(all(test, not(loom)))]
pub(crate) fn remaining() -> u32 {
    REMAINING.with(Cell::get)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn after_budget_ready_operations_the_next_is_refused_once_and_wakes_the_task() {
        std::thread::spawn(|| {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            assert!(
                poll_proceed(&mut cx).is_ready(),
                "unconstrained outside a task"
            );
            reset();
            for _ in 0..BUDGET {
                match poll_proceed(&mut cx) {
                    Poll::Ready(spend) => spend.made_progress(),
                    Poll::Pending => panic!("refused before the budget ran out"),
                }
            }
            assert_eq!(remaining(), 0);
            assert!(poll_proceed(&mut cx).is_pending());
            reset();
            assert!(poll_proceed(&mut cx).is_ready());
        })
        .join()
        .unwrap();
    }
}
