//! Virtual time (V1-V3): a paused clock moves only by `advance` and auto-advance, timers fire
//! in deadline order, and sleeps, timeouts, intervals, `cancel_after` and hyper's timer land
//! exactly on their virtual deadlines — on one worker or many, without waiting for real.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brigade::time::{advance, interval, pause, resume, sleep, timeout, Instant};
use brigade::Runtime;
use brigade_test_support::watchdog;

fn paused(workers: usize) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// The limit on real time for work that takes hours of virtual time: generous for a loaded
/// machine, far below what the work would take for real.
const REAL_LIMIT: Duration = Duration::from_secs(60);

#[test]
fn v1_paused_time_stands_still_while_a_task_is_runnable() {
    watchdog("v1", REAL_LIMIT, || {
        let rt = paused(2);
        rt.block_on(async {
            let start = Instant::now();
            let slept = Arc::new(AtomicBool::new(false));
            let sleeper = {
                let slept = slept.clone();
                brigade::spawn(async move {
                    sleep(Duration::from_secs(1)).await;
                    slept.store(true, Ordering::SeqCst);
                })
            };
            // A task that stays runnable (yielding) while real time passes: virtual time must
            // not move, so the sleeper cannot wake.
            let busy = brigade::spawn(async move {
                for _ in 0..200 {
                    brigade::yield_now().await;
                    std::thread::sleep(Duration::from_micros(100));
                    assert_eq!(
                        Instant::now(),
                        start,
                        "time moved while a task was runnable"
                    );
                }
            });
            busy.await;
            assert!(!slept.load(Ordering::SeqCst));
            assert_eq!(Instant::now(), start);
            sleeper.await;
            assert_eq!(start.elapsed(), Duration::from_secs(1));
        });
    });
}

#[test]
fn v1_advance_moves_the_clock_by_exactly_the_amount_and_fires_what_is_due() {
    watchdog("v1 advance", REAL_LIMIT, || {
        let rt = paused(2);
        rt.block_on(async {
            let start = Instant::now();
            let fired = Arc::new(AtomicBool::new(false));
            let sleeper = {
                let fired = fired.clone();
                brigade::spawn(async move {
                    sleep(Duration::from_secs(30)).await;
                    fired.store(true, Ordering::SeqCst);
                })
            };
            brigade::yield_now().await; // let it register
            advance(Duration::from_secs(29)).await;
            assert_eq!(start.elapsed(), Duration::from_secs(29));
            assert!(!fired.load(Ordering::SeqCst));
            advance(Duration::from_secs(1)).await;
            assert_eq!(start.elapsed(), Duration::from_secs(30));
            sleeper.await;
            assert!(fired.load(Ordering::SeqCst));
        });
    });
}

#[test]
fn v1_pause_and_resume_in_a_running_runtime() {
    watchdog("v1 pause", REAL_LIMIT, || {
        let rt = brigade_test_support::rt(2);
        rt.block_on(async {
            assert!(!brigade::time::is_paused());
            pause();
            assert!(brigade::time::is_paused());
            let frozen = Instant::now();
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(Instant::now(), frozen, "a paused clock stands still");
            advance(Duration::from_secs(5)).await;
            assert_eq!(Instant::now() - frozen, Duration::from_secs(5));
            resume();
            assert!(!brigade::time::is_paused());
            // Real time flows again, from where virtual time stood.
            let resumed = Instant::now();
            assert!(resumed - frozen >= Duration::from_secs(5));
            sleep(Duration::from_millis(10)).await;
            assert!(Instant::now() - resumed >= Duration::from_millis(10));
        });
    });
}

#[test]
#[should_panic(expected = "the clock is not paused")]
fn v1_advance_on_a_running_clock_says_to_pause_first() {
    brigade_test_support::quiet_expected_panics();
    let rt = brigade_test_support::rt(1);
    rt.block_on(async { advance(Duration::from_secs(1)).await });
}

