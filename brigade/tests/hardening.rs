//! Hardening: what outside test suites and attacks found (a lost wake-up, a pool deadlocked by
//! cooperative blocking at its thread cap, a hung runtime drop, a leaked main loop, a
//! forgotten timeout source), each pinned by a test that failed before its fix.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade::time::sleep;
use brigade::Runtime;
use brigade_test_support::watchdog;

// ---- Cooperative blocking at the thread cap ----

#[test]
fn p6_blocking_every_worker_at_the_cap_still_fires_their_timers() {
    watchdog(
        "34 blocked sleeps at a cap of 34",
        Duration::from_secs(60),
        || {
            let rt = Runtime::builder()
                .workers(2)
                .max_workers(34)
                .build()
                .unwrap();
            let done = Arc::new(AtomicUsize::new(0));
            let started = Instant::now();
            let tasks: Vec<_> = (0..34)
                .map(|_| {
                    let done = done.clone();
                    rt.spawn(async move {
                        brigade::block_on(sleep(Duration::from_millis(100)));
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            rt.block_on(brigade::when_all(tasks));
            assert_eq!(done.load(Ordering::SeqCst), 34);
            let took = started.elapsed();
            assert!(took < Duration::from_secs(20), "took {took:?}");
            assert!(
                rt.metrics().active_workers <= 34,
                "the cap holds: {:?}",
                rt.metrics().active_workers
            );
        },
    );
}

#[test]
fn p6_a_single_worker_with_no_spares_can_block_on_a_sleep() {
    watchdog(
        "block_on(sleep) at max_workers(1)",
        Duration::from_secs(30),
        || {
            let rt = Runtime::builder()
                .workers(1)
                .max_workers(1)
                .build()
                .unwrap();
            let slept = rt.block_on(rt.spawn(async {
                let started = Instant::now();
                brigade::block_on(sleep(Duration::from_millis(10)));
                started.elapsed()
            }));
            assert!(slept >= Duration::from_millis(10), "{slept:?}");
            assert!(rt.metrics().worker_cap_reached >= 1, "the cap was reported");
        },
    );
}

/// Each level blocks on a task it spawns: every level holds a thread until the one below it
/// finishes.
fn nest(levels: usize) -> usize {
    if levels == 0 {
        return 0;
    }
    1 + brigade::block_on(brigade::spawn(async move { nest(levels - 1) }))
}

#[test]
fn p6_nested_block_on_spawn_finishes_on_a_single_capped_worker() {
    watchdog(
        "nested block_on(spawn) at max_workers(1)",
        Duration::from_secs(30),
        || {
            let rt = Runtime::builder()
                .workers(1)
                .max_workers(1)
                .build()
                .unwrap();
            let depth = rt.block_on(rt.spawn(async { nest(20) }));
            assert_eq!(depth, 20);
        },
    );
}

#[test]
fn p6_nesting_that_can_never_proceed_fails_with_a_message_instead_of_hanging() {
    brigade_test_support::quiet_expected_panics();
    watchdog(
        "nested block_on(spawn) too deep",
        Duration::from_secs(60),
        || {
            // One worker, no spares: the blocked thread runs queued tasks itself, but only 32
            // deep; past that nothing can ever run the next level.
            let rt = Runtime::builder()
                .workers(1)
                .max_workers(1)
                .build()
                .unwrap();
            let started = Instant::now();
            let outcome = rt.block_on(rt.spawn(async { nest(60) }).join());
            let error = outcome.expect_err("the nest cannot complete");
            assert!(error.is_panic(), "{error:?}");
            let message = brigade_test_support::panic_text(match &error {
                brigade::TaskError::Panicked(payload) => payload.as_ref(),
                other => panic!("{other:?}"),
            });
            assert!(message.contains("deadlock"), "{message}");
            assert!(message.contains("max_workers"), "{message}");
            assert!(started.elapsed() < Duration::from_secs(30));
            // The runtime is usable afterwards.
            assert_eq!(rt.block_on(rt.spawn(async { 5 })), 5);
        },
    );
}

#[test]
fn p6_nested_block_on_spawn_goes_past_the_old_cap_of_33_on_the_default_runtime() {
    watchdog(
        "nested block_on(spawn), 100 levels",
        Duration::from_secs(60),
        || {
            let rt = Runtime::builder().workers(2).build().unwrap();
            let depth = rt.block_on(rt.spawn(async { nest(100) }));
            assert_eq!(depth, 100);
        },
    );
}

#[test]
fn p6_an_outer_timeout_fires_while_every_worker_is_blocked() {
    watchdog(
        "a timeout around blocked workers",
        Duration::from_secs(30),
        || {
            let rt = Runtime::builder()
                .workers(1)
                .max_workers(1)
                .build()
                .unwrap();
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let blocker = rt.spawn(async move {
                // Blocks its (only) worker until the test lets go.
                brigade::blocking(|| rx.recv_timeout(Duration::from_secs(20)).ok());
            });
            let outcome = rt.block_on(brigade::time::timeout(
                Duration::from_millis(50),
                std::future::pending::<()>(),
            ));
            assert!(outcome.is_err(), "the timeout fired");
            tx.send(()).unwrap();
            rt.block_on(blocker);
        },
    );
}

// ---- Dropping a runtime while blocked threads wait on other tasks ----

/// tokio's `rt_threaded::hang_on_shutdown`: one task blocks its worker until a sender is
/// dropped; the sender lives in another task's future, which only shutdown drops.
fn drop_while_blocked_on_another_task(block: fn(std::sync::mpsc::Receiver<()>)) {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (blocked_tx, blocked_rx) = std::sync::mpsc::channel::<()>();
    rt.spawn(async move {
        blocked_tx.send(()).unwrap();
        block(rx);
    })
    .detach();
    rt.spawn(async move {
        sleep(Duration::from_secs(3600)).await;
        drop(tx);
    })
    .detach();
    blocked_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    drop(rt);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn p3_dropping_the_runtime_drops_the_future_a_blocking_worker_waits_on() {
    watchdog(
        "drop with brigade::blocking waiting",
        Duration::from_secs(30),
        || {
            drop_while_blocked_on_another_task(|rx| {
                brigade::blocking(|| {
                    let _ = rx.recv();
                })
            });
        },
    );
}

#[test]
fn p3_dropping_the_runtime_drops_the_future_a_block_on_waits_on() {
    watchdog(
        "drop with block_on waiting",
        Duration::from_secs(30),
        || {
            drop_while_blocked_on_another_task(|rx| {
                brigade::block_on(async move {
                    let _ = rx.recv();
                })
            });
        },
    );
}

#[test]
fn p3_dropping_the_runtime_drops_the_future_a_run_closure_waits_on() {
    watchdog(
        "drop with brigade::run waiting",
        Duration::from_secs(30),
        || {
            let rt = Runtime::builder().workers(2).build().unwrap();
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let (blocked_tx, blocked_rx) = std::sync::mpsc::channel::<()>();
            rt.spawn(async move {
                brigade::run(move || {
                    blocked_tx.send(()).unwrap();
                    let _ = rx.recv();
                })
                .await;
            })
            .detach();
            rt.spawn(async move {
                sleep(Duration::from_secs(3600)).await;
                drop(tx);
            })
            .detach();
            blocked_rx.recv().unwrap();
            drop(rt);
        },
    );
}

// ---- Runtime and Handle across catch_unwind ----

#[test]
fn runtime_and_handle_can_be_used_inside_catch_unwind() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>(_: &T) {}
    let rt = Runtime::builder().workers(1).build().unwrap();
    unwind_safe(&rt);
    unwind_safe(rt.handle());
    let caught = std::panic::catch_unwind(|| rt.block_on(async { panic!("inside block_on") }));
    assert!(caught.is_err());
    // The runtime is still good after the caught panic.
    assert_eq!(rt.block_on(rt.spawn(async { 7 })), 7);
}

// ---- A MainLoop leaked on a thread that exits ----

#[test]
fn x7_a_leaked_main_loop_closes_when_its_thread_exits() {
    watchdog(
        "a spawn onto a leaked loop",
        Duration::from_secs(30),
        || {
            let handle = std::thread::spawn(|| {
                let main_loop = brigade::sync_context::MainLoop::new();
                let handle = main_loop.handle();
                std::mem::forget(main_loop);
                handle
            })
            .join()
            .unwrap();
            assert!(handle.is_closed(), "the loop's thread is gone");
            let task = handle.spawn(async { 1 });
            let outcome = brigade::block_on(task.join());
            assert!(
                matches!(outcome, Err(brigade::TaskError::RuntimeShutdown)),
                "{outcome:?}"
            );
        },
    );
}

// ---- Linux abstract Unix socket names ----

#[test]
fn abstract_unix_socket_names_bind_and_connect() {
    use brigade::net::{UnixListener, UnixStream};
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        let name = format!("\0brigade-test-{}", std::process::id());
        let listener = UnixListener::bind(&name).expect("bind an abstract name");
        let server = brigade::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        });
        let mut client = UnixStream::connect(&name).await.expect("connect to it");
        client.write_all(b"hello").await.unwrap();
        assert_eq!(&server.await, b"hello");
        // No file was created for it.
        assert!(!std::path::Path::new(&name[1..]).exists());
    });
}
