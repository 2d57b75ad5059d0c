//! The client against what would make it misbehave: endless bodies (the cap on buffered
//! bodies, and streaming past it), servers that drop their HTTP/2 connection (the error says
//! so, and a request never sent is retried), and bursts of concurrency (the pool keeps every
//! connection a burst made, instead of closing some and reopening them in the next burst).

mod common;

use std::collections::HashSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use brigade::net::TcpListener;
use brigade_http::{
    service_fn, Bytes, Client, ClientBuilder, Error, Full, Incoming, PeerAddr, Server,
};
use common::TestServer;
use http::{Request, Response};
use hyper::body::{Body, Frame};

/// A body that never ends: 64 KiB pieces forever, counted in `sent`.
struct Endless {
    sent: Arc<AtomicU64>,
}

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        const PIECE: &[u8] = &[b'x'; 64 * 1024];
        self.sent.fetch_add(PIECE.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(PIECE)))))
    }
}

/// A server whose every response body is endless; returns its URL and the bytes it sent.
async fn endless_server() -> (String, Arc<AtomicU64>) {
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", server.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let handler = service_fn(move |_request: Request<Incoming>| {
        let sent = Arc::clone(&counter);
        async move { Ok::<_, Infallible>(Response::new(Endless { sent })) }
    });
    brigade::spawn(server.serve(handler)).detach();
    (url, sent)
}

/// This process's resident memory, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[brigade::test]
async fn buffered_bodies_stop_at_the_cap_with_an_error_naming_it() {
    assert_eq!(ClientBuilder::DEFAULT_MAX_BUFFERED_BODY, 64 * 1024 * 1024);
    let (url, sent) = endless_server().await;
    let cap = 1024 * 1024;
    let client = Client::builder()
        .max_buffered_body(cap)
        .timeout(Duration::from_secs(20))
        .build();
    let before = resident_bytes();
    for read in ["bytes", "text"] {
        let response = client.get(&url).await.unwrap();
        let error = match read {
            "bytes" => response.bytes().await.map(drop),
            _ => response.text().await.map(drop),
        }
        .unwrap_err();
        assert!(
            matches!(error, Error::BodyTooLarge { limit } if limit == cap),
            "{read}: {error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("1048576") && message.contains("max_buffered_body"),
            "{message}"
        );
    }
    // The client stopped reading and closed the connection: the server stops sending soon
    // (what is left sits in socket buffers), and memory did not follow the endless body.
    brigade::time::sleep(Duration::from_millis(300)).await;
    let settled = sent.load(Ordering::Relaxed);
    brigade::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sent.load(Ordering::Relaxed), settled, "still sending");
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 256 * 1024 * 1024, "memory grew by {grown} bytes");
}

#[brigade::test]
async fn a_body_announced_longer_than_the_cap_fails_before_it_is_read() {
    let server = TestServer::start(|server| server).await;
    let client = Client::builder().max_buffered_body(1000).build();
    let big = vec![b'y'; 100_000];
    let response = client.post(server.url("/echo")).body(big).await.unwrap();
    let error = response.bytes().await.unwrap_err();
    assert!(error.is_body_too_large(), "{error}");
    // A body under the cap still reads whole.
    let response = client
        .post(server.url("/echo"))
        .body("small")
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "small");
    server.shut_down().await;
}

#[brigade::test]
async fn chunk_streams_a_body_far_longer_than_the_cap() {
    let (url, _sent) = endless_server().await;
    let client = Client::builder().max_buffered_body(64 * 1024).build();
    let mut response = client.get(&url).await.unwrap();
    let mut total = 0;
    while total < 16 * 1024 * 1024 {
        let piece = response
            .chunk()
            .await
            .unwrap()
            .expect("the body never ends");
        total += piece.len();
    }
    drop(response); // closes the connection mid-body
}

/// A server that takes connections and closes each at once, counting them.
async fn closing_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    brigade::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            drop(socket);
        }
    })
    .detach();
    (url, accepted)
}