fn deadline_order(workers: usize) {
    let rt = paused(workers);
    let fired: Arc<Mutex<Vec<(u64, Duration)>>> = Arc::default();
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..60u64)
            .map(|i| {
                // Deadlines out of spawn order, from 1 s to 60 min.
                let secs = (i * 37) % 60 * 60 + 1;
                let fired = fired.clone();
                brigade::spawn(async move {
                    sleep(Duration::from_secs(secs)).await;
                    fired.lock().unwrap().push((secs, start.elapsed()));
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
    let fired = fired.lock().unwrap();
    assert_eq!(fired.len(), 60);
    for (secs, at) in fired.iter() {
        assert_eq!(
            *at,
            Duration::from_secs(*secs),
            "a sleep woke off its deadline"
        );
    }
    let order: Vec<u64> = fired.iter().map(|(secs, _)| *secs).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "timers fired out of deadline order");
}

#[test]
fn v2_auto_advance_fires_timers_in_deadline_order_on_one_worker() {
    watchdog("v2 one worker", REAL_LIMIT, || deadline_order(1));
}

#[test]
fn v2_auto_advance_fires_timers_in_deadline_order_on_four_workers() {
    watchdog("v2 four workers", REAL_LIMIT, || deadline_order(4));
}

#[test]
fn v2_auto_advance_waits_for_blocking_closures() {
    watchdog("v2 blocking", REAL_LIMIT, || {
        let rt = paused(2);
        rt.block_on(async {
            let start = Instant::now();
            // 50 ms of real work inside a 10 ms virtual timeout: time must not jump while the
            // closure runs, so the timeout does not elapse.
            let work = brigade::run(|| {
                std::thread::sleep(Duration::from_millis(50));
                7
            });
            assert_eq!(timeout(Duration::from_millis(10), work).await, Ok(7));
            assert_eq!(Instant::now(), start);
        });
    });
}

#[test]
fn v3_a_one_hour_sleep_completes_at_exactly_one_virtual_hour() {
    let real = std::time::Instant::now();
    watchdog("v3 hour", REAL_LIMIT, || {
        let rt = paused(2);
        let took = rt.block_on(async {
            let start = Instant::now();
            sleep(Duration::from_secs(3600)).await;
            start.elapsed()
        });
        assert_eq!(took, Duration::from_secs(3600));
    });
    assert!(real.elapsed() < REAL_LIMIT);
}

#[test]
fn v3_timeouts_elapse_at_exactly_their_duration() {
    watchdog("v3 timeout", REAL_LIMIT, || {
        let rt = paused(3);
        rt.block_on(async {
            let start = Instant::now();
            let late = timeout(Duration::from_secs(30), std::future::pending::<()>()).await;
            assert!(late.is_err());
            assert_eq!(start.elapsed(), Duration::from_secs(30));
            let on_time = timeout(Duration::from_secs(30), sleep(Duration::from_secs(29))).await;
            assert!(on_time.is_ok());
            assert_eq!(start.elapsed(), Duration::from_secs(59));
        });
    });
}

#[test]
fn v3_interval_ticks_exactly_a_period_apart() {
    watchdog("v3 interval", REAL_LIMIT, || {
        let rt = paused(2);
        rt.block_on(async {
            let mut ticker = interval(Duration::from_millis(250));
            let first = ticker.tick().await;
            for n in 1..=40u32 {
                let scheduled = ticker.tick().await;
                assert_eq!(scheduled - first, Duration::from_millis(250) * n);
                assert_eq!(Instant::now(), scheduled, "a tick fired off its grid");
            }
        });
    });
}

#[test]
fn v3_cancel_after_follows_virtual_time() {
    watchdog("v3 cancel_after", REAL_LIMIT, || {
        let rt = paused(2);
        rt.block_on(async {
            let start = Instant::now();
            let source = brigade::cancel::CancellationTokenSource::new();
            source.cancel_after(Duration::from_secs(600));
            source.token().cancelled().await;
            assert_eq!(start.elapsed(), Duration::from_secs(600));
        });
    });
}

#[test]
fn v3_hyper_timer_follows_virtual_time() {
    use hyper::rt::Timer;
    watchdog("v3 hyper", REAL_LIMIT, || {
        let rt = paused(2);
        rt.block_on(async {
            let timer = brigade::compat::hyper::BrigadeTimer;
            let start = Instant::now();
            assert_eq!(timer.now(), start.into_std());
            timer.sleep(Duration::from_secs(45)).await;
            assert_eq!(start.elapsed(), Duration::from_secs(45));
            let deadline = timer.now() + Duration::from_secs(15);
            timer.sleep_until(deadline).await;
            assert_eq!(start.elapsed(), Duration::from_secs(60));
        });
    });
}

#[brigade::test(start_paused = true)]
async fn v3_the_test_attribute_starts_paused() {
    let start = Instant::now();
    sleep(Duration::from_secs(24 * 3600)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(24 * 3600));
}

#[test]
fn v3_std_instants_still_work_as_deadlines() {
    let rt = brigade_test_support::rt(1);
    rt.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_millis(5);
        brigade::time::sleep_until(deadline).await;
        assert!(std::time::Instant::now() >= deadline);
        let t = brigade::time::timeout_at(deadline, async { 1 }).await;
        assert_eq!(t, Ok(1));
    });
}

#[test]
fn the_dump_counts_a_sleeps_time_left_on_the_virtual_clock() {
    watchdog("virtual time left", REAL_LIMIT, || {
        let rt = paused(1);
        rt.block_on(async {
            let time_left = || {
                let dump = brigade::Handle::current().dump();
                let left = dump.tasks.iter().find_map(|task| {
                    match task.wait.as_ref().map(|wait| &wait.detail) {
                        Some(brigade::runtime::WaitDetail::Timer { remaining, .. }) => {
                            Some(*remaining)
                        }
                        _ => None,
                    }
                });
                (left, dump)
            };
            let sleeper = brigade::spawn(async { sleep(Duration::from_secs(10)).await });
            // The worker registers the sleep (real time passes; virtual time does not).
            while time_left().0.is_none() {
                std::thread::sleep(Duration::from_millis(1));
            }
            advance(Duration::from_secs(3)).await;
            let (left, dump) = time_left();
            // 7 s of virtual time are left, however little real time passed.
            assert_eq!(left, Some(Duration::from_secs(7)), "{dump}");
            advance(Duration::from_secs(7)).await;
            sleeper.await;
        });
    });
}
