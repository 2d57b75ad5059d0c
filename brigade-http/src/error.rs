//! The client's error: what went wrong with a request, in words that say what to do about it.
//!
//! .NET's `HttpClient` throws `HttpRequestException` (connect or protocol trouble),
//! `TaskCanceledException` (timeout *or* cancellation — famously hard to tell apart) and
//! `InvalidOperationException`/`NotSupportedException` (bad URLs). Here each case is its own
//! variant, and a timeout is never confused with a cancellation.

use std::fmt;
use std::io;
use std::time::Duration;

use brigade::cancel::Cancelled;
use http::StatusCode;

/// What went wrong with a request made by [`Client`](crate::Client).
///
/// ```
/// use brigade_http::{Client, Error};
/// # brigade::block_on(async {
/// let client = Client::new();
/// // A scheme the client does not speak is refused before any connection is made.
/// let refused = client.get("ftp://example.com/").send().await.unwrap_err();
/// assert!(matches!(refused, Error::UnsupportedScheme { .. }));
/// // A port nobody listens on: a connect error that names the address.
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let closed = client.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap_err();
/// assert!(closed.is_connect(), "{closed}");
/// # });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed, or lacks a host.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme is neither `http` nor `https`.
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
    /// A header name or value, or the method, is not valid HTTP.
    InvalidRequest(http::Error),
    /// No TCP connection could be made to the server.
    Connect {
        /// `host:port` the client tried.
        authority: String,
        /// Why it failed (refused, unreachable, name not found...).
        source: io::Error,
    },
    /// The TLS handshake with the server failed (`https://`).
    Tls {
        /// `host:port` of the server.
        authority: String,
        /// What went wrong, sorted (expired certificate, wrong host, unknown issuer...), when
        /// it is a TLS problem rather than the socket's.
        failure: Option<brigade_tls::TlsFailure>,
        /// The error as the TLS stream reported it.
        source: io::Error,
    },
    /// The client's TLS configuration is unusable: a root certificate or client identity that
    /// does not parse, or no trusted root at all.
    InvalidTlsConfig {
        /// What is wrong.
        reason: String,
    },
    /// The server did not accept the WebSocket handshake.
    WebSocketHandshake {
        /// `host:port` of the server.
        authority: String,
        /// What it answered instead.
        what: String,
    },
    /// The request (or the reading of its response body) took longer than its timeout.
    Timeout {
        /// The timeout that passed.
        after: Duration,
    },
    /// The request's cancellation token was cancelled; the request was dropped.
    Cancelled(Cancelled),
    /// The connection to the server closed or failed under the request: the server closed it
    /// (an idle timeout, a restart, a `GOAWAY`), or the network broke it. Nothing was
    /// cancelled. A request that was never sent is retried on a new connection first (a few
    /// times); this error means it was not sent after those retries (`sent: false`), or it
    /// may have reached the server (`sent: true`), when resending could repeat its effect.
    ConnectionClosed {
        /// `host:port` of the connection.
        authority: String,
        /// Whether the request may have reached the server.
        sent: bool,
        /// What hyper reported.
        source: hyper::Error,
    },
    /// The HTTP exchange failed: the server's reply was not valid HTTP, a stream was reset,
    /// and the like.
    Http(hyper::Error),
    /// A body read with [`Response::bytes`](crate::Response::bytes) (or `text`, `json`) is
    /// larger than the client's cap on buffered bodies. Raise the cap with
    /// [`ClientBuilder::max_buffered_body`](crate::ClientBuilder::max_buffered_body), or read
    /// the body in pieces with [`Response::chunk`](crate::Response::chunk).
    BodyTooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The server answered with an error status (from [`Response::error_for_status`](crate::Response::error_for_status)).
    Status(StatusCode),
    /// The body is not the JSON the caller asked for (feature `json`).
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    Json(serde_json::Error),
}

impl Error {
    /// The request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The TLS handshake failed ([`Error::Tls`]).
    pub fn is_tls(&self) -> bool {
        matches!(self, Error::Tls { .. })
    }

