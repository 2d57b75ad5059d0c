//! `ContextScope`: a future that runs inside a context of its own — what
//! [`ExecutionContext::scope`] and [`AsyncLocal::scope`](super::AsyncLocal::scope) return.
//!
//! It does for one future what the harness does for a task: make its context current around
//! each poll, keep what the future writes, and put the outer context back afterwards. So the
//! outer code never sees the scope's values, before, between polls, or after (C3) — the way a
//! .NET async method's `AsyncLocal` writes never flow back to its caller.
//!
//! # Invariants
//! - Outside a poll (or the drop of the inner future), the outer context is current.
//! - The inner future is dropped in place, inside its context, and never moved once pinned.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::values::{self, Value, Values};
use super::{ExecutionContext, Installed};

/// A future running inside its own [`ExecutionContext`]; see [`ExecutionContext::scope`] and
/// [`AsyncLocal::scope`](super::AsyncLocal::scope).
#[must_use = "futures do nothing unless awaited"]
pub struct ContextScope<F> {
    context: ScopeContext,
    future: ManuallyDrop<F>,
}

enum ScopeContext {
    /// The context to install.
    Ready(ExecutionContext),
    /// One value to set on top of whatever context the first poll finds current.
    OnFirstPoll { key: u64, flows: bool, value: Value },
}

impl<F> ContextScope<F> {
    pub(crate) fn new(context: ExecutionContext, future: F) -> ContextScope<F> {
        ContextScope {
            context: ScopeContext::Ready(context),
            future: ManuallyDrop::new(future),
        }
    }

    pub(crate) fn with_value(key: u64, flows: bool, value: Value, future: F) -> ContextScope<F> {
        ContextScope {
            context: ScopeContext::OnFirstPoll { key, flows, value },
            future: ManuallyDrop::new(future),
        }
    }
}

impl ScopeContext {
    /// Installs the scope's context (building it on first use) until the guard drops.
    fn install(&mut self) -> Installed {
        let context = match std::mem::replace(self, ScopeContext::Ready(ExecutionContext::EMPTY)) {
            ScopeContext::Ready(context) => context,
            ScopeContext::OnFirstPoll { key, flows, value } => {
                let outer = ExecutionContext::current_full();
                let outer = outer.values.as_deref();
                let suppressed = outer.is_some_and(|v| v.flow_suppressed);
                let entries = values::with_entry(outer, key, flows, Some(value));
                ExecutionContext {
                    values: Values::build(entries, suppressed),
                }
            }
        };
        Installed::install(context)
    }
}

impl<F: Future> Future for ContextScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out (it is dropped in
        // place in `Drop`), and `context` is never pinned, so handing out `&mut` to it is fine.
        let this = unsafe { self.get_unchecked_mut() };
        let installed = this.context.install();
        // SAFETY: see above; `this.future` stays where it is for as long as `self` lives.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        let polled = future.poll(cx);
        // If the poll panicked, `installed` is dropped during unwinding: the outer context
        // still comes back, and the scope's is lost with the future.
        this.context = ScopeContext::Ready(installed.uninstall());
        polled
    }
}

impl<F> Drop for ContextScope<F> {
    fn drop(&mut self) {
        // The future's destructors (its locals going out of scope) still see its values.
        let _installed = self.context.install();
        // SAFETY: dropped exactly once, here, in place (pinning allows dropping in place).
        unsafe { ManuallyDrop::drop(&mut self.future) };
    }
}

impl<F> fmt::Debug for ContextScope<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextScope").finish_non_exhaustive()
    }
}
