//! HTTP/1 hello world under `wrk`: hyper on brigade vs hyper on tokio (hyper-util's `TokioIo`),
//! both with the same worker count, in this one process, one after the other.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin http -- [--workers N] [--duration SECS] [--rounds N] [--charts DIR]
//! ```
//!
//! `--charts DIR` also draws requests/s and p99 latency (medians, min–max whiskers) as
//! `DIR/http.svg`.
//!
//! `--serve brigade|tokio` starts only that side's server (no wrk, no other runtime in the
//! process), prints `listening on ADDR` and serves until killed: for profilers attached to the
//! process (`bench/profile.sh`).
//!
//! Each round runs `wrk -t2 -c64 -d<duration>s --latency` against one server, then the other
//! (alternating which goes first). `wrk` comes from Debian's `wrk` package; when it is missing
//! and we are root, this installs it (`apt-get install -y wrk`). Prints a markdown table of
//! requests per second and p99 latency, medians over rounds.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, ExitCode};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};

#[path = "../svg.rs"]
mod svg;

const BODY: &[u8] = b"Hello, World!";

async fn hello(
    _request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

/// Starts hyper on brigade; returns the runtime (keep it alive) and the address.
fn brigade_server(workers: usize) -> (brigade::Runtime, SocketAddr) {
    let rt = brigade::Runtime::builder()
        .workers(workers)
        .build()
        .expect("brigade runtime");
    let listener = rt
        .block_on(brigade::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            brigade::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(brigade::compat::hyper::BrigadeTimer)
                    .serve_connection(stream, hyper::service::service_fn(hello))
                    .await;
            })
            .detach();
        }
    })
    .detach();
    (rt, addr)
}

/// Starts hyper on tokio (the same service, through hyper-util's TokioIo adapter).
fn tokio_server(workers: usize) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(hello),
                    )
                    .await;
            });
        }
    });
    (rt, addr)
}

