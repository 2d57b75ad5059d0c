//! The TLS stream against itself over real brigade sockets: data both ways (large writes that
//! fill the socket included), and each certificate problem reported as its own TlsFailure.

use std::sync::Arc;

use brigade::net::{TcpListener, TcpStream};
use brigade_tls::testing::TestCa;
use brigade_tls::{accept, connect, server_config, ClientSettings, TlsFailure};
use futures_io::{AsyncRead, AsyncWrite};
use std::future::poll_fn;
use std::pin::Pin;

async fn write_all<W: AsyncWrite + Unpin>(w: &mut W, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf))
            .await
            .unwrap();
        buf = &buf[n..];
    }
    poll_fn(|cx| Pin::new(&mut *w).poll_flush(cx))
        .await
        .unwrap();
}

async fn read_to_end<R: AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, &mut buf))
            .await
            .unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn client_trusting(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    ClientSettings {
        mozilla_roots: false,
        extra_roots: brigade_tls::certificates_from_pem(ca.cert_pem().as_bytes()).unwrap(),
        ..ClientSettings::default()
    }
    .build()
    .unwrap()
}

/// Serves one TLS connection with `cert`; returns the server's handshake result.
async fn serve_once(
    cert: brigade_tls::testing::TestCert,
) -> (
    std::net::SocketAddr,
    brigade::Task<std::io::Result<Vec<u8>>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = server_config(cert.identity(), vec![], None).unwrap();
    let task = brigade::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = accept(config, tcp).await?;
        let received = read_to_end(&mut tls).await;
        write_all(&mut tls, &received).await; // echo, then close
        poll_fn(|cx| Pin::new(&mut tls).poll_close(cx)).await?;
        Ok(received)
    });
    (addr, task)
}

#[test]
fn a_megabyte_goes_both_ways_through_tls() {
    brigade::block_on(async {
        let ca = TestCa::new("test CA");
        let (addr, server) = serve_once(ca.server(&["localhost"])).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connect(client_trusting(&ca), "localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        // The first bytes as a vectored write (a frame header and its payload, as HTTP/2 does).
        let (head, rest) = payload[..1000].split_at(9);
        let slices = [std::io::IoSlice::new(head), std::io::IoSlice::new(rest)];
        let mut sent = 0;
        while sent < 1000 {
            let n = poll_fn(|cx| Pin::new(&mut tls).poll_write_vectored(cx, &slices))
                .await
                .unwrap();
            assert!(n > 0);
            sent += n;
            if sent < 1000 {
                write_all(&mut tls, &payload[sent..1000]).await;
                sent = 1000;
            }
        }
        write_all(&mut tls, &payload[1000..]).await;
        poll_fn(|cx| Pin::new(&mut tls).poll_close(cx))
            .await
            .unwrap(); // close_notify
        let echoed = read_to_end(&mut tls).await;
        assert_eq!(server.await.unwrap().len(), payload.len());
        assert!(echoed == payload, "the echo differs");
    });
}

fn handshake_failure(cert: brigade_tls::testing::TestCert, ca: &TestCa, name: &str) -> TlsFailure {
    brigade::block_on(async {
        let (addr, _server) = serve_once(cert).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let error = connect(
            client_trusting(ca),
            name.to_owned().try_into().unwrap(),
            tcp,
        )
        .await
        .expect_err("the handshake must fail");
        TlsFailure::of(&error).unwrap_or_else(|| panic!("not a TLS failure: {error}"))
    })
}

#[test]
fn certificate_problems_are_told_apart() {
    let ca = TestCa::new("test CA");
    let other_ca = TestCa::new("someone else's CA");
    assert_eq!(
        handshake_failure(ca.expired_server(&["localhost"]), &ca, "localhost"),
        TlsFailure::CertificateExpired
    );
    assert_eq!(
        handshake_failure(ca.server(&["example.org"]), &ca, "localhost"),
        TlsFailure::WrongHost
    );
    let unknown = handshake_failure(other_ca.server(&["localhost"]), &ca, "localhost");
    assert_eq!(unknown, TlsFailure::UnknownIssuer);
    assert!(
        unknown.to_string().contains("add_root_certificate"),
        "{unknown}"
    );
}
