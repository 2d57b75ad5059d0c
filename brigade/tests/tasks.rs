//! Behaviour tests for tasks and the task combinators: promises S1-S10 of docs/SEMANTICS.md
//! (S11, allocation counts, lives in allocations.rs because it needs its own global allocator).

use std::future::Future;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use brigade::future::AggregatePanic;
use brigade::runtime::UnhandledPanic;
use brigade::task::{Abandoned, AlreadySet};
use brigade::{when_all, when_any, yield_now, Promise, Runtime, TaskError};
use brigade_test_support::*;

const LIMIT: Duration = Duration::from_secs(10);

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

// ---------------------------------------------------------------- S1

#[test]
fn s1_spawn_returns_before_the_future_runs_and_never_on_the_callers_stack() {
    watchdog("s1", LIMIT, || {
        let rt = rt(2);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let caller = std::thread::current().id();
        // If spawn polled the future inline, this recv would wait for a message that is only
        // sent after spawn returns, and time out.
        let task = rt.spawn(async move {
            let got = go_rx.recv_timeout(Duration::from_secs(5)).is_ok();
            (got, std::thread::current().id(), thread_name())
        });
        go_tx.send(()).expect("send go");
        let (got, ran_on, name) = rt.block_on(task);
        assert!(
            got,
            "the future ran before spawn returned (inline on the caller)"
        );
        assert_ne!(ran_on, caller, "the future ran on the caller's thread");
        assert!(
            name.starts_with("brigade-worker-"),
            "ran on {name:?}, not a worker"
        );
    });
}

#[test]
fn s1_spawn_inside_a_task_does_not_poll_the_child_before_returning() {
    watchdog("s1 nested", LIMIT, || {
        let rt = rt(1);
        let out = rt.block_on(rt.spawn(async {
            let returned = Arc::new(AtomicBool::new(false));
            let seen = returned.clone();
            let child = brigade::spawn(async move { seen.load(Ordering::SeqCst) });
            returned.store(true, Ordering::SeqCst);
            child.await
        }));
        assert!(
            out,
            "child future was polled before spawn returned to the parent"
        );
    });
}

// ---------------------------------------------------------------- S2

#[test]
fn s2_awaiting_a_panicked_task_reraises_the_original_payload() {
    quiet_expected_panics();
    watchdog("s2 await", LIMIT, || {
        let rt = rt(2);
        let task = rt.spawn(async { panic_any(Boom(7)) });
        let caught = catch_unwind(AssertUnwindSafe(|| rt.block_on(task)))
            .expect_err("awaiting a panicked task must panic");
        assert_eq!(
            caught.downcast_ref::<Boom>(),
            Some(&Boom(7)),
            "payload is not the original"
        );
        // The runtime keeps running.
        assert_eq!(rt.block_on(rt.spawn(async { 5 })), 5);
    });
}

#[test]
fn s2_join_gives_panicked_with_the_payload_and_the_runtime_keeps_running() {
    quiet_expected_panics();
    watchdog("s2 join", LIMIT, || {
        let rt = rt(2);
        for i in 0..20 {
            let task = rt.spawn(async move { panic_any(Boom(i)) });
            match rt.block_on(task.join()) {
                Err(TaskError::Panicked(payload)) => {
                    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(i)))
                }
                other => panic!("expected Panicked, got {other:?}"),
            }
        }
        let task = rt.spawn(async { panic!("[expected] a string panic") });
        let err = rt.block_on(task.join()).expect_err("must fail");
        assert!(err.is_panic());
        assert_eq!(
            panic_text(err.into_panic().as_ref()),
            "[expected] a string panic"
        );
        let sum: u32 = rt
            .block_on(when_all((0..10).map(|i| rt.spawn(async move { i }))))
            .into_iter()
            .sum();
        assert_eq!(sum, 45, "runtime stopped working after panics");
    });
}

// ---------------------------------------------------------------- S3

#[derive(Debug, Clone)]
struct Report {
    id: u64,
    name: Option<String>,
    file: String,
    line: u32,
    message: String,
}

fn reporting_rt() -> (Runtime, Arc<Mutex<Vec<Report>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let rt = Runtime::builder()
        .workers(2)
        .unhandled_panic(UnhandledPanic::Call(Arc::new(move |report| {
            sink.lock().unwrap().push(Report {
                id: report.task_id().as_u64(),
                name: report.task_name().map(str::to_string),
                file: report.spawn_location().file().to_string(),
                line: report.spawn_location().line(),
                message: report.message().to_string(),
            });
        })))
        .build()
        .expect("runtime");
    (rt, reports)
}

