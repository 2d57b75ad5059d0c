//! One accepted connection, served from its first byte to its close, as one brigade task.
//!
//! hyper-util's `auto` builder reads the first bytes, tells HTTP/1 from HTTP/2 by the HTTP/2
//! preface, and hands the socket to hyper's HTTP/1 or HTTP/2 connection. This module adds what
//! a server on the open internet needs around it:
//!
//! - **a deadline on the first bytes**: hyper's header-read timeout covers an HTTP/1 request
//!   head, but not the protocol sniff before it (`sniff::SniffDeadline` closes a peer that
//!   sends nothing, or half of the HTTP/2 preface, after the same timeout);
//! - **an idle timeout** (Kestrel's keep-alive timeout), for HTTP/1 and HTTP/2 alike: a
//!   connection with no request in flight is closed once its first request is overdue (the
//!   header-read timeout: an HTTP/2 peer that sends its preface and then nothing is caught
//!   here), or once it has been idle for the idle timeout after a request (`activity`). HTTP/2
//!   gets a `GOAWAY` first; HTTP/2 peers are also pinged, and closed when they stop answering;
//! - **graceful shutdown in two steps**: when the server stops, the connection is asked to
//!   finish (HTTP/1: finish the request in flight, then close; HTTP/2: GOAWAY, then finish the
//!   open streams); if the drain deadline passes first (or `serve` itself is dropped), it is
//!   dropped, which closes the socket;
//! - **the peer's address** on every request, as a [`PeerAddr`] extension.
//!
//! # Invariants
//! - The connection's [`ConnectionSlot`] lives exactly as long as this task's future, so the
//!   server's live count and drain see every way a connection can end — an idle timeout
//!   included, which is what gives the slot back to a waiting client.
//! - Errors of one connection (a reset, a timeout, a malformed request) end that connection
//!   only; they are logged at debug level and never reach the accept loop (I3).

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use brigade::cancel::CancellationToken;
use brigade::compat::hyper::BrigadeExecutor;
use brigade::net::TcpStream;
use brigade::prelude::*;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Body;
use hyper::rt::{Read, Write};
use hyper::service::Service;
use hyper_util::server::conn::auto;

use super::activity::{ConnectionActivity, IdleLimits};
use super::body::{Incoming, MinDataRate};
use super::limit::ConnectionSlot;
use super::request::ConnectionService;
use super::sniff::SniffDeadline;
use super::tls::ServerTls;
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

/// What every connection of one server shares: hyper's configuration and the timeouts.
pub(crate) struct ConnectionSettings {
    pub(crate) builder: auto::Builder<BrigadeExecutor>,
    /// `None` when the header-read timeout is off, or when the server speaks HTTP/1 only
    /// (no sniff happens: hyper's own header-read timeout covers the first bytes).
    pub(crate) sniff_deadline: Option<Duration>,
    pub(crate) idle: IdleLimits,
    pub(crate) min_body_rate: Option<MinDataRate>,
    /// The most bytes a request body may carry; `None`: no cap.
    pub(crate) max_body_size: Option<u64>,
    /// HTTPS: the certificate to present; `None` for plain HTTP.
    pub(crate) tls: Option<ServerTls>,
    /// The longest a TLS handshake may take (the header-read timeout).
    pub(crate) tls_handshake_timeout: Option<Duration>,
    /// ALPN offers `http/1.1` only.
    pub(crate) http1_only: bool,
}

/// How long an idle-expired HTTP/2 connection gets to say `GOAWAY` and close before it is
/// dropped (a peer that reads nothing would otherwise keep the graceful close waiting).
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The server's two shutdown signals, as a connection sees them.
#[derive(Clone)]
pub(crate) struct ShutdownSignals {
    /// Finish what is in flight, then close.
    pub(crate) finish: CancellationToken,
    /// Close now: the drain deadline passed, or `serve`'s future was dropped.
    pub(crate) close_now: CancellationToken,
}

