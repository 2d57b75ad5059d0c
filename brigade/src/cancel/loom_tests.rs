//! Loom models of the registration list (K11): registering, unregistering and waiting racing
//! `cancel()`. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p brigade --lib --release loom`.
//!
//! Each model checks, in every interleaving loom can build, that no waiter is lost (a callback
//! or waker registered before or during `cancel()` runs exactly once) and that the K5 wait
//! holds (after `unregister` returns, the callback is neither running nor going to run).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};

use super::{CancellationToken, CancellationTokenSource, Registration};

#[test]
fn loom_register_racing_cancel_runs_the_callback_exactly_once() {
    loom::model(|| {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let runs = Arc::new(AtomicUsize::new(0));
        let registering = {
            let runs = runs.clone();
            loom::thread::spawn(move || {
                let observer = token.clone();
                // Whether it lands in the list or runs at once (K2), it runs once, and only
                // after cancellation was requested (K1).
                token
                    .register(move || {
                        assert!(observer.is_cancellation_requested(), "K1");
                        runs.fetch_add(1, SeqCst);
                    })
                    .detach();
            })
        };
        source.cancel();
        registering.join().unwrap();
        assert_eq!(runs.load(SeqCst), 1, "the callback was lost or ran twice");
    });
}

#[test]
fn loom_unregister_racing_cancel_prevents_the_callback_or_waits_for_it() {
    loom::model(|| {
        let source = Arc::new(CancellationTokenSource::new());
        let started = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let registration = {
            let (started, finished) = (started.clone(), finished.clone());
            source.token().register(move || {
                started.store(true, SeqCst);
                loom::thread::yield_now();
                finished.store(true, SeqCst);
            })
        };
        let cancelling = {
            let source = source.clone();
            loom::thread::spawn(move || source.cancel())
        };
        let was_pending = registration.unregister();
        // K5: once unregister returns, the callback is not running any more.
        let finished_at_return = finished.load(SeqCst);
        let started_at_return = started.load(SeqCst);
        cancelling.join().unwrap();
        if was_pending {
            assert!(!started.load(SeqCst), "an unregistered callback ran");
        } else {
            assert!(started_at_return, "unregister said it ran, but it had not");
            assert!(
                finished_at_return,
                "unregister returned while it was running"
            );
        }
    });
}

#[test]
fn loom_a_registration_dropped_in_its_own_callback_and_elsewhere_never_deadlocks() {
    loom::model(|| {
        let source = Arc::new(CancellationTokenSource::new());
        let slot: Arc<Mutex<Option<Registration>>> = Arc::new(Mutex::new(None));
        let runs = Arc::new(AtomicUsize::new(0));
        let registration = {
            let (slot, runs) = (slot.clone(), runs.clone());
            source.token().register(move || {
                runs.fetch_add(1, SeqCst);
                // Drop our own registration from inside the callback (same thread: no wait).
                let mine = slot.lock().unwrap().take();
                drop(mine);
            })
        };
        *slot.lock().unwrap() = Some(registration);
        let cancelling = {
            let source = source.clone();
            loom::thread::spawn(move || source.cancel())
        };
        // Meanwhile another thread drops it too (this one waits if the callback is running).
        let theirs = slot.lock().unwrap().take();
        drop(theirs);
        cancelling.join().unwrap();
        assert!(runs.load(SeqCst) <= 1);
    });
}

/// A waker that counts its wake-ups.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn loom_a_waiting_future_racing_cancel_is_always_woken() {
    loom::model(|| {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let counter = std::sync::Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let waiting = loom::thread::spawn(move || {
            let mut future = token.cancelled();
            let first = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
            (future, first.is_pending())
        });
        source.cancel();
        let (mut future, was_pending) = waiting.join().unwrap();
        if was_pending {
            assert_eq!(
                counter.0.load(SeqCst),
                1,
                "a registered waker was not woken"
            );
        }
        let noop = Waker::noop();
        assert_eq!(
            Pin::new(&mut future).poll(&mut Context::from_waker(noop)),
            Poll::Ready(())
        );
    });
}

#[test]
fn loom_a_linked_source_dropped_while_its_parent_cancels() {
    loom::model(|| {
        let parent = CancellationTokenSource::new();
        let child = CancellationTokenSource::linked(&[parent.token()]);
        let child_token: CancellationToken = child.token();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        child_token
            .register(move || {
                counter.fetch_add(1, SeqCst);
            })
            .detach();
        let dropping = loom::thread::spawn(move || drop(child));
        parent.cancel();
        dropping.join().unwrap();
        // Either the parent reached the child first (its callback ran once) or the child left
        // first (it was abandoned and its callback dropped unrun); never a half-way state.
        match runs.load(SeqCst) {
            1 => assert!(child_token.is_cancellation_requested()),
            0 => assert!(!child_token.can_be_cancelled()),
            n => panic!("the child's callback ran {n} times"),
        }
        assert_eq!(parent.registration_count(), 0);
    });
}
