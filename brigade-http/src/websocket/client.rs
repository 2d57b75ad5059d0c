//! The client's side of the WebSocket handshake: TCP (and TLS for `wss://`, offering only
//! `http/1.1` in ALPN: RFC 6455's handshake is HTTP/1.1), an HTTP/1.1 `GET` with
//! `Upgrade: websocket`, a check of the server's `Sec-WebSocket-Accept`, then the socket.
//!
//! # Invariants
//! - The whole handshake (TCP, TLS, HTTP) runs under the client's timeout (100 s by default);
//!   a server that never answers is a [`Error::Timeout`], not a hang.
//! - A server that answers anything but a correct `101` is an [`Error::WebSocketHandshake`]
//!   naming what it said.

use std::time::Instant;

use brigade::cancel::CancellationToken;
use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::uri::{PathAndQuery, Uri};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper::rt::{Read, Write};
use tungstenite::protocol::Role;

use super::{default_config, WebSocket};
use crate::client::pool::HostKey;
use crate::client::Limits;
use crate::{Client, Error};

/// Connects to a `ws://` or `wss://` URL with a default [`Client`] (Mozilla's roots, 100 s
/// timeout, 16 MiB messages) — .NET's `ClientWebSocket.ConnectAsync`. For your own roots or
/// timeout, use [`Client::websocket`].
///
/// ```no_run
/// # brigade::block_on(async {
/// use brigade_http::websocket::{self, Message};
/// let mut ws = websocket::connect("wss://echo.example.com/ws").await?;
/// ws.send(Message::text("hello")).await.expect("sent");
/// let echo = ws.recv().await;
/// # Ok::<(), brigade_http::Error>(())
/// # }).unwrap();
/// ```
pub async fn connect(url: impl AsRef<str>) -> Result<WebSocket, Error> {
    Client::new().websocket(url).await
}

impl Client {
    /// Opens a WebSocket to a `ws://` or `wss://` URL with this client's TLS roots, client
    /// certificate and timeout (the handshake must complete within it).
    pub async fn websocket(&self, url: impl AsRef<str>) -> Result<WebSocket, Error> {
        let url = url.as_ref();
        let (uri, key) = parse_ws_url(url)?;
        let limits = Limits {
            deadline: self
                .config()
                .timeout
                .map(|timeout| (Instant::now() + timeout, timeout)),
            token: CancellationToken::none(),
        };
        limits.enforce(self.websocket_handshake(uri, key)).await
    }

    async fn websocket_handshake(&self, uri: Uri, key: HostKey) -> Result<WebSocket, Error> {
        let connector = self.connector();
        let tcp = crate::client::connect::connect_tcp(&key).await?;
        if key.https {
            let tls = connector
                .tls_handshake(&key, connector.tls_websocket.clone(), tcp)
                .await?;
            handshake(uri, &key, tls).await
        } else {
            handshake(uri, &key, tcp).await
        }
    }
}

/// `ws://host/path` → the URI and pool key (`wss` is TLS; ports 80 and 443 by default).
fn parse_ws_url(url: &str) -> Result<(Uri, HostKey), Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url
        .parse()
        .map_err(|error: http::uri::InvalidUri| invalid(error.to_string()))?;
    let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("ws") => false,
        Some("wss") => true,
        _ => {
            return Err(invalid(
                "a WebSocket URL starts with ws:// or wss://".to_owned(),
            ))
        }
    };
    let host = uri
        .host()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| invalid("it has no host".to_owned()))?;
    let key = HostKey {
        https,
        host: host.to_ascii_lowercase(),
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
    };
    Ok((uri, key))
}

async fn handshake<IO>(uri: Uri, key: &HostKey, io: IO) -> Result<WebSocket, Error>
where
    IO: Read + Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = http1::Builder::new().handshake(io).await?;
    brigade::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "brigade-http: WebSocket handshake connection failed");
        }
    })
    .detach();
    let nonce = tungstenite::handshake::client::generate_key();
    let host = match uri.port() {
        Some(port) => format!("{}:{port}", key.host),
        None => key.host.clone(),
    };
    let target = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let request = Request::get(Uri::from(target))
        .header(HOST, host)
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_VERSION, "13")
        .header(SEC_WEBSOCKET_KEY, &nonce)
        .body(Full::<bytes::Bytes>::default())?;
    let response = sender.send_request(request).await?;
    let refused = |what: String| Error::WebSocketHandshake {
        authority: key.to_string(),
        what,
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(refused(format!(
            "the server answered {} instead of 101 Switching Protocols",
            response.status()
        )));
    }
    let expected = tungstenite::handshake::derive_accept_key(nonce.as_bytes());
    if response.headers().get(SEC_WEBSOCKET_ACCEPT)
        != HeaderValue::from_str(&expected).ok().as_ref()
    {
        return Err(refused(
            "the server's Sec-WebSocket-Accept does not match our key".to_owned(),
        ));
    }
    let upgraded = hyper::upgrade::on(response).await?;
    Ok(WebSocket::new(upgraded, Role::Client, default_config()))
}
