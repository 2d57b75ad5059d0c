//! WebSockets: brigade-http's client against its server (ws:// and wss://), size and protocol
//! violations closed with the right codes, and Python's `websockets` library (an independent
//! implementation) as the client, in the clear and over TLS.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use brigade_http::server::ServerTls;
use brigade_http::websocket::{self, CloseCode, Message, WebSocket, WebSocketConfig};
use brigade_http::Client;
use brigade_tls::testing::{TempDir, TestCa};
use common::TestServer;

/// Echoes text and binary; "close me" is answered with close code 4000.
#[allow(clippy::collapsible_match)] // the guard would move the message it sends
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        match message {
            Message::Text(text) if text.as_str() == "close me" => {
                let _ = ws.close(CloseCode::Library(4000), "as you wish").await;
                return;
            }
            Message::Text(_) | Message::Binary(_) => {
                if ws.send(message).await.is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}

async fn echo_server(tls: Option<ServerTls>) -> TestServer {
    TestServer::start(move |server| {
        let server = server.websocket("/ws", echo).websocket_with_config(
            "/small",
            WebSocketConfig::default().max_message_size(Some(1024)),
            echo,
        );
        match tls {
            Some(tls) => server.tls(tls),
            None => server,
        }
    })
    .await
}

async fn exercise(mut ws: WebSocket) {
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hello"));
    let blob: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(blob));
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Pong(b"are you there".to_vec().into()),
        "the server answers pings by itself"
    );
    ws.send(Message::text("close me")).await.unwrap();
    match ws.recv().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Library(4000));
            assert_eq!(frame.reason.as_str(), "as you wish");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(ws.recv().await.is_none(), "the stream ends after the close");
}

#[brigade::test]
async fn ws_echo_with_ping_and_close_code() {
    let server = echo_server(None).await;
    let ws = websocket::connect(format!("ws://{}/ws", server.addr))
        .await
        .unwrap();
    exercise(ws).await;
    server.shut_down().await;
}

#[brigade::test]
async fn wss_echo_over_tls() {
    let ca = TestCa::new("test CA");
    let cert = ca.server(&["localhost"]);
    let tls = ServerTls::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = echo_server(Some(tls)).await;
    let client = Client::builder()
        .add_root_certificate(ca.cert_pem())
        .unwrap()
        .build();
    let ws = client
        .websocket(format!("wss://localhost:{}/ws", server.addr.port()))
        .await
        .unwrap();
    exercise(ws).await;
    server.shut_down().await;
}

#[brigade::test]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let server = echo_server(None).await;
    let mut ws = websocket::connect(format!("ws://{}/small", server.addr))
        .await
        .unwrap();
    ws.send(Message::text("x".repeat(512))).await.unwrap();
    assert!(ws.recv().await.unwrap().unwrap().is_text());
    ws.send(Message::binary(vec![0u8; 4096])).await.unwrap();
    match ws.recv().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected close 1009, got {other:?}"),
    }
    server.shut_down().await;
}

#[brigade::test]
async fn a_plain_request_to_a_websocket_route_gets_426_and_others_pass_through() {
    let server = echo_server(None).await;
    let client = Client::new();
    let response = client.get(server.url("/ws")).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::UPGRADE_REQUIRED);
    let response = client.get(server.url("/")).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "hello");
    let error = websocket::connect(server.url("/ws").replace("http://", "ws://") + "-nope")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("404"), "{error}");
    server.shut_down().await;
}

#[brigade::test]
async fn an_unmasked_client_frame_is_a_protocol_error_closed_with_1002() {
    let server = echo_server(None).await;
    let addr = server.addr;
    let close = brigade::run(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            tcp,
            "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(tcp.read(&mut byte).unwrap(), 1);
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        // A text frame "hi" without the mask a client must set.
        tcp.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        let mut frame = [0u8; 4];
        tcp.read_exact(&mut frame).unwrap();
        frame
    })
    .await;
    assert_eq!(close[0], 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1002);
    server.shut_down().await;
}

const PYTHON_CLIENT: &str = r#"
import asyncio, ssl, sys
from websockets.asyncio.client import connect
async def main(url, ca):
    context = None
    if ca:
        context = ssl.create_default_context(cafile=ca)
    async with connect(url, ssl=context) as ws:
        await ws.send("hello from python")
        print(await ws.recv())
        await ws.send(b"\x00\x01\x02")
        print((await ws.recv()).hex())
        await ws.ping()
        await ws.send("close me")
        try:
            await ws.recv()
        except Exception as closed:
            print(ws.close_code)
asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
"#;

/// Runs the Python client; `None` when python3 or its websockets package is missing (outside
/// CI, whose script installs them).
async fn python_client(args: Vec<String>) -> Option<String> {
    let output = brigade::run(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(PYTHON_CLIENT)
            .args(&args)
            .output()
    })
    .await;
    let missing = match &output {
        Err(error) => error.kind() == std::io::ErrorKind::NotFound,
        Ok(output) => {
            String::from_utf8_lossy(&output.stderr).contains("No module named 'websockets'")
        }
    };
    if missing {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 with websockets (pip install websockets): see .ci/run"
        );
        eprintln!("note: python3's websockets is not installed; skipping");
        return None;
    }
    let output = output.unwrap();
    assert!(
        output.status.success(),
        "python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[brigade::test]
async fn python_websockets_talks_to_the_server_in_the_clear_and_over_tls() {
    let expected = "hello from python\n000102\n4000\n";
    let server = echo_server(None).await;
    if let Some(said) = python_client(vec![format!("ws://{}/ws", server.addr)]).await {
        assert_eq!(said, expected);
    }
    server.shut_down().await;

    let ca = TestCa::new("test CA");
    let dir = TempDir::new("python-wss");
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let cert = ca.server(&["localhost"]);
    let tls = ServerTls::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = echo_server(Some(tls)).await;
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    if let Some(said) = python_client(vec![url, ca_file.display().to_string()]).await {
        assert_eq!(said, expected);
    }
    server.shut_down().await;
}
