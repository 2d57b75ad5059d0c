//! The server against peers that hold what they should give back: HTTP/2 connections that
//! never send a request or go idle (the idle timeout), peers that vanish with a request open
//! (HTTP/2 PING), uploads at a trickle (the minimum body data rate), uploads too large (the
//! maximum body size: 413), and handlers that panic (500, one-line report, the connection
//! serves on).

mod common;

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade::{Runtime, Task, UnhandledPanic};
use brigade_http::{
    service_fn, BodyError, BodyExt, Bytes, Client, Full, Incoming, MinDataRate, PeerAddr, Server,
};
use common::{curl, text, wait_or_kill, TestServer, CHILD_ROLE};
use http::{Request, Response, StatusCode};

/// HTTP/2's connection preface, then an empty SETTINGS frame: all a client must send.
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A HEADERS frame opening stream 1: `GET http://test/never` (HPACK: static-table method and
/// scheme, literal path and authority), ending the stream and the headers.
fn h2_get_never() -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, 6];
    block.extend_from_slice(b"/never");
    block.extend_from_slice(&[0x01, 4]);
    block.extend_from_slice(b"test");
    let mut frame = vec![0, 0, block.len() as u8, 0x01, 0x05, 0, 0, 0, 1];
    frame.extend_from_slice(&block);
    frame
}

/// Reads until the server closes; how long that took (`None`: still open after `limit`).
fn time_until_closed(stream: &mut std::net::TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(started.elapsed())
            }
            Err(_) if started.elapsed() >= limit => return None,
            Err(_) => return None,
        }
    }
}

#[brigade::test]
async fn idle_http2_connections_are_closed_after_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let server = TestServer::start(|server| server.max_connections(4).idle_timeout(idle)).await;
    let addr = server.addr;
    // Four HTTP/2 peers take every slot: preface and settings, then nothing, ever.
    let mut squatters = brigade::run(move || {
        (0..4)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream.write_all(H2_PREFACE_AND_SETTINGS).unwrap();
                stream
            })
            .collect::<Vec<_>>()
    })
    .await;
    // A real client still gets through, once the idle timeout frees a slot.
    let client = Client::builder().timeout(Duration::from_secs(8)).build();
    let response = client
        .get(server.url("/"))
        .await
        .expect("served once the squatters idled out");
    assert_eq!(response.text().await.unwrap(), "hello");
    // And every squatter was closed.
    let closed = brigade::run(move || {
        squatters
            .iter_mut()
            .map(|stream| time_until_closed(stream, Duration::from_secs(5)))
            .collect::<Vec<_>>()
    })
    .await;
    assert!(closed.iter().all(Option::is_some), "{closed:?}");
    server.shut_down().await;
}

#[brigade::test]
async fn an_http2_connection_that_never_sends_a_request_is_closed_after_the_header_read_timeout() {
    // No idle timeout: the first request is due within the header-read timeout all the same.
    let server = TestServer::start(|server| {
        server
            .idle_timeout(None)
            .header_read_timeout(Duration::from_millis(300))
    })
    .await;
    let addr = server.addr;
    let took = brigade::run(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(H2_PREFACE_AND_SETTINGS).unwrap();
        time_until_closed(&mut stream, Duration::from_secs(8))
    })
    .await;
    let took = took.expect("still open 8 s after its preface");
    assert!(
        took >= Duration::from_millis(150),
        "closed after only {took:?}"
    );
    server.shut_down().await;
}

#[brigade::test]
async fn an_http2_connection_idle_after_its_requests_is_closed_and_replaced() {
    let server = TestServer::start(|server| server.idle_timeout(Duration::from_millis(200))).await;
    let client = Client::builder().http2_prior_knowledge().build();
    let peer = |client: Client, url: String| async move {
        client.get(url).await.unwrap().text().await.unwrap()
    };
    let first = peer(client.clone(), server.url("/peer")).await;
    let again = peer(client.clone(), server.url("/peer")).await;
    assert_eq!(first, again, "busy, the connection stays");
    brigade::time::sleep(Duration::from_millis(1000)).await;
    let later = peer(client.clone(), server.url("/peer")).await;
    assert_ne!(
        first, later,
        "idle past the timeout, the connection was closed"
    );
    server.shut_down().await;
}

