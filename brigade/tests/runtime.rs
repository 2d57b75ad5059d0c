//! Behaviour tests for the runtime's front door: Builder validation, block_on, spawning after
//! shutdown, the default runtime, the current runtime, metrics and the test macro.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brigade::runtime::SpawnError;
use brigade::{when_all, Handle, Runtime, TaskError};
use brigade_test_support::*;

const LIMIT: Duration = Duration::from_secs(10);

fn build_err(builder: brigade::Builder) -> io::Error {
    match builder.build() {
        Ok(rt) => panic!("expected a configuration error, got {rt:?}"),
        Err(e) => e,
    }
}

fn assert_says(error: &io::Error, words: &[&str]) {
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
    let text = error.to_string();
    for word in words {
        assert!(
            text.contains(word),
            "error {text:?} does not mention {word:?}"
        );
    }
}

#[test]
fn builder_rejects_zero_workers_with_a_clear_message() {
    assert_says(
        &build_err(Runtime::builder().workers(0)),
        &["workers(0)", "at least one"],
    );
}

#[test]
fn builder_rejects_an_impossible_stack_size() {
    assert_says(
        &build_err(Runtime::builder().stack_size(1)),
        &["stack_size(1)", "between"],
    );
    let max = usize::MAX.to_string();
    assert_says(
        &build_err(Runtime::builder().stack_size(usize::MAX)),
        &[&format!("stack_size({max})"), "between"],
    );
}

#[test]
fn builder_rejects_zero_blocking_threads() {
    assert_says(
        &build_err(Runtime::builder().max_blocking_threads(0)),
        &["max_blocking_threads(0)"],
    );
}

#[test]
fn builder_accepts_the_stack_size_limits() {
    for bytes in [brigade::runtime::MIN_STACK_SIZE, 2 << 20] {
        let rt = Runtime::builder()
            .workers(1)
            .stack_size(bytes)
            .build()
            .expect("valid stack size");
        assert_eq!(rt.block_on(rt.spawn(async { 3 })), 3);
    }
}

#[test]
fn block_on_on_a_worker_thread_is_a_cooperative_block_that_completes() {
    watchdog("block_on on worker", LIMIT, || {
        // One worker: the future needs another task on this very runtime, which only a spare
        // worker can run while the worker blocks (the .Result case works instead of deadlocking).
        let rt = Runtime::builder().workers(1).build().expect("runtime");
        let task =
            rt.spawn(async { brigade::block_on(async { brigade::spawn(async { 40 }).await + 2 }) });
        assert_eq!(rt.block_on(task), 42);
        let task = rt.spawn(async { Handle::current().block_on(async { 1 }) });
        assert_eq!(rt.block_on(task), 1);
        assert!(rt.metrics().spares_started >= 1);
        assert_eq!(rt.block_on(rt.spawn(async { 2 })), 2);
    });
}

#[test]
fn spawning_after_the_runtime_is_dropped_reports_runtime_shutdown() {
    quiet_expected_panics();
    watchdog("spawn after shutdown", LIMIT, || {
        let rt = Runtime::builder().workers(2).build().expect("runtime");
        let handle = rt.handle().clone();
        drop(rt);
        assert!(handle.is_shutdown());
        match handle.try_spawn(async { 1 }) {
            Err(e) => {
                assert_eq!(e, SpawnError::RuntimeShutdown);
                assert!(e.to_string().contains("shut down"), "{e}");
            }
            Ok(_) => panic!("try_spawn on a dropped runtime succeeded"),
        }
        let ran = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        let (r, guard) = (ran.clone(), DropFlag(dropped.clone()));
        let task = handle.spawn(async move {
            let _guard = guard;
            r.store(true, Ordering::SeqCst);
            1
        });
        match brigade::block_on(task.join()) {
            Err(TaskError::RuntimeShutdown) => {}
            other => panic!("expected RuntimeShutdown, got {other:?}"),
        }
        assert!(
            !ran.load(Ordering::SeqCst),
            "future ran on a dropped runtime"
        );
        assert!(dropped.load(Ordering::SeqCst), "future was not dropped");
        // Awaiting it directly panics with a message instead of hanging.
        let task = handle.spawn(async { 1 });
        let payload =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| brigade::block_on(task)))
                .expect_err("awaiting a task of a dead runtime must panic");
        assert!(
            panic_text(payload.as_ref()).contains("shut down"),
            "{}",
            panic_text(payload.as_ref())
        );
    });
}

