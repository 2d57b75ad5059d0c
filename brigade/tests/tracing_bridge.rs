//! The `tracing` bridge (cargo feature `tracing`): the current span rides the ExecutionContext
//! into spawned work (seed section 4 — the span is one more piece of ambient state). Run with
//! `cargo test -p brigade --features tracing --test tracing_bridge`.
#![cfg(feature = "tracing")]

use std::cell::RefCell;
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

/// The smallest subscriber that knows the current span: a per-thread stack of entered spans,
/// and each span's parent. Each event is recorded with its message and the path of spans it
/// happened in (outermost first), as a real subscriber would print it.
#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    /// id → (metadata, parent id)
    spans: Mutex<HashMap<u64, (&'static Metadata<'static>, Option<u64>)>>,
    events: Arc<Mutex<Vec<Recorded>>>,
}

/// An event's message and the names of the spans it happened in, outermost first.
type Recorded = (String, Vec<&'static str>);

thread_local! {
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let parent = if span.is_contextual() {
            ENTERED.with(|stack| stack.borrow().last().copied())
        } else {
            span.parent().map(Id::into_u64)
        };
        self.spans
            .lock()
            .unwrap()
            .insert(id, (span.metadata(), parent));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let spans = self.spans.lock().unwrap();
        let mut path = Vec::new();
        let mut at = ENTERED.with(|stack| stack.borrow().last().copied());
        while let Some(id) = at {
            path.insert(0, spans[&id].0.name());
            at = spans[&id].1;
        }
        self.events.lock().unwrap().push((message.0, path));
    }
    fn enter(&self, span: &Id) {
        ENTERED.with(|stack| stack.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        ENTERED.with(|stack| {
            let mut stack = stack.borrow_mut();
            if let Some(at) = stack.iter().rposition(|&id| id == span.into_u64()) {
                stack.remove(at);
            }
        });
    }
    fn current_span(&self) -> Current {
        let spans = self.spans.lock().unwrap();
        match ENTERED.with(|stack| stack.borrow().last().copied()) {
            Some(id) => Current::new(Id::from_u64(id), spans[&id].0),
            None => Current::none(),
        }
    }
}

#[test]
fn spans_follow_spawned_tasks_and_run_closures_without_instrument() {
    let recorder = Recorder::default();
    let events = recorder.events.clone();
    tracing::subscriber::set_global_default(recorder).expect("the only subscriber");
    watchdog("tracing bridge", Duration::from_secs(20), || {
        let rt = Runtime::builder().workers(2).build().expect("runtime");
        let request = tracing::info_span!("request");
        let entered = request.enter();
        let child = rt.spawn(async {
            tracing::info!("in the child");
            brigade::yield_now().await;
            let inner = tracing::info_span!("inner");
            let grandchild = {
                let _inner = inner.enter();
                brigade::spawn(async { tracing::info!("in the grandchild") })
            };
            grandchild.await;
            brigade::run(|| tracing::info!("in a run closure")).await;
            tracing::info!("after the awaits");
        });
        drop(entered);
        rt.block_on(child);
        rt.block_on(rt.spawn(async { tracing::info!("spawned outside any span") }));
    });
    let events = events.lock().unwrap().clone();
    let spans_of = |message: &str| {
        events
            .iter()
            .find(|(m, _)| m == message)
            .unwrap_or_else(|| panic!("no event {message:?} in {events:?}"))
            .1
            .clone()
    };
    assert_eq!(spans_of("in the child"), ["request"]);
    assert_eq!(spans_of("in the grandchild"), ["request", "inner"]);
    assert_eq!(spans_of("in a run closure"), ["request"]);
    assert_eq!(spans_of("after the awaits"), ["request"]);
    assert!(spans_of("spawned outside any span").is_empty());
}