#[test]
fn s3_detached_panic_is_reported_once_with_id_name_location_and_message() {
    quiet_expected_panics();
    watchdog("s3 detached", LIMIT, || {
        let (rt, reports) = reporting_rt();
        let line = line!() + 2;
        let task = rt
            .handle()
            .spawn_named("sous-chef", async { panic!("[expected] burnt the toast") });
        let id = task.id().as_u64();
        task.detach();
        wait_until("the unhandled-panic report", Duration::from_secs(5), || {
            !reports.lock().unwrap().is_empty()
        });
        std::thread::sleep(Duration::from_millis(100));
        let reports = reports.lock().unwrap().clone();
        assert_eq!(reports.len(), 1, "reported more than once: {reports:?}");
        let r = &reports[0];
        assert_eq!(r.id, id);
        assert_eq!(r.name.as_deref(), Some("sous-chef"));
        assert!(r.file.ends_with("tasks.rs"), "file {:?}", r.file);
        assert!(
            (line - 2..=line + 1).contains(&r.line),
            "spawn line {} not near {line}",
            r.line
        );
        assert_eq!(r.message, "[expected] burnt the toast");
        assert_eq!(rt.metrics().unhandled_panics, 1);
    });
}

#[test]
fn s3_finished_panicked_task_whose_handle_is_dropped_unawaited_is_reported_once() {
    quiet_expected_panics();
    watchdog("s3 drop after finish", LIMIT, || {
        let (rt, reports) = reporting_rt();
        let task = rt.spawn(async { panic!("[expected] nobody looked") });
        wait_until("task finished", Duration::from_secs(5), || {
            task.is_finished()
        });
        let id = task.id().as_u64();
        drop(task);
        wait_until("the report", Duration::from_secs(5), || {
            !reports.lock().unwrap().is_empty()
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(rt);
        let reports = reports.lock().unwrap().clone();
        assert_eq!(reports.len(), 1, "expected exactly one report: {reports:?}");
        assert_eq!(reports[0].id, id);
        assert_eq!(reports[0].name, None);
        assert_eq!(reports[0].message, "[expected] nobody looked");
    });
}

#[test]
fn s3_a_panic_observed_by_join_is_not_reported() {
    quiet_expected_panics();
    watchdog("s3 observed", LIMIT, || {
        let (rt, reports) = reporting_rt();
        let task = rt.spawn(async { panic!("[expected] seen by join") });
        assert!(rt.block_on(task.join()).is_err());
        // A panic observed through await (re-raised) is not reported either.
        let task = rt.spawn(async { panic!("[expected] seen by await") });
        assert!(catch_unwind(AssertUnwindSafe(|| rt.block_on(task))).is_err());
        std::thread::sleep(Duration::from_millis(100));
        let metrics = rt.metrics();
        drop(rt);
        assert!(
            reports.lock().unwrap().is_empty(),
            "observed panics were reported: {:?}",
            reports.lock().unwrap()
        );
        assert_eq!(metrics.unhandled_panics, 0);
    });
}

// ---------------------------------------------------------------- S4

#[test]
fn s4_cancel_drops_the_future_and_join_reports_cancelled() {
    watchdog("s4 idle cancel", LIMIT, || {
        let rt = rt(2);
        let dropped = Arc::new(AtomicBool::new(false));
        let polled = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(dropped.clone());
        let p = polled.clone();
        let task = rt.spawn(async move {
            let _guard = guard;
            p.store(true, Ordering::SeqCst);
            std::future::pending::<u32>().await
        });
        wait_until("first poll", Duration::from_secs(5), || {
            polled.load(Ordering::SeqCst)
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(!dropped.load(Ordering::SeqCst));
        match rt.block_on(task.cancel()) {
            Err(TaskError::Cancelled) => {}
            other => panic!("expected Err(Cancelled), got {other:?}"),
        }
        assert!(dropped.load(Ordering::SeqCst), "the future was not dropped");
    });
}

#[test]
fn s4_cancel_of_a_never_polled_task_drops_it_without_running_it() {
    watchdog("s4 never polled", LIMIT, || {
        let rt = rt(1);
        let dropped = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicBool::new(false));
        let (guard, r) = (DropFlag(dropped.clone()), ran.clone());
        let out = rt.block_on(rt.spawn(async move {
            // The single worker is busy with this task, so the child cannot start before cancel.
            let child = brigade::spawn(async move {
                let _guard = guard;
                r.store(true, Ordering::SeqCst);
            });
            child.cancel().await
        }));
        assert!(matches!(out, Err(TaskError::Cancelled)), "got {out:?}");
        assert!(dropped.load(Ordering::SeqCst), "future not dropped");
        assert!(!ran.load(Ordering::SeqCst), "cancelled task still ran");
    });
}

#[test]
fn s4_cancelling_a_finished_task_yields_its_output() {
    watchdog("s4 finished", LIMIT, || {
        let rt = rt(2);
        let task = rt.spawn(async { 41 + 1 });
        wait_until("task finished", Duration::from_secs(5), || {
            task.is_finished()
        });
        match rt.block_on(task.cancel()) {
            Ok(42) => {}
            other => panic!("expected Ok(42), got {other:?}"),
        }
    });
}

#[test]
fn s4_cancel_requested_during_a_poll_takes_effect_only_after_the_poll() {
    watchdog("s4 mid-poll", LIMIT, || {
        let rt = rt(2);
        let poll_ended = Arc::new(AtomicBool::new(false));
        // (dropped?, poll had ended when dropped?, thread that dropped it)
        let record = Arc::new(Mutex::new(None::<(bool, String)>));
        struct Guard {
            poll_ended: Arc<AtomicBool>,
            record: Arc<Mutex<Option<(bool, String)>>>,
        }
        impl Drop for Guard {
            fn drop(&mut self) {
                *self.record.lock().unwrap() =
                    Some((self.poll_ended.load(Ordering::SeqCst), thread_name()));
            }
        }
        let guard = Guard {
            poll_ended: poll_ended.clone(),
            record: record.clone(),
        };
        let (in_poll_tx, in_poll_rx) = mpsc::channel();
        let ended = poll_ended.clone();
        let task = rt.spawn(std::future::poll_fn(move |_cx| {
            let _keep = &guard;
            let _ = in_poll_tx.send(());
            std::thread::sleep(Duration::from_millis(300));
            ended.store(true, Ordering::SeqCst);
            Poll::<u32>::Pending
        }));
        in_poll_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("task was never polled");
        let join = task.cancel(); // the request is made now, mid-poll
        assert!(
            record.lock().unwrap().is_none(),
            "future dropped while its poll was running"
        );
        let out = rt.block_on(join);
        assert!(matches!(out, Err(TaskError::Cancelled)), "got {out:?}");
        let (ended_before_drop, dropper) = record
            .lock()
            .unwrap()
            .clone()
            .expect("future was not dropped");
        assert!(ended_before_drop, "future dropped before its poll ended");
        assert!(
            dropper.starts_with("brigade-worker-"),
            "future dropped on {dropper:?}, not on the task's scheduler"
        );
    });
}

// ---------------------------------------------------------------- S5

#[test]
fn s5_dropping_the_task_handle_detaches_and_the_task_completes() {
    watchdog("s5", LIMIT, || {
        let rt = rt(2);
        let (tx, rx) = mpsc::channel();
        let (promise, wait) = Promise::<u32>::new();
        let task = rt.spawn(async move {
            // Still running after the handle is gone: wait for a value set later.
            let v = wait.await.expect("promise set");
            yield_now().await;
            tx.send(v * 2).expect("send");
        });
        drop(task);
        std::thread::sleep(Duration::from_millis(20));
        promise.set(21).expect("set");
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(42));
    });
}

// ---------------------------------------------------------------- S6

#[test]
fn s6_when_all_keeps_input_order() {
    watchdog("s6 order", LIMIT, || {
        let rt = rt(2);
        let out = rt.block_on(async {
            // Later inputs finish first.
            let tasks = (0..5u64).map(|i| {
                brigade::spawn(async move {
                    brigade::run(move || std::thread::sleep(Duration::from_millis((5 - i) * 15)))
                        .await;
                    i * 10
                })
            });
            when_all(tasks).await
        });
        assert_eq!(out, vec![0, 10, 20, 30, 40]);
        let mixed: Vec<BoxFut<u32>> = vec![
            Box::pin(async {
                yield_now().await;
                yield_now().await;
                1
            }),
            Box::pin(async { 2 }),
            Box::pin(async {
                yield_now().await;
                3
            }),
        ];
        assert_eq!(rt.block_on(when_all(mixed)), vec![1, 2, 3]);
    });
}

#[test]
fn s6_when_all_of_nothing_is_ready_at_once() {
    let mut all = when_all(Vec::<BoxFut<u32>>::new());
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    match Pin::new(&mut all).poll(&mut cx) {
        Poll::Ready(v) => assert!(v.is_empty()),
        Poll::Pending => panic!("when_all of nothing was not ready on first poll"),
    }
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
}

#[test]
fn s6_when_all_raises_all_panics_together_after_every_input_finished() {
    quiet_expected_panics();
    watchdog("s6 aggregate", LIMIT, || {
        let rt = rt(2);
        let slow_done = Arc::new(AtomicBool::new(false));
        let done = slow_done.clone();
        let inputs: Vec<BoxFut<u32>> = vec![
            Box::pin(async { panic!("[expected] first") }),
            Box::pin(async move {
                brigade::run(|| std::thread::sleep(Duration::from_millis(200))).await;
                done.store(true, Ordering::SeqCst);
                3
            }),
            Box::pin(async {
                yield_now().await;
                panic_any(Boom(2))
            }),
        ];
        let payload = catch_unwind(AssertUnwindSafe(|| rt.block_on(when_all(inputs))))
            .expect_err("when_all must re-raise the panics");
        assert!(
            slow_done.load(Ordering::SeqCst),
            "panic raised before the slow input finished"
        );
        let aggregate = payload
            .downcast_ref::<AggregatePanic>()
            .expect("the payload of two panics must be an AggregatePanic");
        assert_eq!(aggregate.payloads.len(), 2);
        assert_eq!(
            panic_text(aggregate.payloads[0].as_ref()),
            "[expected] first"
        );
        assert_eq!(aggregate.payloads[1].downcast_ref::<Boom>(), Some(&Boom(2)));
    });
}

#[test]
fn s6_when_all_with_one_panic_raises_the_original_payload_after_all_finished() {
    quiet_expected_panics();
    watchdog("s6 single panic", LIMIT, || {
        let rt = rt(2);
        let slow_done = Arc::new(AtomicBool::new(false));
        let done = slow_done.clone();
        let tasks = vec![
            rt.spawn(async { panic_any(Boom(11)) }),
            rt.spawn(async move {
                brigade::run(|| std::thread::sleep(Duration::from_millis(150))).await;
                done.store(true, Ordering::SeqCst);
                1u32
            }),
        ];
        let payload = catch_unwind(AssertUnwindSafe(|| rt.block_on(when_all(tasks))))
            .expect_err("must panic");
        assert!(
            slow_done.load(Ordering::SeqCst),
            "raised before all finished"
        );
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(11)));
    });
}

