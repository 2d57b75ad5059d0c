//! Thread-pool starvation, side by side (seed sections 2 and 13D): every worker is blocked by a
//! task running `std::thread::sleep(1 s)` while a task ticks every 1 ms; the figure is the
//! ticker's largest gap between two ticks.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin starvation -- [--workers N] [--rounds N]
//! ```
//!
//! tokio has no stall detection: its ticker waits for a worker to come back (about the full
//! second). brigade's monitor notices the stalled workers and starts spares.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BLOCK: Duration = Duration::from_secs(1);

fn ticker_body(stop: Arc<AtomicBool>) -> impl FnMut(Instant) -> Option<Duration> {
    let mut last = None;
    let mut largest = Duration::ZERO;
    move |now| {
        if let Some(last) = last {
            largest = largest.max(now - last);
        }
        last = Some(now);
        stop.load(Ordering::Relaxed).then_some(largest)
    }
}

fn brigade_gap(workers: usize) -> Duration {
    let rt = brigade::Runtime::builder()
        .workers(workers)
        .on_stall(|_| {})
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut body = ticker_body(stop.clone());
    let ticker = rt.spawn(async move {
        let mut ticks = brigade::time::interval(Duration::from_millis(1));
        loop {
            ticks.tick().await;
            if let Some(largest) = body(Instant::now()) {
                return largest;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    let blockers: Vec<_> = (0..workers)
        .map(|_| rt.spawn(async { std::thread::sleep(BLOCK) }))
        .collect();
    for blocker in blockers {
        rt.block_on(blocker);
    }
    stop.store(true, Ordering::Relaxed);
    rt.block_on(ticker)
}

fn tokio_gap(workers: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut body = ticker_body(stop.clone());
    let ticker = rt.spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(1));
        loop {
            ticks.tick().await;
            if let Some(largest) = body(Instant::now()) {
                return largest;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    let blockers: Vec<_> = (0..workers)
        .map(|_| rt.spawn(async { std::thread::sleep(BLOCK) }))
        .collect();
    for blocker in blockers {
        rt.block_on(blocker).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    rt.block_on(ticker).unwrap()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() -> ExitCode {
    let mut workers = 2;
    let mut rounds = 3;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<usize>().ok());
        match (flag.as_str(), value) {
            ("--workers", Some(n)) => workers = n,
            ("--rounds", Some(n)) => rounds = n.max(1),
            _ => {
                eprintln!("usage: starvation [--workers N] [--rounds N]");
                return ExitCode::FAILURE;
            }
        }
    }
    let (mut brigade, mut tokio) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let t = tokio_gap(workers);
        let b = brigade_gap(workers);
        eprintln!("round {round}: tokio {t:?}, brigade {b:?}");
        tokio.push(t);
        brigade.push(b);
    }
    let (t, b) = (median(tokio), median(brigade));
    println!();
    println!("| starvation: {workers} workers each blocked 1 s by `std::thread::sleep`, median of {rounds} | tokio | brigade |");
    println!("|---|---:|---:|");
    println!("| largest gap of a 1 ms ticker (lower is better; target brigade < 50 ms) | {t:.1?} | {b:.1?} |");
    ExitCode::SUCCESS
}
