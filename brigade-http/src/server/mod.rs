//! The server: hyper's HTTP/1 and HTTP/2 on a brigade [`TcpListener`] (seed section 13D: a
//! high-throughput web API — thousands of connections on a few worker threads, because no
//! connection holds a thread while it waits).
//!
//! [`Server`] is the accept loop. Each accepted connection becomes one brigade task
//! (see `connection`), served by hyper-util's `auto` builder with brigade's executor and timer.
//! Around that loop sit the defences a server needs on the open internet:
//!
//! | defence | default | builder method |
//! |---|---|---|
//! | a client must send its request head within | 10 s | [`header_read_timeout`](Server::header_read_timeout) |
//! | connections served at once (beyond: accept waits) | 10 000 | [`max_connections`](Server::max_connections) |
//! | graceful shutdown on a token, drained within | 30 s | [`shutdown_on`](Server::shutdown_on), [`drain_timeout`](Server::drain_timeout) |
//! | accept errors | survived | (`EMFILE`: pause and retry, I2) |
//!
//! # Invariants
//! - The accept loop never spins: out of file descriptors, it pauses (I2); at the connection
//!   limit, it parks until a connection ends.
//! - One connection's failure never ends the loop (I3).
//! - After shutdown is requested no connection is accepted (the listener is closed at once),
//!   and `serve` returns only when every connection has finished or been closed at the drain
//!   deadline.

mod accept;
mod connection;
mod limit;

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brigade::cancel::{CancellationToken, CancellationTokenSource};
use brigade::compat::hyper::{BrigadeExecutor, BrigadeTimer};
use brigade::net::{TcpListener, ToSocketAddrs};
use brigade::prelude::*;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::{service_fn, Service};
use hyper_util::server::conn::auto;

use self::accept::{AcceptBackoff, AcceptFailure};
use self::connection::{serve_connection, ConnectionSettings, ShutdownSignals};
use self::limit::ConnectionLimit;
use crate::BoxError;

pub use self::connection::PeerAddr;

/// An HTTP server on a brigade [`TcpListener`]: HTTP/1.1 and HTTP/2 (detected per
/// connection), with a header-read timeout, a connection limit and graceful shutdown.
///
/// ```no_run
/// use std::convert::Infallible;
/// use brigade::cancel::CancellationTokenSource;
/// use brigade_http::{service_fn, Full, Bytes, Server};
///
/// # brigade::block_on(async {
/// let stop = CancellationTokenSource::new();
/// Server::bind("127.0.0.1:8080")
///     .await?
///     .shutdown_on(stop.token())
///     .serve(service_fn(|_request| async {
///         Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("hello"))))
///     }))
///     .await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct Server {
    listener: TcpListener,
    header_read_timeout: Option<Duration>,
    max_connections: usize,
    http1_only: bool,
    shutdown: CancellationToken,
    drain_timeout: Duration,
}

impl Server {
    /// The default [`header_read_timeout`](Server::header_read_timeout): 10 seconds.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default [`max_connections`](Server::max_connections): 10 000.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
    /// The default [`drain_timeout`](Server::drain_timeout): 30 seconds.
    pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