// ---------------------------------------------------------------- S7

#[test]
fn s7_when_any_gives_index_and_output_of_the_first_and_drops_losing_futures() {
    watchdog("s7 futures", LIMIT, || {
        let rt = rt(2);
        let a = Arc::new(AtomicBool::new(false));
        let c = Arc::new(AtomicBool::new(false));
        let (ga, gc) = (DropFlag(a.clone()), DropFlag(c.clone()));
        let (a2, c2) = (a.clone(), c.clone());
        let out = rt.block_on(async move {
            let inputs: Vec<BoxFut<u32>> = vec![
                Box::pin(async move {
                    let _g = ga;
                    std::future::pending().await
                }),
                Box::pin(async {
                    yield_now().await;
                    7
                }),
                Box::pin(async move {
                    let _g = gc;
                    std::future::pending().await
                }),
            ];
            let any = when_any(inputs);
            let out = any.await;
            // The losers are dropped by the time when_any returns.
            (out, a2.load(Ordering::SeqCst), c2.load(Ordering::SeqCst))
        });
        assert_eq!(out.0, (1, 7));
        assert!(out.1 && out.2, "losing plain futures were not dropped");
    });
}

#[test]
fn s7_a_panic_counts_as_finishing_first() {
    quiet_expected_panics();
    watchdog("s7 panic", LIMIT, || {
        let rt = rt(2);
        let inputs: Vec<BoxFut<u32>> = vec![
            Box::pin(std::future::pending()),
            Box::pin(async {
                yield_now().await;
                panic_any(Boom(3))
            }),
        ];
        let payload = catch_unwind(AssertUnwindSafe(|| rt.block_on(when_any(inputs))))
            .expect_err("the first input to finish panicked");
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(3)));
    });
}

