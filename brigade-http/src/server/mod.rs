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
//! | a client must send its request head (HTTP/2: its first request) within | 10 s | [`header_read_timeout`](Server::header_read_timeout) |
//! | a connection with no request in flight is closed after (HTTP/1 and HTTP/2) | 130 s | [`idle_timeout`](Server::idle_timeout) |
//! | HTTP/2 peers are pinged after this long without a frame, and closed if no answer within | 60 s, 20 s | [`http2_keep_alive`](Server::http2_keep_alive) |
//! | request bodies must arrive at least this fast, after a grace period (else 408) | 240 B/s after 5 s | [`min_request_body_rate`](Server::min_request_body_rate) |
//! | a request body may carry at most (else 413; a longer `Content-Length` fails before the body is read) | 30 000 000 bytes | [`max_request_body`](Server::max_request_body) |
//! | a handler that panics | answered 500, reported in one line | (see `panic`) |
//! | connections served at once (beyond: accept waits) | 10 000 | [`max_connections`](Server::max_connections) |
//! | graceful shutdown on a token, drained within | 30 s | [`shutdown_on`](Server::shutdown_on), [`drain_timeout`](Server::drain_timeout) |
//! | accept errors | survived | (`EMFILE`: pause and retry, I2) |
//! | HTTPS: the TLS handshake must complete within | the header-read timeout (10 s) | [`tls`](Server::tls), [`header_read_timeout`](Server::header_read_timeout) |
//!
//! # Invariants
//! - The accept loop never spins: out of file descriptors, it pauses (I2); at the connection
//!   limit, it parks until a connection ends.
//! - One connection's failure never ends the loop (I3).
//! - After shutdown is requested no connection is accepted (the listener is closed at once),
//!   and `serve` returns only when every connection has finished or been closed at the drain
//!   deadline.

mod accept;
mod activity;
mod body;
mod connection;
mod limit;
mod panic;
mod request;
mod sniff;
mod tls;

use std::fmt;
use std::future::Future;
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
use hyper::body::Body;
use hyper::service::{service_fn, Service};
use hyper_util::server::conn::auto;

use self::accept::{AcceptBackoff, AcceptFailure};
use self::activity::IdleLimits;
use self::connection::{serve_connection, ConnectionSettings, ShutdownSignals};
use self::limit::ConnectionLimit;
use crate::websocket::{WebSocket, WebSocketConfig, WebSocketRoutes};
use crate::BoxError;

/// A WebSocket route's handler, type-erased.
type WebSocketHandler =
    Arc<dyn Fn(WebSocket) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

pub use self::body::{BodyError, Incoming, MinDataRate};
pub use self::connection::PeerAddr;
pub use self::tls::ServerTls;

/// An HTTP server on a brigade [`TcpListener`]: HTTP/1.1 and HTTP/2 (detected per
/// connection), with a header-read timeout, a connection limit and graceful shutdown.
///
/// ```no_run
/// use std::convert::Infallible;
/// use brigade::cancel::CancellationTokenSource;
/// use brigade_http::{service_fn, Full, Bytes, HttpResponse, Server};
///
/// # brigade::block_on(async {
/// let stop = CancellationTokenSource::new();
/// Server::bind("127.0.0.1:8080")
///     .await?
///     .shutdown_on(stop.token())
///     .serve(service_fn(|_request| async {
///         Ok::<_, Infallible>(HttpResponse::new(Full::new(Bytes::from("hello"))))
///     }))
///     .await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct Server {
    listener: TcpListener,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    http2_keep_alive: Option<(Duration, Duration)>,
    min_request_body_rate: Option<MinDataRate>,
    max_request_body: Option<u64>,
    max_connections: usize,
    http1_only: bool,
    shutdown: CancellationToken,
    drain_timeout: Duration,
    tls: Option<ServerTls>,
    websocket_routes: Vec<(String, WebSocketHandler, WebSocketConfig)>,
}

