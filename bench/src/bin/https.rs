//! HTTPS hello world: hyper on brigade with brigade-tls vs hyper on tokio with tokio-rustls —
//! the same rustls `ServerConfig` (ring provider, one ECDSA P-256 certificate made at start,
//! ALPN h2 + http/1.1), the same hyper-util auto builder, the same worker count, in this one
//! process, one side after the other.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin https -- [--workers N] [--duration SECS] [--rounds N]
//! ```
//!
//! Three loads per round, each against one server then the other (alternating who goes first):
//! - **keep-alive HTTP/1.1**: `wrk -t2 -c64 -d<duration>s --latency` (requests/s, p99);
//! - **HTTP/2 over TLS**: `h2load -t2 -c16 -m10 -D<duration>` (requests/s, mean latency —
//!   h2load prints no percentiles);
//! - **handshakes**: `wrk -t2 -c16` with `Connection: close`, so every request is a new TCP
//!   connection and a full TLS handshake (connections/s).
//!
//! `wrk` and `h2load` are Debian's `wrk` and `nghttp2-client` packages.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, ExitCode};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::server::conn::auto;
use tokio_rustls::rustls::ServerConfig;

#[path = "../load_output.rs"]
mod load_output;
use load_output::{latency_ms, median};

const BODY: &[u8] = b"Hello, World!";

async fn hello(
    _request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

fn brigade_server(workers: usize, tls: Arc<ServerConfig>) -> (brigade::Runtime, SocketAddr) {
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
            let tls = Arc::clone(&tls);
            brigade::spawn(async move {
                let Ok(stream) = brigade_tls::accept(tls, stream).await else {
                    return;
                };
                let builder = auto::Builder::new(brigade::compat::hyper::BrigadeExecutor);
                let _ = builder
                    .serve_connection(stream, hyper::service::service_fn(hello))
                    .await;
            })
            .detach();
        }
    })
    .detach();
    (rt, addr)
}

fn tokio_server(workers: usize, tls: Arc<ServerConfig>) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let builder = auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                let _ = builder
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

/// One measurement: (throughput per second, latency in ms).
type Measure = (f64, f64);

fn run(program: &str, args: &[String]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("running {program}: {e} (apt-get install wrk nghttp2-client)"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "{program} failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(text)
}

fn wrk(addr: SocketAddr, seconds: u64, new_connection_each: bool) -> Result<Measure, String> {
    let mut args: Vec<String> = ["-t2", "--latency"].map(String::from).to_vec();
    args.push(format!("-d{seconds}s"));
    if new_connection_each {
        args.extend(["-c16", "-H", "Connection: close"].map(String::from));
    } else {
        args.push("-c64".into());
    }
    args.push(format!("https://{addr}/"));
    let text = run("wrk", &args)?;
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| latency_ms(v.trim()))
        .ok_or_else(|| format!("no 99% latency in wrk output:\n{text}"))?;
    if text.contains("Non-2xx") {
        eprintln!("warning: wrk reported errors:\n{text}");
    }
    Ok((rps, p99))
}

fn h2load(addr: SocketAddr, seconds: u64) -> Result<Measure, String> {
    let args = [
        "-t2".to_owned(),
        "-c16".to_owned(),
        "-m10".to_owned(),
        format!("-D{seconds}"),
        format!("https://{addr}/"),
    ];
    let text = run("h2load", &args)?;
    if !text.contains("h2") {
        return Err(format!("h2load did not negotiate h2:\n{text}"));
    }
    load_output::h2load_summary(&text)
}

fn main() -> ExitCode {
    let mut workers = 2;
    let mut seconds = 5;
    let mut rounds = 3;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match flag.as_str() {
            "--workers" => workers = value().unwrap_or(2) as usize,
            "--duration" => seconds = value().unwrap_or(5),
            "--rounds" => rounds = value().unwrap_or(3) as usize,
            other => {
                eprintln!("unknown option {other}\nusage: https [--workers N] [--duration SECS] [--rounds N]");
                return ExitCode::FAILURE;
            }
        }
    }
    let ca = brigade_tls::testing::TestCa::new("bench CA");
    let cert = ca.server(&["localhost"]);
    let tls = brigade_tls::server_config(
        cert.identity(),
        vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        None,
    )
    .expect("server config");
    let (_brigade_rt, brigade_addr) = brigade_server(workers, Arc::clone(&tls));
    let (_tokio_rt, tokio_addr) = tokio_server(workers, tls);

    let loads: [(&str, &str, &str); 3] = [
        ("keep-alive HTTP/1.1 (wrk -c64)", "requests/s", "p99"),
        (
            "HTTP/2 over TLS (h2load -c16 -m10)",
            "requests/s",
            "mean latency",
        ),
        (
            "new connection per request (wrk -c16, Connection: close)",
            "handshakes/s",
            "p99",
        ),
    ];
    // results[load][side] = (throughputs, latencies)
    let mut results = vec![[(Vec::new(), Vec::new()), (Vec::new(), Vec::new())]; loads.len()];
    for round in 0..rounds {
        for (index, (name, _, _)) in loads.iter().enumerate() {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                let addr = if side == 0 { tokio_addr } else { brigade_addr };
                let measured = match index {
                    0 => wrk(addr, seconds, false),
                    1 => h2load(addr, seconds),
                    _ => wrk(addr, seconds, true),
                };
                match measured {
                    Ok((rate, latency)) => {
                        let who = ["tokio", "brigade"][side];
                        eprintln!("round {round} {name} {who:>7}: {rate:>9.0}/s, {latency:.2} ms");
                        results[index][side].0.push(rate);
                        results[index][side].1.push(latency);
                    }
                    Err(error) => {
                        eprintln!("error: {error}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
    }
    println!();
    println!("| HTTPS hello, {workers} workers, {seconds} s per run, median of {rounds} | tokio + tokio-rustls | brigade + brigade-tls | brigade/tokio |");
    println!("|---|---:|---:|---:|");
    for ((name, rate_unit, latency_unit), [tokio, brigade]) in loads.iter().zip(&mut results) {
        let (tr, br) = (median(&mut tokio.0), median(&mut brigade.0));
        let (tl, bl) = (median(&mut tokio.1), median(&mut brigade.1));
        println!(
            "| {name}: {rate_unit} | {tr:.0} | {br:.0} | {:.2} |",
            br / tr
        );
        println!(
            "| {name}: {latency_unit} | {tl:.2} ms | {bl:.2} ms | {:.2} |",
            bl / tl
        );
    }
    ExitCode::SUCCESS
}
