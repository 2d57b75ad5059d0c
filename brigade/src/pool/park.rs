//! Parking a worker that has nothing to do, and waking it: the "wait if empty, signal when
//! added" half of the seed's `BlockingCollection` (section 2), one per worker.
//!
//! # Invariants
//! - An `unpark` is never lost: if it comes before `park`, the next `park` returns at once.
//! - `park` may return spuriously; callers re-check their condition in a loop.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

struct Inner {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

/// The waiting side; owned by one worker.
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

/// The waking side; anyone may hold one.
#[derive(Clone)]
pub(crate) struct Unparker {
    inner: Arc<Inner>,
}

/// A connected parker / unparker pair.
pub(crate) fn pair() -> (Parker, Unparker) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(EMPTY),
        lock: Mutex::new(()),
        condvar: Condvar::new(),
    });
    (
        Parker {
            inner: inner.clone(),
        },
        Unparker { inner },
    )
}

impl Parker {
    /// Blocks until `unpark` is called (or returns at once if it already was since the last park).
    pub(crate) fn park(&self) {
        self.park_inner(None);
    }

    /// Like [`park`](Self::park), but gives up after `timeout` (the timer driver's next
    /// deadline). A notification that races the timeout is kept for the next park.
    pub(crate) fn park_timeout(&self, timeout: Duration) {
        self.park_inner(Some(timeout));
    }

    fn park_inner(&self, timeout: Option<Duration>) {
        let inner = &*self.inner;
        // Fast path: a notification is already waiting. SeqCst keeps the parking protocol in
        // one total order with the idle counters and queue lengths the caller checked.
        if inner
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = inner.lock.lock().unwrap_or_else(|e| e.into_inner());
        match inner.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // Notified between the fast path and taking the lock.
                inner.state.store(EMPTY, SeqCst);
                return;
            }
            Err(actual) => unreachable!("parker in state {actual} while its owner parks"),
        }
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        loop {
            guard = match deadline {
                None => inner.condvar.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    inner
                        .condvar
                        .wait_timeout(guard, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            // Spurious condvar wake-ups are filtered here.
            if inner
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                // Timed out. Back to EMPTY unless an unpark slipped in (then consume it: the
                // caller re-checks its conditions either way).
                inner.state.store(EMPTY, SeqCst);
                return;
            }
        }
    }
}

impl Unparker {
    /// Wakes the parked worker, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        let inner = &*self.inner;
        match inner.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED => {
                // Taking the lock orders this notify after the parker's wait began: the parker
                // moved to PARKED under the lock, and releases it only inside `wait`.
                drop(inner.lock.lock().unwrap_or_else(|e| e.into_inner()));
                inner.condvar.notify_one();
            }
            actual => unreachable!("parker in unknown state {actual}"),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    #[test]
    fn an_unpark_is_never_lost() {
        loom::model(|| {
            let (parker, unparker) = pair();
            let thread = loom::thread::spawn(move || unparker.unpark());
            parker.park();
            thread.join().unwrap();
        });
    }
}