/// Why a connection stopped serving.
enum Stopped<T> {
    /// It ended by itself (close, reset, timeout, error).
    Ended(T),
    /// The server is shutting down: finish what is in flight.
    Finish,
    /// No request in flight for too long.
    Idle,
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
    let served = async {
        let Some(tls) = &settings.tls else {
            return serve_io(stream, peer, service, &settings, &shutdown).await;
        };
        // The handshake is bounded like the request head: a client that connects and never
        // sends its ClientHello (or stalls halfway) loses its slot after the header-read
        // timeout. A shutdown drops connections still handshaking.
        let handshake = brigade_tls::accept(tls.current(settings.http1_only), stream);
        let handshake = match settings.tls_handshake_timeout {
            Some(limit) => brigade::time::timeout(limit, handshake)
                .await
                .unwrap_or_else(|_| {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the client did not complete the TLS handshake within {limit:?}"),
                    ))
                }),
            None => handshake.await,
        };
        match handshake {
            Ok(stream) => serve_io(stream, peer, service, &settings, &shutdown).await,
            Err(error) => Err(Box::new(error) as BoxError),
        }
    };
    // Closing now — the drain deadline passed, or `serve` itself was dropped — drops the
    // connection wherever it is, which closes the socket.
    match served.with_cancellation(&shutdown.close_now).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "brigade-http: connection ended with an error");
        }
        Err(_closed) => {
            tracing::debug!(%peer, "brigade-http: connection closed by the server's shutdown");
        }
    }
}

/// Serves one connection's bytes (plain TCP, or TLS after its handshake) with hyper.
async fn serve_io<IO, S, B>(
    io: IO,
    peer: SocketAddr,
    service: Arc<S>,
    settings: &ConnectionSettings,
    shutdown: &ShutdownSignals,
) -> Result<(), BoxError>
where
    IO: Read + Write + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let io = SniffDeadline::new(io, settings.sniff_deadline);
    let activity = ConnectionActivity::new();
    let service = ConnectionService {
        inner: service,
        peer: PeerAddr(peer),
        activity: Arc::clone(&activity),
        min_body_rate: settings.min_body_rate,
        max_body_size: settings.max_body_size,
    };
    // With upgrades: a WebSocket handshake hands the socket to its handler (`websocket`).
    let mut connection = pin!(settings.builder.serve_connection_with_upgrades(io, service));

    let serving = async {
        // Serving: until the connection ends by itself, idles out, or the server asks it to
        // finish.
        let mut finish_requested = shutdown.finish.cancelled();
        let mut idle_expired = pin!(activity.idle_expired(settings.idle));
        let stopped = poll_fn(|cx| {
            if let Poll::Ready(outcome) = connection.as_mut().poll(cx) {
                return Poll::Ready(Stopped::Ended(outcome));
            }
            if Pin::new(&mut finish_requested).poll(cx).is_ready() {
                return Poll::Ready(Stopped::Finish);
            }
            idle_expired.as_mut().poll(cx).map(|()| Stopped::Idle)
        })
        .await;
        match stopped {
            Stopped::Ended(outcome) => outcome,
            // Finishing: the request in flight completes (HTTP/2: GOAWAY, open streams
            // complete), then the connection closes.
            Stopped::Finish => {
                connection.as_mut().graceful_shutdown();
                connection.as_mut().await
            }
            // Idle: nothing is in flight. HTTP/1 closes at once; HTTP/2 says GOAWAY, and is
            // dropped if it cannot close within the grace.
            Stopped::Idle => {
                tracing::debug!(%peer, "brigade-http: closing an idle connection");
                connection.as_mut().graceful_shutdown();
                let closing = brigade::time::timeout(IDLE_CLOSE_GRACE, connection.as_mut());
                closing.await.unwrap_or(Ok(()))
            }
        }
    };
    serving.await
}
