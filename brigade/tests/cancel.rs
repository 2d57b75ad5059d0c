//! Behaviour tests for cooperative cancellation: promises K1-K10 of docs/SEMANTICS.md (K11 is the
//! loom models in src/cancel/loom_tests.rs, plus a stress test here).
//!
//! This binary has its own counting global allocator (K10, K6): only allocations made on a
//! thread that has switched counting on are counted, so tests running in parallel do not
//! disturb each other's figures.

use std::collections::HashSet;
use std::future::Future;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use brigade::cancel::{CancellationToken, CancellationTokenSource, Cancelled, Registration};
use brigade::future::AggregatePanic;
use brigade::prelude::*;
use brigade_test_support::*;

const LIMIT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------ counting allocator

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

// ------------------------------------------------------------ helpers

/// A shared log of which callbacks ran.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<usize>>>);

impl Log {
    fn push(&self, n: usize) {
        self.0.lock().unwrap().push(n);
    }
    fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

// ------------------------------------------------------------ K1

#[test]
fn k1_is_cancellation_requested_is_already_true_when_the_first_callback_runs() {
    let source = Arc::new(CancellationTokenSource::new());
    let token = source.token();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let registrations: Vec<Registration> = (0..3)
        .map(|_| {
            let (token, seen) = (token.clone(), seen.clone());
            token.clone().register(move || {
                seen.lock().unwrap().push((
                    token.is_cancellation_requested(),
                    token.error_if_cancelled().is_err(),
                ));
            })
        })
        .collect();
    assert!(!token.is_cancellation_requested());
    source.cancel();
    assert_eq!(*seen.lock().unwrap(), vec![(true, true); 3]);
    drop(registrations);
}

// ------------------------------------------------------------ K2

#[test]
fn k2_register_on_a_cancelled_token_runs_the_callback_before_register_returns() {
    let source = CancellationTokenSource::new();
    source.cancel();
    let ran_on = Arc::new(Mutex::new(None));
    let slot = ran_on.clone();
    let registration = source
        .token()
        .register(move || *slot.lock().unwrap() = Some(std::thread::current().id()));
    assert_eq!(
        *ran_on.lock().unwrap(),
        Some(std::thread::current().id()),
        "the callback did not run inside register, on the registering thread"
    );
    assert!(
        !registration.unregister(),
        "a callback that already ran cannot be unregistered"
    );
}

#[test]
fn k2_a_panic_in_a_callback_run_by_register_reaches_the_registering_caller() {
    quiet_expected_panics();
    let source = CancellationTokenSource::new();
    source.cancel();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        source.token().register(|| panic_any(Boom(7))).detach();
    }))
    .expect_err("the panic was swallowed");
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
}

#[test]
fn k2_registering_from_inside_a_callback_runs_the_new_callback_at_once() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    let log = Log::default();
    let (inner_log, inner_token) = (log.clone(), token.clone());
    let _outer = token.register(move || {
        inner_log.push(1);
        let again = inner_log.clone();
        inner_token.register(move || again.push(2)).detach();
        inner_log.push(3);
    });
    source.cancel();
    assert_eq!(log.take(), vec![1, 2, 3]);
}

// ------------------------------------------------------------ K3

#[test]
fn k3_callbacks_run_on_the_cancelling_thread_most_recently_registered_first() {
    watchdog("k3 lifo", LIMIT, || {
        let source = Arc::new(CancellationTokenSource::new());
        let log = Log::default();
        let threads = Arc::new(Mutex::new(HashSet::new()));
        let registrations: Vec<Registration> = (0..10)
            .map(|n| {
                let (log, threads) = (log.clone(), threads.clone());
                source.token().register(move || {
                    log.push(n);
                    threads.lock().unwrap().insert(std::thread::current().id());
                })
            })
            .collect();
        let canceller = {
            let source = source.clone();
            std::thread::spawn(move || {
                source.cancel();
                std::thread::current().id()
            })
        };
        let cancelled_on = canceller.join().expect("cancel panicked");
        assert_eq!(log.take(), (0..10).rev().collect::<Vec<_>>());
        let threads = threads.lock().unwrap();
        assert_eq!(
            threads.iter().collect::<Vec<_>>(),
            vec![&cancelled_on],
            "callbacks ran off the cancelling thread"
        );
        drop(registrations);
    });
}

