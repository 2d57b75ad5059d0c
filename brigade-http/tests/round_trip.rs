//! I4: hyper's HTTP/1 and HTTP/2, server and client, on brigade sockets — brigade-http's
//! client against its server, and `curl` (a client that is not hyper) against the server.

mod common;

use brigade_http::{Client, Error};
use common::{curl, TestServer};
use http::{StatusCode, Version};

#[brigade::test]
async fn i4_http1_round_trip() {
    let server = TestServer::start(|server| server).await;
    let client = Client::new();

    let response = client.get(server.url("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.text().await.unwrap(), "hello");

    let echoed = client
        .post(server.url("/echo"))
        .body("a body worth echoing")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&echoed[..], b"a body worth echoing");

    let missing = client.get(server.url("/nowhere")).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.error_for_status().unwrap_err().status(),
        Some(StatusCode::NOT_FOUND)
    );
    server.shut_down().await;
}

#[brigade::test]
async fn i4_http2_round_trip_with_prior_knowledge() {
    let server = TestServer::start(|server| server).await;
    let client = Client::builder().http2_prior_knowledge().build();

    let response = client.get(server.url("/version")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "HTTP/2.0");

    let big = vec![b'x'; 256 * 1024]; // more than one flow-control window
    let echoed = client
        .post(server.url("/echo"))
        .body(big.clone())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(echoed.len(), big.len());
    server.shut_down().await;
}

#[brigade::test]
async fn i4_http1_only_server_still_speaks_http1() {
    let server = TestServer::start(|server| server.http1_only()).await;
    let text = Client::new()
        .get(server.url("/version"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "HTTP/1.1");
    server.shut_down().await;
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Todo {
    id: u32,
    title: String,
}

#[brigade::test]
async fn json_helpers_post_and_read_back() {
    let server = TestServer::start(|server| server).await;
    let client = Client::new();
    let todo = Todo {
        id: 7,
        title: "write the http chapter".into(),
    };
    // /echo sends the JSON back, so what was posted is what comes back.
    let echoed: Todo = client
        .post_json(server.url("/echo"), &todo)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed, todo);

    let not_json = client.get_json::<Todo>(server.url("/")).await.unwrap_err();
    assert!(matches!(not_json, Error::Json(_)), "{not_json}");
    let not_found = client.get_json::<Todo>(server.url("/nowhere")).await;
    assert_eq!(not_found.unwrap_err().status(), Some(StatusCode::NOT_FOUND));
    server.shut_down().await;
}

#[brigade::test]
async fn every_request_carries_the_peer_address() {
    let server = TestServer::start(|server| server).await;
    let peer = Client::new()
        .get(server.url("/peer"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let peer: std::net::SocketAddr = peer.parse().unwrap();
    assert!(peer.ip().is_loopback());
    assert_ne!(peer.port(), server.addr.port());
    server.shut_down().await;
}

#[brigade::test]
async fn bad_urls_and_https_get_clear_errors() {
    let client = Client::new();
    let https = client.get("ftp://example.com/").await.unwrap_err();
    assert!(matches!(https, Error::UnsupportedScheme { .. }));
    assert!(https.to_string().contains("https"), "{https}");

    let relative = client.get("/just/a/path").await.unwrap_err();
    assert!(matches!(relative, Error::InvalidUrl { .. }), "{relative}");

    let bad_header = client
        .get("http://127.0.0.1:1/")
        .header("bad header", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(bad_header, Error::InvalidRequest(_)),
        "{bad_header}"
    );
}

#[brigade::test]
async fn a_closed_port_is_a_connect_error() {
    // Bind and drop a listener: its port is (almost certainly) closed now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = Client::new()
        .get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error}");
}

#[brigade::test]
async fn i4_curl_speaks_http1_and_http2_to_the_server() {
    let server = TestServer::start(|server| server).await;
    for (flag, version) in [
        ("--http1.1", "HTTP/1.1"),
        ("--http2-prior-knowledge", "HTTP/2.0"),
    ] {
        // One URL per run: curl 7.88 cannot reuse a prior-knowledge HTTP/2 connection for a
        // second URL (its bug #10634, fixed in 8.0).
        for (path, data, expected) in [
            ("/version", None, version),
            ("/echo", Some("posted by curl"), "posted by curl"),
        ] {
            let mut args = vec![
                "--silent".to_owned(),
                "--show-error".to_owned(),
                "--max-time".to_owned(),
                "10".to_owned(),
                flag.to_owned(),
                server.url(path),
            ];
            if let Some(data) = data {
                args.extend(["--data".to_owned(), data.to_owned()]);
            }
            let Some(output) = curl(args).await else {
                server.shut_down().await;
                return;
            };
            assert!(
                output.status.success(),
                "curl {flag} {path} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                expected,
                "curl {flag} {path}"
            );
        }
    }
    server.shut_down().await;
}
