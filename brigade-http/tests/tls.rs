//! HTTPS: brigade-http's client and server over brigade-tls, against each other and against
//! independent peers — curl (OpenSSL) against the server, `openssl s_server` (asking for a
//! client certificate) against the client, `openssl s_client` for ALPN. Every certificate is
//! made by the test (brigade_tls::testing), never checked in.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade_http::server::ServerTls;
use brigade_http::{Client, Error};
use brigade_tls::testing::{TempDir, TestCa, TestCert};
use brigade_tls::TlsFailure;
use common::TestServer;
use http::{StatusCode, Version};

fn server_tls(cert: &TestCert) -> ServerTls {
    ServerTls::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap()
}

fn client_trusting(ca: &TestCa) -> brigade_http::ClientBuilder {
    Client::builder()
        .add_root_certificate(ca.cert_pem())
        .unwrap()
}

fn https_url(server: &TestServer, path: &str) -> String {
    format!("https://localhost:{}{path}", server.addr.port())
}

#[brigade::test]
async fn https_negotiates_http2_by_alpn_and_http1_when_asked() {
    let ca = TestCa::new("test CA");
    let tls = server_tls(&ca.server(&["localhost"]));
    let server = TestServer::start(|server| server.tls(tls)).await;

    let client = client_trusting(&ca).build();
    let response = client.get(https_url(&server, "/version")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2, "ALPN picks h2");
    assert_eq!(response.text().await.unwrap(), "HTTP/2.0");
    let echoed = client
        .post(https_url(&server, "/echo"))
        .body(vec![7u8; 300_000])
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(echoed.len(), 300_000);

    let http1 = client_trusting(&ca).http1_only().build();
    for _ in 0..3 {
        let response = http1.get(https_url(&server, "/version")).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_11);
        assert_eq!(response.text().await.unwrap(), "HTTP/1.1");
    }
    assert_eq!(
        http1.idle_connections("localhost", server.addr.port()),
        1,
        "the three requests shared one pooled TLS connection"
    );
    server.shut_down().await;
}

#[brigade::test]
async fn certificate_problems_are_distinct_errors() {
    let ca = TestCa::new("test CA");
    let cases = [
        (
            ca.expired_server(&["localhost"]),
            TlsFailure::CertificateExpired,
            "expired",
        ),
        (
            ca.server(&["example.org"]),
            TlsFailure::WrongHost,
            "not valid for this host",
        ),
        (
            TestCa::new("unknown CA").server(&["localhost"]),
            TlsFailure::UnknownIssuer,
            "unknown authority",
        ),
    ];
    let client = client_trusting(&ca).build();
    for (cert, failure, words) in cases {
        let tls = server_tls(&cert);
        let server = TestServer::start(|server| server.tls(tls)).await;
        let error = client.get(https_url(&server, "/")).await.unwrap_err();
        assert_eq!(error.tls_failure(), Some(&failure), "{error}");
        assert!(error.to_string().contains(words), "{error}");
        server.shut_down().await;
    }
    // Mozilla's roots do not include the test CA.
    let tls = server_tls(&ca.server(&["localhost"]));
    let server = TestServer::start(|server| server.tls(tls)).await;
    let error = Client::new()
        .get(https_url(&server, "/"))
        .await
        .unwrap_err();
    assert_eq!(
        error.tls_failure(),
        Some(&TlsFailure::UnknownIssuer),
        "{error}"
    );
    server.shut_down().await;
}

