//! Time: T1, T3, T4 of docs/SEMANTICS.md, T2's timer count, plus the timer driver's edges (T2's
//! memory and T5 count allocations, so they live in allocations.rs). Timing bounds are wide:
//! the machine is shared.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use brigade::time::{
    interval, interval_at, sleep, sleep_until, timeout, timeout_at, Elapsed, MissedTicks,
};
use brigade_test_support::{
    counting_waker, panic_text, poll_once, quiet_expected_panics, rt, watchdog, DropFlag,
};

#[test]
fn t1_sleep_never_completes_before_its_duration() {
    let rt = rt(2);
    let early = watchdog("t1 never early", Duration::from_secs(20), move || {
        rt.block_on(async {
            let sleepers = (0..200u64).map(|i| {
                brigade::spawn(async move {
                    let duration = Duration::from_micros(100 + i * 257);
                    let start = Instant::now();
                    sleep(duration).await;
                    let slept = start.elapsed();
                    (slept < duration).then_some((duration, slept))
                })
            });
            brigade::when_all(sleepers)
                .await
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
        })
    });
    assert!(early.is_empty(), "sleeps finished early: {early:?}");
}

#[test]
fn t1_sleep_completes_soon_after_its_deadline_under_light_load() {
    let rt = rt(2);
    let mut lateness = watchdog("t1 on time", Duration::from_secs(20), move || {
        rt.block_on(rt.spawn(async {
            let mut lateness = Vec::new();
            for _ in 0..15 {
                let start = Instant::now();
                sleep(Duration::from_millis(20)).await;
                lateness.push(start.elapsed() - Duration::from_millis(20));
            }
            lateness
        }))
    });
    lateness.sort();
    let median = lateness[lateness.len() / 2];
    println!(
        "sleep(20 ms) lateness: min {:?}, median {median:?}",
        lateness[0]
    );
    // The promise is 2 ms; the bound leaves room for a loaded test machine. A driver that
    // misses its park timeout (or a wheel that fires a level late) is off by 64 ms or more.
    assert!(
        median <= Duration::from_millis(12),
        "sleep(20 ms) fired a median {median:?} late (all: {lateness:?})"
    );
}

#[test]
fn t1_a_zero_sleep_is_ready_at_once_even_outside_a_runtime() {
    let mut zero = Box::pin(sleep(Duration::ZERO));
    assert_eq!(poll_once(&mut zero), Poll::Ready(()));
    let mut past = Box::pin(sleep_until(Instant::now() - Duration::from_secs(1)));
    assert_eq!(poll_once(&mut past), Poll::Ready(()));
}

#[test]
fn t3_timeout_gives_elapsed_after_the_duration_and_drops_the_future_then() {
    let rt = rt(2);
    watchdog("t3 elapsed", Duration::from_secs(20), move || {
        rt.block_on(async {
            let dropped = Arc::new(AtomicBool::new(false));
            let guard = DropFlag(dropped.clone());
            let start = Instant::now();
            let mut slow = pin!(timeout(Duration::from_millis(30), async move {
                let _guard = guard;
                sleep(Duration::from_secs(60)).await;
                "finished"
            }));
            let result = slow.as_mut().await;
            assert_eq!(result, Err(Elapsed::default_for_tests()));
            assert!(start.elapsed() >= Duration::from_millis(30));
            assert!(start.elapsed() < Duration::from_secs(10));
            // Dropped when the time ran out, while the Timeout itself is still alive.
            assert!(
                dropped.load(Ordering::SeqCst),
                "the timed-out future was not dropped"
            );
            assert!(slow.get_ref().is_none());
        })
    });
}

/// `Elapsed` has no public constructor; get one from a timeout that has certainly run out.
trait ElapsedForTests {
    fn default_for_tests() -> Elapsed;
}

impl ElapsedForTests for Elapsed {
    fn default_for_tests() -> Elapsed {
        let mut past = Box::pin(timeout_at(Instant::now(), std::future::pending::<()>()));
        // A deadline already passed: elapsed on the first poll, no runtime needed.
        match poll_once(&mut past) {
            Poll::Ready(Err(elapsed)) => elapsed,
            other => panic!("a past deadline gave {other:?}"),
        }
    }
}