#[test]
fn s7_losing_tasks_keep_running() {
    watchdog("s7 tasks", LIMIT, || {
        let rt = rt(2);
        let (tx, rx) = mpsc::channel();
        let (promise, wait) = Promise::<u32>::new();
        let slow = rt.spawn(async move {
            let v = wait.await.expect("set");
            tx.send(v).expect("send");
            v
        });
        let fast = rt.spawn(async { 1u32 });
        assert_eq!(rt.block_on(when_any(vec![slow, fast])), (1, 1));
        promise.set(99).expect("set");
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(99),
            "the losing task stopped when when_any finished"
        );
    });
}

// ---------------------------------------------------------------- S8

#[test]
fn s8_first_set_wins_and_a_second_set_gets_its_value_back() {
    let (promise, wait) = Promise::<String>::new();
    let other = promise.clone();
    assert!(!promise.is_set());
    assert!(promise.set("first".to_string()).is_ok());
    assert!(promise.is_set());
    match promise.set("second".to_string()) {
        Err(AlreadySet(v)) => assert_eq!(v, "second"),
        Ok(()) => panic!("second set succeeded"),
    }
    match other.set("third".to_string()) {
        Err(AlreadySet(v)) => assert_eq!(v, "third"),
        Ok(()) => panic!("set through a clone after the first set succeeded"),
    }
    let got = watchdog("s8 await", LIMIT, move || brigade::block_on(wait));
    assert_eq!(got, Ok("first".to_string()));
}