#[brigade::test]
async fn http2_peers_that_stop_answering_pings_are_closed() {
    // A request is in flight (`/never`), so no idle timeout applies: only the PING finds out
    // that the peer is gone (it reads nothing, so it never answers).
    let keep_alive = Some((Duration::from_millis(200), Duration::from_millis(200)));
    let server =
        TestServer::start(|server| server.idle_timeout(None).http2_keep_alive(keep_alive)).await;
    let addr = server.addr;
    let took = brigade::run(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(H2_PREFACE_AND_SETTINGS).unwrap();
        stream.write_all(&h2_get_never()).unwrap();
        std::thread::sleep(Duration::from_millis(1500)); // deaf: nothing read, no PING answered
        time_until_closed(&mut stream, Duration::from_secs(8))
    })
    .await;
    took.expect("a peer that answers no PING was kept open");
    server.shut_down().await;
}

/// Sends `POST /echo` announcing 100 bytes, then one byte every `pause`; returns the
/// response (whatever came before the server closed) and how long it took to come.
fn trickle_upload(addr: SocketAddr, pause: Duration) -> (String, Duration) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: slow\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    let reader = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for _ in 0..100 {
            std::thread::sleep(pause);
            if stream.write_all(b"x").is_err() {
                return; // the server closed
            }
        }
    });
    let mut reader = reader;
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut response = Vec::new();
    let _ = reader.read_to_end(&mut response);
    let took = started.elapsed();
    drop(reader);
    let _ = sender.join();
    (String::from_utf8_lossy(&response).into_owned(), took)
}

#[brigade::test]
async fn request_bodies_slower_than_the_minimum_rate_are_cut_off_with_408() {
    let rate = MinDataRate {
        bytes_per_second: 50,
        grace: Duration::from_millis(300),
    };
    let server = TestServer::start(|server| server.min_request_body_rate(rate)).await;
    let addr = server.addr;
    // 10 bytes/s: 100 bytes would take 10 s; the rate cuts it off after about a second.
    let uploads = (0..4).map(|_| {
        brigade::spawn(brigade::run(move || {
            trickle_upload(addr, Duration::from_millis(100))
        }))
    });
    let client = Client::new();
    let big = vec![b'z'; 1 << 20];
    let echoed = client
        .post(server.url("/echo"))
        .body(big.clone())
        .await
        .unwrap();
    assert_eq!(echoed.status(), StatusCode::OK);
    assert_eq!(echoed.bytes().await.unwrap(), big, "a normal upload passes");
    for (response, took) in brigade::when_all(uploads).await {
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(
            response.to_ascii_lowercase().contains("connection: close"),
            "{response}"
        );
        assert!(took < Duration::from_secs(6), "cut off only after {took:?}");
    }
    server.shut_down().await;
}

/// What a handler of [`CollectingServer`] saw of one request body.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// Data bytes it was handed.
    bytes: usize,
    /// `Some(limit)` if the body ended in [`BodyError::TooLarge`].
    too_large: Option<u64>,
    /// The error that ended the body, as displayed.
    error: Option<String>,
    /// Whether a read after that error still handed out data.
    data_after_error: bool,
}

/// A server whose handler reads each request body frame by frame, notes what it saw, and
/// answers the body back (200), or — as a handler might — `400` with the error.
struct CollectingServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: CancellationTokenSource,
    serving: Task<std::io::Result<()>>,
}