#[brigade::test]
async fn a_failed_http2_connection_is_reported_as_closed_not_cancelled() {
    let (url, accepted) = closing_server().await;
    let client = Client::builder().http2_prior_knowledge().build();
    for attempt in 0..20 {
        let error = client.get(&url).await.unwrap_err();
        let message = error.to_string();
        assert!(!error.is_cancelled(), "{attempt}: {message}");
        assert!(
            !message.contains("canceled") && !message.contains("cancelled"),
            "{attempt}: nothing was cancelled, yet: {message}"
        );
        assert!(
            error.is_connection_closed() || error.is_connect(),
            "{attempt}: {message}"
        );
    }
    // Retries are bounded: at most a few connections per request.
    let connections = accepted.load(Ordering::Relaxed);
    assert!(
        connections <= 20 * 3,
        "{connections} connections for 20 requests"
    );
}

/// A server whose first connection is closed at once; the later ones are served.
async fn server_dropping_its_first_connection() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    brigade::spawn(async move {
        drop(listener.accept().await.unwrap());
        Server::from_listener(listener)
            .serve(service_fn(common::routes))
            .await
    })
    .detach();
    url
}

#[brigade::test]
async fn a_request_never_sent_on_a_dead_http2_connection_is_retried_on_a_new_one() {
    // Whether hyper notices the close before or after taking the request is a race: before,
    // it hands the request back unsent, and the client resends it on a new connection; after,
    // the request may have gone out, and the error says so. Before the fix, an unsent request
    // on a new connection was never resent: not one of these runs succeeded.
    //
    // A second race: a request queued just as hyper's dispatch task shuts down can be left in
    // its channel, handed back only when the connection's last handle drops. The pool used to
    // keep that handle (and the request its own clone) until the request's timeout: about 1
    // run in 30 of this test stalled for it. The short timeout makes such a stall fail fast.
    let mut served = 0;
    for run in 0..40 {
        let url = server_dropping_its_first_connection().await;
        let client = Client::builder()
            .http2_prior_knowledge()
            .timeout(Duration::from_secs(5))
            .build();
        match client.get(&url).await {
            Ok(response) => {
                assert_eq!(response.text().await.unwrap(), "hello");
                served += 1;
            }
            Err(Error::ConnectionClosed { sent: true, .. }) => {}
            Err(error) => panic!("run {run}: {error}"),
        }
    }
    assert!(
        served > 0,
        "no request was resent after its connection closed unsent"
    );
}

#[brigade::test]
async fn pool_opens_as_many_connections_as_the_peak_concurrency() {
    // The server counts connections (by peer address) and the peak of requests in flight.
    let peers = Arc::new(Mutex::new(HashSet::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", server.local_addr().unwrap());
    let handler = {
        let (peers, in_flight, peak) = (peers.clone(), in_flight.clone(), peak.clone());
        service_fn(move |request: Request<Incoming>| {
            let (peers, in_flight, peak) = (peers.clone(), in_flight.clone(), peak.clone());
            async move {
                let peer = request.extensions().get::<PeerAddr>().unwrap().0;
                peers.lock().unwrap().insert(peer);
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                brigade::time::sleep(Duration::from_millis(50)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
            }
        })
    };
    brigade::spawn(server.serve(handler)).detach();

    let client = Client::new();
    for _round in 0..4 {
        let tasks = (0..64).map(|_| {
            let (client, url) = (client.clone(), url.clone());
            brigade::spawn(async move { client.get(url).await.unwrap().text().await.unwrap() })
        });
        brigade::when_all(tasks).await;
    }
    let connections = peers.lock().unwrap().len();
    let peak = peak.load(Ordering::SeqCst);
    assert_eq!(
        connections, peak,
        "4 rounds of 64 concurrent requests opened {connections} connections for a peak of \
         {peak} requests in flight"
    );
}
