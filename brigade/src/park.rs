//! Parking a worker that has nothing to do, and waking it: the "wait if empty, signal when
//! added" half of the seed's `BlockingCollection` (section 2), one per worker.
//!
//! A worker parks one of two ways: on its condvar, or — when it holds the driving role — inside
//! the I/O driver's `epoll_wait`, where an unpark reaches it through the driver's eventfd.
//!
//! # Invariants
//! - An `unpark` is never lost: if it comes before `park`, the next `park` returns at once.
//! - `park` may return spuriously; callers re-check their condition in a loop.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Arc, Condvar, Mutex};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;
/// Parked inside the driver (`epoll_wait`); woken through [`DriverWaker`].
const PARKED_DRIVER: usize = 3;

/// How to interrupt a thread blocked in the driver (the I/O driver's eventfd).
pub(crate) trait DriverWaker: Send + Sync {
    fn wake_driver(&self);
}

struct Inner {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
    driver: Option<std::sync::Arc<dyn DriverWaker>>,
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

/// A connected parker / unparker pair; `driver` is how to wake it while it parks in the driver.
pub(crate) fn pair(driver: Option<std::sync::Arc<dyn DriverWaker>>) -> (Parker, Unparker) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(EMPTY),
        lock: Mutex::new(()),
        condvar: Condvar::new(),
        driver,
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
        self.park_on_condvar();
    }

    /// Parks by running `wait_in_driver` (which blocks in `epoll_wait`): an unpark meanwhile
    /// wakes the driver instead of the condvar. Returns at once if already notified.
    pub(crate) fn park_on_driver(&self, wait_in_driver: impl FnOnce()) {
        let inner = &*self.inner;
        debug_assert!(
            inner.driver.is_some(),
            "parking in a driver that cannot be woken"
        );
        match inner
            .state
            .compare_exchange(EMPTY, PARKED_DRIVER, SeqCst, SeqCst)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                inner.state.store(EMPTY, SeqCst);
                return;
            }
            Err(actual) => unreachable!("parker in state {actual} while its owner parks"),
        }
        wait_in_driver();
        // Back to EMPTY, consuming a notification that arrived meanwhile: the caller re-checks
        // its conditions either way.
        inner.state.swap(EMPTY, SeqCst);
    }

    fn park_on_condvar(&self) {
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
        loop {
            guard = inner.condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
            // Spurious condvar wake-ups are filtered here.
            if inner
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
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
            PARKED_DRIVER => {
                if let Some(driver) = &inner.driver {
                    driver.wake_driver();
                }
            }
            actual => unreachable!("parker in unknown state {actual}"),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// A stand-in for the I/O driver's eventfd: a flag and a condvar, under loom.
    struct FakeDriver {
        woken: Mutex<bool>,
        condvar: Condvar,
    }

    impl DriverWaker for FakeDriver {
        fn wake_driver(&self) {
            *self.woken.lock().unwrap() = true;
            self.condvar.notify_one();
        }
    }

    impl FakeDriver {
        /// `epoll_wait` without a timeout: returns once woken (and consumes the wake-up).
        fn wait(&self) {
            let mut woken = self.woken.lock().unwrap();
            while !*woken {
                woken = self.condvar.wait(woken).unwrap();
            }
            *woken = false;
        }
    }

    #[test]
    fn an_unpark_reaches_a_worker_parked_in_the_driver() {
        loom::model(|| {
            let driver = std::sync::Arc::new(FakeDriver {
                woken: Mutex::new(false),
                condvar: Condvar::new(),
            });
            let waker: std::sync::Arc<dyn DriverWaker> = driver.clone();
            let (parker, unparker) = pair(Some(waker));
            let thread = loom::thread::spawn(move || unparker.unpark());
            // Either the unpark lands first (park returns at once) or it finds the parker in
            // the driver and wakes the driver: never a parker blocked for good.
            parker.park_on_driver(|| driver.wait());
            thread.join().unwrap();
        });
    }

    #[test]
    fn an_unpark_is_never_lost() {
        loom::model(|| {
            let (parker, unparker) = pair(None);
            let thread = loom::thread::spawn(move || unparker.unpark());
            parker.park();
            thread.join().unwrap();
        });
    }
}