#[test]
fn s8_dropping_every_unset_promise_abandons_the_awaiter() {
    let (promise, mut wait) = Promise::<u32>::new();
    let clone = promise.clone();
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
    drop(promise);
    assert!(
        Pin::new(&mut wait).poll(&mut cx).is_pending(),
        "abandoned while a clone was still alive"
    );
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    drop(clone);
    assert!(
        wakes.0.load(Ordering::SeqCst) >= 1,
        "awaiter not woken on abandon"
    );
    assert_eq!(
        Pin::new(&mut wait).poll(&mut cx),
        Poll::Ready(Err(Abandoned))
    );
}

#[test]
fn s8_abandoning_wakes_an_awaiting_task() {
    watchdog("s8 abandon task", LIMIT, || {
        let rt = rt(2);
        let (promise, wait) = Promise::<u32>::new();
        let task = rt.spawn(wait);
        std::thread::sleep(Duration::from_millis(20));
        drop(promise);
        assert_eq!(rt.block_on(task), Err(Abandoned));
    });
}

#[test]
fn s8_set_from_another_os_thread_wakes_the_awaiter() {
    watchdog("s8 cross-thread", LIMIT, || {
        let rt = rt(2);
        for round in 0..50u32 {
            let (promise, wait) = Promise::<u32>::new();
            let task = rt.spawn(wait);
            let setter = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1));
                promise.set(round).expect("set");
            });
            assert_eq!(rt.block_on(task), Ok(round));
            setter.join().expect("setter");
        }
    });
}

// ---------------------------------------------------------------- S9

#[test]
fn s9_yield_now_suspends_exactly_once() {
    let mut y = yield_now();
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(
        Pin::new(&mut y).poll(&mut cx).is_pending(),
        "did not suspend"
    );
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "did not wake itself once"
    );
    assert!(Pin::new(&mut y).poll(&mut cx).is_ready(), "suspended twice");
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
}

fn assert_interleaved(log: &[u8]) {
    assert_eq!(log.len(), 20, "log {log:?}");
    let switches = log.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 18,
        "the two yielding tasks did not interleave (one ran several turns in a row): {log:?}"
    );
}

#[test]
fn s9_yield_now_lets_other_ready_tasks_run_on_one_worker() {
    watchdog("s9 interleave", LIMIT, || {
        let rt = rt(1);
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        rt.block_on(rt.spawn(async move {
            let tasks = (0..2u8).map(|who| {
                let log = l.clone();
                brigade::spawn(async move {
                    for _ in 0..10 {
                        log.lock().unwrap().push(who);
                        yield_now().await;
                    }
                })
            });
            let tasks: Vec<_> = tasks.collect();
            when_all(tasks).await;
        }));
        assert_interleaved(&log.lock().unwrap());
    });
}