#[test]
fn k3_unregistered_callbacks_are_skipped_and_the_rest_keep_their_order() {
    let source = CancellationTokenSource::new();
    let log = Log::default();
    let mut registrations: Vec<Option<Registration>> = (0..8)
        .map(|n| {
            let log = log.clone();
            Some(source.token().register(move || log.push(n)))
        })
        .collect();
    for n in [0, 3, 7] {
        assert!(registrations[n].take().unwrap().unregister());
    }
    source.cancel();
    assert_eq!(log.take(), vec![6, 5, 4, 2, 1]);
}

// ------------------------------------------------------------ K4

#[test]
fn k4_a_panicking_callback_does_not_stop_the_others_and_cancel_reraises_its_payload() {
    quiet_expected_panics();
    let source = CancellationTokenSource::new();
    let log = Log::default();
    let mut registrations = Vec::new();
    for n in 0..5 {
        let log = log.clone();
        registrations.push(source.token().register(move || {
            log.push(n);
            if n == 2 {
                panic_any(Boom(2));
            }
        }));
    }
    let payload = catch_unwind(AssertUnwindSafe(|| source.cancel()))
        .expect_err("cancel must re-raise the callback's panic");
    assert_eq!(
        payload.downcast_ref::<Boom>(),
        Some(&Boom(2)),
        "not the original payload"
    );
    assert_eq!(
        log.take(),
        vec![4, 3, 2, 1, 0],
        "every callback runs despite the panic"
    );
    assert!(source.is_cancellation_requested());
}

#[test]
fn k4_several_panics_come_back_together_after_every_callback_ran() {
    quiet_expected_panics();
    let source = CancellationTokenSource::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let mut registrations = Vec::new();
    for n in 0..4u32 {
        let ran = ran.clone();
        registrations.push(source.token().register(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            if n % 2 == 0 {
                panic_any(Boom(n));
            }
        }));
    }
    let payload = catch_unwind(AssertUnwindSafe(|| source.cancel())).expect_err("no panic");
    assert_eq!(ran.load(Ordering::SeqCst), 4);
    let aggregate = payload
        .downcast::<AggregatePanic>()
        .expect("several panics must come back as an AggregatePanic");
    let booms: Vec<&Boom> = aggregate
        .payloads
        .iter()
        .map(|p| p.downcast_ref::<Boom>().expect("original payloads"))
        .collect();
    // Callbacks run newest first, so the panics are gathered in that order.
    assert_eq!(booms, vec![&Boom(2), &Boom(0)]);
}

#[test]
fn k4_a_second_cancel_does_nothing() {
    quiet_expected_panics();
    let source = CancellationTokenSource::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let _registration = source.token().register(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        panic!("[expected] once");
    });
    assert!(catch_unwind(AssertUnwindSafe(|| source.cancel())).is_err());
    source.cancel(); // no callback, no panic
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn k4_cancel_returns_at_once_while_another_thread_is_still_running_the_callbacks() {
    watchdog("k4 concurrent cancel", LIMIT, || {
        let source = Arc::new(CancellationTokenSource::new());
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let _registration = source.token().register(move || {
            entered_tx.send(()).unwrap();
            // Held until the second cancel() has returned: if it waited for us, deadlock.
            release_rx.recv().unwrap();
        });
        let first = {
            let source = source.clone();
            std::thread::spawn(move || source.cancel())
        };
        entered_rx.recv().unwrap();
        source.cancel();
        assert!(source.is_cancellation_requested());
        release_tx.send(()).unwrap();
        first.join().unwrap();
    });
}

// ------------------------------------------------------------ K5

#[test]
fn k5_dropping_a_registration_unregisters_it() {
    let source = CancellationTokenSource::new();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let registration = source
        .token()
        .register(move || flag.store(true, Ordering::SeqCst));
    assert_eq!(source.registration_count(), 1);
    drop(registration);
    assert_eq!(source.registration_count(), 0);
    source.cancel();
    assert!(!ran.load(Ordering::SeqCst), "an unregistered callback ran");
}

#[test]
fn k5_unregister_says_whether_the_callback_was_still_pending() {
    let source = CancellationTokenSource::new();
    let pending = source.token().register(|| {});
    let ran = source.token().register(|| {});
    let none = CancellationToken::none().register(|| {});
    assert!(pending.unregister(), "it was waiting");
    source.cancel();
    assert!(!ran.unregister(), "it had already run");
    assert!(!none.unregister(), "nothing was ever registered on none()");
}