#[test]
fn t3_timeout_gives_the_value_when_the_future_finishes_first() {
    let rt = rt(2);
    watchdog("t3 ok", Duration::from_secs(20), move || {
        rt.block_on(async {
            let fast = timeout(Duration::from_secs(30), async {
                sleep(Duration::from_millis(5)).await;
                42
            });
            assert_eq!(fast.await, Ok(42));
            // Ready on its first poll: Ok even with a zero timeout.
            assert_eq!(timeout(Duration::ZERO, async { 7 }).await, Ok(7));
            let display = Elapsed::default_for_tests().to_string();
            assert!(display.contains("elapsed"), "{display}");
        })
    });
}

/// Runs an interval with `period`, stalls the ticking thread for `stall` after the first two
/// ticks, then records the scheduled instants of the next `n` ticks (relative to the start).
fn ticks_after_a_stall(
    missed: MissedTicks,
    period: Duration,
    stall: Duration,
    n: usize,
) -> Vec<Duration> {
    let rt = rt(2);
    watchdog("t4 interval", Duration::from_secs(20), move || {
        rt.block_on(async move {
            let start = Instant::now();
            let mut ticker = interval_at(start, period);
            ticker.set_missed_ticks(missed);
            assert_eq!(ticker.missed_ticks(), missed);
            assert_eq!(
                ticker.tick().await,
                start,
                "the first tick is at the start, at once"
            );
            assert_eq!(ticker.tick().await, start + period);
            // Busy past several deadlines (blocking on purpose: the ticks are missed).
            std::thread::sleep(stall);
            let mut ticks = Vec::new();
            for _ in 0..n {
                ticks.push(ticker.tick().await - start);
            }
            ticks
        })
    })
}

#[test]
fn t4_interval_default_skips_missed_ticks_and_stays_on_its_grid() {
    assert_eq!(MissedTicks::default(), MissedTicks::Skip);
    let period = Duration::from_millis(20);
    let ticks = ticks_after_a_stall(MissedTicks::Skip, period, Duration::from_millis(70), 3);
    // One late tick at once (the one due at 40 ms), then the next grid point after the stall.
    assert_eq!(ticks[0], period * 2, "ticks: {ticks:?}");
    assert!(ticks[1] > Duration::from_millis(90), "ticks: {ticks:?}");
    for pair in ticks.windows(2).skip(1) {
        // One period apart, unless the loaded machine made us miss another tick.
        assert!(pair[1] - pair[0] >= period, "ticks: {ticks:?}");
    }
    for tick in &ticks {
        assert_eq!(tick.as_millis() % 20, 0, "off the grid: {ticks:?}");
    }
}

#[test]
fn t4_interval_burst_fires_every_missed_tick_back_to_back() {
    let period = Duration::from_millis(20);
    let ticks = ticks_after_a_stall(MissedTicks::Burst, period, Duration::from_millis(70), 4);
    // Every grid point is delivered, none skipped: 40, 60, 80, 100 ms.
    let expected: Vec<Duration> = (2..6).map(|k| period * k).collect();
    assert_eq!(ticks, expected);
}

#[test]
fn t4_interval_delay_restarts_the_period_from_the_late_tick() {
    let period = Duration::from_millis(20);
    let ticks = ticks_after_a_stall(MissedTicks::Delay, period, Duration::from_millis(70), 3);
    assert_eq!(ticks[0], period * 2, "ticks: {ticks:?}");
    // The next tick is a period after the late one was *taken* (≥ 90 ms), off the old grid.
    assert!(ticks[1] >= Duration::from_millis(90), "ticks: {ticks:?}");
    // At least a period apart (exactly one when the tick was taken on time; a loaded machine
    // taking it late restarts the period again, which is the point of Delay).
    assert!(ticks[2] - ticks[1] >= period, "ticks: {ticks:?}");
}

#[test]
fn t4_interval_ticks_are_a_period_apart_without_stalls() {
    let rt = rt(2);
    let gaps = watchdog("interval", Duration::from_secs(20), move || {
        rt.block_on(rt.spawn(async {
            let mut ticker = interval(Duration::from_millis(10));
            let mut last = ticker.tick().await;
            let mut gaps = Vec::new();
            for _ in 0..5 {
                let start = Instant::now();
                let tick = ticker.tick().await;
                gaps.push((tick - last, start.elapsed()));
                last = tick;
            }
            gaps
        }))
    });
    // Each tick is on the grid, one period after the last — or a whole number of periods when
    // the noisy test machine made us miss one (Skip, the default).
    for (scheduled_gap, _waited) in &gaps {
        let gap = scheduled_gap.as_nanos();
        let period = Duration::from_millis(10).as_nanos();
        assert!(gap >= period && gap % period == 0, "{gaps:?}");
    }
    assert!(
        gaps.iter()
            .filter(|(gap, _)| *gap == Duration::from_millis(10))
            .count()
            >= 2,
        "most ticks come one period apart: {gaps:?}"
    );
}