impl CollectingServer {
    async fn start(configure: impl FnOnce(Server) -> Server) -> CollectingServer {
        let stop = CancellationTokenSource::new();
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let server = configure(server).shutdown_on(stop.token());
        let addr = server.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let notes = Arc::clone(&seen);
        let serving = brigade::spawn(server.serve(service_fn(move |request| {
            let notes = Arc::clone(&notes);
            async move { Ok::<_, Infallible>(collect(request, &notes).await) }
        })));
        CollectingServer {
            addr,
            seen,
            stop,
            serving,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// What the handler saw, request by request, since the last call.
    fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    async fn shut_down(self) {
        self.stop.cancel();
        self.serving
            .await
            .expect("serve returns Ok after a shutdown");
    }
}

async fn collect(request: Request<Incoming>, notes: &Mutex<Vec<Seen>>) -> Response<Full<Bytes>> {
    let mut body = request.into_body();
    let mut received = Vec::new();
    let ended = loop {
        match body.frame().await {
            None => break Ok(()),
            Some(Ok(frame)) => {
                received.extend_from_slice(frame.data_ref().unwrap_or(&Bytes::new()))
            }
            Some(Err(error)) => break Err(error),
        }
    };
    let data_after_error =
        ended.is_err() && matches!(body.frame().await, Some(Ok(frame)) if frame.is_data());
    notes.lock().unwrap().push(Seen {
        bytes: received.len(),
        too_large: match &ended {
            Err(BodyError::TooLarge { limit }) => Some(*limit),
            _ => None,
        },
        error: ended.as_ref().err().map(ToString::to_string),
        data_after_error,
    });
    match ended {
        Ok(()) => Response::new(Full::new(Bytes::from(received))),
        Err(error) => {
            let mut response = text(format!("body error: {error}"));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

/// Sends a request `head` (announcing a body) and not a byte of the body; returns the
/// response (whatever came before the server closed) and how long the server took to close.
fn head_only(addr: SocketAddr, head: &str) -> (String, Duration) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    (
        String::from_utf8_lossy(&response).into_owned(),
        started.elapsed(),
    )
}

/// Sends `POST path` with a chunked body, `chunk` bytes at a time with `pause` between
/// chunks, up to `total` bytes or until the server closes (`Connection: close` if `close`);
/// returns the response (whatever came before the server closed) and the body bytes sent.
fn chunked_upload(
    addr: SocketAddr,
    path: &str,
    (chunk, total, pause): (usize, usize, Duration),
    close: bool,
) -> (String, usize) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let connection = if close { "Connection: close\r\n" } else { "" };
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: chunky\r\nTransfer-Encoding: chunked\r\n{connection}\r\n"
    )
    .unwrap();
    let mut reader = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut sent = 0;
        while sent < total {
            let size = chunk.min(total - sent);
            let mut bytes = format!("{size:x}\r\n").into_bytes();
            bytes.resize(bytes.len() + size, b'c');
            bytes.extend_from_slice(b"\r\n");
            if stream.write_all(&bytes).is_err() {
                return sent; // the server closed
            }
            sent += size;
            std::thread::sleep(pause);
        }
        let _ = stream.write_all(b"0\r\n\r\n");
        sent
    });
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut response = Vec::new();
    let _ = reader.read_to_end(&mut response);
    drop(reader);
    let sent = sender.join().unwrap();
    (String::from_utf8_lossy(&response).into_owned(), sent)
}

/// A 413 of the server's own, closing the connection.
fn assert_413_and_close(response: &str) {
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response}"
    );
}

