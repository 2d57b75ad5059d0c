//! Seeded schedules (V4, V5): a deterministic runtime polls the same tasks in the same order
//! for the same seed, and other seeds explore other orders — enough to find a planted race
//! within 1 000 seeds and replay it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brigade::runtime::{run_with_seeds, ScheduleTrace, SeededTest};
use brigade::time::{sleep, Instant};
use brigade::Runtime;
use brigade_test_support::watchdog;

const REAL_LIMIT: Duration = Duration::from_secs(120);

fn deterministic(seed: u64) -> Runtime {
    Runtime::builder()
        .deterministic(seed)
        .build()
        .expect("deterministic runtime")
}

/// Tasks passing messages through channels, sleeping and yielding: plenty of choices for the
/// scheduler. Returns the trace and what the program observed (the order messages arrived).
fn messaging(seed: u64, tasks: usize, messages: usize) -> (ScheduleTrace, Vec<usize>) {
    let rt = deterministic(seed);
    let arrivals = rt.block_on(rt.spawn(async move {
        let (tx, rx) = brigade::sync::channel::<usize>(8);
        let senders: Vec<_> = (0..tasks)
            .map(|t| {
                let tx = tx.clone();
                brigade::spawn_named(format!("sender-{t}"), async move {
                    for m in 0..messages / tasks {
                        if m % 3 == t % 3 {
                            brigade::yield_now().await;
                        }
                        if m % 7 == 0 {
                            sleep(Duration::from_millis((t % 5) as u64 + 1)).await;
                        }
                        tx.send(t).await.expect("receiver alive");
                    }
                })
            })
            .collect();
        drop(tx);
        let receiver = brigade::spawn_named("receiver", async move {
            let mut arrivals = Vec::new();
            while let Some(t) = rx.recv().await {
                arrivals.push(t);
            }
            arrivals
        });
        for sender in senders {
            sender.await;
        }
        receiver.await
    }));
    (
        rt.schedule_trace()
            .expect("a deterministic runtime keeps a trace"),
        arrivals,
    )
}

#[test]
fn v4_the_same_seed_gives_the_same_poll_trace() {
    watchdog("v4", REAL_LIMIT, || {
        for seed in [0, 1, 42, 7_000_000_007] {
            let (first, arrivals_first) = messaging(seed, 10, 200);
            let (second, arrivals_second) = messaging(seed, 10, 200);
            assert!(first.total_polls > 100, "{}", first.total_polls);
            assert_eq!(first, second, "seed {seed} polled differently twice");
            assert_eq!(first.fingerprint, second.fingerprint);
            assert_eq!(arrivals_first, arrivals_second);
            assert_eq!(first.to_string(), second.to_string());
        }
    });
}

#[test]
fn v4_the_trace_names_tasks_by_first_poll_and_prints_one_line_per_poll() {
    let (trace, _) = messaging(3, 4, 20);
    assert_eq!(trace.polls[0].task, 0, "the body is the first task polled");
    let text = trace.to_string();
    assert_eq!(text.lines().count(), trace.polls.len());
    assert!(text.contains(" receiver"), "{text}");
    assert!(text.contains(" sender-"), "{text}");
    assert!(!trace.truncated);
    let most = trace.polls.iter().map(|p| p.task).max().unwrap();
    assert_eq!(most, 5, "body + 4 senders + receiver are numbered 0..=5");
}

#[test]
fn v4_a_runtime_that_is_not_deterministic_has_no_trace() {
    let rt = brigade_test_support::rt(1);
    assert!(rt.schedule_trace().is_none());
}

#[test]
fn v4_deterministic_with_several_workers_is_refused_with_a_reason() {
    let error = Runtime::builder()
        .deterministic(1)
        .workers(4)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("one worker thread"), "{error}");
}

#[test]
fn v4_time_is_virtual_in_deterministic_mode() {
    watchdog("v4 time", REAL_LIMIT, || {
        let rt = deterministic(5);
        let took = rt.block_on(rt.spawn(async {
            let start = Instant::now();
            sleep(Duration::from_secs(7200)).await;
            start.elapsed()
        }));
        assert_eq!(took, Duration::from_secs(7200));
    });
}

#[test]
fn v4_sockets_and_blocking_calls_work_in_deterministic_mode() {
    watchdog("v4 real", REAL_LIMIT, || {
        let rt = deterministic(9);
        let echoed = rt.block_on(rt.spawn(async {
            let listener = brigade::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            let server = brigade::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 5];
                stream.read_exact(&mut buf).await.unwrap();
                stream.write_all(&buf).await.unwrap();
            });
            let mut client = brigade::net::TcpStream::connect(addr).await.unwrap();
            client.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 5];
            client.read_exact(&mut buf).await.unwrap();
            server.await;
            let computed = brigade::run(|| 6 * 7).await;
            (buf, computed)
        }));
        assert_eq!(echoed, (*b"hello", 42));
    });
}