#[test]
fn k5_dropping_a_registration_waits_for_its_callback_running_on_another_thread() {
    watchdog("k5 wait", LIMIT, || {
        let source = Arc::new(CancellationTokenSource::new());
        let (started_tx, started_rx) = mpsc::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let registration = source.token().register(move || {
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            done.store(true, Ordering::SeqCst);
        });
        let canceller = {
            let source = source.clone();
            std::thread::spawn(move || source.cancel())
        };
        started_rx.recv().unwrap();
        let start = Instant::now();
        assert!(
            !registration.unregister(),
            "a running callback is not pending"
        );
        assert!(
            finished.load(Ordering::SeqCst),
            "unregister returned while the callback was still running ({:?} after it started)",
            start.elapsed()
        );
        canceller.join().unwrap();
    });
}

#[test]
fn k5_dropping_a_registration_inside_its_own_callback_does_not_deadlock() {
    watchdog("k5 self-drop", LIMIT, || {
        let source = CancellationTokenSource::new();
        let slot: Arc<Mutex<Option<Registration>>> = Arc::default();
        let ran = Arc::new(AtomicBool::new(false));
        let (own, flag) = (slot.clone(), ran.clone());
        let registration = source.token().register(move || {
            let mine = own.lock().unwrap().take().expect("registration stored");
            assert!(!mine.unregister());
            flag.store(true, Ordering::SeqCst);
        });
        *slot.lock().unwrap() = Some(registration);
        source.cancel();
        assert!(ran.load(Ordering::SeqCst));
    });
}

#[test]
fn k5_a_callback_may_unregister_a_later_one_before_its_turn() {
    let source = CancellationTokenSource::new();
    let log = Log::default();
    let older_log = log.clone();
    let older = source.token().register(move || older_log.push(0));
    let slot = Arc::new(Mutex::new(Some(older)));
    let (newer_log, newer_slot) = (log.clone(), slot.clone());
    let _newer = source.token().register(move || {
        newer_log.push(1);
        let older = newer_slot.lock().unwrap().take().unwrap();
        assert!(older.unregister(), "its turn had not come yet");
    });
    source.cancel();
    assert_eq!(log.take(), vec![1]);
}

// ------------------------------------------------------------ K6

#[test]
fn k6_a_linked_source_is_cancelled_synchronously_inside_its_parents_cancel() {
    let parent = CancellationTokenSource::new();
    let child = CancellationTokenSource::linked(&[parent.token()]);
    let child_callback_thread = Arc::new(Mutex::new(None));
    let slot = child_callback_thread.clone();
    let _registration = child
        .token()
        .register(move || *slot.lock().unwrap() = Some(std::thread::current().id()));
    parent.cancel();
    assert!(child.is_cancellation_requested());
    assert_eq!(
        *child_callback_thread.lock().unwrap(),
        Some(std::thread::current().id()),
        "the child's callbacks did not run inside the parent's cancel()"
    );
}

#[test]
fn k6_any_parent_cancels_a_source_linked_to_several() {
    for which in 0..3 {
        let parents: Vec<CancellationTokenSource> =
            (0..3).map(|_| CancellationTokenSource::new()).collect();
        let tokens: Vec<CancellationToken> = parents
            .iter()
            .map(|p| p.token())
            .chain([CancellationToken::none()])
            .collect();
        let child = CancellationTokenSource::linked(&tokens);
        assert!(!child.is_cancellation_requested());
        parents[which].cancel();
        assert!(child.is_cancellation_requested(), "parent {which}");
    }
}

#[test]
fn k6_a_linked_source_starts_cancelled_if_a_parent_already_is() {
    let calm = CancellationTokenSource::new();
    let cancelled = CancellationTokenSource::new();
    cancelled.cancel();
    let child = CancellationTokenSource::linked(&[calm.token(), cancelled.token()]);
    assert!(child.is_cancellation_requested());
    let err = child.token().error_if_cancelled().unwrap_err();
    assert_eq!(err.token(), &child.token());
}

#[test]
fn k6_cancelling_a_linked_source_never_cancels_its_parents() {
    let a = CancellationTokenSource::new();
    let b = CancellationTokenSource::new();
    let child = CancellationTokenSource::linked(&[a.token(), b.token()]);
    child.cancel();
    assert!(child.is_cancellation_requested());
    assert!(!a.is_cancellation_requested() && !b.is_cancellation_requested());
}

