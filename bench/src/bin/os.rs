//! `brigade::process` and `brigade::fs` against `tokio::process` and `tokio::fs`, side by side.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin os -- [--workers N] [--rounds N] [--warmup N] [spawn|read]
//! ```
//!
//! Both runtimes are built once with the same worker count; every round runs tokio then
//! brigade (interleaved), and the table reports medians and `brigade/tokio` ratios (below 1.0:
//! brigade faster). Workloads:
//! - `spawn_true_x1000`: 1 000 `Command::new("true").status()`, 8 at a time (8 tasks taking
//!   the next run from a shared counter).
//! - `read_64mib_in_64kib`: a 64 MiB file (written once, so it sits in the page cache) read
//!   with a 64 KiB buffer until EOF, through each runtime's async `File`, from `block_on`; and
//!   the same from a task on the runtime (where a server's file reads come from).
//!
//! `BRIGADE_IO_DRIVER=uring` runs brigade's files through the io_uring reactor instead of the
//! blocking pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 1_000;
const AT_A_TIME: usize = 8;
const FILE_SIZE: usize = 64 << 20;
const CHUNK: usize = 64 << 10;

fn spawn_true_tokio(rt: &tokio::runtime::Runtime) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let lanes: Vec<_> = (0..AT_A_TIME)
            .map(|_| {
                let next = next.clone();
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < RUNS {
                        let status = tokio::process::Command::new("true").status().await;
                        assert!(status.expect("spawn true").success());
                    }
                })
            })
            .collect();
        for lane in lanes {
            lane.await.expect("lane");
        }
        start.elapsed()
    })
}

fn spawn_true_brigade(rt: &brigade::Runtime) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let lanes: Vec<_> = (0..AT_A_TIME)
            .map(|_| {
                let next = next.clone();
                brigade::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < RUNS {
                        let status = brigade::process::Command::new("true").status().await;
                        assert!(status.expect("spawn true").success());
                    }
                })
            })
            .collect();
        for lane in lanes {
            lane.await;
        }
        start.elapsed()
    })
}

fn read_file_tokio(rt: &tokio::runtime::Runtime, path: &Path, in_task: bool) -> Duration {
    use tokio::io::AsyncReadExt;
    let path = path.to_owned();
    let read = async move {
        let start = Instant::now();
        let mut file = tokio::fs::File::open(&path).await.expect("open");
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0;
        loop {
            match file.read(&mut buf).await.expect("read") {
                0 => break,
                n => total += n,
            }
        }
        assert_eq!(total, FILE_SIZE);
        start.elapsed()
    };
    if in_task {
        rt.block_on(rt.spawn(read)).expect("the reading task")
    } else {
        rt.block_on(read)
    }
}

fn read_file_brigade(rt: &brigade::Runtime, path: &Path, in_task: bool) -> Duration {
    let path = path.to_owned();
    let read = async move {
        let start = Instant::now();
        let mut file = brigade::fs::File::open(&path).await.expect("open");
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0;
        loop {
            match file.read(&mut buf).await.expect("read") {
                0 => break,
                n => total += n,
            }
        }
        assert_eq!(total, FILE_SIZE);
        start.elapsed()
    };
    if in_task {
        rt.block_on(rt.spawn(read))
    } else {
        rt.block_on(read)
    }
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|at| args.get(at + 1))
        .map_or(default, |value| value.parse().expect("a number"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = arg(&args, "--workers", cores).max(1);
    let rounds = arg(&args, "--rounds", 10).max(1);
    let warmup = arg(&args, "--warmup", 2);
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; use --release for real figures");
    }
    eprintln!(
        "{workers} workers per runtime ({cores} cores); {warmup} warm-up + {rounds} rounds, interleaved"
    );
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let brigade = brigade::Runtime::builder()
        .workers(workers)
        .build()
        .expect("brigade runtime");
    let file =
        TempFile(std::env::temp_dir().join(format!("brigade-bench-os-{}", std::process::id())));
    std::fs::write(&file.0, vec![7u8; FILE_SIZE]).expect("write the test file");

    println!("| workload | tokio (median) | brigade (median) | brigade/tokio |");
    println!("|---|---|---|---|");
    type Run<'a> = Box<dyn Fn() -> Duration + 'a>;
    let workloads: Vec<(&str, Run, Run)> = vec![
        (
            "1 000 × `true`, 8 at a time",
            Box::new(|| spawn_true_tokio(&tokio)),
            Box::new(|| spawn_true_brigade(&brigade)),
        ),
        (
            "read 64 MiB in 64 KiB chunks",
            Box::new(|| read_file_tokio(&tokio, &file.0, false)),
            Box::new(|| read_file_brigade(&brigade, &file.0, false)),
        ),
        (
            "read 64 MiB in 64 KiB chunks, from a task",
            Box::new(|| read_file_tokio(&tokio, &file.0, true)),
            Box::new(|| read_file_brigade(&brigade, &file.0, true)),
        ),
    ];
    let only = args.iter().find(|a| *a == "spawn" || *a == "read");
    for (index, (name, tokio_run, brigade_run)) in workloads.iter().enumerate() {
        if only.is_some_and(|only| (only == "spawn") != (index == 0)) {
            continue;
        }
        for _ in 0..warmup {
            tokio_run();
            brigade_run();
        }
        let (mut t, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            t.push(tokio_run());
            b.push(brigade_run());
        }
        if std::env::var_os("OS_BENCH_SAMPLES").is_some() {
            let ms = |v: &Vec<Duration>| {
                v.iter()
                    .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            eprintln!("tokio:   {}\nbrigade: {}", ms(&t), ms(&b));
        }
        let (t, b) = (median(t), median(b));
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.2} |",
            t.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            b.as_secs_f64() / t.as_secs_f64()
        );
    }
}