#[brigade::test]
async fn a_content_length_over_the_cap_is_answered_413_before_the_body_is_read() {
    let server = CollectingServer::start(|server| server.max_request_body(1024)).await;
    let addr = server.addr;
    // The head announces 1025 bytes, and not one follows: a server reading the body would wait
    // (the minimum rate's 5 s grace, then 408).
    let head = "POST /collect HTTP/1.1\r\nHost: big\r\nContent-Length: 1025\r\n\r\n";
    let (response, took) = brigade::run(move || head_only(addr, head)).await;
    assert_413_and_close(&response);
    assert!(
        took < Duration::from_secs(3),
        "answered only after {took:?}"
    );
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].bytes, 0);
    assert_eq!(seen[0].too_large, Some(1024));
    assert_eq!(
        seen[0].error.as_deref(),
        Some(
            "request body larger than the limit of 1024 bytes; change it with \
             Server::max_request_body"
        )
    );
    assert!(!seen[0].data_after_error);

    // curl, asking first (`Expect: 100-continue`): it gets the 413 instead of the go-ahead and
    // never uploads its 4 KiB.
    let file = std::env::temp_dir().join(format!("brigade-http-413-{}", std::process::id()));
    std::fs::write(&file, vec![b'u'; 4096]).unwrap();
    let args = [
        "--silent",
        "--show-error",
        "--max-time",
        "10",
        "--http1.1",
        "--expect100-timeout",
        "5",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &format!("@{}", file.display()),
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code} %{size_upload}",
        &server.url("/collect"),
    ];
    let output = curl(args.iter().map(|arg| arg.to_string()).collect()).await;
    let _ = std::fs::remove_file(&file);
    if let Some(output) = output {
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "413 0",
            "curl: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(server.take_seen()[0].too_large, Some(1024));
    }
    server.shut_down().await;

    // The default cap: 30 000 000 bytes.
    assert_eq!(Server::DEFAULT_MAX_REQUEST_BODY, 30_000_000);
    let server = TestServer::start(|server| server).await;
    let addr = server.addr;
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: big\r\nContent-Length: {}\r\n\r\n",
        Server::DEFAULT_MAX_REQUEST_BODY + 1
    );
    let (response, _) = brigade::run(move || head_only(addr, &head)).await;
    assert_413_and_close(&response);
    server.shut_down().await;
}

#[brigade::test]
async fn a_chunked_body_growing_past_the_cap_is_cut_off_and_the_handler_sees_too_large() {
    let server = CollectingServer::start(|server| server.max_request_body(1024)).await;
    let addr = server.addr;
    // 256-byte chunks every 5 ms, 64 KiB in all (about 1.3 s): the fifth chunk crosses the cap.
    let plan = (256, 64 * 1024, Duration::from_millis(5));
    let (response, sent) =
        brigade::run(move || chunked_upload(addr, "/collect", plan, false)).await;
    assert_413_and_close(&response);
    assert!(
        sent < 32 * 1024,
        "the server read on: {sent} bytes went out before it closed"
    );
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].bytes <= 1024,
        "the handler got {} bytes",
        seen[0].bytes
    );
    assert_eq!(seen[0].too_large, Some(1024), "{seen:?}");
    assert!(
        !seen[0].data_after_error,
        "the body handed out data after its error"
    );
    server.shut_down().await;
}

#[brigade::test]
async fn bodies_up_to_the_cap_arrive_whole_and_one_byte_more_is_refused() {
    let server = CollectingServer::start(|server| server.max_request_body(1024)).await;
    for client in [
        Client::new(),
        Client::builder().http2_prior_knowledge().build(),
    ] {
        let whole = vec![b'w'; 1024];
        for _ in 0..2 {
            // Twice: after a refusal, the server serves on (HTTP/2: on the same connection).
            let echoed = client
                .post(server.url("/collect"))
                .body(whole.clone())
                .await
                .unwrap();
            assert_eq!(echoed.status(), StatusCode::OK);
            assert_eq!(echoed.bytes().await.unwrap(), whole);
            let refused = client
                .post(server.url("/collect"))
                .body(vec![b'o'; 1025])
                .await
                .unwrap();
            assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(refused.text().await.unwrap(), "413 Payload Too Large\n");
        }
    }
    let seen = server.take_seen();
    assert_eq!(seen.len(), 8, "{seen:?}");
    for (i, seen) in seen.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!((seen.bytes, &seen.error), (1024, &None), "request {i}");
        } else {
            assert_eq!((seen.bytes, seen.too_large), (0, Some(1024)), "request {i}");
        }
    }

    // Chunked, so no length is declared: counted as it arrives.
    let addr = server.addr;
    let plan = (300, 1024, Duration::ZERO);
    let (response, sent) = brigade::run(move || chunked_upload(addr, "/collect", plan, true)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(&"c".repeat(1024)), "{response}");
    assert_eq!(sent, 1024);
    let plan = (300, 1025, Duration::ZERO);
    let (response, _) = brigade::run(move || chunked_upload(addr, "/collect", plan, true)).await;
    assert_413_and_close(&response);
    let seen = server.take_seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].bytes, &seen[0].error), (1024, &None));
    assert!(seen[1].bytes <= 1024, "{seen:?}");
    assert_eq!(seen[1].too_large, Some(1024), "{seen:?}");
    server.shut_down().await;
}

