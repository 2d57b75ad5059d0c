//! Task groups side by side (issue 14): a task spawns 10 000 children into a
//! `brigade::TaskGroup` and joins them all, against the same with tokio's `JoinSet`.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin group -- [--workers N] [--rounds N] [--children N]
//! ```
//!
//! Both runtimes are built once with the same worker count (default: available cores) and
//! reused. Each round runs one owner task on the runtime; the owner times itself from its
//! first spawn to its last join (the runtime's own `block_on` hand-off is outside the figure).
//! Two shapes: `join_next` in a loop (completion order), and `join_all`. Rounds are
//! interleaved — tokio, brigade, tokio, brigade — after warm-up rounds, and the table gives
//! medians, the brigade/tokio ratio of medians (below 1.0: brigade is faster) and min–max.

use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Opts {
    workers: usize,
    rounds: usize,
    children: u64,
}

fn parse() -> Result<Opts, String> {
    let mut opts = Opts {
        workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rounds: 15,
        children: 10_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut number = || -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag} needs a positive number"))
        };
        match flag.as_str() {
            "--workers" => opts.workers = number()? as usize,
            "--rounds" => opts.rounds = number()? as usize,
            "--children" => opts.children = number()?,
            "--bench" => {}
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: group [--workers N] [--rounds N] [--children N]"
                ))
            }
        }
    }
    Ok(opts)
}

fn brigade_join_next(rt: &brigade::Runtime, children: u64) -> Duration {
    rt.block_on(rt.spawn(async move {
        let start = Instant::now();
        let mut group = brigade::TaskGroup::new();
        for i in 0..children {
            group.spawn(async move { i });
        }
        let mut sum = 0;
        while let Some(outcome) = group.join_next().await {
            sum += outcome.unwrap();
        }
        assert_eq!(sum, children * (children - 1) / 2);
        start.elapsed()
    }))
}

fn tokio_join_next(rt: &tokio::runtime::Runtime, children: u64) -> Duration {
    rt.block_on(rt.spawn(async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..children {
            set.spawn(async move { i });
        }
        let mut sum = 0;
        while let Some(outcome) = set.join_next().await {
            sum += outcome.unwrap();
        }
        assert_eq!(sum, children * (children - 1) / 2);
        start.elapsed()
    }))
    .unwrap()
}

fn brigade_join_all(rt: &brigade::Runtime, children: u64) -> Duration {
    rt.block_on(rt.spawn(async move {
        let start = Instant::now();
        let mut group = brigade::TaskGroup::new();
        for i in 0..children {
            group.spawn(async move { i });
        }
        let outputs = group.join_all().await.unwrap();
        assert_eq!(outputs.len() as u64, children);
        start.elapsed()
    }))
}

fn tokio_join_all(rt: &tokio::runtime::Runtime, children: u64) -> Duration {
    rt.block_on(rt.spawn(async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..children {
            set.spawn(async move { i });
        }
        let outputs = set.join_all().await;
        assert_eq!(outputs.len() as u64, children);
        start.elapsed()
    }))
    .unwrap()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

type Shape = (
    &'static str,
    fn(&tokio::runtime::Runtime, u64) -> Duration,
    fn(&brigade::Runtime, u64) -> Duration,
);

fn main() -> ExitCode {
    let opts = match parse() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; numbers are meaningless — use `--release`");
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let brigade = brigade::Runtime::builder()
        .workers(opts.workers)
        .build()
        .expect("brigade runtime");
    let shapes: [Shape; 2] = [
        (
            "spawn N + join_next loop",
            tokio_join_next,
            brigade_join_next,
        ),
        ("spawn N + join_all", tokio_join_all, brigade_join_all),
    ];
    println!(
        "{} children, {} workers each, {} rounds per side (interleaved, after 3 warm-up)\n",
        opts.children, opts.workers, opts.rounds
    );
    println!("| workload | tokio JoinSet (median) | brigade TaskGroup (median) | brigade/tokio | tokio min–max | brigade min–max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, run_tokio, run_brigade) in shapes {
        for _ in 0..3 {
            run_tokio(&tokio, opts.children);
            run_brigade(&brigade, opts.children);
        }
        let (mut t, mut b) = (Vec::new(), Vec::new());
        for _ in 0..opts.rounds {
            t.push(run_tokio(&tokio, opts.children));
            b.push(run_brigade(&brigade, opts.children));
        }
        let (tm, bm) = (median(&mut t), median(&mut b));
        println!(
            "| {name} | {} | {} | {:.2} | {} – {} | {} – {} |",
            ms(tm),
            ms(bm),
            bm.as_secs_f64() / tm.as_secs_f64(),
            ms(t[0]),
            ms(t[t.len() - 1]),
            ms(b[0]),
            ms(b[b.len() - 1]),
        );
    }
    ExitCode::SUCCESS
}
