//! A pool that survives blocking code: P4 and the spare-worker machinery (thread cap, surplus
//! retiring, cooperative blocking), with real blocked threads. Timing bounds are wide: the
//! machine is shared; the side-by-side figure is in BENCHMARKS.md.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade::runtime::StallReport;
use brigade::Runtime;
use brigade_test_support::{wait_until, watchdog};

const LIMIT: Duration = Duration::from_secs(30);

/// Runs a 1 ms ticker while `blockers` tasks each block their worker for `block`; returns the
/// ticker's largest gap between ticks.
fn largest_tick_gap(rt: &Runtime, blockers: usize, block: Duration) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let stop = stop.clone();
        rt.spawn(async move {
            let mut ticks = brigade::time::interval(Duration::from_millis(1));
            ticks.tick().await;
            let mut last = Instant::now();
            let mut largest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                ticks.tick().await;
                let now = Instant::now();
                largest = largest.max(now - last);
                last = now;
            }
            largest
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    let sleepers: Vec<_> = (0..blockers)
        .map(|_| rt.spawn(async move { std::thread::sleep(block) }))
        .collect();
    for sleeper in sleepers {
        rt.block_on(sleeper);
    }
    stop.store(true, Ordering::Relaxed);
    rt.block_on(ticker)
}

#[test]
fn p4_with_every_worker_blocked_a_1ms_ticker_keeps_ticking() {
    let gap = watchdog("p4 ticker", LIMIT, || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        largest_tick_gap(&rt, 2, Duration::from_secs(1))
    });
    println!("largest gap of a 1 ms ticker with both workers blocked for 1 s: {gap:?}");
    // The promise is 50 ms; the bound leaves room for a loaded test machine. Without stall
    // detection the gap is the full second.
    assert!(
        gap < Duration::from_millis(250),
        "the ticker stalled for {gap:?}"
    );
}

#[test]
fn p4_a_stall_is_reported_with_the_task_id_name_spawn_location_and_duration() {
    let reports = Arc::new(Mutex::new(Vec::<StallReport>::new()));
    let sink = reports.clone();
    let rt = Runtime::builder()
        .workers(2)
        .stall_threshold(Duration::from_millis(10))
        .on_stall(move |report| sink.lock().unwrap().push(report.clone()))
        .build()
        .unwrap();
    let line = line!();
    let sleepy = rt.handle().spawn_named("sleepy", async {
        std::thread::sleep(Duration::from_millis(150))
    });
    let id = sleepy.id();
    rt.block_on(sleepy);
    wait_until("the end of the stall is reported", LIMIT, || {
        reports.lock().unwrap().iter().any(|r| r.ended)
    });
    let reports = reports.lock().unwrap();
    let start = reports.iter().find(|r| !r.ended).expect("a stall report");
    assert_eq!(start.task, id);
    assert_eq!(start.task_name.as_deref(), Some("sleepy"));
    let location = start.spawned_at.expect("the spawn location");
    assert!(location.file().ends_with("starvation.rs"), "{location}");
    assert!((line..line + 5).contains(&location.line()), "{location}");
    assert!(start.blocked_for >= Duration::from_millis(10));
    assert!(
        start.worker.starts_with("brigade-worker-"),
        "{}",
        start.worker
    );
    let text = start.to_string();
    assert!(
        text.contains("sleepy") && text.contains("brigade::run"),
        "{text}"
    );
    let end = reports.iter().find(|r| r.ended).unwrap();
    assert_eq!(end.task, id);
    assert_eq!(end.task_name.as_deref(), Some("sleepy"));
    assert!(end.to_string().contains("is back"), "{end}");
    assert!(
        end.blocked_for >= Duration::from_millis(100),
        "{:?}",
        end.blocked_for
    );
    assert!(rt.metrics().stalls_detected >= 1);
}