#[test]
fn s9_yield_now_lets_tasks_spawned_from_outside_run_on_one_worker() {
    watchdog("s9 interleave injected", LIMIT, || {
        let rt = rt(1);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started_rx) = mpsc::channel();
        // Occupy the only worker so both tasks are queued before either starts.
        let blocker = rt.spawn(async move {
            started_tx.send(()).expect("send");
            std::thread::sleep(Duration::from_millis(100));
        });
        started_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("blocker started");
        let tasks: Vec<_> = (0..2u8)
            .map(|who| {
                let log = log.clone();
                rt.spawn(async move {
                    for _ in 0..10 {
                        log.lock().unwrap().push(who);
                        yield_now().await;
                    }
                })
            })
            .collect();
        rt.block_on(blocker);
        rt.block_on(when_all(tasks));
        assert_interleaved(&log.lock().unwrap());
    });
}

// ---------------------------------------------------------------- S10

#[test]
fn s10_run_closures_never_delay_async_tasks() {
    watchdog("s10", Duration::from_secs(20), || {
        let workers = 2;
        let rt = rt(workers);
        let started = Arc::new(AtomicUsize::new(0));
        let closures: Vec<_> = (0..2 * workers)
            .map(|_| {
                let started = started.clone();
                rt.run(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(1000));
                })
            })
            .collect();
        wait_until("all closures running", Duration::from_secs(5), || {
            started.load(Ordering::SeqCst) == 2 * workers
        });
        let begin = Instant::now();
        let done = rt.block_on(async {
            let tasks: Vec<_> = (0..200u32)
                .map(|i| {
                    brigade::spawn(async move {
                        yield_now().await;
                        i
                    })
                })
                .collect();
            when_all(tasks).await.len()
        });
        let elapsed = begin.elapsed();
        assert_eq!(done, 200);
        assert!(
            elapsed < Duration::from_millis(250),
            "200 tiny tasks took {elapsed:?} while run closures slept (they wait ~1 s if run \
             blocks the workers)"
        );
        rt.block_on(when_all(closures));
    });
}

// ---------------------------------------------------------------- more edges

#[test]
fn s2_a_panic_reraised_by_await_inside_a_task_keeps_the_original_payload() {
    quiet_expected_panics();
    watchdog("s2 nested await", LIMIT, || {
        let rt = rt(2);
        let outer = rt.spawn(async {
            let inner = brigade::spawn(async { panic_any(Boom(21)) });
            inner.await;
            "unreachable"
        });
        match rt.block_on(outer.join()) {
            Err(TaskError::Panicked(p)) => assert_eq!(p.downcast_ref::<Boom>(), Some(&Boom(21))),
            other => panic!("expected the inner panic to propagate, got {other:?}"),
        }
    });
}