#[test]
fn k6_a_dropped_linked_source_leaves_its_parents() {
    let parent = CancellationTokenSource::new();
    let child = CancellationTokenSource::linked(&[parent.token()]);
    let child_token = child.token();
    assert_eq!(parent.registration_count(), 1);
    drop(child);
    assert_eq!(parent.registration_count(), 0);
    parent.cancel();
    assert!(
        !child_token.is_cancellation_requested(),
        "a dropped linked source was still cancelled by its parent"
    );
    assert!(!child_token.can_be_cancelled());
}

#[test]
fn k6_a_million_linked_sources_coming_and_going_do_not_grow_the_parent() {
    const N: usize = 1_000_000;
    watchdog("k6 churn", Duration::from_secs(120), || {
        let parent = CancellationTokenSource::new();
        let keep = CancellationTokenSource::linked(&[parent.token()]);
        // Warm up: the parent's storage reaches its working size.
        drop(CancellationTokenSource::linked(&[parent.token()]));
        let slots_before = parent.registration_slots();
        let (_, _, live_bytes) = measure(|| {
            for _ in 0..N {
                let child = CancellationTokenSource::linked(&[parent.token()]);
                std::hint::black_box(&child);
            }
        });
        assert_eq!(
            parent.registration_slots(),
            slots_before,
            "the parent's registration storage grew with churn"
        );
        assert_eq!(parent.registration_count(), 1, "only `keep` is linked");
        assert!(
            live_bytes.abs() < 4096,
            "{N} linked sources came and went but {live_bytes} bytes stayed allocated"
        );
        parent.cancel();
        assert!(keep.is_cancellation_requested());
    });
}

// ------------------------------------------------------------ K7

