//! (feature `console`) The tracing spans and events tokio-console's `console-subscriber`
//! reads, so that a user's `console_subscriber::init()` and the `tokio-console` program show
//! brigade's tasks: a `runtime.spawn` span per task (its kind, name, id and spawn location),
//! entered around every poll and closed when the future is dropped, and a `runtime::waker`
//! event per waker clone, wake and drop, naming the task's span.
//!
//! The names and fields are console-subscriber's contract (its `register_callsite` matches the
//! span name `runtime.spawn` and the event target `runtime::waker`; its visitors read
//! `loc.file` / `loc.line` / `loc.col`, `op` as a string and `task.id` as the span's id). The
//! targets start with `tokio` / `runtime` because `console_subscriber::init()` filters on
//! `tokio=trace,runtime=trace`.
//!
//! # Invariants
//! - The span lives in the future's wrapper, so it closes when the task's future is dropped
//!   (completion, cancellation, shutdown), not when the last handle goes.
//! - The header keeps only the span's id (0 when no subscriber wanted the span), for the waker
//!   events; an event naming a closed span is ignored by the subscriber.
//! - Without a subscriber interested in these callsites, a span is `Span::none()` and an
//!   event is one callsite-interest check: nothing is allocated.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::cell::Header;
use super::TaskId;

pin_project_lite::pin_project! {
    /// A task's future with its `runtime.spawn` span entered around every poll.
    pub(crate) struct Instrumented<F> {
        span: tracing::Span,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        this.future.poll(cx)
    }
}

/// Wraps `future` in its task's `runtime.spawn` span; returns it and the span's id (0: none).
pub(crate) fn instrument<F>(
    future: F,
    id: TaskId,
    name: Option<&str>,
    location: &'static Location<'static>,
    kind: &'static str,
) -> (Instrumented<F>, u64) {
    let span = tracing::trace_span!(
        target: "tokio::task",
        parent: None,
        "runtime.spawn",
        kind = kind,
        task.name = name.unwrap_or(""),
        task.id = id.as_u64(),
        loc.file = location.file(),
        loc.line = location.line(),
        loc.col = location.column(),
    );
    let span_id = span.id().map_or(0, |id| id.into_u64());
    (Instrumented { span, future }, span_id)
}

/// One waker operation on the task at `header`: `waker.clone`, `waker.wake`,
/// `waker.wake_by_ref` or `waker.drop`.
#[inline]
pub(crate) fn waker_op(header: &Header, op: &'static str) {
    let span_id = header.console_span_id;
    if span_id != 0 {
        tracing::trace!(target: "runtime::waker", op = op, task.id = span_id);
    }
}

/// The `runtime.resource` span of a timer (console's "resources" view), made where the sleep
/// was created, with its duration as a state attribute.
pub(crate) fn timer_span(
    location: &'static Location<'static>,
    duration_ms: Option<u64>,
) -> tracing::Span {
    let span = tracing::trace_span!(
        target: "tokio::time::sleep",
        parent: None,
        "runtime.resource",
        concrete_type = "Sleep",
        kind = "timer",
        is_internal = false,
        inherits_child_attrs = false,
        loc.file = location.file(),
        loc.line = location.line(),
        loc.col = location.column(),
    );
    if let Some(ms) = duration_ms {
        span.in_scope(|| {
            tracing::trace!(
                target: "runtime::resource::state_update",
                duration = ms,
                duration.unit = "ms",
                duration.op = "override",
            );
        });
    }
    span
}