/// The planted race: `bump` reads, awaits, then writes — a lost update when the other task
/// runs in between. Whether it does depends on the schedule.
async fn lost_update_program() -> u64 {
    let counter = Arc::new(AtomicU64::new(0));
    let slow = {
        let counter = counter.clone();
        brigade::spawn_named("slow", async move {
            let read = counter.load(Ordering::SeqCst);
            brigade::yield_now().await;
            counter.store(read + 1, Ordering::SeqCst);
        })
    };
    let quick = {
        let counter = counter.clone();
        brigade::spawn_named("quick", async move {
            let read = counter.load(Ordering::SeqCst);
            counter.store(read + 1, Ordering::SeqCst);
        })
    };
    slow.await;
    quick.await;
    counter.load(Ordering::SeqCst)
}

fn run_race(seed: u64) -> (u64, ScheduleTrace) {
    let rt = deterministic(seed);
    let total = rt.block_on(rt.spawn(lost_update_program()));
    (total, rt.schedule_trace().unwrap())
}

#[test]
fn v5_a_planted_lost_update_is_found_within_1000_seeds_and_replays() {
    watchdog("v5 race", REAL_LIMIT, || {
        let failing = (0..1000u64).find(|&seed| run_race(seed).0 != 2);
        let seed = failing.expect("no seed in 1000 found the lost update");
        let (total, trace) = run_race(seed);
        assert_eq!(total, 1, "the replayed seed loses the update again");
        for _ in 0..5 {
            assert_eq!(run_race(seed), (1, trace.clone()), "replaying seed {seed}");
        }
        let passing = (0..1000u64).find(|&seed| run_race(seed).0 == 2);
        assert!(
            passing.is_some(),
            "some schedule runs the tasks one after the other"
        );
    });
}

#[test]
fn v5_different_seeds_explore_different_interleavings() {
    watchdog("v5 explore", REAL_LIMIT, || {
        let mut fingerprints: Vec<u64> = (0..20)
            .map(|seed| messaging(seed, 6, 60).0.fingerprint)
            .collect();
        fingerprints.sort_unstable();
        fingerprints.dedup();
        assert!(
            fingerprints.len() >= 10,
            "20 seeds gave only {} distinct schedules",
            fingerprints.len()
        );
    });
}

#[test]
fn v5_a_failing_seed_is_reported_with_a_replay_command() {
    brigade_test_support::quiet_expected_panics();
    let test = SeededTest {
        module_path: "deterministic",
        name: "finds_the_race",
        package: "brigade",
        crate_name: "deterministic",
    };
    assert_eq!(
        test.replay_command(17),
        "BRIGADE_SEED=17 cargo test -p brigade --test deterministic finds_the_race -- --exact"
    );
    let lib = SeededTest {
        module_path: "my_crate::tests",
        name: "t",
        package: "my-crate",
        crate_name: "my_crate",
    };
    assert_eq!(
        lib.replay_command(3),
        "BRIGADE_SEED=3 cargo test -p my-crate --lib tests::t -- --exact"
    );
    // The run stops at the first failing seed and fails with its panic.
    let seeds_run = Arc::new(AtomicU64::new(0));
    let counted = seeds_run.clone();
    let outcome = std::panic::catch_unwind(move || {
        run_with_seeds(test, 1000, || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                assert_eq!(lost_update_program().await, 2, "lost update");
            }
        })
    });
    let payload = outcome.expect_err("the race is found");
    assert!(brigade_test_support::panic_text(payload.as_ref()).contains("lost update"));
    assert!(seeds_run.load(Ordering::SeqCst) < 1000);
}

/// The same race, fixed with a lock: passes under every seed.
#[brigade::test(seeds = 200)]
async fn v5_the_seeds_attribute_runs_the_body_under_every_seed() {
    let counter = Arc::new(brigade::sync::Mutex::new(0u64));
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let counter = counter.clone();
            brigade::spawn(async move {
                let mut guard = counter.lock().await;
                let read = *guard;
                brigade::yield_now().await;
                *guard = read + 1;
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
    assert_eq!(*counter.lock().await, 3);
}

/// Seeds per second on a small program (100 tasks exchanging 1 000 messages); run with
/// `cargo test --release -p brigade --test deterministic seeds_per_second -- --ignored --nocapture`.
#[test]
#[ignore]
fn seeds_per_second() {
    let start = std::time::Instant::now();
    let mut seeds = 0;
    while start.elapsed() < Duration::from_secs(5) {
        messaging(seeds, 100, 1000);
        seeds += 1;
    }
    let rate = seeds as f64 / start.elapsed().as_secs_f64();
    println!("{seeds} seeds in {:?}: {rate:.0} seeds/s", start.elapsed());
}

/// The body is spawned from outside while the one worker may be on its way to park: a worker
/// that never searches must still look at the injector once more before sleeping, or the
/// body waits forever (a lost wake-up seen on a loaded machine).
#[test]
fn v4_a_body_spawned_while_the_worker_parks_is_never_lost() {
    watchdog("v4 start race", REAL_LIMIT, || {
        let threads: Vec<_> = (0..4u64)
            .map(|thread| {
                std::thread::spawn(move || {
                    for seed in 0..300 {
                        let rt = deterministic(thread * 1000 + seed);
                        // Spawn at spread-out moments of the worker's way to its first park.
                        std::thread::sleep(Duration::from_micros(seed % 40 * 5));
                        assert_eq!(rt.block_on(rt.spawn(async { 5 })), 5);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    });
}
