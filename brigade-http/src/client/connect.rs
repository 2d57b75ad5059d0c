//! Making a connection: TCP, then (for `https`) brigade-tls's handshake with SNI and ALPN, then
//! hyper's HTTP/1 or HTTP/2 handshake — whichever ALPN settled on. The connection itself is
//! driven by a brigade task of its own; the caller keeps the `SendRequest`.
//!
//! # Invariants
//! - The TLS handshake runs inside the request's future, so the request's timeout and
//!   cancellation token bound it like the TCP connect (dropping the future drops the socket).
//! - Over TLS the protocol is the server's ALPN answer: `h2` is HTTP/2, anything else (or no
//!   answer) HTTP/1.1. Over plain TCP it is the client's choice (prior knowledge or HTTP/1.1).

use std::sync::Arc;

use brigade::compat::hyper::{BrigadeExecutor, BrigadeTimer};
use brigade::net::TcpStream;
use brigade_tls::rustls::pki_types::ServerName;
use brigade_tls::TlsFailure;
use hyper::client::conn::{http1, http2};
use hyper::rt::{Read, Write};

use super::pool::{HostKey, Http2Ended, Pool, RequestBody};
use crate::Error;

/// What a connect produced: the protocol is known only after the TLS handshake.
pub(crate) enum Connected {
    Http1(http1::SendRequest<RequestBody>),
    Http2(http2::SendRequest<RequestBody>),
}

/// A client TLS configuration, or why it could not be built.
pub(crate) type TlsConfig = Result<Arc<brigade_tls::rustls::ClientConfig>, Arc<std::io::Error>>;

/// How to reach hosts: the TLS configuration (if it could be built) and whether plain-TCP
/// connections speak HTTP/2 from the first byte.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) tls: TlsConfig,
    /// The same, offering only `http/1.1` in ALPN: for WebSocket handshakes.
    pub(crate) tls_websocket: TlsConfig,
    pub(crate) http2_prior_knowledge: bool,
}

impl Connector {
    /// Connects to `key` and runs the handshakes; see the module docs for the protocol. An
    /// HTTP/2 connection tells `pool` when it ends.
    pub(crate) async fn connect(&self, key: &HostKey, pool: &Pool) -> Result<Connected, Error> {
        let tcp = connect_tcp(key).await?;
        let ended = pool.http2_ended_notice(key);
        if !key.https {
            return if self.http2_prior_knowledge {
                handshake_http2(key, tcp, ended).await.map(Connected::Http2)
            } else {
                handshake_http1(key, tcp).await.map(Connected::Http1)
            };
        }
        let tls = self.tls_handshake(key, self.tls.clone(), tcp).await?;
        if tls.alpn_protocol() == Some(b"h2") {
            handshake_http2(key, tls, ended).await.map(Connected::Http2)
        } else if self.http2_prior_knowledge {
            Err(Error::Tls {
                authority: key.to_string(),
                failure: Some(TlsFailure::NoCommonProtocol),
                source: std::io::Error::other(
                    "the client asked for HTTP/2 only (http2_prior_knowledge), and the server \
                     did not accept h2 in ALPN",
                ),
            })
        } else {
            handshake_http1(key, tls).await.map(Connected::Http1)
        }
    }
}

impl Connector {
    /// The TLS handshake with `key`'s server over `tcp`.
    pub(crate) async fn tls_handshake(
        &self,
        key: &HostKey,
        config: TlsConfig,
        tcp: TcpStream,
    ) -> Result<brigade_tls::ClientTlsStream<TcpStream>, Error> {
        let config = config.map_err(|error| Error::InvalidTlsConfig {
            reason: error.to_string(),
        })?;
        brigade_tls::connect(config, server_name(key)?, tcp)
            .await
            .map_err(|source| Error::Tls {
                authority: key.to_string(),
                failure: TlsFailure::of(&source),
                source,
            })
    }
}

/// The name the server's certificate must carry, and the SNI sent: the URL's host (an IP
/// address literal is checked against the certificate's IP addresses, and sends no SNI).
fn server_name(key: &HostKey) -> Result<ServerName<'static>, Error> {
    let host = key.host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|error| Error::InvalidUrl {
        url: key.to_string(),
        reason: format!("its host is not a valid TLS server name: {error}"),
    })
}

async fn handshake_http1<IO>(
    key: &HostKey,
    io: IO,
) -> Result<http1::SendRequest<RequestBody>, Error>
where
    IO: Read + Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new().handshake(io).await?;
    let peer = key.clone();
    brigade::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%peer, %error, "brigade-http: client connection ended with an error");
        }
    })
    .detach();
    Ok(sender)
}

async fn handshake_http2<IO>(
    key: &HostKey,
    io: IO,
    ended: Http2Ended,
) -> Result<http2::SendRequest<RequestBody>, Error>
where
    IO: Read + Write + Unpin + Send + 'static,
{
    let (sender, connection) = http2::Builder::new(BrigadeExecutor)
        .timer(BrigadeTimer)
        .handshake(io)
        .await?;
    let peer = key.clone();
    brigade::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%peer, %error, "brigade-http: client connection ended with an error");
        }
        ended.give();
    })
    .detach();
    Ok(sender)
}

pub(crate) async fn connect_tcp(key: &HostKey) -> Result<TcpStream, Error> {
    // `[::1]` in a URL is `::1` to the resolver.
    let host = key.host.trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((host, key.port))
        .await
        .map_err(|source| Error::Connect {
            authority: key.to_string(),
            source,
        })?;
    // Requests are small writes that want to go out now, not after Nagle's delay.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