/// Waits (on this thread) until `token` is cancelled or `limit` passes; returns when it was.
fn cancelled_within(token: &CancellationToken, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if token.is_cancellation_requested() {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn k7_cancel_after_cancels_once_the_delay_has_passed_and_never_before() {
    let source = CancellationTokenSource::new();
    let start = Instant::now();
    source.cancel_after(Duration::from_millis(100));
    let at = cancelled_within(&source.token(), Duration::from_secs(10))
        .expect("cancel_after(100 ms) never cancelled");
    let took = at - start;
    assert!(
        took >= Duration::from_millis(100),
        "cancelled early, after {took:?}"
    );
}

#[test]
fn k7_cancel_after_on_a_runtime_runs_the_callbacks_on_its_worker() {
    watchdog("k7 on runtime", LIMIT, || {
        let rt = rt(1);
        let source = CancellationTokenSource::new();
        let thread = Arc::new(Mutex::new(String::new()));
        let slot = thread.clone();
        let _registration = source
            .token()
            .register(move || *slot.lock().unwrap() = thread_name());
        let token = source.token();
        rt.block_on(async {
            source.cancel_after(Duration::from_millis(10));
            token.cancelled().await;
        });
        // The awaiting task's waker was registered last, so it runs first (K3, newest first):
        // the user callback may still be running on the worker when block_on returns.
        wait_until("the callback ran", LIMIT, || {
            !thread.lock().unwrap().is_empty()
        });
        let name = thread.lock().unwrap().clone();
        assert!(
            name.starts_with("brigade-worker-"),
            "the timer's callbacks ran on {name:?}"
        );
    });
}

#[test]
fn k7_cancel_after_re_arms_on_each_call() {
    // Later: a long delay replaces a short one.
    let postponed = CancellationTokenSource::new();
    postponed.cancel_after(Duration::from_millis(50));
    postponed.cancel_after(Duration::from_secs(3600));
    assert!(
        cancelled_within(&postponed.token(), Duration::from_millis(400)).is_none(),
        "the first, replaced deadline still fired"
    );
    // Sooner: a short delay replaces a long one.
    let hurried = CancellationTokenSource::new();
    hurried.cancel_after(Duration::from_secs(3600));
    let start = Instant::now();
    hurried.cancel_after(Duration::from_millis(50));
    let at = cancelled_within(&hurried.token(), Duration::from_secs(10))
        .expect("the re-armed, sooner deadline never fired");
    assert!(at - start >= Duration::from_millis(50));
    // Never: Duration::MAX disarms.
    let disarmed = CancellationTokenSource::new();
    disarmed.cancel_after(Duration::from_millis(50));
    disarmed.cancel_after(Duration::MAX);
    assert!(cancelled_within(&disarmed.token(), Duration::from_millis(400)).is_none());
}

#[test]
fn k7_cancel_after_is_ignored_after_cancellation() {
    let source = CancellationTokenSource::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let _registration = source.token().register(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    source.cancel();
    source.cancel_after(Duration::from_millis(10));
    source.cancel_after(Duration::ZERO);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(!source.try_reset());
}

#[test]
fn k7_a_zero_timeout_starts_cancelled_synchronously() {
    let source = CancellationTokenSource::with_timeout(Duration::ZERO);
    assert!(source.is_cancellation_requested());

    let later = CancellationTokenSource::new();
    let ran_on = Arc::new(Mutex::new(None));
    let slot = ran_on.clone();
    let _registration = later
        .token()
        .register(move || *slot.lock().unwrap() = Some(std::thread::current().id()));
    later.cancel_after(Duration::ZERO);
    assert!(later.is_cancellation_requested());
    assert_eq!(
        *ran_on.lock().unwrap(),
        Some(std::thread::current().id()),
        "cancel_after(ZERO) did not run the callbacks on the calling thread"
    );
}

#[test]
fn k7_with_timeout_cancels_after_the_delay() {
    let start = Instant::now();
    let source = CancellationTokenSource::with_timeout(Duration::from_millis(50));
    assert!(!source.is_cancellation_requested());
    let at = cancelled_within(&source.token(), Duration::from_secs(10))
        .expect("with_timeout never cancelled");
    assert!(at - start >= Duration::from_millis(50));
}

#[test]
fn k7_try_reset_disarms_the_timer() {
    let source = CancellationTokenSource::new();
    source.cancel_after(Duration::from_millis(50));
    assert!(source.try_reset());
    assert!(
        cancelled_within(&source.token(), Duration::from_millis(400)).is_none(),
        "a reset source was cancelled by its old timer"
    );
    // And it can be armed again.
    source.cancel_after(Duration::from_millis(10));
    assert!(cancelled_within(&source.token(), Duration::from_secs(10)).is_some());
}

#[test]
fn k7_a_dropped_source_is_still_cancelled_by_its_pending_timer() {
    // .NET's `DoAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token)`: the pending
    // timer keeps the dropped source's cancellation alive.
    let rt = brigade::Runtime::builder().workers(1).build().unwrap();
    let token = rt.block_on(async {
        CancellationTokenSource::with_timeout(Duration::from_millis(50)).token()
    });
    assert!(token.can_be_cancelled());
    assert!(cancelled_within(&token, Duration::from_secs(10)).is_some());
    // Once it fired, the timer task is gone and holds nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rt.metrics().alive_tasks > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the timer task outlived its firing"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn k7_a_dropped_source_whose_timer_was_reset_is_never_cancelled() {
    let rt = brigade::Runtime::builder().workers(1).build().unwrap();
    let token = rt.block_on(async {
        let source = CancellationTokenSource::new();
        source.cancel_after(Duration::from_millis(50));
        assert!(source.try_reset());
        source.token()
    });
    assert!(cancelled_within(&token, Duration::from_millis(400)).is_none());
    assert!(!token.can_be_cancelled());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rt.metrics().alive_tasks > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the reset timer task lingers"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ------------------------------------------------------------ K8

#[test]
fn k8_with_cancellation_ends_promptly_after_cancel_and_drops_the_future() {
    watchdog("k8 cancel", LIMIT, || {
        let rt = rt(2);
        let source = CancellationTokenSource::new();
        let token = source.token();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(dropped.clone());
        let (polled_tx, polled_rx) = mpsc::channel();
        let task = rt.spawn(async move {
            let work = async move {
                let _guard = guard;
                polled_tx.send(()).unwrap();
                std::future::pending::<u32>().await
            };
            let outcome = work.with_cancellation(&token).await;
            // The inner future is gone by the time the error comes back.
            (outcome, dropped.load(Ordering::SeqCst))
        });
        polled_rx.recv().unwrap();
        let cancelled_at = Instant::now();
        source.cancel();
        let (outcome, dropped_before_err) = rt.block_on(task);
        let took = cancelled_at.elapsed();
        let error = outcome.expect_err("the pending work was not cancelled");
        assert_eq!(error.token(), &source.token());
        assert!(dropped_before_err, "the inner future outlived the Err");
        assert!(
            took < Duration::from_secs(2),
            "cancel took {took:?} to end the work"
        );
    });
}

#[test]
fn k8_with_cancellation_gives_the_value_when_the_future_finishes_first() {
    watchdog("k8 ok", LIMIT, || {
        let rt = rt(2);
        let source = CancellationTokenSource::new();
        let token = source.token();
        let value = rt.block_on(async move {
            let slow = async {
                brigade::yield_now().await;
                brigade::run(|| std::thread::sleep(Duration::from_millis(20))).await;
                7
            };
            slow.with_cancellation(&token).await
        });
        assert_eq!(value, Ok(7));
        assert_eq!(
            source.registration_count(),
            0,
            "the waiter left the source when it finished"
        );
        source.cancel();
    });
}

#[test]
fn k8_with_cancellation_on_an_already_cancelled_token_fails_at_once() {
    let source = CancellationTokenSource::new();
    source.cancel();
    let polled = Arc::new(AtomicBool::new(false));
    let flag = polled.clone();
    let outcome = brigade::block_on(
        async move {
            flag.store(true, Ordering::SeqCst);
            1
        }
        .with_cancellation(&source.token()),
    );
    assert!(outcome.is_err());
    assert!(!polled.load(Ordering::SeqCst), "the work started anyway");
}

#[test]
fn k8_many_tasks_waiting_on_one_token_all_end_on_one_cancel() {
    watchdog("k8 many", LIMIT, || {
        let rt = rt(2);
        let source = CancellationTokenSource::new();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let token = source.token();
                rt.spawn(
                    async move { std::future::pending::<()>().with_cancellation(&token).await },
                )
            })
            .collect();
        wait_until("every task is waiting", LIMIT, || {
            source.registration_count() == 1000
        });
        source.cancel();
        let outcomes = rt.block_on(brigade::when_all(tasks));
        assert!(outcomes.iter().all(Result::is_err));
    });
}

// ------------------------------------------------------------ K10

#[test]
fn k10_none_never_cancels_and_costs_no_allocation() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let (_, waker) = counting_waker();
    let ((), allocations, _) = measure(|| {
        let token = CancellationToken::none();
        let copy = token.clone();
        assert!(!copy.is_cancellation_requested());
        assert!(!copy.can_be_cancelled());
        assert!(copy.error_if_cancelled().is_ok());
        assert_eq!(copy.source_id(), None);
        // A callback with a large capture: boxing it would allocate.
        let big = [1u8; 256];
        let registration = copy.register(move || {
            std::hint::black_box(big);
            flag.store(true, Ordering::SeqCst);
        });
        drop(registration);
        let mut waiting = copy.cancelled();
        for _ in 0..100 {
            assert!(poll_once_with(&mut waiting, &waker).is_pending());
        }
        let mut wrapped = std::future::pending::<()>().with_cancellation(&copy);
        for _ in 0..100 {
            assert!(poll_once_with(&mut wrapped, &waker).is_pending());
        }
    });
    assert_eq!(
        allocations, 0,
        "CancellationToken::none() and its uses allocated {allocations} times"
    );
    assert!(!ran.load(Ordering::SeqCst), "a callback on none() ran");
}

#[test]
fn k10_waiting_on_a_real_token_allocates_nothing_per_poll() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    let (wakes, waker) = counting_waker();
    let (_, other_waker) = counting_waker();
    let wrapped = std::future::pending::<()>().with_cancellation(&token);
    let mut wrapped = std::pin::pin!(wrapped);
    // The first poll registers the waker (and may grow the source's storage).
    assert!(wrapped
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let ((), allocations, _) = measure(|| {
        for i in 0..1000 {
            // The same waker most times, another now and then (the task moved).
            let w = if i % 10 == 0 { &other_waker } else { &waker };
            assert!(wrapped
                .as_mut()
                .poll(&mut Context::from_waker(w))
                .is_pending());
        }
        assert!(wrapped
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    });
    assert_eq!(allocations, 0, "1001 polls allocated {allocations} times");
    assert_eq!(
        source.registration_count(),
        1,
        "one slot, refreshed in place"
    );
    source.cancel();
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "the latest waker is woken"
    );
    assert!(matches!(
        wrapped.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(Err(_))
    ));
}

#[test]
fn k10_the_counting_allocator_sees_allocations() {
    let (_, n, _) = measure(|| std::hint::black_box(vec![1u8; 10]));
    assert!(n >= 1, "the counting allocator did not count a Vec");
}

// ------------------------------------------------------------ K11 (stress; loom models in the lib)

#[test]
fn k11_no_callback_is_lost_or_run_after_unregister_under_racing_threads() {
    const ROUNDS: usize = 300;
    const THREADS: usize = 3;
    const PER_THREAD: usize = 50;
    watchdog("k11 stress", Duration::from_secs(60), || {
        for _ in 0..ROUNDS {
            let source = Arc::new(CancellationTokenSource::new());
            let start = Arc::new(Barrier::new(THREADS + 1));
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (token, start) = (source.token(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        let mut wrong = 0;
                        let mut kept = Vec::new();
                        for i in 0..PER_THREAD {
                            let ran = Arc::new(AtomicUsize::new(0));
                            let counter = ran.clone();
                            let registration = token.register(move || {
                                counter.fetch_add(1, Ordering::SeqCst);
                            });
                            if (i + t) % 2 == 0 {
                                // Unregister: either it was pending (and never runs) or it
                                // ran exactly once, completely, before unregister returned.
                                let pending = registration.unregister();
                                let runs = ran.load(Ordering::SeqCst);
                                if (pending && runs != 0) || (!pending && runs != 1) {
                                    wrong += 1;
                                }
                            } else {
                                // Kept: must have run exactly once after the cancel.
                                registration.detach();
                                kept.push(ran);
                            }
                        }
                        (wrong, kept)
                    })
                })
                .collect();
            start.wait();
            source.cancel();
            for worker in workers {
                let (wrong, kept) = worker.join().unwrap();
                assert_eq!(
                    wrong, 0,
                    "a callback ran after unregister, or unregister lied"
                );
                for ran in kept {
                    assert_eq!(ran.load(Ordering::SeqCst), 1, "a kept callback was lost");
                }
            }
            assert_eq!(
                source.registration_count(),
                0,
                "a registration was left behind"
            );
        }
    });
}