/// A server whose `/panic` panics and whose other paths answer the client's address.
fn panicking_server(server: Server) -> impl std::future::Future<Output = std::io::Result<()>> {
    server.serve(service_fn(|request: Request<Incoming>| async move {
        if request.uri().path() == "/panic" {
            panic!("boom in the handler");
        }
        let peer = request.extensions().get::<PeerAddr>().unwrap().0;
        Ok::<_, Infallible>(text(peer.to_string()))
    }))
}

#[test]
fn a_panicking_handler_answers_500_and_the_connection_serves_on() {
    let reports = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&reports);
    let rt = Runtime::builder()
        .workers(2)
        .unhandled_panic(UnhandledPanic::Call(Arc::new(move |report| {
            sink.lock().unwrap().push(report.message().to_owned());
        })))
        .build()
        .unwrap();
    rt.block_on(async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        brigade::spawn(panicking_server(server)).detach();
        for client in [
            Client::new(),
            Client::builder().http2_prior_knowledge().build(),
        ] {
            let before = client
                .get(format!("{base}/"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let panicked = client.get(format!("{base}/panic")).await.unwrap();
            assert_eq!(panicked.status(), StatusCode::INTERNAL_SERVER_ERROR);
            panicked.bytes().await.unwrap(); // read to its end: the connection goes back
            let after = client
                .get(format!("{base}/"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(before, after, "the same connection serves the next request");
        }
        // The reports are made by tasks of their own; give them a moment.
        brigade::time::sleep(Duration::from_millis(200)).await;
    });
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 2, "{reports:?}");
    for report in reports.iter() {
        assert!(
            report.contains("GET /panic panicked at")
                && report.contains("server_limits.rs")
                && report.contains("boom in the handler"),
            "{report}"
        );
    }
}

const PANIC_CHILD: &str = "panic_report_child";
const PANIC_ROLE: &str = "panic-report";
const PANICS: usize = 10;

/// The child half of the one-line-report test: panics `PANICS` times under RUST_BACKTRACE=full.
#[test]
#[ignore = "the child half of a_handler_panic_is_reported_in_one_line_without_a_backtrace"]
fn panic_report_child() {
    if std::env::var(CHILD_ROLE).as_deref() != Ok(PANIC_ROLE) {
        return;
    }
    brigade::block_on(async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/panic", server.local_addr().unwrap());
        brigade::spawn(panicking_server(server)).detach();
        let client = Client::new();
        for _ in 0..PANICS {
            let response = client.get(&url).await.unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
        brigade::time::sleep(Duration::from_millis(200)).await;
    });
    println!("DONE");
}

#[test]
fn a_handler_panic_is_reported_in_one_line_without_a_backtrace() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", PANIC_CHILD, "--nocapture", "--ignored"])
        .env(CHILD_ROLE, PANIC_ROLE)
        .env("RUST_BACKTRACE", "full")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let collect = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(wait_or_kill(&mut child, Duration::from_secs(60)).success());
    assert!(stdout.contains("DONE"), "{stdout}");
    let stderr = collect.join().unwrap();
    let reports = stderr
        .iter()
        .filter(|line| line.contains("panicked"))
        .count();
    assert_eq!(
        reports,
        PANICS,
        "one line per panic:\n{}",
        stderr.join("\n")
    );
    assert!(
        !stderr.iter().any(|line| line.contains("stack backtrace")),
        "a backtrace was captured:\n{}",
        stderr.join("\n")
    );
}