#[test]
fn free_spawn_and_block_on_outside_any_runtime_use_the_default_runtime() {
    watchdog("default runtime", LIMIT, || {
        assert!(Handle::try_current().is_none());
        let (name, has_current) = brigade::block_on(brigade::spawn(async {
            (thread_name(), Handle::try_current().is_some())
        }));
        assert!(name.starts_with("brigade-worker-"), "ran on {name:?}");
        assert!(has_current);
        let named = brigade::spawn_named("default-named", async { 5 });
        assert_eq!(named.name(), Some("default-named"));
        assert_eq!(brigade::block_on(named), 5);
        let closure_thread = brigade::block_on(brigade::run(thread_name));
        assert!(
            closure_thread.starts_with("brigade-blocking-"),
            "run closure ran on {closure_thread:?}"
        );
    });
}

#[test]
fn free_spawn_inside_rt_block_on_spawns_onto_that_runtime() {
    watchdog("spawn in block_on", LIMIT, || {
        let rt = Runtime::builder()
            .workers(2)
            .thread_name("galley")
            .build()
            .expect("runtime");
        let names = rt.block_on(async {
            assert!(Handle::try_current().is_some());
            when_all((0..10).map(|_| brigade::spawn(async { thread_name() }))).await
        });
        for name in names {
            assert!(name.starts_with("galley-worker-"), "ran on {name:?}");
        }
    });
}

#[test]
fn handle_current_inside_a_task_is_its_runtime() {
    watchdog("Handle::current", LIMIT, || {
        let rt = Runtime::builder()
            .workers(2)
            .thread_name("pantry")
            .build()
            .expect("runtime");
        let name = rt.block_on(rt.spawn(async {
            let handle = Handle::current();
            assert!(!handle.is_shutdown());
            handle.spawn(async { thread_name() }).await
        }));
        assert!(name.starts_with("pantry-worker-"), "ran on {name:?}");
    });
}

#[test]
fn handle_current_outside_a_runtime_panics_with_advice() {
    quiet_expected_panics();
    let payload = std::thread::spawn(|| std::panic::catch_unwind(Handle::current).map(drop))
        .join()
        .expect("thread")
        .expect_err("Handle::current outside a runtime must panic");
    assert!(panic_text(payload.as_ref()).contains("outside a brigade runtime"));
}

#[test]
fn run_closures_can_call_spawn_onto_their_runtime() {
    watchdog("run + spawn", LIMIT, || {
        let rt = Runtime::builder()
            .workers(2)
            .thread_name("scullery")
            .build()
            .expect("runtime");
        let (closure_thread, task) =
            rt.block_on(rt.run(|| (thread_name(), brigade::spawn(async { thread_name() }))));
        assert!(
            closure_thread.starts_with("scullery-blocking-"),
            "closure ran on {closure_thread:?}"
        );
        let name = rt.block_on(task);
        assert!(
            name.starts_with("scullery-worker-"),
            "spawned task ran on {name:?}"
        );
    });
}

#[test]
fn metrics_count_polls_and_alive_tasks_return_to_zero() {
    watchdog("metrics", LIMIT, || {
        const N: usize = 200;
        let rt = Runtime::builder().workers(2).build().expect("runtime");
        let before = rt.metrics().total_polls();
        let (promise, wait) = brigade::Promise::<()>::new();
        let gate = rt.spawn(wait);
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            rt.metrics().alive_tasks >= 1,
            "a pending task is not counted alive"
        );
        promise.set(()).expect("set");
        let tasks: Vec<_> = (0..N).map(|i| rt.spawn(async move { i })).collect();
        let out = rt.block_on(when_all(tasks));
        assert_eq!(out.len(), N);
        rt.block_on(gate).expect("gate");
        let metrics = rt.metrics();
        assert!(
            metrics.total_polls() - before >= N as u64,
            "{} polls for {N} tasks",
            metrics.total_polls() - before
        );
        wait_until("alive_tasks back to 0", Duration::from_secs(5), || {
            rt.metrics().alive_tasks == 0
        });
        assert_eq!(rt.metrics().workers, 2);
    });
}

