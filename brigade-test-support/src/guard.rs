//! Guards for tests: a watchdog that turns a hang into a failure, polling waits, drop flags,
//! and helpers for expected panics.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Runs `body` on its own thread and fails the test with `what` if it takes longer than
/// `limit` (a hang becomes a clear failure instead of a stuck test run). Panics in `body`
/// propagate with their original payload.
pub fn watchdog<T: Send + 'static>(
    what: &str,
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("watchdog-body".into())
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(body)));
        })
        .expect("start watchdog thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => resume_unwind(payload),
        Err(_) => panic!("watchdog: {what} did not finish within {limit:?} (hang?)"),
    }
}

/// Waits until `cond` holds, polling; panics with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sets its flag when dropped.
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Increments its counter when dropped.
pub struct DropCount(pub Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The message of a panic payload made by `panic!`.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_string()
    }
}

/// The current thread's name, or "" when unnamed.
pub fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_string()
}

/// Silences the default panic hook's output for expected panics — a message containing
/// `[expected]`, or a [`Boom`] payload — keeping every other panic visible. Installed once per
/// binary.
pub fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let expected = payload
                .downcast_ref::<&'static str>()
                .is_some_and(|s| s.contains("[expected]"))
                || payload
                    .downcast_ref::<String>()
                    .is_some_and(|s| s.contains("[expected]"))
                || payload.downcast_ref::<Boom>().is_some();
            if !expected {
                previous(info);
            }
        }));
    });
}

/// A non-string panic payload, to check that the *original* payload comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct Boom(pub u32);