#[brigade::test]
async fn a_silent_client_loses_its_slot_after_the_header_read_timeout() {
    let ca = TestCa::new("test CA");
    let tls = server_tls(&ca.server(&["localhost"]));
    let server = TestServer::start(|server| {
        server
            .tls(tls)
            .header_read_timeout(Duration::from_millis(300))
            .max_connections(1)
    })
    .await;
    let addr = server.addr;
    // Opens TCP, sends no ClientHello, and waits for the server to hang up.
    let closed_after = brigade::run(move || {
        let mut silent = std::net::TcpStream::connect(addr).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let started = Instant::now();
        let mut byte = [0u8; 1];
        let read = silent.read(&mut byte);
        assert!(matches!(read, Ok(0) | Err(_)), "the server sent {read:?}");
        started.elapsed()
    })
    .await;
    assert!(closed_after < Duration::from_secs(10), "{closed_after:?}");
    // The slot is free again: a real client gets in (max_connections is 1).
    let client = client_trusting(&ca).build();
    assert_eq!(
        client.get(https_url(&server, "/")).await.unwrap().status(),
        StatusCode::OK
    );
    server.shut_down().await;
}

#[brigade::test]
async fn the_timeout_and_the_token_cover_the_tls_handshake() {
    // A peer that accepts TCP and never answers the ClientHello.
    let mute = brigade::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = mute.local_addr().unwrap().port();
    let _held = brigade::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = mute.accept().await {
            held.push(stream);
        }
    });
    let url = format!("https://localhost:{port}/");
    let client = Client::builder()
        .timeout(Duration::from_millis(300))
        .build();
    let error = client.get(&url).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");

    let cancel = CancellationTokenSource::new();
    let token = cancel.token();
    let request = brigade::spawn(async move {
        Client::new()
            .get(&url)
            .cancellation_token(&token)
            .await
            .unwrap_err()
    });
    brigade::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let error = brigade::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("cancelled at once");
    assert!(error.is_cancelled(), "{error}");
}

#[brigade::test]
async fn reloading_the_certificate_changes_what_new_connections_get() {
    let old_ca = TestCa::new("old CA");
    let new_ca = TestCa::new("new CA");
    let dir = TempDir::new("reload");
    let (cert, key) = old_ca.server(&["localhost"]).write_to(dir.path(), "server");
    let tls = ServerTls::from_pem_files(&cert, &key).unwrap();
    let handle = tls.clone();
    let server = TestServer::start(|server| server.tls(tls)).await;
    let trusts_new = client_trusting(&new_ca).build();
    let before = trusts_new.get(https_url(&server, "/")).await.unwrap_err();
    assert_eq!(before.tls_failure(), Some(&TlsFailure::UnknownIssuer));

    let (cert, key) = new_ca.server(&["localhost"]).write_to(dir.path(), "server");
    handle.reload_pem_files(&cert, &key).unwrap();
    let after = trusts_new.get(https_url(&server, "/")).await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);

    // A broken reload changes nothing.
    let missing = handle.reload_pem_files(dir.path().join("nope.crt"), &key);
    assert!(missing.unwrap_err().to_string().contains("nope.crt"));
    let still = client_trusting(&new_ca).build();
    assert_eq!(
        still.get(https_url(&server, "/")).await.unwrap().status(),
        StatusCode::OK
    );
    server.shut_down().await;
}

/// Runs a program; `None` (after a note) when it is not installed, except in CI.
async fn run(program: &'static str, args: Vec<String>) -> Option<std::process::Output> {
    let output = brigade::run(move || std::process::Command::new(program).args(&args).output());
    match output.await {
        Ok(output) => Some(output),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{program} is not installed, but CI must run this test: install it in .ci/run"
            );
            eprintln!("note: {program} is not installed; skipping this half of the test");
            None
        }
        Err(error) => panic!("running {program}: {error}"),
    }
}