#[test]
fn an_interval_with_a_zero_period_is_refused_with_a_clear_message() {
    let payload = catch_unwind(|| interval(Duration::ZERO)).expect_err("a zero period must panic");
    let message = panic_text(&*payload);
    assert!(message.contains("greater than zero"), "{message}");
    assert!(message.contains("yield_now"), "{message}");
}

#[test]
fn far_deadlines_saturate_instead_of_overflowing() {
    let rt = rt(2);
    watchdog("saturate", Duration::from_secs(20), move || {
        rt.block_on(async {
            let mut forever = pin!(sleep(Duration::MAX));
            poll_fn(|cx| {
                assert!(forever.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert!(forever.deadline() > Instant::now() + Duration::from_secs(3600 * 24 * 365));
            assert_eq!(timeout(Duration::MAX, async { 1 }).await, Ok(1));
            let long = timeout(
                Duration::from_secs(u64::MAX),
                sleep(Duration::from_millis(1)),
            );
            assert_eq!(long.await, Ok(()));
            let mut ticker = interval(Duration::MAX);
            ticker.tick().await;
        })
    });
}

#[test]
fn sleeps_work_from_block_on_threads_and_the_default_runtime() {
    let rt = rt(2);
    let start = Instant::now();
    rt.block_on(sleep(Duration::from_millis(15)));
    assert!(start.elapsed() >= Duration::from_millis(15));
    // Outside any runtime: the default runtime's wheel.
    let start = Instant::now();
    brigade::block_on(sleep(Duration::from_millis(15)));
    assert!(start.elapsed() >= Duration::from_millis(15));
    // From several foreign threads at once.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let handle = rt.handle().clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                handle.block_on(sleep(Duration::from_millis(10 + i)));
                start.elapsed()
            })
        })
        .collect();
    for (i, thread) in threads.into_iter().enumerate() {
        let took = thread.join().unwrap();
        assert!(took >= Duration::from_millis(10 + i as u64));
        assert!(
            took < Duration::from_secs(5),
            "a foreign-thread sleep took {took:?}"
        );
    }
}

#[test]
fn an_earlier_timer_wakes_the_driver_parked_for_a_later_one() {
    let rt = rt(2);
    watchdog("earlier timer", Duration::from_secs(20), move || {
        // The driving worker parks until the 3 s timer...
        let _long = rt.spawn(sleep(Duration::from_secs(3)));
        std::thread::sleep(Duration::from_millis(20));
        // ...and must wake for this one.
        let start = Instant::now();
        rt.block_on(sleep(Duration::from_millis(10)));
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "10 ms sleep took {took:?}");
    });
}

#[test]
fn timers_fire_while_every_worker_is_busy() {
    let rt = rt(2);
    watchdog("busy pool", Duration::from_secs(20), move || {
        rt.block_on(async {
            let stop = Arc::new(AtomicBool::new(false));
            // Two tasks that never park, only yield: nobody holds the driving role by parking.
            let spinners: Vec<_> = (0..2)
                .map(|_| {
                    let stop = stop.clone();
                    brigade::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            brigade::yield_now().await;
                        }
                    })
                })
                .collect();
            let start = Instant::now();
            sleep(Duration::from_millis(20)).await;
            let took = start.elapsed();
            stop.store(true, Ordering::Relaxed);
            brigade::when_all(spinners).await;
            assert!(took >= Duration::from_millis(20));
            assert!(
                took < Duration::from_secs(2),
                "a sleep in a busy pool took {took:?}"
            );
        })
    });
}

#[test]
fn ten_thousand_sleeps_all_fire_and_the_wheel_empties() {
    let rt = rt(2);
    let handle = rt.handle().clone();
    let fired = Arc::new(AtomicUsize::new(0));
    let counted = fired.clone();
    watchdog("10k sleeps", Duration::from_secs(30), move || {
        handle.block_on(async move {
            let sleepers = (0..10_000u64).map(|i| {
                let fired = counted.clone();
                brigade::spawn(async move {
                    sleep(Duration::from_millis(1 + i % 50)).await;
                    fired.fetch_add(1, Ordering::Relaxed);
                })
            });
            brigade::when_all(sleepers).await;
        })
    });
    assert_eq!(fired.load(Ordering::Relaxed), 10_000);
    let metrics = rt.metrics();
    assert_eq!(metrics.timers_pending, 0);
    assert!(metrics.timers_fired >= 10_000, "{metrics:?}");
}

