//! [`SlowFirstPoll`]: a task whose first poll stalls its worker, for the lost wake-up tests
//! (issue 10.1) in `brigade/src/pool/lost_wakeup_tests.rs` and `brigade/tests/lost_wakeup.rs`.
//! It uses std alone (no brigade type), so brigade's own unit tests can use it too.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A task whose first poll publishes its waker into `waker`, sets `started`, then blocks its
/// worker for `stall` (long enough for the stall monitor to flag it and start a spare) and
/// returns `Pending`; its second poll sends `()` on `done` and completes.
pub struct SlowFirstPoll {
    stall: Duration,
    waker: Arc<Mutex<Option<Waker>>>,
    started: Arc<AtomicBool>,
    polls: u32,
    done: mpsc::Sender<()>,
}

impl SlowFirstPoll {
    /// A task not yet polled; see the type's docs for what each argument receives.
    pub fn new(
        stall: Duration,
        waker: Arc<Mutex<Option<Waker>>>,
        started: Arc<AtomicBool>,
        done: mpsc::Sender<()>,
    ) -> SlowFirstPoll {
        SlowFirstPoll {
            stall,
            waker,
            started,
            polls: 0,
            done,
        }
    }
}

impl Future for SlowFirstPoll {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls += 1;
        if self.polls > 1 {
            let _ = self.done.send(());
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        self.started.store(true, Ordering::Release);
        std::thread::sleep(self.stall);
        Poll::Pending
    }
}
