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
    /// The URL's scheme is not `http`. brigade-http has no TLS: `https` URLs are refused
    /// rather than sent in the clear.
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
    /// The request (or the reading of its response body) took longer than its timeout.
    Timeout {
        /// The timeout that passed.
        after: Duration,
    },
    /// The request's cancellation token was cancelled; the request was dropped.
    Cancelled(Cancelled),
    /// The HTTP exchange failed: the connection closed mid-response, the server's reply was
    /// not valid HTTP, and the like.
    Http(hyper::Error),
    /// The server answered with an error status (from [`Response::error_for_status`](crate::Response::error_for_status)).
    Status(StatusCode),
    /// The body is not the JSON the caller asked for (feature `json`).
    #[cfg(feature = "json")]
    Json(serde_json::Error),
}

impl Error {
    /// The request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The request was cancelled through its token.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_))
    }

    /// No connection could be made.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
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
                "unsupported URL `{url}`: brigade-http speaks plain `http://` only (it has no \
                 TLS); use an http:// URL, or put a TLS-terminating proxy in between"
            ),
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
            Error::Http(error) => write!(f, "HTTP error: {error}"),
            Error::Status(status) => write!(f, "the server answered {status}"),
            #[cfg(feature = "json")]
            Error::Json(error) => write!(f, "the body is not the expected JSON: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidRequest(error) => Some(error),
            Error::Connect { source, .. } => Some(source),
            Error::Cancelled(cancelled) => Some(cancelled),
            Error::Http(error) => Some(error),
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