#[test]
fn spares_respect_the_thread_cap_and_retire_when_the_workers_come_back() {
    watchdog("spare cap", LIMIT, || {
        let rt = Runtime::builder()
            .workers(2)
            .max_workers(3)
            .on_stall(|_| {})
            .build()
            .unwrap();
        let blockers: Vec<_> = (0..6)
            .map(|_| rt.spawn(async { std::thread::sleep(Duration::from_millis(300)) }))
            .collect();
        let mut most = 0;
        let deadline = Instant::now() + Duration::from_millis(250);
        while Instant::now() < deadline {
            most = most.max(rt.metrics().active_workers);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(most <= 3, "{most} workers ran with a cap of 3");
        assert_eq!(
            most, 3,
            "a spare should have started for the stalled workers"
        );
        for blocker in blockers {
            rt.block_on(blocker);
        }
        // Everyone is back: the surplus spare retires.
        wait_until("the spare retires", LIMIT, || {
            let metrics = rt.metrics();
            metrics.spare_workers == 0 && metrics.active_workers == 2
        });
        // And the pool still works, spares and all.
        assert_eq!(rt.block_on(rt.spawn(async { 7 })), 7);
    });
}

#[test]
fn blocking_hands_the_worker_off_at_once() {
    watchdog("cooperative blocking", LIMIT, || {
        let rt = Runtime::builder()
            .workers(1)
            .stall_threshold(Duration::from_secs(5)) // detection alone would be far too slow
            .build()
            .unwrap();
        let started = Arc::new(AtomicBool::new(false));
        let flag = started.clone();
        let blocker = rt.spawn(async move {
            flag.store(true, Ordering::SeqCst);
            brigade::blocking(|| std::thread::sleep(Duration::from_millis(500)));
        });
        wait_until("the blocker runs", LIMIT, || started.load(Ordering::SeqCst));
        let begin = Instant::now();
        assert_eq!(rt.block_on(rt.spawn(async { 5 })), 5);
        let took = begin.elapsed();
        assert!(
            took < Duration::from_millis(400),
            "a task waited {took:?} behind a cooperative block"
        );
        rt.block_on(blocker);
        // Outside a worker, blocking just runs the closure.
        assert_eq!(brigade::blocking(|| 3), 3);
    });
}

#[test]
fn a_zero_threshold_or_a_cap_below_the_workers_is_refused() {
    let error = Runtime::builder()
        .stall_threshold(Duration::ZERO)
        .build()
        .expect_err("zero threshold");
    assert!(error.to_string().contains("stall_threshold"), "{error}");
    let error = Runtime::builder()
        .workers(4)
        .max_workers(2)
        .build()
        .expect_err("cap below workers");
    assert!(error.to_string().contains("max_workers(2)"), "{error}");
}

#[test]
fn the_task_dump_lists_every_live_task_with_state_age_and_polls() {
    use brigade::runtime::TaskState;
    watchdog("dump", LIMIT, || {
        let rt = Runtime::builder()
            .workers(2)
            .on_stall(|_| {})
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let idle = handle.spawn_named(
            "idle-sleeper",
            brigade::time::sleep(Duration::from_secs(60)),
        );
        let started = Arc::new(AtomicBool::new(false));
        let flag = started.clone();
        let busy = handle.spawn_named("busy-blocker", async move {
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
        });
        wait_until("the blocker runs", LIMIT, || started.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(60));
        let dump = rt.dump();
        let text = dump.to_string();
        let find = |name: &str| {
            dump.tasks
                .iter()
                .find(|t| t.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{name} missing from the dump:\n{text}"))
                .clone()
        };
        let sleeper = find("idle-sleeper");
        assert_eq!(sleeper.state, TaskState::Idle, "{text}");
        assert_eq!(sleeper.polls, 1, "{text}");
        assert!(sleeper.spawned_at.file().ends_with("starvation.rs"));
        let blocker = find("busy-blocker");
        assert_eq!(blocker.state, TaskState::Running, "{text}");
        assert!(blocker.age >= Duration::from_millis(40), "{text}");
        assert!(
            text.contains("idle-sleeper") && text.contains("Running"),
            "{text}"
        );
        rt.block_on(busy);
        let blocker_done = rt.dump();
        assert!(blocker_done
            .tasks
            .iter()
            .all(|t| t.name.as_deref() != Some("busy-blocker")));
        drop(idle);
        // The metrics agree with the dump.
        let metrics = rt.metrics();
        assert_eq!(metrics.alive_tasks, blocker_done.tasks.len());
        assert!(
            metrics.tasks_spawned >= 2 && metrics.tasks_completed >= 1,
            "{metrics:?}"
        );
        assert!(
            metrics.per_worker.iter().any(|w| w.busy > Duration::ZERO),
            "{metrics:?}"
        );
    });
}

#[test]
fn a_panicking_stall_hook_does_not_stop_stall_detection() {
    brigade_test_support::quiet_expected_panics();
    watchdog("panicking hook", LIMIT, || {
        let rt = Runtime::builder()
            .workers(1)
            .on_stall(|_| panic!("[expected] a broken stall hook"))
            .build()
            .unwrap();
        for round in 0..2 {
            let blocker = rt.spawn(async { std::thread::sleep(Duration::from_millis(200)) });
            std::thread::sleep(Duration::from_millis(50));
            // The one worker is stuck; only a spare can run this.
            let start = Instant::now();
            assert_eq!(rt.block_on(rt.spawn(async { 1 })), 1);
            assert!(
                start.elapsed() < Duration::from_millis(140),
                "round {round}: a task waited {:?} behind the stalled worker",
                start.elapsed()
            );
            rt.block_on(blocker);
        }
        assert!(rt.metrics().stalls_detected >= 2);
    });
}

#[test]
fn a_poll_spinning_on_the_cpu_counts_as_a_stall_after_a_longer_grace() {
    let reports = Arc::new(Mutex::new(Vec::<StallReport>::new()));
    let sink = reports.clone();
    let rt = Runtime::builder()
        .workers(2)
        .stall_threshold(Duration::from_millis(10))
        .on_stall(move |report| sink.lock().unwrap().push(report.clone()))
        .build()
        .unwrap();
    // Runnable all along (computing, not asleep in the kernel): a preempted worker looks the
    // same, so it gets five thresholds before it is called stalled.
    rt.block_on(rt.spawn(async {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            std::hint::spin_loop();
        }
    }));
    wait_until("the stall ends", LIMIT, || {
        reports.lock().unwrap().iter().any(|r| r.ended)
    });
    let reports = reports.lock().unwrap();
    let start = reports
        .iter()
        .find(|r| !r.ended)
        .expect("a CPU-bound stall is reported");
    assert!(
        start.blocked_for >= Duration::from_millis(45),
        "reported after {:?}, before the grace for runnable workers",
        start.blocked_for
    );
}

#[test]
fn p4_holds_after_a_long_idle_too_when_the_monitor_waits_longer() {
    let gap = watchdog("p4 after idle", LIMIT, || {
        let rt = Runtime::builder()
            .workers(2)
            .on_stall(|_| {})
            .build()
            .unwrap();
        // Every worker parked for a while: the monitor has backed off to its long wait.
        std::thread::sleep(Duration::from_millis(800));
        largest_tick_gap(&rt, 2, Duration::from_millis(400))
    });
    println!("largest gap after a long idle: {gap:?}");
    assert!(
        gap < Duration::from_millis(250),
        "the ticker stalled for {gap:?}"
    );
}
