//! ExecutionContext and AsyncLocal: ambient state that flows with the logical operation
//! (seed section 4).
//!
//! In synchronous code, "ambient" state (a request id, the current user, a tracing span) lives
//! on the thread. Async code hops threads at every await, so .NET gives it a home that travels
//! instead: the `ExecutionContext`, which the runtime *captures* when work is queued and
//! *restores* around running it, then clears, so the thread is clean for the next item. The
//! seed's "capture and run" pattern, here:
//!
//! - **capture**: every spawn (`spawn`, `run`, `spawn_local`, and the timer and cancellation
//!   callbacks, which call [`ExecutionContext::capture`] and [`ExecutionContext::run`]) takes a
//!   snapshot of the spawner's context and stores it in the new task's cell;
//! - **run**: around every poll of a task the harness marks that task as the running one, so
//!   [`AsyncLocal`] reads and writes go to the task's own context; after the poll it is cleared.
//!
//! # Invariants
//! - A context is an immutable map behind one pointer; the empty context is a null pointer.
//!   Capturing copies the pointer (C4); setting a value builds a new map (copy-on-write), so a
//!   captured snapshot never changes (C2).
//! - A task only ever sees its own context: the one captured at its spawn plus its own writes
//!   (C1, C7). Code outside any task uses a context of its thread's own.
//! - While flow is suppressed ([`ExecutionContext::suppress_flow`]) a capture is empty (C5).
//! - Task-only locals ([`AsyncLocal::task_only`]) are never captured (C6).
//! - What it costs: a task that never touches an `AsyncLocal` pays one thread-local pointer
//!   swap before each poll and a write after it (shared with `SyncContext::current`), and per
//!   spawn a thread-local read and a null check. With a value set, a spawn adds one atomic
//!   increment (the map is shared, not copied). Reading a value is a binary search in a small
//!   sorted array, with no atomics.
//!
//! ```
//! use brigade::context::{AsyncLocal, ExecutionContext};
//! static REQUEST_ID: AsyncLocal<u64> = AsyncLocal::new();
//! # brigade::block_on(async {
//! REQUEST_ID.set(7);
//! // Flowed into the task: a snapshot taken at the spawn.
//! assert_eq!(brigade::spawn(async { REQUEST_ID.get() }).await, Some(7));
//! // Unless flow is suppressed.
//! let empty = {
//!     let _no_flow = ExecutionContext::suppress_flow();
//!     brigade::spawn(async { REQUEST_ID.get() })
//! };
//! assert_eq!(empty.await, None);
//! # });
//! ```

mod current;
mod local;
mod scope;
#[cfg(feature = "tracing")]
mod tracing_bridge;
mod values;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

pub use local::AsyncLocal;
pub use scope::ContextScope;
use values::{Flowing, Values};

/// Enters the span carried by the running task's context (the harness, around each poll).
#[cfg(feature = "tracing")]
pub(crate) fn enter_task_span() -> Option<tracing::span::EnteredSpan> {
    tracing_bridge::enter_current_span()
}

/// A snapshot of the ambient state of a logical operation: the values of every flowing
/// [`AsyncLocal`] at the moment it was captured.
///
/// Cheap to clone and compare (one pointer). It never changes: writes after the capture build
/// new maps and do not reach it.
///
/// ```
/// use brigade::context::{AsyncLocal, ExecutionContext};
///
/// static USER: AsyncLocal<&'static str> = AsyncLocal::new();
///
/// USER.set("ada");
/// let captured = ExecutionContext::capture();
/// USER.set("grace");
/// assert_eq!(captured.run(|| USER.get()), Some("ada"));
/// assert_eq!(USER.get(), Some("grace"));
/// ```
#[derive(Clone, Default)]
pub struct ExecutionContext {
    values: Option<Arc<Values>>,
}

impl ExecutionContext {
    /// The empty context (no values): a null pointer.
    pub(crate) const EMPTY: ExecutionContext = ExecutionContext { values: None };

    /// The empty context: what a thread starts with, and what spawned work gets while flow
    /// is suppressed.
    pub const fn empty() -> ExecutionContext {
        ExecutionContext::EMPTY
    }

    /// Captures the current context: the snapshot spawned work would get now.
    ///
    /// Task-only locals are left out; while an [`ExecutionContext::suppress_flow`] guard
    /// lives, the capture is empty. Capturing twice with no write in between gives the same
    /// context (see [`ExecutionContext::ptr_eq`]) and allocates nothing.
    pub fn capture() -> ExecutionContext {
        let context = current::with_values(|values| ExecutionContext {
            values: match values {
                None => None,
                Some(values) if values.flow_suppressed => None,
                Some(values) => match &values.flowing {
                    Flowing::Itself => Some(values.clone()),
                    Flowing::Nothing => None,
                    Flowing::Part(part) => Some(part.clone()),
                },
            },
        });
        #[cfg(feature = "tracing")]
        let context = tracing_bridge::with_current_span(context);
        context
    }