#[test]
fn s3_a_task_detached_while_pending_that_panics_later_is_reported_once() {
    quiet_expected_panics();
    watchdog("s3 detached pending", LIMIT, || {
        let (rt, reports) = reporting_rt();
        let (promise, wait) = Promise::<()>::new();
        let task = rt.handle().spawn_named("later", async move {
            wait.await.expect("set");
            panic!("[expected] panicked after detach")
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(!task.is_finished());
        drop(task);
        promise.set(()).expect("set");
        wait_until("the report", Duration::from_secs(5), || {
            !reports.lock().unwrap().is_empty()
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(rt);
        let reports = reports.lock().unwrap().clone();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].name.as_deref(), Some("later"));
    });
}

#[test]
fn s4_cancelled_and_detached_is_not_reported_and_drops_the_future() {
    quiet_expected_panics();
    watchdog("s4 cancel detached", LIMIT, || {
        let (rt, reports) = reporting_rt();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(dropped.clone());
        let task = rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(task.cancel()); // request made now; nobody waits for the outcome
        wait_until("future dropped", Duration::from_secs(5), || {
            dropped.load(Ordering::SeqCst)
        });
        drop(rt);
        assert!(reports.lock().unwrap().is_empty());
    });
}

#[test]
fn s4_the_latest_join_waker_is_the_one_woken() {
    watchdog("join waker replaced", LIMIT, || {
        let rt = rt(2);
        let (promise, wait) = Promise::<u32>::new();
        let mut join = rt.spawn(wait).join();
        let (first, waker1) = counting_waker();
        let (second, waker2) = counting_waker();
        assert!(Pin::new(&mut join)
            .poll(&mut Context::from_waker(&waker1))
            .is_pending());
        assert!(Pin::new(&mut join)
            .poll(&mut Context::from_waker(&waker2))
            .is_pending());
        promise.set(8).expect("set");
        wait_until("second waker woken", Duration::from_secs(5), || {
            second.0.load(Ordering::SeqCst) > 0
        });
        let _ = first; // the stale waker may or may not be woken; the fresh one must be.
        match Pin::new(&mut join).poll(&mut Context::from_waker(&waker2)) {
            Poll::Ready(Ok(Ok(8))) => {}
            other => panic!("expected Ready(Ok(Ok(8))), got {other:?}"),
        }
    });
}

#[test]
fn s4_cancel_of_a_queued_run_closure_drops_it_unrun() {
    watchdog("cancel queued run", LIMIT, || {
        let rt = Runtime::builder()
            .workers(1)
            .max_blocking_threads(1)
            .build()
            .expect("runtime");
        let (started_tx, started_rx) = mpsc::channel();
        let first = rt.run(move || {
            started_tx.send(()).expect("send");
            std::thread::sleep(Duration::from_millis(200));
            1
        });
        started_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("first closure started");
        let ran = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        let (r, guard) = (ran.clone(), DropFlag(dropped.clone()));
        let second = rt.run(move || {
            let _guard = guard;
            r.store(true, Ordering::SeqCst);
            2
        });
        let out = rt.block_on(second.cancel());
        assert!(matches!(out, Err(TaskError::Cancelled)), "got {out:?}");
        assert!(dropped.load(Ordering::SeqCst), "closure not dropped");
        assert!(!ran.load(Ordering::SeqCst), "cancelled closure ran");
        assert_eq!(rt.block_on(first), 1);
    });
}

#[test]
fn s10_a_panicking_run_closure_gives_panicked_with_its_payload() {
    quiet_expected_panics();
    watchdog("run panic", LIMIT, || {
        let rt = rt(1);
        match rt.block_on(rt.run(|| panic_any(Boom(5))).join()) {
            Err(TaskError::Panicked(p)) => assert_eq!(p.downcast_ref::<Boom>(), Some(&Boom(5))),
            other => panic!("got {other:?}"),
        }
        assert_eq!(rt.block_on(rt.run(|| 4)), 4);
    });
}

#[test]
fn s10_max_blocking_threads_bounds_concurrent_closures() {
    watchdog("max blocking", LIMIT, || {
        let rt = Runtime::builder()
            .workers(1)
            .max_blocking_threads(2)
            .build()
            .expect("runtime");
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let closures: Vec<_> = (0..6)
            .map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                rt.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(30));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        rt.block_on(when_all(closures));
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            peak <= 2,
            "{peak} closures ran at once with max_blocking_threads(2)"
        );
        assert_eq!(peak, 2, "closures did not run in parallel at all");
    });
}

#[test]
fn s9_yield_lets_a_task_waiting_in_the_injector_run_first() {
    // One worker. A is running when a foreign thread spawns B (B waits in the injector); A's
    // first yield must let B run before A continues.
    let rt = Runtime::builder().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (spawned_tx, spawned_rx) = std::sync::mpsc::channel::<()>();
    let a_log = log.clone();
    let a = rt.spawn(async move {
        started_tx.send(()).unwrap();
        // Block this poll until B has been spawned, so B is surely queued before A yields.
        spawned_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        for step in 0..5 {
            a_log.lock().unwrap().push(format!("A{step}"));
            brigade::yield_now().await;
        }
    });
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let others: Vec<_> = (0..5)
        .map(|i| {
            let b_log = log.clone();
            rt.spawn(async move { b_log.lock().unwrap().push(format!("B{i}")) })
        })
        .collect();
    spawned_tx.send(()).unwrap();
    rt.block_on(async move {
        a.await;
        when_all(others).await;
    });
    // Every task that was ready when A yielded ran before A's next step.
    assert_eq!(
        log.lock().unwrap()[..7],
        ["A0", "B0", "B1", "B2", "B3", "B4", "A1"].map(String::from)
    );
}
