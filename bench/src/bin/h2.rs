//! HTTP/2 hello world in cleartext (h2c, prior knowledge) under `h2load`: hyper's HTTP/2 server
//! on brigade vs on tokio, both with the same worker count, in this one process, one after the
//! other.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin h2 -- [--workers N] [--duration SECS] [--rounds N]
//! ```
//!
//! Each round runs `h2load -t2 -c16 -m32 -D<duration>` (16 connections, 32 concurrent streams
//! each) against one server, then the other (alternating which goes first), and prints a
//! markdown table of requests per second and mean request time, medians over rounds (h2load
//! prints no percentiles). `h2load` comes from Debian's `nghttp2-client` package; when it is
//! missing and we are root, this installs it. `BRIGADE_IO_DRIVER=uring` puts brigade's server
//! on the io_uring reactor.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, ExitCode};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};

#[path = "../load_output.rs"]
mod load_output;
use load_output::median;

const BODY: &[u8] = b"Hello, World!";

async fn hello(
    _request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

/// hyper's HTTP/2 server on brigade; returns the runtime (keep it alive) and the address.
fn brigade_server(workers: usize) -> (brigade::Runtime, SocketAddr) {
    use brigade::compat::hyper::{BrigadeExecutor, BrigadeTimer};
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
                let _ = hyper::server::conn::http2::Builder::new(BrigadeExecutor)
                    .timer(BrigadeTimer)
                    .serve_connection(stream, hyper::service::service_fn(hello))
                    .await;
            })
            .detach();
        }
    })
    .detach();
    (rt, addr)
}

/// The same server on tokio (hyper-util's `TokioIo`, `TokioExecutor` and `TokioTimer`).
fn tokio_server(workers: usize) -> (tokio::runtime::Runtime, SocketAddr) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
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
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(hello))
                    .await;
            });
        }
    });
    (rt, addr)
}

/// One h2load run: (requests per second, mean request time in ms).
fn h2load(addr: SocketAddr, seconds: u64) -> Result<(f64, f64), String> {
    let output = Command::new("h2load")
        .args(["-t2", "-c16", "-m32", &format!("-D{seconds}")])
        .arg(format!("http://{addr}/"))
        .output()
        .map_err(|e| format!("running h2load: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "h2load failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    if !text.contains("Application protocol: h2c") {
        return Err(format!("h2load did not speak h2c:\n{text}"));
    }
    load_output::h2load_summary(&text)
}

fn ensure_h2load() -> Result<(), String> {
    if Command::new("h2load").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("h2load not found; installing Debian's nghttp2-client package");
    let ok = Command::new("sh")
        .args(["-c", "apt-get install -y nghttp2-client >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y nghttp2-client >/dev/null 2>&1)"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok && Command::new("h2load").arg("--version").output().is_ok() {
        Ok(())
    } else {
        Err("h2load is missing and could not be installed (run `apt-get install -y nghttp2-client` as root)".into())
    }
}

fn main() -> ExitCode {
    let (mut workers, mut seconds, mut rounds) = (2, 10, 3);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match flag.as_str() {
            "--workers" => workers = value().unwrap_or(2) as usize,
            "--duration" => seconds = value().unwrap_or(10),
            "--rounds" => rounds = value().unwrap_or(3) as usize,
            other => {
                eprintln!("unknown option {other}\nusage: h2 [--workers N] [--duration SECS] [--rounds N]");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(error) = ensure_h2load() {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    let (brigade_rt, brigade_addr) = brigade_server(workers);
    let (_tokio_rt, tokio_addr) = tokio_server(workers);
    let driver = brigade_rt.metrics().io_driver;
    // BRIGADE_BENCH_ONLY=brigade|tokio: one side only (for profilers), no table.
    let only = std::env::var("BRIGADE_BENCH_ONLY").ok();
    // [tokio, brigade] × (requests/s, mean ms)
    let mut results = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let (name, addr) = [("tokio", tokio_addr), ("brigade", brigade_addr)][side];
            if only.as_deref().is_some_and(|only| only != name) {
                continue;
            }
            match h2load(addr, seconds) {
                Ok((rps, mean)) => {
                    eprintln!("round {round} {name:>7}: {rps:>10.0} req/s, mean {mean:.2} ms");
                    results[side].0.push(rps);
                    results[side].1.push(mean);
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
    let [(t_rps, t_mean), (b_rps, b_mean)] = &mut results;
    let (tr, br) = (median(t_rps), median(b_rps));
    let (tm, bm) = (median(t_mean), median(b_mean));
    println!();
    println!("| HTTP/2 h2c hello, h2load -t2 -c16 -m32 -D{seconds}, {workers} workers, brigade on {driver}, median of {rounds} | tokio | brigade | brigade/tokio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| requests/s (higher is better) | {tr:.0} | {br:.0} | {:.2} |",
        br / tr
    );
    println!(
        "| mean request time (lower is better) | {tm:.2} ms | {bm:.2} ms | {:.2} |",
        bm / tm
    );
    ExitCode::SUCCESS
}
