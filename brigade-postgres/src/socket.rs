//! The wire to the server: where it is ([`Endpoint`]) and the brigade socket that reaches it
//! ([`Socket`]) — seed section 13B's "the query waits on the network".
//!
//! tokio-postgres speaks the protocol over any stream with tokio's `AsyncRead`/`AsyncWrite`
//! traits. brigade's `TcpStream` and `UnixStream` implement those traits (feature `tokio-io`)
//! on brigade's own reactor, so no tokio runtime is involved: a query's wait for bytes is a
//! registration with brigade's epoll, and the worker thread goes back to the pool meanwhile.
//!
//! Which endpoints a configuration names is `hosts.rs`'s business; how a TCP socket gets its
//! options is `tcp_socket.rs`'s.
//!
//! # Invariants
//! - The endpoint a connection was opened on is remembered *resolved* (an IP address, a socket
//!   path), so a cancel request goes to the very server that runs the query.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use brigade::net::{TcpStream, UnixStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
    /// Opens a fresh brigade socket to this endpoint, with no options beyond `TCP_NODELAY`
    /// (what a cancel request needs).
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

// futures-io's traits too: brigade-tls's stream runs over them (sslmode=require).
impl futures_io::AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(stream) => futures_io::AsyncRead::poll_read(Pin::new(stream), cx, buf),
            Socket::Unix(stream) => futures_io::AsyncRead::poll_read(Pin::new(stream), cx, buf),
        }
    }
}

impl futures_io::AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(stream) => futures_io::AsyncWrite::poll_write(Pin::new(stream), cx, buf),
            Socket::Unix(stream) => futures_io::AsyncWrite::poll_write(Pin::new(stream), cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => futures_io::AsyncWrite::poll_flush(Pin::new(stream), cx),
            Socket::Unix(stream) => futures_io::AsyncWrite::poll_flush(Pin::new(stream), cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => futures_io::AsyncWrite::poll_close(Pin::new(stream), cx),
            Socket::Unix(stream) => futures_io::AsyncWrite::poll_close(Pin::new(stream), cx),
        }
    }
}
