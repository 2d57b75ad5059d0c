//! 15. Testing without waiting and without luck: virtual time and seeded schedules
//!
//! .NET's `FakeTimeProvider`, plus a scheduler you can replay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant as WallClock};

use brigade::time::{sleep, Instant};
use brigade::Runtime;

use crate::common::{chapter, ms, say, show};

/// The code under test: call `attempt` until it succeeds, waiting 100 ms, 200 ms, 400 ms ...
/// (doubling, capped at 5 minutes) between tries, and give up once `budget` has passed.
async fn retry_with_backoff<T, E, F, Fut>(budget: Duration, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if start.elapsed() + delay > budget => return Err(error),
            Err(_) => {
                sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(300));
            }
        }
    }
}

/// A flaky service that answers only once it has been down for `outage` (virtual time).
fn flaky_service(
    outage: Duration,
) -> impl FnMut() -> std::future::Ready<Result<&'static str, String>> {
    let since = Instant::now();
    let mut calls = 0;
    move || {
        calls += 1;
        std::future::ready(if since.elapsed() >= outage {
            Ok("up")
        } else {
            Err(format!("down (call {calls} at +{:?})", since.elapsed()))
        })
    }
}

/// The planted bug: `deposit` reads the balance, awaits something (an audit log write), then
/// writes back — a lost update when another deposit runs in between.
async fn two_deposits() -> u64 {
    let balance = Arc::new(AtomicU64::new(100));
    let deposit = |name: &'static str, amount: u64, audits: bool| {
        let balance = balance.clone();
        brigade::spawn_named(name, async move {
            let read = balance.load(Ordering::SeqCst);
            if audits {
                brigade::yield_now().await; // the audit log write
            }
            balance.store(read + amount, Ordering::SeqCst);
        })
    };
    let a = deposit("deposit-a", 10, true);
    let b = deposit("deposit-b", 20, false);
    a.await;
    b.await;
    balance.load(Ordering::SeqCst)
}

fn run_seed(seed: u64) -> (u64, brigade::runtime::ScheduleTrace) {
    let rt = Runtime::builder()
        .deterministic(seed)
        .build()
        .expect("deterministic runtime");
    let balance = rt.block_on(rt.spawn(two_deposits()));
    (balance, rt.schedule_trace().expect("deterministic"))
}

pub(crate) fn ch15_virtual_time() -> std::io::Result<()> {
    chapter("15. Testing without waiting and without luck: virtual time and seeded schedules");
    say(
        "Code full of timers — retries, timeouts, leases — is slow to test if the test really \
         waits. .NET tests it with FakeTimeProvider; brigade pauses the runtime's clock: \
         Builder::start_paused(true) (or brigade::time::pause()). Paused, \
         brigade::time::Instant::now() moves only when told to (advance) or when nothing else \
         can happen: every worker idle, nothing queued, the test asleep in block_on — then the \
         clock jumps to the next timer and fires it. A retry-with-backoff against a service \
         that is down for 45 minutes:",
    );
    let rt = Runtime::builder().workers(2).start_paused(true).build()?;
    let wall = WallClock::now();
    let (outcome, virtual_elapsed) = rt.block_on(async {
        // The service is made inside the runtime: outside it, Instant::now() is real time.
        let start = Instant::now();
        let outcome = retry_with_backoff(
            Duration::from_secs(3600),
            flaky_service(Duration::from_secs(45 * 60)),
        )
        .await;
        (outcome, start.elapsed())
    });
    show(&format!(
        "retry_with_backoff returned {outcome:?} after {virtual_elapsed:?} of virtual time, in \
         {} of real time",
        ms(wall.elapsed())
    ));
    let wall = WallClock::now();
    let (gave_up, virtual_elapsed) = rt.block_on(async {
        // The service is made inside the runtime: outside it, Instant::now() is real time.
        let start = Instant::now();
        let outcome = retry_with_backoff(
            Duration::from_secs(3600),
            flaky_service(Duration::from_secs(24 * 3600)),
        )
        .await;
        (outcome, start.elapsed())
    });
    show(&format!(
        "against a service down all day it gives up within its hour budget, after \
         {virtual_elapsed:?} virtual: {gave_up:?} ({} real)",
        ms(wall.elapsed())
    ));
    drop(rt);

    say(
        "Races are the other thing tests find only by luck. Builder::deterministic(seed) runs \
         every task on one thread and draws the next task to poll with a PRNG seeded by \
         `seed`; time is virtual. The same seed polls the same tasks in the same order \
         (Runtime::schedule_trace prints it), other seeds try other orders. Two deposits of \
         10 and 20 into a balance of 100, one of which awaits an audit write between its \
         read and its write — searched over seeds:",
    );
    let wall = WallClock::now();
    let mut tried = 0;
    let failing = (0..1000).find(|&seed| {
        tried += 1;
        run_seed(seed).0 != 130
    });
    match failing {
        Some(seed) => {
            let (balance, trace) = run_seed(seed);
            show(&format!(
                "seed {seed} ({tried} seed(s) tried in {}) ends with a balance of {balance}, \
                 not 130; replayed, it does it again, poll for poll:",
                ms(wall.elapsed())
            ));
            for line in trace.to_string().lines() {
                show(&format!("    task {line}"));
            }
            assert_eq!(run_seed(seed), (balance, trace));
            say(
                "In a test, #[brigade::test(seeds = 1000)] does the search: on failure it prints \
                 the seed and a command replaying just it (BRIGADE_SEED=<seed> cargo test ...). \
                 What stays non-deterministic: block_on's own body (the attribute spawns the \
                 test as a task), brigade::run closures and other threads, real sockets, and \
                 std's Instant.",
            );
        }
        None => show("no seed in 1000 found the lost update (that would be a surprise)"),
    }
    Ok(())
}