    /// The whole current context, task-only locals and the suppression flag included: what a
    /// scope inside the same task starts from.
    pub(crate) fn current_full() -> ExecutionContext {
        current::with_values(|values| ExecutionContext {
            values: values.cloned(),
        })
    }

    /// Runs `f` with this context as the current one, then puts the previous context back
    /// (also if `f` panics). Values `f` sets are dropped with its copy of the context: they
    /// do not leak out.
    ///
    /// This is how captured work is run: timer and cancellation callbacks run inside the
    /// context captured when they were registered.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _restore = Installed::install(self.clone());
        f()
    }

    /// Wraps `future` so that it runs inside this context: the context is made current
    /// around each of its polls (and its drop), and what it writes stays in the wrapper.
    pub fn scope<F: Future>(self, future: F) -> ContextScope<F> {
        ContextScope::new(self, future)
    }

    /// Stops the current context from flowing into work spawned from here until the guard
    /// is dropped: spawned tasks, `run` closures and callbacks start with the empty context
    /// (C5). The current code keeps its own values.
    ///
    /// The guard is not `Send`: it must be dropped in the same flow that made it, so it
    /// cannot be held across an `.await` in a task that moves between threads.
    ///
    /// # Panics
    /// If flow is already suppressed here: suppressions do not nest (drop the first guard).
    #[track_caller]
    pub fn suppress_flow() -> SuppressFlowGuard {
        let mut already = false;
        current::update(|values| {
            if values.is_some_and(|v| v.flow_suppressed) {
                already = true;
                return None;
            }
            let entries = values.map(|v| v.entries.clone()).unwrap_or_default();
            Some(Values::build(entries, true))
        });
        if already {
            panic!(
                "ExecutionContext::suppress_flow called while flow is already suppressed here; \
                 suppressions do not nest: drop the first SuppressFlowGuard before taking another"
            );
        }
        SuppressFlowGuard {
            _not_send: PhantomData,
        }
    }

    /// Whether an [`ExecutionContext::suppress_flow`] guard is active in the current flow.
    pub fn is_flow_suppressed() -> bool {
        current::with_values(|values| values.is_some_and(|v| v.flow_suppressed))
    }

    /// Whether the context holds no values.
    pub fn is_empty(&self) -> bool {
        self.values.as_ref().is_none_or(|v| v.entries.is_empty())
    }

    /// Whether `a` and `b` are the same snapshot (the same pointer, or both empty).
    pub fn ptr_eq(a: &ExecutionContext, b: &ExecutionContext) -> bool {
        match (&a.values, &b.values) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for ExecutionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values.as_ref().map_or(0, |v| v.entries.len());
        f.debug_struct("ExecutionContext")
            .field("values", &values)
            .finish()
    }
}

/// Restores the flow of the context when dropped; see [`ExecutionContext::suppress_flow`].
#[must_use = "flow is restored as soon as the guard is dropped"]
pub struct SuppressFlowGuard {
    _not_send: PhantomData<*const ()>,
}

impl Drop for SuppressFlowGuard {
    fn drop(&mut self) {
        current::update(|values| {
            let values = values.filter(|v| v.flow_suppressed)?;
            Some(Values::build(values.entries.clone(), false))
        });
    }
}

impl fmt::Debug for SuppressFlowGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SuppressFlowGuard")
    }
}

/// A context made current until this is dropped, when the previous one comes back (and the
/// installed one, with whatever was written to it, is handed back or dropped).
pub(crate) struct Installed {
    previous: Option<ExecutionContext>,
    #[cfg(feature = "tracing")]
    _span: Option<tracing::span::EnteredSpan>,
}

impl Installed {
    pub(crate) fn install(context: ExecutionContext) -> Installed {
        let previous = current::replace(context);
        Installed {
            previous: Some(previous),
            #[cfg(feature = "tracing")]
            _span: tracing_bridge::enter_current_span(),
        }
    }

    /// Puts the previous context back and returns the one that was installed, as the code
    /// that ran inside left it.
    pub(crate) fn uninstall(mut self) -> ExecutionContext {
        self.restore()
    }

    fn restore(&mut self) -> ExecutionContext {
        #[cfg(feature = "tracing")]
        drop(self._span.take());
        match self.previous.take() {
            Some(previous) => current::replace(previous),
            None => ExecutionContext::EMPTY,
        }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let inner = self.restore();
        drop(inner);
    }
}
