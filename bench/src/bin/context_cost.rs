//! What an `AsyncLocal` costs (issue 4's "cost" question): time per spawn+await and per poll
//! (a `yield_now` round trip) on a one-worker brigade runtime, with no value set and with one
//! value set. Best of several runs, in nanoseconds.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin context_cost
//! ```

use std::time::{Duration, Instant};

use brigade::context::AsyncLocal;

static REQUEST_ID: AsyncLocal<u64> = AsyncLocal::new();

const SPAWNS: u64 = 100_000;
const YIELDS: u64 = 200_000;
const RUNS: usize = 7;

fn best(mut run: impl FnMut() -> Duration) -> Duration {
    (0..RUNS).map(|_| run()).min().unwrap()
}

fn main() {
    let rt = brigade::Runtime::builder().workers(1).build().unwrap();
    let measure = |with_value: bool| {
        let spawn = best(|| {
            rt.block_on(rt.spawn(async move {
                if with_value {
                    REQUEST_ID.set(7);
                }
                let start = Instant::now();
                for _ in 0..SPAWNS {
                    brigade::spawn(async { REQUEST_ID.get().unwrap_or(0) }).await;
                }
                start.elapsed()
            }))
        });
        let poll = best(|| {
            rt.block_on(rt.spawn(async move {
                if with_value {
                    REQUEST_ID.set(7);
                }
                let start = Instant::now();
                for _ in 0..YIELDS {
                    brigade::yield_now().await;
                }
                start.elapsed()
            }))
        });
        (
            spawn.as_nanos() as f64 / SPAWNS as f64,
            poll.as_nanos() as f64 / YIELDS as f64,
        )
    };
    let (spawn_without, poll_without) = measure(false);
    let (spawn_with, poll_with) = measure(true);
    println!("| one worker, best of {RUNS} | no AsyncLocal set | one value set | extra |");
    println!("|---|---:|---:|---:|");
    println!(
        "| spawn + await a task | {spawn_without:.0} ns | {spawn_with:.0} ns | {:+.0} ns |",
        spawn_with - spawn_without
    );
    println!(
        "| one poll (a yield_now round trip) | {poll_without:.0} ns | {poll_with:.0} ns | {:+.0} ns |",
        poll_with - poll_without
    );
}