/// `--serve SIDE`: one server alone in the process, until killed.
fn serve_only(side: &str, workers: usize) -> ExitCode {
    use std::io::Write;
    // Keep the runtime alive for the life of the process.
    let (_runtime, addr): (Box<dyn std::any::Any>, SocketAddr) = match side {
        "brigade" => {
            let (rt, addr) = brigade_server(workers);
            (Box::new(rt), addr)
        }
        "tokio" => {
            let (rt, addr) = tokio_server(workers);
            (Box::new(rt), addr)
        }
        other => {
            eprintln!("--serve takes brigade or tokio, not {other}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// One wrk run: (requests per second, p99 latency).
fn wrk(addr: SocketAddr, seconds: u64) -> Result<(f64, Duration), String> {
    let output = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency"])
        .arg(format!("http://{addr}/"))
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| parse_latency(v.trim()))
        .ok_or_else(|| format!("no 99% latency in wrk output:\n{text}"))?;
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        eprintln!("warning: wrk reported errors:\n{text}");
    }
    Ok((rps, p99))
}

fn parse_latency(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let value: f64 = number.parse().ok()?;
    let micros = match unit {
        "us" => value,
        "ms" => value * 1e3,
        "s" => value * 1e6,
        _ => return None,
    };
    Some(Duration::from_nanos((micros * 1e3) as u64))
}

fn ensure_wrk() -> Result<(), String> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("wrk not found; installing Debian's wrk package");
    let ok = Command::new("sh")
        .args(["-c", "apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1)"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok && Command::new("wrk").arg("--version").output().is_ok() {
        Ok(())
    } else {
        Err(
            "wrk is missing and could not be installed (run `apt-get install -y wrk` as root)"
                .into(),
        )
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() -> ExitCode {
    let mut workers = 2;
    let mut seconds = 10;
    let mut rounds = 3;
    let mut charts = None;
    let mut serve = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--charts" {
            charts = args.next();
            continue;
        }
        if flag == "--serve" {
            serve = args.next();
            continue;
        }
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match flag.as_str() {
            "--workers" => workers = value().unwrap_or(2) as usize,
            "--duration" => seconds = value().unwrap_or(10),
            "--rounds" => rounds = value().unwrap_or(3) as usize,
            other => {
                eprintln!("unknown option {other}\nusage: http [--workers N] [--duration SECS] [--rounds N] [--charts DIR] [--serve brigade|tokio]");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(side) = serve {
        return serve_only(&side, workers);
    }
    if let Err(error) = ensure_wrk() {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    // BRIGADE_BENCH_ONLY=brigade|tokio: one side only (for profilers), no table.
    let only = std::env::var("BRIGADE_BENCH_ONLY").ok();
    let (_brigade_rt, brigade_addr) = brigade_server(workers);
    let (_tokio_rt, tokio_addr) = tokio_server(workers);
    let (mut b_rps, mut b_p99, mut t_rps, mut t_p99) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            ["tokio", "brigade"]
        } else {
            ["brigade", "tokio"]
        };
        for side in order {
            if only.as_deref().is_some_and(|only| only != side) {
                continue;
            }
            let addr = if side == "tokio" {
                tokio_addr
            } else {
                brigade_addr
            };
            match wrk(addr, seconds) {
                Ok((rps, p99)) => {
                    eprintln!("round {round} {side:>7}: {rps:>10.0} req/s, p99 {p99:?}");
                    let (r, p) = if side == "tokio" {
                        (&mut t_rps, &mut t_p99)
                    } else {
                        (&mut b_rps, &mut b_p99)
                    };
                    r.push(rps);
                    p.push(p99.as_secs_f64() * 1e3);
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if only.is_some() {
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &charts {
        svg::save(
            dir,
            "http.svg",
            &http_chart(&b_rps, &t_rps, &b_p99, &t_p99, seconds, workers),
        );
    }
    let (br, tr) = (median(&mut b_rps), median(&mut t_rps));
    let (bp, tp) = (median(&mut b_p99), median(&mut t_p99));
    println!();
    println!("| HTTP/1 hello world, wrk -t2 -c64 -d{seconds}s, {workers} workers, median of {rounds} | tokio | brigade | brigade/tokio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| requests/s (higher is better) | {tr:.0} | {br:.0} | {:.2} |",
        br / tr
    );
    println!(
        "| p99 latency (lower is better) | {tp:.2} ms | {bp:.2} ms | {:.2} |",
        bp / tp
    );
    ExitCode::SUCCESS
}

/// Requests/s and p99 latency, tokio and brigade: medians with min–max whiskers.
fn http_chart(
    b_rps: &[f64],
    t_rps: &[f64],
    b_p99: &[f64],
    t_p99: &[f64],
    seconds: u64,
    workers: usize,
) -> String {
    let bar = |label: &str, values: &[f64], color: &'static str, unit: &str| {
        let mut sorted = values.to_vec();
        let value = median(&mut sorted);
        let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
        svg::Bar {
            label: label.to_owned(),
            value,
            range: Some((lo, hi)),
            color,
            text: format!(
                "{} {unit}",
                if value >= 100.0 {
                    format!("{value:.0}")
                } else {
                    format!("{value:.2}")
                }
            ),
        }
    };
    let rps = svg::bars(
        "HTTP/1 hello world: requests per second (higher is better)",
        &[
            bar("tokio", t_rps, svg::TOKIO, "req/s"),
            bar("brigade", b_rps, svg::BRIGADE, "req/s"),
        ],
        None,
    );
    let p99 = svg::bars(
        "p99 latency (lower is better)",
        &[
            bar("tokio", t_p99, svg::TOKIO, "ms"),
            bar("brigade", b_p99, svg::BRIGADE, "ms"),
        ],
        None,
    );
    svg::page(
        &[rps, p99],
        &format!("wrk -t2 -c64 -d{seconds}s, {workers} workers per runtime, {} rounds; whiskers: min–max", b_rps.len()),
    )
}
