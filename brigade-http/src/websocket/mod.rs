//! WebSockets (RFC 6455) on brigade-http — ASP.NET Core's `WebSocket` middleware and .NET's
//! `ClientWebSocket`: tungstenite's framing driven over brigade sockets, plain or TLS.
//!
//! - **Server**: [`Server::websocket`](crate::Server::websocket) routes a path to a handler
//!   that gets a [`WebSocket`]; inside any handler, [`upgrade`] does the same for one request.
//! - **Client**: [`connect`] (`ws://` or `wss://`), or
//!   [`Client::websocket`](crate::Client::websocket) to use a client's roots and timeout.
//! - A [`WebSocket`] receives with [`recv`](WebSocket::recv) (or as a `Stream`) and sends with
//!   [`send`](WebSocket::send) (or as a `Sink`): [`Message`]s that are text, binary, ping,
//!   pong or close (with a [`CloseCode`]). Pings are answered with pongs by themselves.
//!
//! # Limits
//! | limit | default | change with |
//! |---|---|---|
//! | largest message (all its frames together) | 16 MiB ([`DEFAULT_MAX_MESSAGE_SIZE`]) | [`WebSocketConfig::max_message_size`] |
//! | largest frame | 16 MiB ([`DEFAULT_MAX_FRAME_SIZE`]) | [`WebSocketConfig::max_frame_size`] |
//! | wait for the peer's close frame in [`WebSocket::close`] | 5 s ([`CLOSE_TIMEOUT`]) | — |
//!
//! A message or frame over the limit is refused as soon as its header says so: the peer is sent
//! close code 1009 (message too big) and [`recv`](WebSocket::recv) returns the error. A
//! protocol violation (an unmasked client frame, a fragmented control frame...) is closed with
//! 1002, invalid UTF-8 in a text message with 1007.
//!
//! # Invariants
//! - Every wait is on the socket's readiness (see `io`): no polling loop, no blocked thread.
//! - A message handed to `send` is either in tungstenite's buffer or on the wire; a flush that
//!   would block keeps it there and resumes on the next `send`, `flush` or `recv`.
//! - WebSocket connections are tasks of their own once upgraded: they do not count against the
//!   server's `max_connections`, and a graceful shutdown does not wait for them.

mod client;
mod io;
mod server;

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::upgrade::Upgraded;
use tungstenite::protocol::frame::coding::CloseCode as Code;
use tungstenite::protocol::{CloseFrame, Role};

use self::io::SyncIo;

pub use self::client::connect;
pub(crate) use self::server::WebSocketRoutes;
pub use self::server::{is_upgrade_request, upgrade};
/// A close frame's status code (1000 normal, 1001 going away, 1002 protocol error, 1009
/// message too big...).
pub use tungstenite::protocol::frame::coding::CloseCode;
/// The limits and buffer sizes of one WebSocket; start from [`default_config`].
pub use tungstenite::protocol::WebSocketConfig;
/// tungstenite's error: what `recv` and `send` fail with.
pub use tungstenite::Error as WebSocketError;
/// A WebSocket message: `Text`, `Binary`, `Ping`, `Pong`, `Close`.
pub use tungstenite::Message;

/// The default cap on one message: 16 MiB (tungstenite's own is 64 MiB; a chat line or a JSON
/// update is far smaller, and every connection may buffer one).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// The default cap on one frame: 16 MiB, the message cap (browsers send a message as one frame).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
/// How long [`WebSocket::close`] waits for the peer's close frame: 5 s.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// brigade-http's defaults: [`DEFAULT_MAX_MESSAGE_SIZE`], [`DEFAULT_MAX_FRAME_SIZE`].
pub fn default_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(DEFAULT_MAX_MESSAGE_SIZE))
        .max_frame_size(Some(DEFAULT_MAX_FRAME_SIZE))
}

/// One WebSocket connection, server's or client's side; see the [module docs](self).
///
/// ```no_run
/// # async fn echo(mut ws: brigade_http::websocket::WebSocket) {
/// use brigade_http::websocket::Message;
/// while let Some(Ok(message)) = ws.recv().await {
///     if message.is_text() || message.is_binary() {
///         if ws.send(message).await.is_err() {
///             break;
///         }
///     }
/// }
/// # }
/// ```
pub struct WebSocket {
    inner: tungstenite::WebSocket<SyncIo<Upgraded>>,
    /// We closed after a protocol or size error: the next `recv` ends the stream.
    failed: bool,
}

/// Whether a tungstenite result is "the socket would block".
fn is_would_block(error: &WebSocketError) -> bool {
    matches!(error, WebSocketError::Io(error) if error.kind() == std::io::ErrorKind::WouldBlock)
}