#[test]
fn k11_every_waiting_future_wakes_when_cancel_races_the_first_polls() {
    watchdog("k11 wakers", LIMIT, || {
        for _ in 0..200 {
            let source = Arc::new(CancellationTokenSource::new());
            let tokens: Vec<CancellationToken> = (0..4).map(|_| source.token()).collect();
            let start = Arc::new(Barrier::new(tokens.len() + 1));
            let waiters: Vec<_> = tokens
                .into_iter()
                .map(|token| {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        // block_on parks until woken: a lost wake-up hangs here.
                        brigade::block_on(token.cancelled());
                    })
                })
                .collect();
            start.wait();
            source.cancel();
            for waiter in waiters {
                waiter.join().unwrap();
            }
        }
    });
}

// ------------------------------------------------------------ the rest of the surface

#[test]
fn cancelled_future_completes_on_the_runtime_when_cancelled() {
    watchdog("cancelled()", LIMIT, || {
        let rt = rt(2);
        let source = CancellationTokenSource::new();
        let token = source.token();
        let waiter = rt.spawn(async move {
            token.cancelled().await;
            token.is_cancellation_requested()
        });
        wait_until("the waiter registered", LIMIT, || {
            source.registration_count() == 1
        });
        source.cancel();
        assert!(rt.block_on(waiter));
    });
}