    /// The sorted TLS failure of an [`Error::Tls`] (expired, wrong host, unknown issuer...).
    pub fn tls_failure(&self) -> Option<&brigade_tls::TlsFailure> {
        match self {
            Error::Tls { failure, .. } => failure.as_ref(),
            _ => None,
        }
    }

    /// The request was cancelled through its token.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_))
    }

    /// No connection could be made.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }

    /// The connection closed or failed under the request ([`Error::ConnectionClosed`]).
    pub fn is_connection_closed(&self) -> bool {
        matches!(self, Error::ConnectionClosed { .. })
    }

    /// The body was larger than the cap on buffered bodies ([`Error::BodyTooLarge`]).
    pub fn is_body_too_large(&self) -> bool {
        matches!(self, Error::BodyTooLarge { .. })
    }

    /// The status, for an [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status(status) => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl { url, reason } => write!(f, "invalid URL `{url}`: {reason}"),
            Error::UnsupportedScheme { url } => write!(
                f,
                "unsupported URL `{url}`: brigade-http speaks `http://` and `https://` only"
            ),
            Error::Tls {
                authority,
                failure: Some(failure),
                ..
            } => write!(f, "TLS handshake with {authority} failed: {failure}"),
            Error::Tls {
                authority, source, ..
            } => write!(f, "TLS handshake with {authority} failed: {source}"),
            Error::WebSocketHandshake { authority, what } => {
                write!(f, "WebSocket handshake with {authority} failed: {what}")
            }
            Error::InvalidTlsConfig { reason } => {
                write!(f, "the client's TLS configuration is unusable: {reason}")
            }
            Error::InvalidRequest(error) => write!(f, "invalid request: {error}"),
            Error::Connect { authority, source } => {
                write!(f, "could not connect to {authority}: {source}")
            }
            Error::Timeout { after } => write!(
                f,
                "the request timed out after {after:?} (raise it with RequestBuilder::timeout \
                 or ClientBuilder::timeout)"
            ),
            Error::Cancelled(cancelled) => write!(f, "the request was cancelled: {cancelled}"),
            Error::ConnectionClosed {
                authority,
                sent: false,
                source,
            } => write!(
                f,
                "the connection to {authority} closed before the request could be sent (the \
                 server closed it or it failed: {}); new connections failed the same way",
                describe_failure(source)
            ),
            Error::ConnectionClosed {
                authority,
                sent: true,
                source,
            } => write!(
                f,
                "the connection to {authority} closed or failed before the response arrived \
                 ({}); the request may have reached the server, so it was not resent",
                describe_failure(source)
            ),
            Error::Http(error) => write!(f, "HTTP error: {error}"),
            Error::BodyTooLarge { limit } => write!(
                f,
                "the response body is larger than the client's cap of {limit} bytes on buffered \
                 bodies (bytes/text/json); raise it with ClientBuilder::max_buffered_body, or \
                 read the body in pieces with Response::chunk"
            ),
            Error::Status(status) => write!(f, "the server answered {status}"),
            #[cfg(feature = "json")]
            Error::Json(error) => write!(f, "the body is not the expected JSON: {error}"),
        }
    }
}

/// What hyper says about a failed connection, in its own words but without "operation was
/// canceled", which hyper says of a closed connection though nobody cancelled anything.
fn describe_failure(error: &hyper::Error) -> String {
    let cause = std::error::Error::source(error).map(ToString::to_string);
    match cause {
        Some(cause) if error.is_canceled() => cause,
        None if error.is_canceled() => "closed".to_owned(),
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidRequest(error) => Some(error),
            Error::Connect { source, .. } | Error::Tls { source, .. } => Some(source),
            Error::Cancelled(cancelled) => Some(cancelled),
            Error::Http(error) | Error::ConnectionClosed { source: error, .. } => Some(error),
            #[cfg(feature = "json")]
            Error::Json(error) => Some(error),
            _ => None,
        }
    }
}

impl From<hyper::Error> for Error {
    fn from(error: hyper::Error) -> Error {
        Error::Http(error)
    }
}

impl From<http::Error> for Error {
    fn from(error: http::Error) -> Error {
        Error::InvalidRequest(error)
    }
}
