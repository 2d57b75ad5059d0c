//! tokio-console's contract (cargo feature `console`): brigade emits the spans and events
//! console-subscriber reads, with the exact names, targets, field names and field types its
//! visitors match on (console-subscriber's `register_callsite` and `visitors.rs`):
//!
//! - span `runtime.spawn` (target `tokio::task`, no parent): `kind`, `task.name`, `task.id`,
//!   `loc.file` (str), `loc.line` / `loc.col` (u64); entered around each poll, closed when the
//!   task's future is dropped;
//! - event target `runtime::waker`: `op` (str: `waker.clone` / `waker.wake` /
//!   `waker.wake_by_ref` / `waker.drop`) and `task.id` (u64: the spawn span's id);
//! - span `runtime.resource` for timers: `concrete_type` and `kind` = `"timer"` (str),
//!   `is_internal` (bool), `loc.*`; with a `runtime::resource::state_update` event for its
//!   duration.
//!
//! Run with `cargo test -p brigade --features console --test console_spans`.
#![cfg(feature = "console")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brigade::Runtime;
use brigade_test_support::watchdog;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

/// A field value, keeping the type it was recorded with (the subscriber's visitors care).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Unsigned(u64),
    Signed(i64),
    Bool(bool),
    Debug(String),
}

#[derive(Default)]
struct Fields(HashMap<&'static str, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name(), Value::Debug(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), Value::Str(value.to_owned()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name(), Value::Unsigned(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name(), Value::Signed(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name(), Value::Bool(value));
    }
}

#[derive(Debug, Clone)]
struct SpanRecord {
    name: &'static str,
    target: &'static str,
    contextual_parent: bool,
    fields: HashMap<&'static str, Value>,
    enters: u64,
    exits: u64,
    closed: bool,
}

#[derive(Debug, Clone)]
struct EventRecord {
    target: &'static str,
    fields: HashMap<&'static str, Value>,
}

#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    spans: Mutex<HashMap<u64, SpanRecord>>,
    events: Mutex<Vec<EventRecord>>,
}

/// The subscriber installed globally; the test keeps another handle to read what it saw.
struct Shared(Arc<Recorder>);

impl std::ops::Deref for Shared {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.0
    }
}

impl Subscriber for Shared {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = Fields::default();
        span.record(&mut fields);
        self.spans.lock().unwrap().insert(
            id,
            SpanRecord {
                name: span.metadata().name(),
                target: span.metadata().target(),
                contextual_parent: span.is_contextual(),
                fields: fields.0,
                enters: 0,
                exits: 0,
                closed: false,
            },
        );
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.events.lock().unwrap().push(EventRecord {
            target: event.metadata().target(),
            fields: fields.0,
        });
    }
    fn enter(&self, span: &Id) {
        if let Some(s) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            s.enters += 1;
        }
    }
    fn exit(&self, span: &Id) {
        if let Some(s) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            s.exits += 1;
        }
    }
    fn try_close(&self, span: Id) -> bool {
        if let Some(s) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            s.closed = true;
        }
        true
    }
    fn current_span(&self) -> Current {
        Current::none()
    }
}

fn str_of(fields: &HashMap<&'static str, Value>, name: &str) -> String {
    match fields.get(name) {
        Some(Value::Str(s)) => s.clone(),
        other => panic!("field {name} should be recorded as a str, got {other:?}"),
    }
}

fn u64_of(fields: &HashMap<&'static str, Value>, name: &str) -> u64 {
    match fields.get(name) {
        Some(Value::Unsigned(v)) => *v,
        other => panic!("field {name} should be recorded as a u64, got {other:?}"),
    }
}

#[test]
fn tasks_polls_wakers_and_timers_are_emitted_the_way_console_subscriber_reads_them() {
    let recorder = Arc::new(Recorder::default());
    tracing::subscriber::set_global_default(Shared(recorder.clone())).unwrap();
    watchdog("console spans", Duration::from_secs(30), move || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let task = rt.handle().spawn_named("console-visible", async {
            brigade::time::sleep(Duration::from_millis(30)).await;
            7
        });
        let task_id = task.id().as_u64();
        assert_eq!(rt.block_on(task), 7);
        drop(rt);

        let spans = recorder.spans.lock().unwrap().clone();
        let (&span_id, spawn) = spans
            .iter()
            .find(|(_, s)| {
                s.name == "runtime.spawn"
                    && s.fields.get("task.name") == Some(&Value::Str("console-visible".into()))
            })
            .unwrap_or_else(|| panic!("no runtime.spawn span for the task: {spans:#?}"));
        assert_eq!(spawn.target, "tokio::task");
        assert!(
            !spawn.contextual_parent,
            "spawn spans are roots (parent: None)"
        );
        assert_eq!(str_of(&spawn.fields, "kind"), "task");
        assert_eq!(u64_of(&spawn.fields, "task.id"), task_id);
        assert!(str_of(&spawn.fields, "loc.file").ends_with("console_spans.rs"));
        assert!(u64_of(&spawn.fields, "loc.line") > 0);
        assert!(u64_of(&spawn.fields, "loc.col") > 0);
        // Polled at least twice (pending on the sleep, then ready), entered and exited alike.
        assert!(spawn.enters >= 2, "{spawn:?}");
        assert_eq!(spawn.enters, spawn.exits, "{spawn:?}");
        assert!(
            spawn.closed,
            "the span closes when the task's future is dropped"
        );

        let events = recorder.events.lock().unwrap().clone();
        let ops: Vec<String> = events
            .iter()
            .filter(|e| e.target == "runtime::waker")
            .filter(|e| e.fields.get("task.id") == Some(&Value::Unsigned(span_id)))
            .map(|e| str_of(&e.fields, "op"))
            .collect();
        assert!(
            ops.iter()
                .any(|op| op == "waker.wake" || op == "waker.wake_by_ref"),
            "the timer woke the task: {ops:?}"
        );
        assert!(ops.iter().any(|op| op == "waker.clone"), "{ops:?}");
        for op in &ops {
            assert!(
                [
                    "waker.clone",
                    "waker.wake",
                    "waker.wake_by_ref",
                    "waker.drop"
                ]
                .contains(&op.as_str()),
                "{op}"
            );
        }

        let timer = spans
            .values()
            .find(|s| {
                s.name == "runtime.resource"
                    && s.fields.get("loc.file").is_some_and(
                        |f| matches!(f, Value::Str(f) if f.ends_with("console_spans.rs")),
                    )
            })
            .unwrap_or_else(|| panic!("no timer resource span: {spans:#?}"));
        assert_eq!(str_of(&timer.fields, "concrete_type"), "Sleep");
        assert_eq!(str_of(&timer.fields, "kind"), "timer");
        assert_eq!(timer.fields.get("is_internal"), Some(&Value::Bool(false)));
        assert!(u64_of(&timer.fields, "loc.line") > 0);
        let update = events
            .iter()
            .find(|e| e.target == "runtime::resource::state_update")
            .expect("the timer's duration as a state update");
        assert_eq!(u64_of(&update.fields, "duration"), 30);
        assert_eq!(str_of(&update.fields, "duration.unit"), "ms");
        assert_eq!(str_of(&update.fields, "duration.op"), "override");
    });
}