#[test]
fn t2_dropping_pending_sleeps_removes_their_timers() {
    let rt = rt(2);
    let handle = rt.handle().clone();
    rt.block_on(async move {
        let mut sleeps: Vec<_> = (0..1000)
            .map(|i| Box::pin(sleep(Duration::from_secs(10 + i))))
            .collect();
        poll_fn(|cx| {
            for s in &mut sleeps {
                assert!(s.as_mut().poll(cx).is_pending());
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!(handle.metrics().timers_pending, 1000);
    });
    assert_eq!(rt.metrics().timers_pending, 0);
}

#[test]
fn a_reset_sleep_stays_armed_without_a_new_poll() {
    let rt = rt(2);
    watchdog("reset", Duration::from_secs(20), move || {
        rt.block_on(async {
            let start = Instant::now();
            let mut s = pin!(sleep(Duration::from_secs(60)));
            // Register with the 60 s deadline, then pull it in without polling in between.
            poll_fn(|cx| {
                assert!(s.as_mut().poll(cx).is_pending());
                s.as_mut().reset(Instant::now() + Duration::from_millis(15));
                Poll::Ready(())
            })
            .await;
            s.as_mut().await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(15) && took < Duration::from_secs(5));
            assert!(s.is_elapsed());
            // A completed sleep re-armed by reset waits again.
            let again = Instant::now();
            s.as_mut().reset(Instant::now() + Duration::from_millis(15));
            assert!(!s.is_elapsed());
            s.as_mut().await;
            assert!(again.elapsed() >= Duration::from_millis(15));
        })
    });
}

#[test]
fn a_sleep_outliving_its_runtime_says_so_instead_of_hanging() {
    quiet_expected_panics();
    let rt = rt(2);
    let mut orphan = Box::pin(sleep(Duration::from_secs(60)));
    let (wakes, waker) = counting_waker();
    {
        let _entered = rt.handle();
        rt.block_on(poll_fn(|_| {
            assert!(orphan
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            Poll::Ready(())
        }));
    }
    drop(rt);
    assert!(
        wakes.0.load(Ordering::SeqCst) >= 1,
        "shutdown must wake waiting timers"
    );
    let payload = catch_unwind(AssertUnwindSafe(|| {
        let _ = orphan.as_mut().poll(&mut Context::from_waker(&waker));
    }))
    .expect_err("polling a sleep whose runtime is gone must panic");
    let message = panic_text(&*payload);
    assert!(message.contains("shut down"), "{message}");
}

#[test]
fn k9_a_sleep_and_a_timeout_under_a_token_end_promptly_on_cancel() {
    use brigade::cancel::CancellationTokenSource;
    use brigade::prelude::*;
    let rt = rt(2);
    watchdog("k9 timers", Duration::from_secs(20), move || {
        rt.block_on(async {
            for waiting_on in ["sleep", "timeout"] {
                let source = CancellationTokenSource::new();
                let token = source.token();
                let canceller = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    let at = Instant::now();
                    source.cancel();
                    at
                });
                let cancelled = if waiting_on == "sleep" {
                    sleep(Duration::from_secs(60))
                        .with_cancellation(&token)
                        .await
                        .is_err()
                } else {
                    timeout(Duration::from_secs(60), std::future::pending::<()>())
                        .with_cancellation(&token)
                        .await
                        .is_err()
                };
                let woke = Instant::now();
                let cancelled_at = canceller.join().unwrap();
                assert!(cancelled, "{waiting_on} must end as cancelled");
                let reaction = woke - cancelled_at;
                assert!(
                    reaction < Duration::from_millis(500),
                    "{waiting_on} reacted {reaction:?} after the cancel"
                );
            }
            // The cancelled sleeps left the wheel.
            assert_eq!(brigade::Handle::current().metrics().timers_pending, 0);
        })
    });
}

#[test]
fn a_sleep_ready_on_its_first_poll_reports_elapsed() {
    let mut zero = Box::pin(sleep(Duration::ZERO));
    assert!(!zero.is_elapsed());
    assert_eq!(poll_once(&mut zero), Poll::Ready(()));
    assert!(zero.is_elapsed());
}