    /// Binds a listener to `addr` (`"127.0.0.1:0"` picks a free port; see
    /// [`local_addr`](Server::local_addr)).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr).await?))
    }

    /// Serves connections from a listener you bound yourself.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            header_read_timeout: Some(Server::DEFAULT_HEADER_READ_TIMEOUT),
            max_connections: Server::DEFAULT_MAX_CONNECTIONS,
            http1_only: false,
            shutdown: CancellationToken::none(),
            drain_timeout: Server::DEFAULT_DRAIN_TIMEOUT,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// How long a client may take to send a request head: from the moment it connects (or
    /// its previous response went out, on a kept-alive connection) until the head's last
    /// byte. A client that takes longer is disconnected, so slow or stalled clients cannot
    /// hold connections forever. This also closes idle kept-alive HTTP/1 connections after
    /// that long. For HTTP/2 it bounds the connection preface only; an HTTP/2 connection that
    /// is open stays open until the client closes it or the server shuts down. `None` turns
    /// the timeout off. Default: 10 s.
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Server {
        self.header_read_timeout = timeout.into();
        self
    }

    /// How many connections are served at once. At the limit the server stops accepting;
    /// new connections wait in the kernel's listen backlog until one ends. Default: 10 000.
    ///
    /// # Panics
    /// If `max` is 0 (the server could never serve anyone).
    pub fn max_connections(mut self, max: usize) -> Server {
        assert!(
            max > 0,
            "Server::max_connections(0) would never accept a connection; pass at least 1"
        );
        self.max_connections = max;
        self
    }

    /// Speaks HTTP/1 only: no HTTP/2 detection (an HTTP/2 client then gets a protocol error).
    pub fn http1_only(mut self) -> Server {
        self.http1_only = true;
        self
    }

    /// Shuts down gracefully when `token` is cancelled: stop accepting, ask every connection
    /// to finish its request in flight and close (HTTP/2: GOAWAY), wait for them up to the
    /// [`drain_timeout`](Server::drain_timeout), close the rest; then `serve` returns.
    pub fn shutdown_on(mut self, token: CancellationToken) -> Server {
        self.shutdown = token;
        self
    }

    /// How long a graceful shutdown waits for connections to finish before closing them.
    /// Default: 30 s.
    pub fn drain_timeout(mut self, timeout: Duration) -> Server {
        self.drain_timeout = timeout;
        self
    }

    /// Serves connections with `service` until shutdown (see
    /// [`shutdown_on`](Server::shutdown_on)); without a shutdown token, forever.
    ///
    /// Every request carries the client's address as a [`PeerAddr`] extension. Returns `Ok`
    /// after a graceful shutdown; `Err` only if the listening socket itself broke (after the
    /// live connections were drained the same way). Dropping the future instead (cancelling
    /// its task, say) is the abrupt stop: the listener and every connection close at once.
    pub async fn serve<S, B>(self, service: S) -> io::Result<()>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let Server {
            listener,
            header_read_timeout,
            max_connections,
            http1_only,
            shutdown,
            drain_timeout,
        } = self;
        let settings = Arc::new(connection_settings(header_read_timeout, http1_only));
        let service = Arc::new(service);
        let limit = ConnectionLimit::new(max_connections);
        let finish = CancellationTokenSource::new();
        let close_now = CancelOnDrop(CancellationTokenSource::new());
        let signals = ShutdownSignals {
            finish: finish.token(),
            close_now: close_now.0.token(),
        };

        let stopped_by = accept_loop(&listener, &shutdown, &limit, |stream, peer, slot| {
            let connection = serve_connection(
                stream,
                peer,
                Arc::clone(&service),
                Arc::clone(&settings),
                signals.clone(),
                slot,
            );
            brigade::spawn(connection).detach();
        })
        .await;

        // Shutting down. Close the listener first: from now on a new client is refused at
        // once instead of waiting in a backlog nobody reads.
        drop(listener);
        finish.cancel();
        let drained = brigade::time::timeout(drain_timeout, poll_fn(|cx| limit.poll_drained(cx)));
        if drained.await.is_err() {
            tracing::warn!(
                still_open = limit.live(),
                "brigade-http: drain deadline of {drain_timeout:?} passed; closing the \
                 connections still open"
            );
            close_now.0.cancel();
            // Each connection drops at its next poll, which the cancel has just scheduled.
            poll_fn(|cx| limit.poll_drained(cx)).await;
        }
        match stopped_by {
            StoppedBy::Shutdown => Ok(()),
            StoppedBy::BrokenListener(error) => Err(error),
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("http1_only", &self.http1_only)
            .field("shutdown", &self.shutdown)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

/// Serves `handler` — an `async fn(Request<Incoming>) -> Result<Response<_>, _>` — on
/// `listener` with the default settings, forever. For timeouts, limits and shutdown, use
/// [`Server`].
///
/// ```no_run
/// use brigade_http::{Bytes, Full, Incoming};
/// use http::{Request, Response};
///
/// async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
///     Ok(Response::new(Full::new(Bytes::from("hello"))))
/// }
///
/// # brigade::block_on(async {
/// let listener = brigade::net::TcpListener::bind("127.0.0.1:8080").await?;
/// brigade_http::serve(listener, hello).await
/// # }).unwrap();
/// ```
pub async fn serve<H, F, B, E>(listener: TcpListener, handler: H) -> io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    E: Into<BoxError>,
{
    Server::from_listener(listener)
        .serve(service_fn(handler))
        .await
}

fn connection_settings(
    header_read_timeout: Option<Duration>,
    http1_only: bool,
) -> ConnectionSettings {
    let mut builder = auto::Builder::new(BrigadeExecutor);
    builder
        .http1()
        .timer(BrigadeTimer)
        .header_read_timeout(header_read_timeout);
    builder.http2().timer(BrigadeTimer);
    if http1_only {
        builder = builder.http1_only();
    }
    ConnectionSettings {
        builder,
        sniff_deadline: if http1_only {
            None
        } else {
            header_read_timeout
        },
    }
}

/// Cancels its source when dropped: if `serve`'s future is dropped midway, the connections
/// close too, instead of living on without their server.
struct CancelOnDrop(CancellationTokenSource);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Why the accept loop ended.
enum StoppedBy {
    Shutdown,
    BrokenListener(io::Error),
}

/// Accepts connections and hands each to `spawn` with its slot under the limit, until
/// `shutdown` is cancelled or the listener breaks.
async fn accept_loop(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    limit: &Arc<ConnectionLimit>,
    mut spawn: impl FnMut(brigade::net::TcpStream, SocketAddr, limit::ConnectionSlot),
) -> StoppedBy {
    let mut backoff = AcceptBackoff::new();
    loop {
        // Room first: at the limit, waiting here leaves new clients in the kernel's backlog.
        let room = poll_fn(|cx| limit.poll_room(cx));
        if room.with_cancellation(shutdown).await.is_err() {
            return StoppedBy::Shutdown;
        }
        let Ok(accepted) = listener.accept().with_cancellation(shutdown).await else {
            return StoppedBy::Shutdown;
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.recovered();
                spawn(stream, peer, limit.take_slot());
            }
            Err(error) => match AcceptFailure::classify(&error) {
                AcceptFailure::PeerGaveUp => {
                    tracing::debug!(%error, "brigade-http: a connection went away before accept");
                }
                AcceptFailure::OutOfResources => {
                    let pause = backoff.pause_after(&error);
                    let paused = brigade::time::sleep(pause).with_cancellation(shutdown);
                    if paused.await.is_err() {
                        return StoppedBy::Shutdown;
                    }
                }
                AcceptFailure::ListenerBroken => {
                    tracing::error!(%error, "brigade-http: the listener cannot accept; shutting down");
                    return StoppedBy::BrokenListener(error);
                }
            },
        }
    }
}
