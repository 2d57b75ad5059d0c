//! # brigade-tls
//!
//! TLS on brigade's sockets — .NET's `SslStream`: [`TlsStream`] drives a rustls connection
//! (client or server) over a non-blocking brigade `TcpStream` (or any futures-io stream), with
//! no tokio and no tokio-rustls. brigade-http builds HTTPS and `wss://` on it, brigade-postgres
//! `sslmode=require`/`verify-full`.
//!
//! - [`connect`] / [`accept`]: run the handshake, return the stream;
//! - [`ClientSettings`], [`server_config`], [`Identity`]: configurations from PEM texts or
//!   files, Mozilla's roots (webpki-roots, compiled in) and ALPN;
//! - [`TlsFailure`]: a failed handshake sorted into what a user can act on (expired
//!   certificate, wrong host, unknown issuer...).
//!
//! **Crypto provider: ring.** Every configuration uses [`crypto_provider`] (ring), passed
//! explicitly. ring builds with a C compiler alone; aws-lc-rs (rustls's default) needs cmake —
//! absent on brigade's CI machine — and compiles several times slower. Both implement the same
//! TLS 1.2/1.3 suites in constant time.
//!
//! **Timeouts.** A handshake has no timeout of its own here: the caller bounds it (brigade-http
//! puts it under the request timeout on the client and the header-read timeout on the server;
//! brigade-postgres under `connect_timeout`).
//!
//! ```no_run
//! # brigade::block_on(async {
//! use brigade_tls::{connect, ClientSettings};
//! let config = ClientSettings::default().build()?; // Mozilla's roots
//! let tcp = brigade::net::TcpStream::connect("example.com:443").await?;
//! let name = "example.com".try_into().expect("a valid DNS name");
//! let tls = connect(config, name, tcp).await?;
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod config;
mod error;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;
mod traits;

use std::future::poll_fn;
use std::io;
use std::sync::Arc;

use futures_io::{AsyncRead, AsyncWrite};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

pub use config::{
    certificates_from_pem, crypto_provider, private_key_from_pem, server_config, ClientSettings,
    Identity,
};
pub use error::TlsFailure;
pub use stream::TlsStream;

/// rustls itself, for its configuration types.
pub use rustls;

/// A client's side of a TLS connection.
pub type ClientTlsStream<IO> = TlsStream<IO, ClientConnection>;
/// A server's side of a TLS connection.
pub type ServerTlsStream<IO> = TlsStream<IO, ServerConnection>;

/// Runs a client handshake over `io` with `server_name` (SNI, and the name the certificate
/// must carry). Errors: the socket's, or `InvalidData` with a `rustls::Error` inside (see
/// [`TlsFailure::of`]).
pub async fn connect<IO>(
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    io: IO,
) -> io::Result<ClientTlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let conn = ClientConnection::new(config, server_name)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let mut stream = TlsStream::new(io, conn);
    poll_fn(|cx| stream.poll_handshake(cx)).await?;
    Ok(stream)
}

/// Runs a server handshake over `io`. Bound it with a timeout: a client that never sends its
/// ClientHello would otherwise hold it forever.
pub async fn accept<IO>(config: Arc<ServerConfig>, io: IO) -> io::Result<ServerTlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut stream = TlsStream::new(io, conn);
    poll_fn(|cx| stream.poll_handshake(cx)).await?;
    Ok(stream)
}
