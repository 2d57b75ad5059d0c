//! The `tracing` bridge (cargo feature `tracing`): the current span rides the
//! [`ExecutionContext`], so spans follow spawned work without `.instrument()` at every spawn.
//!
//! A capture (every spawn, `run`, callback registration) records `tracing::Span::current()` in
//! the snapshot, under a private flowing local; installing a context (every poll of a task,
//! `ExecutionContext::run`, a context scope) enters the span it carries. A child task's events
//! and spans therefore nest under the span that was current where it was spawned.
//!
//! # Invariants
//! - A capture changes the snapshot only when the current span differs from the one it already
//!   carries, so capturing inside a task running in its own span allocates nothing.
//! - With no subscriber installed, spans are disabled and nothing is stored.

use std::sync::Arc;

use tracing::span::EnteredSpan;
use tracing::Span;

use super::values::{self, Values};
use super::{AsyncLocal, ExecutionContext};

static CURRENT_SPAN: AsyncLocal<Span> = AsyncLocal::new();

/// `context` with the caller's current span recorded in it.
pub(super) fn with_current_span(context: ExecutionContext) -> ExecutionContext {
    let span = Span::current();
    let carried = CURRENT_SPAN.get_in(&context);
    let unchanged = match (&carried, span.id()) {
        (Some(carried), Some(id)) => carried.id() == Some(id),
        (None, None) => true,
        (Some(_), None) | (None, Some(_)) => false,
    };
    if unchanged {
        return context;
    }
    let value = span.id().map(|_| Arc::new(span) as values::Value);
    let entries = values::with_entry(context.values.as_deref(), CURRENT_SPAN.key(), true, value);
    ExecutionContext {
        values: Values::build(entries, false),
    }
}

/// Enters the span carried by the current context, if any, until the guard drops.
pub(super) fn enter_current_span() -> Option<EnteredSpan> {
    CURRENT_SPAN.get().map(Span::entered)
}
