//! The wire to the server: where it is ([`Endpoint`]) and the brigade socket that reaches it
//! ([`Socket`]) — seed section 13B's "the query waits on the network".
//!
//! tokio-postgres speaks the protocol over any stream with tokio's `AsyncRead`/`AsyncWrite`
//! traits. brigade's `TcpStream` and `UnixStream` implement those traits (feature `tokio-io`)
//! on brigade's own reactor, so no tokio runtime is involved: a query's wait for bytes is a
//! registration with brigade's epoll, and the worker thread goes back to the pool meanwhile.
//!
//! # Invariants
//! - A host that is a path (`Config::host("/var/run/postgresql")`) is a directory holding the
//!   server's Unix socket, named `.s.PGSQL.<port>` — libpq's convention.
//! - The endpoint a connection was opened on is remembered *resolved* (an IP address, a socket
//!   path), so a cancel request goes to the very server that runs the query.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use brigade::net::{TcpStream, UnixStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::Host;
use tokio_postgres::Config;

use crate::Error;

/// PostgreSQL's well-known port, used when the configuration names none.
const DEFAULT_PORT: u16 = 5432;

/// One place a server listens: resolved, ready to dial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address.
    Tcp(SocketAddr),
    /// The path of a Unix domain socket file (`<dir>/.s.PGSQL.<port>`).
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "{addr}"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Endpoint {
    /// Opens a fresh brigade socket to this endpoint.
    pub async fn dial(&self) -> io::Result<Socket> {
        match self {
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(*addr).await?;
                // The protocol is small request/response messages: Nagle would delay each.
                stream.set_nodelay(true)?;
                Ok(Socket::Tcp(stream))
            }
            Endpoint::Unix(path) => Ok(Socket::Unix(UnixStream::connect(path).await?)),
        }
    }
}

/// A brigade socket to a PostgreSQL server: TCP or Unix, one type for tokio-postgres.
#[derive(Debug)]
pub enum Socket {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a Unix domain socket.
    Unix(UnixStream),
}

/// A configured host, not yet resolved: a name/IP with its port, or a socket file.
enum Target {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { host, port } => write!(f, "{host}:{port}"),
            Target::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The hosts of `config` in order, each with its port (libpq's rule: one port for all hosts,
/// or one per host).
fn targets(config: &Config) -> Result<Vec<Target>, Error> {
    let hosts = config.get_hosts();
    let ports = config.get_ports();
    let addrs = config.get_hostaddrs();
    if hosts.is_empty() && addrs.is_empty() {
        return Err(Error::Config(
            "no host: set Config::host to a name, an IP address, or the directory of the \
             server's Unix socket (such as /var/run/postgresql)"
                .into(),
        ));
    }
    if ports.len() > 1 && ports.len() != hosts.len().max(addrs.len()) {
        return Err(Error::Config(format!(
            "{} ports for {} hosts: give one port for all hosts, or one per host",
            ports.len(),
            hosts.len().max(addrs.len())
        )));
    }
    let port_of = |index: usize| match ports {
        [] => DEFAULT_PORT,
        [port] => *port,
        ports => ports[index],
    };
    let count = hosts.len().max(addrs.len());
    let targets = (0..count).map(|index| {
        let port = port_of(index);
        // `hostaddr` (a literal IP) wins over `host` for dialling, as in libpq.
        if let Some(addr) = addrs.get(index) {
            return Target::Tcp {
                host: addr.to_string(),
                port,
            };
        }
        match &hosts[index] {
            Host::Tcp(host) => Target::Tcp {
                host: host.clone(),
                port,
            },
            Host::Unix(dir) => Target::Unix(dir.join(format!(".s.PGSQL.{port}"))),
        }
    });
    Ok(targets.collect())
}

/// The configured hosts as `dial_first` would try them, for error messages.
pub(crate) fn describe_targets(config: &Config) -> Vec<String> {
    targets(config)
        .map(|targets| targets.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// Dials the configured hosts in order and returns the first socket that connects, with the
/// endpoint it reached. Each attempt is bounded by `Config::connect_timeout`, if set.
pub(crate) async fn dial_first(config: &Config) -> Result<(Socket, Endpoint), Error> {
    let mut tried = Vec::new();
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no host to try");
    for target in targets(config)? {
        tried.push(target.to_string());
        match with_connect_timeout(config.get_connect_timeout(), dial_target(&target)).await {
            Ok(reached) => return Ok(reached),
            Err(error) => last_error = error,
        }
    }
    Err(Error::Connect {
        tried,
        source: last_error,
    })
}

async fn dial_target(target: &Target) -> io::Result<(Socket, Endpoint)> {
    match target {
        Target::Tcp { host, port } => {
            // A name may resolve to several addresses (IPv6 and IPv4 for "localhost"): the
            // brigade connect tries each; we keep the one that answered for cancel requests.
            let stream = TcpStream::connect((host.as_str(), *port)).await?;
            stream.set_nodelay(true)?;
            let endpoint = Endpoint::Tcp(stream.peer_addr()?);
            Ok((Socket::Tcp(stream), endpoint))
        }
        Target::Unix(path) => {
            let endpoint = Endpoint::Unix(path.clone());
            Ok((endpoint.dial().await?, endpoint))
        }
    }
}

async fn with_connect_timeout<T>(
    limit: Option<&Duration>,
    attempt: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match limit {
        None => attempt.await,
        Some(limit) => brigade::time::timeout(*limit, attempt)
            .await
            .unwrap_or_else(|_elapsed| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within the connect_timeout of {limit:?}"),
                ))
            }),
    }
}

// tokio's I/O traits, by delegation: tokio-postgres needs one stream type for both kinds.
impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Socket::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Socket::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Socket::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Socket::Tcp(stream) => stream.is_write_vectored(),
            Socket::Unix(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Socket::Unix(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Socket::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}
