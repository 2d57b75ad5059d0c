//! The client: connection pooling (counted on the server, by the peer address each request
//! arrives from), timeouts (T3) and cancellation by token (K8, K9).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade::net::TcpListener;
use brigade::Promise;
use brigade_http::{Client, Error};
use common::TestServer;

/// The client address the server saw for a `/peer` request: one per connection.
async fn peer_of(client: &Client, server: &TestServer) -> String {
    client
        .get(server.url("/peer"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[brigade::test]
async fn pool_carries_sequential_http1_requests_on_one_connection() {
    let server = TestServer::start(|server| server).await;
    let client = Client::new();
    let mut peers = HashSet::new();
    for _ in 0..20 {
        peers.insert(peer_of(&client, &server).await);
    }
    assert_eq!(
        peers.len(),
        1,
        "20 sequential requests, connections: {peers:?}"
    );
    assert_eq!(client.idle_connections("127.0.0.1", server.addr.port()), 1);
    server.shut_down().await;
}

#[brigade::test]
async fn pool_shares_one_http2_connection_between_concurrent_requests() {
    let server = TestServer::start(|server| server).await;
    let client = Client::builder().http2_prior_knowledge().build();
    // All at once from a cold start: one request connects, the others wait for its connection.
    let concurrent = (0..16).map(|_| {
        let client = client.clone();
        let url = server.url("/peer");
        brigade::spawn(async move { client.get(url).await.unwrap().text().await.unwrap() })
    });
    let peers: HashSet<String> = brigade::when_all(concurrent).await.into_iter().collect();
    assert_eq!(
        peers.len(),
        1,
        "16 concurrent requests, connections: {peers:?}"
    );
    let later = peer_of(&client, &server).await;
    assert!(peers.contains(&later), "a later request reuses it too");
    server.shut_down().await;
}

#[brigade::test]
async fn concurrent_http2_requests_to_a_closed_port_all_fail_to_connect() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder().http2_prior_knowledge().build();
    let concurrent = (0..4).map(|_| {
        let client = client.clone();
        let url = format!("http://127.0.0.1:{port}/");
        brigade::spawn(async move { client.get(url).await })
    });
    let outcomes = brigade::time::timeout(Duration::from_secs(10), brigade::when_all(concurrent))
        .await
        .expect("a failed connect wakes the requests waiting for it");
    for outcome in outcomes {
        let error = outcome.unwrap_err();
        assert!(error.is_connect(), "{error}");
    }
}

#[brigade::test]
async fn pool_keeps_at_most_max_idle_per_host() {
    let server = TestServer::start(|server| server).await;
    let client = Client::builder().pool_max_idle_per_host(1).build();
    let concurrent = (0..3).map(|_| {
        let client = client.clone();
        let url = server.url("/slow?ms=200");
        brigade::spawn(async move { client.get(url).await.unwrap().text().await.unwrap() })
    });
    brigade::when_all(concurrent).await;
    assert_eq!(client.idle_connections("127.0.0.1", server.addr.port()), 1);
    server.shut_down().await;
}

#[brigade::test]
async fn pool_closes_connections_idle_past_the_idle_timeout() {
    let server = TestServer::start(|server| server).await;
    let client = Client::builder()
        .pool_idle_timeout(Duration::from_millis(100))
        .build();
    let first = peer_of(&client, &server).await;
    assert_eq!(client.idle_connections("127.0.0.1", server.addr.port()), 1);
    brigade::time::sleep(Duration::from_millis(600)).await; // the reaper sweeps every 50 ms
    assert_eq!(client.idle_connections("127.0.0.1", server.addr.port()), 0);
    let second = peer_of(&client, &server).await;
    assert_ne!(first, second, "a new connection after the idle timeout");
    server.shut_down().await;
}

#[brigade::test]
async fn a_pooled_connection_the_server_closed_is_replaced_transparently() {
    // The server closes idle kept-alive connections after its header-read timeout.
    let server =
        TestServer::start(|server| server.header_read_timeout(Duration::from_millis(200))).await;
    let client = Client::new();
    let first = peer_of(&client, &server).await;
    brigade::time::sleep(Duration::from_millis(700)).await;
    let second = peer_of(&client, &server).await;
    assert_ne!(first, second);
    server.shut_down().await;
}

#[brigade::test]
async fn a_response_dropped_unread_does_not_return_its_connection() {
    let server = TestServer::start(|server| server).await;
    let client = Client::new();
    let response = client.get(server.url("/")).await.unwrap();
    drop(response); // body ("hello") never read
    assert_eq!(client.idle_connections("127.0.0.1", server.addr.port()), 0);
    // The client still works: a new connection carries the next request.
    assert_eq!(
        client
            .get(server.url("/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hello"
    );
    server.shut_down().await;
}

/// A server that accepts one connection and never answers; the promise is set when the
/// client closes that connection.
async fn silent_server() -> (String, brigade::task::PromiseTask<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (closed, closed_task) = Promise::new();
    brigade::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        let _ = closed.set(());
    })
    .detach();
    (url, closed_task)
}

#[brigade::test]
async fn k9_a_request_to_a_silent_server_ends_promptly_after_cancel() {
    let (url, connection_closed) = silent_server().await;
    let source = CancellationTokenSource::new();
    let request = brigade::spawn(
        Client::new()
            .get(url)
            .cancellation_token(&source.token())
            .send(),
    );
    brigade::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !request.is_finished(),
        "the silent server cannot have answered"
    );

    let cancelled_at = Instant::now();
    source.cancel();
    let error = request.await.unwrap_err();
    let took = cancelled_at.elapsed();
    assert!(
        matches!(error, Error::Cancelled(ref c) if c.token() == &source.token()),
        "{error}"
    );
    assert!(took < Duration::from_secs(2), "cancel took {took:?}");
    // The request future was dropped, and with it the connection: the server sees it close.
    brigade::time::timeout(Duration::from_secs(5), connection_closed)
        .await
        .expect("the cancelled request's connection was closed")
        .expect("the silent server saw the close");
}

#[brigade::test]
async fn t3_a_request_to_a_silent_server_times_out() {
    let (url, _closed) = silent_server().await;
    let started = Instant::now();
    let error = Client::new()
        .get(url)
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, Error::Timeout { after } if after == Duration::from_millis(200)));
    assert!(error.is_timeout() && !error.is_cancelled());
    assert!(took >= Duration::from_millis(200), "early: {took:?}");
    assert!(took < Duration::from_secs(3), "late: {took:?}");
}

#[brigade::test]
async fn k8_an_already_cancelled_token_sends_nothing() {
    let server = TestServer::start(|server| server).await;
    let source = CancellationTokenSource::new();
    source.cancel();
    let client = Client::new();
    let error = client
        .get(server.url("/"))
        .cancellation_token(&source.token())
        .await
        .unwrap_err();
    assert!(error.is_cancelled());
    assert_eq!(client.idle_connections("127.0.0.1", server.addr.port()), 0);
    server.shut_down().await;
}

#[brigade::test]
async fn t3_the_timeout_also_bounds_a_body_that_stalls() {
    use brigade::net::TcpStream;
    // A server that sends a head promising 100 bytes, sends 5, and stalls.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    brigade::spawn(async move {
        let (mut socket, _): (TcpStream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello";
        socket.write_all(head.as_bytes()).await.unwrap();
        std::future::pending::<()>().await;
    })
    .detach();

    let response = Client::new()
        .get(url)
        .timeout(Duration::from_millis(300))
        .await
        .expect("the head arrives in time");
    let started = Instant::now();
    let error = response.bytes().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
