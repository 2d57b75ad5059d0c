//! Graceful shutdown on a cancellation token: stop accepting, let requests in flight finish,
//! close idle connections at once, close stragglers at the drain deadline; then `serve`
//! returns.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade::{Promise, Task};
use brigade_http::{service_fn, Bytes, Client, Full, Incoming, Server};
use common::TestServer;
use http::{Request, Response};

/// A server whose every request sets `started` (once) and then sleeps `handler_time`.
struct SlowServer {
    url: String,
    addr: std::net::SocketAddr,
    stop: CancellationTokenSource,
    serving: Task<std::io::Result<()>>,
    started: brigade::task::PromiseTask<()>,
}

async fn slow_server(handler_time: Duration, drain_timeout: Duration) -> SlowServer {
    let (started, started_task) = Promise::new();
    let started = Arc::new(Mutex::new(Some(started)));
    let handler = move |_request: Request<Incoming>| {
        let started = started.lock().unwrap().take();
        async move {
            if let Some(started) = started {
                let _ = started.set(());
            }
            brigade::time::sleep(handler_time).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("finished"))))
        }
    };
    let stop = CancellationTokenSource::new();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .shutdown_on(stop.token())
        .drain_timeout(drain_timeout);
    let addr = server.local_addr().unwrap();
    SlowServer {
        url: format!("http://{addr}/"),
        addr,
        stop,
        serving: brigade::spawn(server.serve(service_fn(handler))),
        started: started_task,
    }
}

async fn graceful_shutdown_finishes_the_request_in_flight(client: Client) {
    let server = slow_server(Duration::from_millis(600), Duration::from_secs(30)).await;
    let request = {
        let url = server.url.clone();
        brigade::spawn(async move { client.get(url).await?.text().await })
    };
    server.started.await.unwrap(); // the handler is running
    server.stop.cancel();

    brigade::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !server.serving.is_finished(),
        "serve returned while a request was still in flight"
    );
    let text = request.await.expect("the request in flight completes");
    assert_eq!(text, "finished");
    brigade::time::timeout(Duration::from_secs(5), server.serving)
        .await
        .expect("serve returns once the request is done")
        .unwrap();
    // The listener is closed: a new client is refused.
    assert!(std::net::TcpStream::connect(server.addr).is_err());
}

#[brigade::test]
async fn graceful_shutdown_finishes_an_http1_request_in_flight_then_serve_returns() {
    graceful_shutdown_finishes_the_request_in_flight(Client::new()).await;
}

#[brigade::test]
async fn graceful_shutdown_finishes_an_http2_request_in_flight_then_serve_returns() {
    graceful_shutdown_finishes_the_request_in_flight(
        Client::builder().http2_prior_knowledge().build(),
    )
    .await;
}

#[brigade::test]
async fn the_drain_deadline_closes_connections_that_do_not_finish() {
    let server = slow_server(Duration::from_secs(3600), Duration::from_millis(300)).await;
    let request = {
        let url = server.url.clone();
        brigade::spawn(async move { Client::new().get(url).await })
    };
    server.started.await.unwrap();
    let cancelled_at = Instant::now();
    server.stop.cancel();
    brigade::time::timeout(Duration::from_secs(5), server.serving)
        .await
        .expect("serve returns after the drain deadline")
        .unwrap();
    let took = cancelled_at.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "returned before the deadline: {took:?}"
    );
    let error = request.await.unwrap_err();
    assert!(error.is_connection_closed(), "{error}");
}

#[brigade::test]
async fn idle_and_silent_connections_do_not_hold_up_shutdown() {
    let server = TestServer::start(|server| server).await;
    // One kept-alive idle connection in the client's pool, one that never sent a byte.
    let client = Client::new();
    client
        .get(server.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _silent = std::net::TcpStream::connect(server.addr).unwrap();
    brigade::time::sleep(Duration::from_millis(50)).await; // let the server accept it

    let started = Instant::now();
    server.stop.cancel();
    brigade::time::timeout(Duration::from_secs(5), server.serving)
        .await
        .expect("serve returns without waiting for the 30 s drain deadline")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[brigade::test]
async fn dropping_the_serve_future_closes_every_connection() {
    use std::io::Read;
    let server = TestServer::start(|server| server).await;
    let addr = server.addr;
    // A connection that is mid-way through a slow request.
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(
        &mut socket,
        b"GET /slow?ms=60000 HTTP/1.1\r\nHost: drop\r\n\r\n",
    )
    .unwrap();
    brigade::time::sleep(Duration::from_millis(100)).await;

    let _ = server.serving.cancel().await; // drops serve's future
    let closed = brigade::run(move || {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut rest = Vec::new();
        socket.read_to_end(&mut rest).map(|_| rest)
    })
    .await;
    assert!(
        matches!(&closed, Ok(rest) if rest.is_empty()),
        "the connection should close unanswered, got {closed:?}"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed"
    );
}

const SIGNAL_CHILD: &str = "shutdown_on_signals_child";
const SIGNAL_ROLE: &str = "shutdown-on-signals";

/// The child half: a server that stops on SIGINT/SIGTERM, and says so.
#[test]
#[ignore = "the child half of sigterm_and_sigint_shut_the_server_down_gracefully"]
fn shutdown_on_signals_child() {
    if std::env::var(common::CHILD_ROLE).as_deref() != Ok(SIGNAL_ROLE) {
        return;
    }
    brigade::block_on(async {
        let server = Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .shutdown_on_signals()
            .unwrap();
        println!("\nADDR {}", server.local_addr().unwrap());
        server
            .serve(service_fn(|_request: Request<Incoming>| async {
                Ok::<_, Infallible>(common::text("up"))
            }))
            .await
            .unwrap();
    });
    println!("\nSTOPPED");
}

#[test]
fn sigterm_and_sigint_shut_the_server_down_gracefully() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", SIGNAL_CHILD, "--nocapture", "--ignored"])
            .env(common::CHILD_ROLE, SIGNAL_ROLE)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let addr = common::wait_for_line(&mut stdout, "ADDR ");
        let body = brigade::block_on(async {
            let response = Client::new()
                .get(format!("http://{}/", addr.trim()))
                .await
                .unwrap();
            response.text().await.unwrap()
        });
        assert_eq!(body, "up");
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let status = common::wait_or_kill(&mut child, Duration::from_secs(30));
        assert!(status.success(), "{status}");
        assert!(common::wait_for_line(&mut stdout, "STOPPED").is_empty());
    }
}