impl Server {
    /// The default [`header_read_timeout`](Server::header_read_timeout): 10 seconds.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default [`idle_timeout`](Server::idle_timeout): 130 seconds, as Kestrel's
    /// `KeepAliveTimeout`.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(130);
    /// The default [`http2_keep_alive`](Server::http2_keep_alive) interval: a PING after
    /// 60 seconds without a frame from the peer.
    pub const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);
    /// The default [`http2_keep_alive`](Server::http2_keep_alive) timeout: 20 seconds for the
    /// PING's answer (as hyper's and Kestrel's).
    pub const DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
    /// The default [`min_request_body_rate`](Server::min_request_body_rate): 240 bytes/s after
    /// a 5 s grace period, as Kestrel's `MinRequestBodyDataRate`.
    pub const DEFAULT_MIN_REQUEST_BODY_RATE: MinDataRate = MinDataRate::DEFAULT;
    /// The default [`max_request_body`](Server::max_request_body): 30 000 000 bytes (about
    /// 28.6 MiB), as Kestrel's `MaxRequestBodySize` — large enough for ordinary uploads and
    /// JSON documents, small enough that one request cannot fill the server's memory.
    pub const DEFAULT_MAX_REQUEST_BODY: u64 = 30_000_000;
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
            idle_timeout: Some(Server::DEFAULT_IDLE_TIMEOUT),
            http2_keep_alive: Some((
                Server::DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
                Server::DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT,
            )),
            min_request_body_rate: Some(Server::DEFAULT_MIN_REQUEST_BODY_RATE),
            max_request_body: Some(Server::DEFAULT_MAX_REQUEST_BODY),
            max_connections: Server::DEFAULT_MAX_CONNECTIONS,
            http1_only: false,
            shutdown: CancellationToken::none(),
            drain_timeout: Server::DEFAULT_DRAIN_TIMEOUT,
            tls: None,
            websocket_routes: Vec::new(),
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// How long a client may take to send a request head: from the moment it connects (or
    /// its previous response went out, on a kept-alive connection) until the head's last
    /// byte. A client that takes longer is disconnected, so slow or stalled clients cannot
    /// hold connections forever. hyper runs it while a kept-alive HTTP/1 connection waits for
    /// its next request too, so idle HTTP/1 connections close after that long. For HTTP/2 it
    /// bounds the connection preface and the wait for the first request: a peer that sends
    /// its preface and settings and then nothing is closed after that long. `None` turns the
    /// timeout off. Default: 10 s.
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Server {
        self.header_read_timeout = timeout.into();
        self
    }

    /// How long a connection may stay open with no request in flight (Kestrel's
    /// `KeepAliveTimeout`, which it applies to HTTP/1 and HTTP/2 alike): counted from the end
    /// of its last response (or from its opening). An idle HTTP/2 connection is sent `GOAWAY`
    /// and closed; an idle HTTP/1 connection is closed (hyper's header-read timeout, shorter
    /// by default, usually closes it first). Without it an HTTP/2 client that keeps its
    /// connection open and sends nothing holds a slot under
    /// [`max_connections`](Server::max_connections) forever. `None` turns it off. Default:
    /// 130 s ([`DEFAULT_IDLE_TIMEOUT`](Server::DEFAULT_IDLE_TIMEOUT)).
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Server {
        self.idle_timeout = timeout.into();
        self
    }

    /// HTTP/2 liveness: after `interval` without any frame from the peer, send a PING; if its
    /// answer does not come within `timeout`, close the connection. This finds peers that
    /// vanished without closing (a pulled cable, a crashed host) while requests are still in
    /// flight, which no idle timeout can. `None` turns it off. Default: 60 s and 20 s.
    pub fn http2_keep_alive(mut self, keep_alive: Option<(Duration, Duration)>) -> Server {
        self.http2_keep_alive = keep_alive;
        self
    }

    /// The slowest a client may send a request body (Kestrel's `MinRequestBodyDataRate`):
    /// once a handler has waited for body bytes longer than `grace`, the body must have come
    /// at `bytes_per_second` on average, or reading it fails
    /// ([`BodyError::is_too_slow`]) and the client gets `408 Request Timeout` (HTTP/1: and the
    /// connection closes). Only time the handler spends waiting for the client counts. Without
    /// it, a client uploading at 1 byte/s holds its slot as long as it likes. `None` turns it
    /// off. Default: 240 bytes/s after 5 s ([`MinDataRate::DEFAULT`]).
    pub fn min_request_body_rate(mut self, rate: impl Into<Option<MinDataRate>>) -> Server {
        self.min_request_body_rate = rate.into();
        self
    }

    /// The most bytes a request body may carry (Kestrel's `MaxRequestBodySize`). A body
    /// whose `Content-Length` is larger fails on its first read, before any of it is read
    /// (an HTTP/1 client waiting on `Expect: 100-continue` is never asked for it); any other
    /// body fails as soon as the bytes received would go over the limit, and the handler never
    /// sees more than `limit` bytes. Either way reading it fails
    /// ([`BodyError::is_too_large`]) and the client gets `413 Payload Too Large` whatever the
    /// handler answers (HTTP/1: with `Connection: close`, and the connection closes; HTTP/2:
    /// the stream ends, the connection serves on). A handler that never reads the body is not
    /// refused. Without it, a client can stream gigabytes into a handler that collects the
    /// body. `None` turns it off. Default: 30 000 000 bytes
    /// ([`DEFAULT_MAX_REQUEST_BODY`](Server::DEFAULT_MAX_REQUEST_BODY)).
    pub fn max_request_body(mut self, limit: impl Into<Option<u64>>) -> Server {
        self.max_request_body = limit.into();
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

    /// Serves HTTPS: every connection starts with a TLS handshake presenting `tls`'s
    /// certificate; ALPN offers `h2` and `http/1.1` on the one port (only `http/1.1` with
    /// [`http1_only`](Server::http1_only)). The handshake must complete within the
    /// [`header_read_timeout`](Server::header_read_timeout) (10 s by default; `None` leaves it
    /// unbounded), so a client that connects and sends no ClientHello loses its slot then.
    /// Keep a clone of `tls` to [reload](ServerTls::reload_pem_files) the certificate later.
    pub fn tls(mut self, tls: ServerTls) -> Server {
        self.tls = Some(tls);
        self
    }

    /// Routes WebSocket handshakes on `path` (exact match) to `handler`, which runs as a task
    /// of its own with the [`WebSocket`] once the connection is upgraded; every other request
    /// goes to the service given to [`serve`](Server::serve). A plain request to `path` gets
    /// `426 Upgrade Required`. Messages are capped at 16 MiB (see [`crate::websocket`]);
    /// [`websocket_with_config`](Server::websocket_with_config) changes that. Works over
    /// HTTPS too (`wss://`).
    ///
    /// ```no_run
    /// # brigade::block_on(async {
    /// use brigade_http::websocket::WebSocket;
    /// let server = brigade_http::Server::bind("127.0.0.1:8080").await?.websocket("/ws", |mut ws: WebSocket| async move {
    ///     while let Some(Ok(message)) = ws.recv().await {
    ///         if ws.send(message).await.is_err() { break; }
    ///     }
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn websocket<H, F>(self, path: impl Into<String>, handler: H) -> Server
    where
        H: Fn(WebSocket) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.websocket_with_config(path, crate::websocket::default_config(), handler)
    }

    /// [`websocket`](Server::websocket) with limits of its own (message and frame sizes).
    pub fn websocket_with_config<H, F>(
        mut self,
        path: impl Into<String>,
        config: WebSocketConfig,
        handler: H,
    ) -> Server
    where
        H: Fn(WebSocket) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let handler: WebSocketHandler = Arc::new(move |ws| Box::pin(handler(ws)));
        self.websocket_routes.push((path.into(), handler, config));
        self
    }

    /// Shuts down gracefully (as [`shutdown_on`](Server::shutdown_on)) on the first SIGINT
    /// (Ctrl-C) or SIGTERM (`kill`, systemd, Kubernetes), besides any token already given.
    ///
    /// The listeners are made now, so a signal that arrives before `serve` starts is not lost;
    /// once they exist, SIGINT and SIGTERM no longer end the process by themselves.
    ///
    /// # Errors
    /// Outside a brigade runtime, or if the signal handlers could not be installed.
    pub fn shutdown_on_signals(mut self) -> io::Result<Server> {
        use brigade::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let stop = CancellationTokenSource::linked(&[self.shutdown.clone()]);
        self.shutdown = stop.token();
        brigade::spawn_named("brigade-http shutdown_on_signals", async move {
            let which = std::future::poll_fn(|cx| {
                if interrupt.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready("SIGINT");
                }
                if terminate.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready("SIGTERM");
                }
                std::task::Poll::Pending
            });
            let which = which.with_cancellation(&stop.token()).await;
            if let Ok(which) = which {
                tracing::info!("{which} received: shutting down gracefully");
                stop.cancel();
            }
        })
        .detach();
        Ok(self)
    }

    /// How long a graceful shutdown waits for connections to finish before closing them.
    /// Default: 30 s.
    pub fn drain_timeout(mut self, timeout: Duration) -> Server {
        self.drain_timeout = timeout;
        self
    }

    fn connection_settings(&self) -> ConnectionSettings {
        let mut builder = auto::Builder::new(BrigadeExecutor);
        builder
            .http1()
            .timer(BrigadeTimer)
            .header_read_timeout(self.header_read_timeout);
        let mut http2 = builder.http2();
        http2.timer(BrigadeTimer);
        if let Some((interval, timeout)) = self.http2_keep_alive {
            http2
                .keep_alive_interval(interval)
                .keep_alive_timeout(timeout);
        }
        if self.http1_only {
            builder = builder.http1_only();
        }
        ConnectionSettings {
            builder,
            sniff_deadline: if self.http1_only {
                None
            } else {
                self.header_read_timeout
            },
            idle: IdleLimits {
                first_request: self.header_read_timeout,
                idle: self.idle_timeout,
            },
            min_body_rate: self.min_request_body_rate,
            max_body_size: self.max_request_body,
            tls: self.tls.clone(),
            tls_handshake_timeout: self.header_read_timeout,
            http1_only: self.http1_only,
        }
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
        panic::install_hook();
        let settings = Arc::new(self.connection_settings());
        let Server {
            listener,
            max_connections,
            shutdown,
            drain_timeout,
            websocket_routes,
            ..
        } = self;
        let service = Arc::new(WebSocketRoutes {
            inner: service,
            routes: websocket_routes.into(),
        });
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
        let drained = brigade::time::timeout(drain_timeout, limit.drained());
        if drained.await.is_err() {
            tracing::warn!(
                still_open = limit.live(),
                "brigade-http: drain deadline of {drain_timeout:?} passed; closing the \
                 connections still open"
            );
            close_now.0.cancel();
            // Each connection drops at its next poll, which the cancel has just scheduled.
            limit.drained().await;
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
            .field("idle_timeout", &self.idle_timeout)
            .field("http2_keep_alive", &self.http2_keep_alive)
            .field("min_request_body_rate", &self.min_request_body_rate)
            .field("max_request_body", &self.max_request_body)
            .field("max_connections", &self.max_connections)
            .field("http1_only", &self.http1_only)
            .field("shutdown", &self.shutdown)
            .field("drain_timeout", &self.drain_timeout)
            .field("tls", &self.tls.is_some())
            .field(
                "websocket_routes",
                &self
                    .websocket_routes
                    .iter()
                    .map(|route| &route.0)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Serves `handler` — an `async fn(Request<Incoming>) -> Result<Response<_>, _>` — on
/// `listener` with the default settings, forever. For timeouts, limits and shutdown, use
/// [`Server`].
///
/// ```no_run
/// use brigade_http::{Bytes, Full, Incoming, Request};
/// use brigade_http::HttpResponse as Response;
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
        let Ok(slot) = limit.room().with_cancellation(shutdown).await else {
            return StoppedBy::Shutdown;
        };
        let Ok(accepted) = listener.accept().with_cancellation(shutdown).await else {
            return StoppedBy::Shutdown;
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.recovered();
                spawn(stream, peer, slot);
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
