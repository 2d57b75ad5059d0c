//! Thread-pool starvation, side by side (seed sections 2 and 13D): every worker is blocked by a
//! task running `std::thread::sleep(1 s)` while a task ticks every 1 ms; the figure is the
//! ticker's largest gap between two ticks.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin starvation -- [--workers N] [--rounds N] [--charts DIR]
//! ```
//!
//! `--charts DIR` also draws the last round's gaps over time as `DIR/starvation.svg`.
//!
//! tokio has no stall detection: its ticker waits for a worker to come back (about the full
//! second). brigade's monitor notices the stalled workers and starts spares.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../svg.rs"]
mod svg;

const BLOCK: Duration = Duration::from_secs(1);

/// One run's result: the largest gap, and every gap with when it ended (seconds since the
/// first tick).
type Gaps = (Duration, Vec<(f64, f64)>);

fn ticker_body(stop: Arc<AtomicBool>) -> impl FnMut(Instant) -> Option<Gaps> {
    let mut first = None;
    let mut last = None;
    let mut largest = Duration::ZERO;
    let mut timeline = Vec::new();
    move |now| {
        let first = *first.get_or_insert(now);
        if let Some(last) = last {
            let gap = now - last;
            largest = largest.max(gap);
            timeline.push(((now - first).as_secs_f64(), gap.as_secs_f64() * 1e3));
        }
        last = Some(now);
        stop.load(Ordering::Relaxed)
            .then(|| (largest, std::mem::take(&mut timeline)))
    }
}

fn brigade_gap(workers: usize) -> Gaps {
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

fn tokio_gap(workers: usize) -> Gaps {
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
    let mut charts = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let number = value.as_deref().and_then(|v| v.parse::<usize>().ok());
        match (flag.as_str(), number) {
            ("--workers", Some(n)) => workers = n,
            ("--rounds", Some(n)) => rounds = n.max(1),
            ("--charts", _) if value.is_some() => charts = value,
            _ => {
                eprintln!("usage: starvation [--workers N] [--rounds N] [--charts DIR]");
                return ExitCode::FAILURE;
            }
        }
    }
    let (mut brigade, mut tokio) = (Vec::new(), Vec::new());
    let mut last_round = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (t, t_timeline) = tokio_gap(workers);
        let (b, b_timeline) = brigade_gap(workers);
        eprintln!("round {round}: tokio {t:?}, brigade {b:?}");
        tokio.push(t);
        brigade.push(b);
        last_round = (t_timeline, b_timeline);
    }
    if let Some(dir) = &charts {
        // Each gap as a step: no tick from (end - gap) to end; gaps under 0.5 ms (a catch-up
        // burst) are drawn at 0.5 ms so the log scale stays readable.
        let steps = |gaps: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
            gaps.into_iter()
                .flat_map(|(end, gap)| {
                    let gap_ms = gap.max(0.5);
                    [((end - gap / 1e3).max(0.0), gap_ms), (end, gap_ms)]
                })
                .collect()
        };
        let last_round = (steps(last_round.0), steps(last_round.1));
        let series = [
            svg::Series {
                name: "tokio".into(),
                color: svg::TOKIO,
                points: last_round.0,
            },
            svg::Series {
                name: "brigade".into(),
                color: svg::BRIGADE,
                points: last_round.1,
            },
        ];
        let panel = svg::lines(
            &format!("A 1 ms ticker while all {workers} workers are blocked for 1 s (last round)"),
            "seconds since the ticker started",
            "gap between ticks (ms, log)",
            &series,
            true,
        );
        let note =
            "tokio waits for a worker to come back; brigade's stall monitor starts spare workers";
        svg::save(dir, "starvation.svg", &svg::page(&[panel], note));
    }
    let (t, b) = (median(tokio), median(brigade));
    println!();
    println!("| starvation: {workers} workers each blocked 1 s by `std::thread::sleep`, median of {rounds} | tokio | brigade |");
    println!("|---|---:|---:|");
    println!("| largest gap of a 1 ms ticker (lower is better; target brigade < 50 ms) | {t:.1?} | {b:.1?} |");
    ExitCode::SUCCESS
}