#[test]
fn a_dropped_waiter_leaves_no_registration_behind() {
    let source = CancellationTokenSource::new();
    let (wakes, waker) = counting_waker();
    let mut waiting = source.token().cancelled();
    assert!(poll_once_with(&mut waiting, &waker).is_pending());
    assert_eq!(source.registration_count(), 1);
    drop(waiting);
    assert_eq!(source.registration_count(), 0);
    source.cancel();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
}

#[test]
fn cancelled_names_the_token_and_source() {
    let source = CancellationTokenSource::new();
    let other = CancellationTokenSource::new();
    source.cancel();
    let error: Cancelled = source.token().error_if_cancelled().unwrap_err();
    assert_eq!(error.token(), &source.token());
    assert_ne!(error.token(), &other.token());
    assert_eq!(error.source_id(), source.id());
    assert_ne!(source.id(), other.id());
    let text = error.to_string();
    assert!(
        text.contains("cancelled") && text.contains(&format!("#{}", source.id())),
        "{text}"
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(error.clone());
    assert_eq!(boxed.to_string(), text);
    assert!(format!("{error:?}").contains(&source.id().to_string()));
}

#[test]
// Hash and Eq go by the source's identity, which the interior mutability never changes.
#[allow(clippy::mutable_key_type)]
fn tokens_compare_by_source() {
    let a = CancellationTokenSource::new();
    let b = CancellationTokenSource::new();
    assert_eq!(a.token(), a.token());
    assert_ne!(a.token(), b.token());
    assert_ne!(a.token(), CancellationToken::none());
    assert_eq!(CancellationToken::none(), CancellationToken::default());
    let set: HashSet<CancellationToken> = [a.token(), a.token(), b.token()].into();
    assert_eq!(set.len(), 2);
}

#[test]
fn dropping_an_uncancelled_source_drops_its_callbacks_unrun() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    assert!(token.can_be_cancelled());
    let dropped = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicBool::new(false));
    let (guard, flag) = (DropFlag(dropped.clone()), ran.clone());
    let registration = token.register(move || {
        let _guard = &guard;
        flag.store(true, Ordering::SeqCst);
    });
    drop(source);
    assert!(dropped.load(Ordering::SeqCst), "the callback was kept");
    assert!(!ran.load(Ordering::SeqCst), "the callback ran");
    assert!(!token.can_be_cancelled());
    assert!(!token.is_cancellation_requested());
    assert!(!registration.unregister());
    // Registering later drops the callback at once.
    let late_dropped = Arc::new(AtomicBool::new(false));
    let late_guard = DropFlag(late_dropped.clone());
    token
        .register(move || {
            let _guard = &late_guard;
        })
        .detach();
    assert!(late_dropped.load(Ordering::SeqCst));
}