impl WebSocket {
    pub(crate) fn new(upgraded: Upgraded, role: Role, config: WebSocketConfig) -> WebSocket {
        WebSocket {
            inner: tungstenite::WebSocket::from_raw_socket(
                SyncIo::new(upgraded),
                role,
                Some(config),
            ),
            failed: false,
        }
    }

    /// The next message; `None` once the connection is closed (after the close handshake, or
    /// after an error that closed it). A `Close` message is returned once, when the peer's
    /// close frame arrives (the reply is sent by itself).
    pub async fn recv(&mut self) -> Option<Result<Message, WebSocketError>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WebSocketError>>> {
        self.inner.get_mut().set_waker(cx);
        if self.failed {
            // Our close frame goes out (best effort), then the stream ends.
            return match self.inner.flush() {
                Err(error) if is_would_block(&error) => Poll::Pending,
                _ => Poll::Ready(None),
            };
        }
        match self.inner.read() {
            Ok(message) => Poll::Ready(Some(Ok(message))),
            Err(error) if is_would_block(&error) => Poll::Pending,
            Err(WebSocketError::ConnectionClosed | WebSocketError::AlreadyClosed) => {
                Poll::Ready(None)
            }
            Err(error) => {
                let code = match &error {
                    WebSocketError::Capacity(_) => Some(Code::Size),
                    WebSocketError::Protocol(_) => Some(Code::Protocol),
                    WebSocketError::Utf8(_) => Some(Code::Invalid),
                    _ => None,
                };
                if let Some(code) = code {
                    self.fail(code, &error);
                }
                Poll::Ready(Some(Err(error)))
            }
        }
    }

    /// Closes with `code` after the peer broke a rule, saying which (best effort: the socket
    /// may be gone already).
    fn fail(&mut self, code: CloseCode, error: &WebSocketError) {
        self.failed = true;
        let mut reason = error.to_string();
        reason.truncate(120); // a close frame's reason fits in 123 bytes
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.inner.close(Some(frame));
        let _ = self.inner.flush();
    }

    /// Sends `message` and flushes it to the socket.
    pub async fn send(&mut self, message: Message) -> Result<(), WebSocketError> {
        match self.inner.write(message) {
            Ok(()) => {}
            // Buffered; the flush below finishes the write.
            Err(error) if is_would_block(&error) => {}
            Err(error) => return Err(error),
        }
        self.flush().await
    }

    /// Writes out everything buffered (messages, automatic pongs and close replies).
    pub async fn flush(&mut self) -> Result<(), WebSocketError> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WebSocketError>> {
        self.inner.get_mut().set_waker(cx);
        match self.inner.flush() {
            Err(error) if is_would_block(&error) => Poll::Pending,
            other => Poll::Ready(other),
        }
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes), and waits up to
    /// [`CLOSE_TIMEOUT`] for the peer's close frame; messages arriving meanwhile are dropped.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WebSocketError> {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        match self.inner.close(Some(frame)) {
            Ok(()) => {}
            Err(error) if is_would_block(&error) => {}
            Err(WebSocketError::ConnectionClosed | WebSocketError::AlreadyClosed) => return Ok(()),
            Err(error) => return Err(error),
        }
        let finish = async {
            let flushed = self.flush().await;
            if !is_closed(&flushed) {
                flushed?;
            }
            while let Some(message) = self.recv().await {
                message?;
            }
            Ok(())
        };
        brigade::time::timeout(CLOSE_TIMEOUT, finish)
            .await
            .unwrap_or(Ok(()))
    }
}

/// Whether a flush failed only because the connection is closed already (nothing to do).
fn is_closed(result: &Result<(), WebSocketError>) -> bool {
    matches!(
        result,
        Err(WebSocketError::ConnectionClosed | WebSocketError::AlreadyClosed)
    )
}

impl futures_core::Stream for WebSocket {
    type Item = Result<Message, WebSocketError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl futures_sink::Sink<Message> for WebSocket {
    type Error = WebSocketError;

    /// Ready when what was sent before is on the wire: one message buffered at a time.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_flush(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        match self.get_mut().inner.write(message) {
            Err(error) if is_would_block(&error) => Ok(()),
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        this.inner.get_mut().set_waker(cx);
        match this.inner.close(None) {
            Err(error) if is_would_block(&error) => return Poll::Pending,
            Err(WebSocketError::ConnectionClosed | WebSocketError::AlreadyClosed) | Ok(()) => {}
            Err(error) => return Poll::Ready(Err(error)),
        }
        match this.poll_flush(cx) {
            Poll::Ready(flushed) if is_closed(&flushed) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