#[brigade::test]
async fn curl_speaks_https_http1_and_http2_to_the_server() {
    let ca = TestCa::new("test CA");
    let dir = TempDir::new("curl");
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let tls = server_tls(&ca.server(&["localhost"]));
    let server = TestServer::start(|server| server.tls(tls)).await;
    for (flag, expected) in [("--http1.1", "HTTP/1.1"), ("--http2", "HTTP/2.0")] {
        let args = vec![
            "--silent".into(),
            "--show-error".into(),
            flag.into(),
            "--cacert".into(),
            ca_file.display().to_string(),
            https_url(&server, "/version"),
        ];
        let Some(output) = run("curl", args).await else {
            break;
        };
        assert!(
            output.status.success(),
            "curl {flag}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    }
    // Without the CA, curl refuses the certificate.
    let args = vec!["--silent".into(), https_url(&server, "/")];
    if let Some(output) = run("curl", args).await {
        assert_eq!(
            output.status.code(),
            Some(60),
            "curl's 'peer certificate cannot be authenticated'"
        );
    }
    server.shut_down().await;
}

#[brigade::test]
async fn openssl_s_client_sees_alpn_h2_and_a_verified_chain() {
    let ca = TestCa::new("test CA");
    let dir = TempDir::new("s_client");
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let tls = server_tls(&ca.server(&["localhost"]));
    let server = TestServer::start(|server| server.tls(tls)).await;
    let port = server.addr.port();
    let script = format!(
        "echo | openssl s_client -connect 127.0.0.1:{port} -servername localhost \
         -verify_hostname localhost -alpn h2,http/1.1 -CAfile {} 2>&1",
        ca_file.display()
    );
    if let Some(output) = run("sh", vec!["-c".into(), script]).await {
        let said = String::from_utf8_lossy(&output.stdout);
        if said.contains("openssl: not found") || said.contains("openssl: command not found") {
            assert!(std::env::var_os("CI").is_none(), "CI must have openssl");
        } else {
            assert!(said.contains("ALPN protocol: h2"), "{said}");
            assert!(said.contains("Verify return code: 0 (ok)"), "{said}");
        }
    }
    server.shut_down().await;
}

/// `openssl s_server -www` on a free port, asking for a client certificate from `ca`.
fn start_s_server(dir: &TempDir, ca: &TestCa) -> Option<(std::process::Child, u16)> {
    let (cert, key) = ca.server(&["localhost"]).write_to(dir.path(), "s_server");
    let ca_file = dir.path().join("clients-ca.crt");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-Verify", "1", "-accept"])
        .arg(port.to_string())
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .arg("-CAfile")
        .arg(&ca_file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            assert!(std::env::var_os("CI").is_none(), "CI must have openssl");
            return None;
        }
        Err(error) => panic!("openssl s_server: {error}"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((child, port))
}

#[brigade::test]
async fn the_client_presents_its_certificate_to_openssl_s_server() {
    let ca = TestCa::new("test CA");
    let dir = TempDir::new("s_server");
    let Some((mut child, port)) = start_s_server(&dir, &ca) else {
        return;
    };
    let url = format!("https://localhost:{port}/");
    let client_cert = ca.client("brigade test client");
    let with_identity = client_trusting(&ca)
        .identity(&client_cert.cert_pem, &client_cert.key_pem)
        .unwrap()
        .build();
    let response = with_identity.get(&url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("brigade test client"),
        "s_server shows the client's certificate: {page}"
    );

    let without = client_trusting(&ca).build();
    let refused = without.get(&url).await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Tls { .. } | Error::ConnectionClosed { .. } | Error::Http(_)
        ),
        "{refused}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[brigade::test]
async fn bad_tls_configuration_is_reported() {
    let error = Client::builder()
        .add_root_certificate("not a certificate")
        .unwrap_err();
    assert!(matches!(error, Error::InvalidTlsConfig { .. }), "{error}");
    assert!(error.to_string().contains("BEGIN CERTIFICATE"), "{error}");
    let no_roots = Client::builder().tls_built_in_root_certs(false).build();
    let error = no_roots.get("https://localhost:1/").await.unwrap_err();
    // The TCP connect to port 1 fails first on most machines; either way it says why.
    assert!(
        error.is_connect() || matches!(error, Error::InvalidTlsConfig { .. }),
        "{error}"
    );
}