#[test]
fn k2_a_cancelled_source_can_still_be_dropped_and_its_tokens_stay_cancelled() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    source.cancel();
    drop(source);
    assert!(token.is_cancellation_requested());
    assert!(token.can_be_cancelled());
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    token
        .register(move || flag.store(true, Ordering::SeqCst))
        .detach();
    assert!(
        ran.load(Ordering::SeqCst),
        "K2 holds after the source is gone"
    );
}

#[test]
fn try_reset_keeps_an_uncancelled_source_usable_and_refuses_a_cancelled_one() {
    let source = CancellationTokenSource::new();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let _kept = source
        .token()
        .register(move || flag.store(true, Ordering::SeqCst));
    assert!(source.try_reset());
    assert_eq!(
        source.registration_count(),
        1,
        "registrations stay across a reset"
    );
    source.cancel();
    assert!(ran.load(Ordering::SeqCst));
    assert!(!source.try_reset());
    assert!(source.is_cancellation_requested());
}

#[test]
fn sources_and_tokens_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CancellationTokenSource>();
    send_sync::<CancellationToken>();
    send_sync::<Registration>();
    send_sync::<Cancelled>();
    send_sync::<brigade::cancel::WhenCancelled>();
}

// ------------------------------------------------------------ measurement

/// Time to cancel a token holding 10 000 registrations. Run optimised:
/// `cargo test --release -p brigade --test cancel -- --ignored --nocapture measure`.
#[test]
#[ignore = "a measurement, not a check; run it by hand in release mode"]
fn measure_cancel_with_10_000_registrations() {
    const N: usize = 10_000;
    const RUNS: usize = 50;
    let counter = Arc::new(AtomicUsize::new(0));
    let mut best = Duration::MAX;
    let mut total = Duration::ZERO;
    for _ in 0..RUNS {
        let source = CancellationTokenSource::new();
        let registrations: Vec<Registration> = (0..N)
            .map(|_| {
                let counter = counter.clone();
                source.token().register(move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        let start = Instant::now();
        source.cancel();
        let took = start.elapsed();
        best = best.min(took);
        total += took;
        drop(registrations);
    }
    assert_eq!(counter.load(Ordering::Relaxed), N * RUNS);
    println!(
        "cancel() with {N} registrations: best {best:?}, mean {:?} ({:.1} ns per callback, best)",
        total / RUNS as u32,
        best.as_nanos() as f64 / N as f64
    );
}

#[test]
fn k3_a_callback_runs_inside_the_execution_context_captured_at_registration() {
    use brigade::context::AsyncLocal;
    static WHO: AsyncLocal<&'static str> = AsyncLocal::new();
    let source = CancellationTokenSource::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    WHO.set("registrar");
    let log = seen.clone();
    let _registration = source
        .token()
        .register(move || log.lock().unwrap().push(WHO.get()));
    WHO.clear();
    // Cancelled from another thread whose own context says something else.
    std::thread::spawn(move || {
        WHO.set("canceller");
        source.cancel();
        // The canceller's context is untouched by the callback's.
        assert_eq!(WHO.get(), Some("canceller"));
    })
    .join()
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Some("registrar")]);
}
