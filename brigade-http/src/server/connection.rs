//! One accepted connection, served from its first byte to its close, as one brigade task.
//!
//! hyper-util's `auto` builder reads the first bytes, tells HTTP/1 from HTTP/2 by the HTTP/2
//! preface, and hands the socket to hyper's HTTP/1 or HTTP/2 connection. This module adds what
//! a server on the open internet needs around it:
//!
//! - **a deadline on the first bytes**: hyper's header-read timeout covers an HTTP/1 request
//!   head, but not the protocol sniff before it — a peer that connects and sends nothing (or
//!   half of the HTTP/2 preface) would hold its connection forever. [`SniffDeadline`] closes it
//!   after the same header-read timeout;
//! - **graceful shutdown in two steps**: when the server stops, the connection is asked to
//!   finish (HTTP/1: finish the request in flight, then close; HTTP/2: GOAWAY, then finish the
//!   open streams); if the drain deadline passes first (or `serve` itself is dropped), it is
//!   dropped, which closes the socket;
//! - **the peer's address** on every request, as a [`PeerAddr`] extension.
//!
//! # Invariants
//! - The connection's [`ConnectionSlot`] lives exactly as long as this task's future, so the
//!   server's live count and drain see every way a connection can end.
//! - Errors of one connection (a reset, a timeout, a malformed request) end that connection
//!   only; they are logged at debug level and never reach the accept loop (I3).

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use brigade::cancel::CancellationToken;
use brigade::compat::hyper::BrigadeExecutor;
use brigade::net::TcpStream;
use brigade::prelude::*;
use brigade::time::Sleep;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use hyper::service::Service;
use hyper_util::server::conn::auto;

use super::limit::ConnectionSlot;
use crate::BoxError;

/// The address of the client at the other end of the connection a request came in on.
/// brigade-http's server puts it into every request's extensions.
///
/// ```
/// # use brigade_http::{PeerAddr, Incoming};
/// # fn handler(request: http::Request<Incoming>) {
/// let peer = request.extensions().get::<PeerAddr>().map(|peer| peer.0);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// What every connection of one server shares: hyper's configuration and the sniff deadline.
pub(crate) struct ConnectionSettings {
    pub(crate) builder: auto::Builder<BrigadeExecutor>,
    /// `None` when the header-read timeout is off, or when the server speaks HTTP/1 only
    /// (no sniff happens: hyper's own header-read timeout covers the first bytes).
    pub(crate) sniff_deadline: Option<Duration>,
}

/// The server's two shutdown signals, as a connection sees them.
#[derive(Clone)]
pub(crate) struct ShutdownSignals {
    /// Finish what is in flight, then close.
    pub(crate) finish: CancellationToken,
    /// Close now: the drain deadline passed, or `serve`'s future was dropped.
    pub(crate) close_now: CancellationToken,
}

/// Serves one connection to its end. Spawned as its own task by the accept loop.
pub(crate) async fn serve_connection<S, B>(
    stream: TcpStream,
    peer: SocketAddr,
    service: Arc<S>,
    settings: Arc<ConnectionSettings>,
    shutdown: ShutdownSignals,
    _slot: ConnectionSlot,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // Small responses go out at once instead of waiting for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let io = SniffDeadline::new(stream, settings.sniff_deadline);
    let service = WithPeerAddr {
        inner: service,
        peer: PeerAddr(peer),
    };
    let mut connection = pin!(settings.builder.serve_connection(io, service));

    let serving = async {
        // Serving: until the connection ends by itself or the server asks it to finish.
        let mut finish_requested = shutdown.finish.cancelled();
        let ended = poll_fn(|cx| {
            if let Poll::Ready(outcome) = connection.as_mut().poll(cx) {
                return Poll::Ready(Some(outcome));
            }
            Pin::new(&mut finish_requested).poll(cx).map(|()| None)
        })
        .await;
        match ended {
            Some(outcome) => outcome,
            // Finishing: the request in flight completes (HTTP/2: GOAWAY, open streams
            // complete), then the connection closes.
            None => {
                connection.as_mut().graceful_shutdown();
                connection.as_mut().await
            }
        }
    };
    // Closing now — the drain deadline passed, or `serve` itself was dropped — drops the
    // connection wherever it is, which closes the socket.
    match serving.with_cancellation(&shutdown.close_now).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "brigade-http: connection ended with an error");
        }
        Err(_closed) => {
            tracing::debug!(%peer, "brigade-http: connection closed by the server's shutdown");
        }
    }
}

/// The user's service, plus the [`PeerAddr`] extension on every request.
struct WithPeerAddr<S> {
    inner: Arc<S>,
    peer: PeerAddr,
}

impl<S: Service<Request<Incoming>>> Service<Request<Incoming>> for WithPeerAddr<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut request: Request<Incoming>) -> S::Future {
        request.extensions_mut().insert(self.peer);
        self.inner.call(request)
    }
}

/// HTTP/2's connection preface: a client that starts with these bytes speaks HTTP/2.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The socket, with a deadline on the bytes that decide the protocol.
///
/// Armed until the bytes read so far either leave HTTP/2's preface (the peer speaks HTTP/1,
/// and hyper's header-read timeout takes over) or complete it (HTTP/2), or the peer closes.
/// While armed, a read that finds the deadline passed fails with `TimedOut`, which ends the
/// connection. After that it is a plain pass-through.
struct SniffDeadline {
    stream: TcpStream,
    /// Boxed because hyper wants an `Unpin` socket and a brigade `Sleep` carries its timer
    /// entry inside itself; freed as soon as the protocol is known.
    deadline: Option<Pin<Box<Sleep>>>,
    /// How many bytes of the preface the peer has sent so far.
    preface_seen: usize,
}

impl SniffDeadline {
    fn new(stream: TcpStream, deadline: Option<Duration>) -> SniffDeadline {
        SniffDeadline {
            stream,
            deadline: deadline.map(|after| Box::pin(brigade::time::sleep(after))),
            preface_seen: 0,
        }
    }

    /// A read while the deadline is armed: through a small buffer of our own, so the bytes
    /// can be compared with the preface before they are handed on.
    fn poll_read_sniffing(
        &mut self,
        cx: &mut Context<'_>,
        mut out: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let deadline = self.deadline.as_mut().expect("called only while armed");
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "brigade-http: the client sent no request within the header-read timeout",
            )));
        }
        let mut local = [0u8; H2_PREFACE.len()];
        let wanted = out.remaining().min(H2_PREFACE.len() - self.preface_seen);
        let mut local = ReadBuf::new(&mut local[..wanted]);
        std::task::ready!(Pin::new(&mut self.stream).poll_read(cx, local.unfilled()))?;
        let got = local.filled();
        let expected = &H2_PREFACE[self.preface_seen..self.preface_seen + got.len()];
        self.preface_seen += got.len();
        let decided = got.is_empty() // EOF
            || got != expected // not HTTP/2
            || self.preface_seen == H2_PREFACE.len(); // all of the HTTP/2 preface
        if decided {
            self.deadline = None;
        }
        out.put_slice(got);
        Poll::Ready(Ok(()))
    }
}

impl Read for SniffDeadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.deadline.is_some() && buf.remaining() > 0 {
            return this.poll_read_sniffing(cx, buf);
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl Write for SniffDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }
}