#[brigade::test]
async fn test_macro_runs_the_body_on_a_two_worker_runtime() {
    let handle = Handle::current();
    assert_eq!(handle.metrics().workers, 2);
    let names = when_all((0..4).map(|_| brigade::spawn(async { thread_name() }))).await;
    assert!(
        names.iter().all(|n| n.starts_with("brigade-worker-")),
        "{names:?}"
    );
}

#[brigade::test(workers = 1)]
async fn test_macro_honours_workers_1() {
    assert_eq!(Handle::current().metrics().workers, 1);
    let a = brigade::spawn(async { thread_name() }).await;
    let b = brigade::spawn(async { thread_name() }).await;
    assert_eq!(a, b, "one worker, one thread");
    assert_eq!(a, "brigade-worker-0");
}

#[brigade::test(workers = 1)]
#[should_panic(expected = "[expected] from the macro test")]
async fn test_macro_keeps_should_panic() {
    quiet_expected_panics();
    brigade::spawn(async { panic!("[expected] from the macro test") }).await;
}

#[test]
fn shutdown_timeout_gives_up_on_a_worker_blocked_in_a_poll_and_says_why() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        started_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(2)); // blocking inside a poll: a bug to report
    })
    .detach();
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let began = std::time::Instant::now();
    let error = rt.shutdown_timeout(Duration::from_millis(100)).unwrap_err();
    assert!(
        began.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(error.busy_workers, vec!["brigade-worker-0".to_string()]);
    assert!(error.to_string().contains("brigade-worker-0"), "{error}");
    assert!(error.to_string().contains("brigade::run"), "{error}");
}

#[test]
fn shutdown_timeout_completes_when_workers_are_idle() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let pending = rt.spawn(std::future::pending::<()>());
    assert_eq!(rt.shutdown_timeout(Duration::from_secs(5)), Ok(()));
    assert!(pending.is_finished(), "shutdown dropped the pending future");
}

#[test]
fn p3_a_panicking_thread_hook_is_reported_and_the_runtime_still_works_and_shuts_down() {
    quiet_expected_panics();
    let rt = Runtime::builder()
        .workers(2)
        .max_blocking_threads(1)
        .on_thread_start(|| panic!("[expected] broken start hook"))
        .on_thread_stop(|| panic!("[expected] broken stop hook"))
        .build()
        .unwrap();
    assert_eq!(rt.block_on(rt.spawn(async { 40 + 2 })), 42);
    assert_eq!(
        rt.block_on(rt.run(|| 7)),
        7,
        "blocking threads survive the hook too"
    );
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = DropFlag(dropped.clone());
    rt.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    })
    .detach();
    assert_eq!(rt.shutdown_timeout(Duration::from_secs(5)), Ok(()));
    assert!(
        dropped.load(Ordering::SeqCst),
        "P3: the pending future was dropped"
    );
}

#[test]
fn blocking_threads_run_their_start_hook_inside_the_runtime() {
    let rt = Runtime::builder()
        .on_thread_start(|| {
            Handle::current();
        })
        .build()
        .unwrap();
    let answer = watchdog("run() after a hook", Duration::from_secs(10), move || {
        rt.block_on(rt.run(|| 42))
    });
    assert_eq!(answer, 42);
}

#[test]
fn shutdown_timeout_from_inside_its_own_task_returns_at_once() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let handle = rt.handle().clone();
    // The other worker is stuck in a blocking poll: waiting for it is what must not happen.
    let (stuck_tx, stuck_rx) = std::sync::mpsc::channel();
    handle
        .spawn(async move {
            stuck_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(3));
        })
        .detach();
    stuck_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    handle
        .spawn(async move {
            let began = std::time::Instant::now();
            let result = rt.shutdown_timeout(Duration::from_secs(30));
            tx.send((result, began.elapsed())).unwrap();
        })
        .detach();
    let (result, took) = rx.recv_timeout(Duration::from_secs(10)).expect("no hang");
    assert_eq!(result, Ok(()));
    assert!(took < Duration::from_secs(2), "took {took:?}");
    wait_until("the runtime shut down", Duration::from_secs(5), || {
        handle.is_shutdown()
    });
}
