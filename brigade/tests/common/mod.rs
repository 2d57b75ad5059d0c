//! Helpers shared by the behaviour tests: watchdogs, drop guards, a no-op waker.
#![allow(dead_code)]

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Wake, Waker};
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

/// A waker that counts its wake-ups.
#[derive(Default)]
pub struct CountingWaker(pub AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    (counter, waker)
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

/// Silences the default panic hook's output for panics whose message contains `marker`
/// (expected panics), keeping every other panic visible. Installed once per binary.
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

/// A foreign event loop for the SyncContext tests: one named thread draining a channel of
/// `Runnable`s, counting every post. The thread ends when every clone of the context is gone.
pub struct ForeignLoop {
    sender: std::sync::Mutex<mpsc::Sender<brigade::sync_context::Runnable>>,
    pub posts: AtomicUsize,
    pub thread: std::thread::ThreadId,
}

impl brigade::sync_context::SyncContext for ForeignLoop {
    fn post(&self, task: brigade::sync_context::Runnable) {
        self.posts.fetch_add(1, Ordering::SeqCst);
        let _ = self.sender.lock().unwrap().send(task);
    }
}

/// Starts a [`ForeignLoop`] thread named `name`.
pub fn foreign_loop(name: &str) -> Arc<ForeignLoop> {
    let (sender, receiver) = mpsc::channel::<brigade::sync_context::Runnable>();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            for task in receiver {
                task.run();
            }
        })
        .expect("start the foreign loop thread");
    Arc::new(ForeignLoop {
        sender: std::sync::Mutex::new(sender),
        posts: AtomicUsize::new(0),
        thread: thread.thread().id(),
    })
}
