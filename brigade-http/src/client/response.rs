//! The response: status and headers at once, the body when you ask for it — .NET's
//! `HttpResponseMessage` with `Content.ReadAsStringAsync()` and `ReadFromJsonAsync<T>()`.
//!
//! # Invariants
//! - The body helpers ([`Response::bytes`], [`text`](Response::text),
//!   `json`) run under the request's timeout deadline and cancellation
//!   token: a server that sends its head and then stalls cannot hang the caller.
//! - A body read whole is capped (`ClientBuilder::max_buffered_body`, 64 MiB by default): past
//!   the cap the read stops with [`Error::BodyTooLarge`], so an endless body cannot take the
//!   process's memory. [`Response::chunk`] reads any length, one piece at a time.
//! - An HTTP/1 connection goes back to the pool exactly when its response body has been read
//!   to the end (by the helpers, or by whoever holds the [`ResponseBody`]); never earlier,
//!   when the rest of the body would still be in the way.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use brigade::cancel::CancellationToken;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;

use super::pool::{HostKey, Pool, RequestBody};
use crate::Error;

/// A response from [`Client`](crate::Client): status and headers are here; the body is read
/// with [`bytes`](Response::bytes), [`text`](Response::text) or
/// `json` (feature `json`), all capped at
/// [`ClientBuilder::max_buffered_body`](crate::ClientBuilder::max_buffered_body), or streamed
/// piece by piece with [`chunk`](Response::chunk) (or from [`into_http`](Response::into_http)).
pub struct Response {
    inner: http::Response<ResponseBody>,
    limits: Limits,
    /// The cap on a body read whole.
    max_buffered_body: u64,
}

/// The deadline and token a request was sent under; they bound the body's reading too.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) deadline: Option<(Instant, Duration)>,
    pub(crate) token: CancellationToken,
}

impl Limits {
    /// Runs `work` under the deadline and the token: the first to pass drops `work`.
    pub(crate) async fn enforce<T>(
        &self,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        use brigade::prelude::*;
        let cancellable = work.with_cancellation(&self.token);
        let outcome = match self.deadline {
            None => cancellable.await,
            Some((deadline, timeout)) => brigade::time::timeout_at(deadline, cancellable)
                .await
                .map_err(|_elapsed| Error::Timeout { after: timeout })?,
        };
        outcome.map_err(Error::Cancelled)?
    }
}

impl Response {
    pub(crate) fn new(
        inner: http::Response<ResponseBody>,
        limits: Limits,
        max_buffered_body: u64,
    ) -> Response {
        Response {
            inner,
            limits,
            max_buffered_body,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The HTTP version the exchange used (`HTTP/1.1` or `HTTP/2.0`).
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// `Err(Error::Status(..))` for a 4xx or 5xx status — .NET's `EnsureSuccessStatusCode`.
    pub fn error_for_status(self) -> Result<Response, Error> {
        let status = self.status();
        if status.is_client_error() || status.is_server_error() {
            Err(Error::Status(status))
        } else {
            Ok(self)
        }
    }

    /// Reads the whole body, up to the client's cap on buffered bodies
    /// ([`ClientBuilder::max_buffered_body`](crate::ClientBuilder::max_buffered_body), 64 MiB
    /// by default); a longer body is an [`Error::BodyTooLarge`].
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let Response {
            inner,
            limits,
            max_buffered_body,
        } = self;
        let body = inner.into_body();
        limits.enforce(read_capped(body, max_buffered_body)).await
    }

    /// The next piece of the body, as it arrives; `Ok(None)` at its end. For bodies of any
    /// length (a large download): nothing is buffered beyond the piece returned. Runs under
    /// the request's timeout and token, like the other body readers.
    ///
    /// ```no_run
    /// # brigade::block_on(async {
    /// let mut response = brigade_http::Client::new().get("http://127.0.0.1:8080/big").await?;
    /// let mut total = 0;
    /// while let Some(piece) = response.chunk().await? {
    ///     total += piece.len(); // write it to a file, hash it...
    /// }
    /// # Ok::<(), brigade_http::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let body = self.inner.body_mut();
        self.limits
            .enforce(async move {
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame?.into_data() {
                        if !data.is_empty() {
                            return Ok(Some(data));
                        }
                    } // trailers: skipped
                }
                Ok(None)
            })
            .await
    }

    /// Reads the whole body as text (invalid UTF-8 becomes `U+FFFD`).
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads the whole body as JSON — .NET's `ReadFromJsonAsync<T>()`.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(Error::Json)
    }

    /// The response as an `http::Response`, to stream its body frame by frame. The request's
    /// timeout and token no longer apply (wrap your reads in your own); the connection still
    /// goes back to the pool when the body has been read to its end.
    pub fn into_http(self) -> http::Response<ResponseBody> {
        self.inner
    }
}

/// Reads `body` to its end, failing as soon as it passes `cap` bytes (or at once, when its
/// announced length does).
async fn read_capped(mut body: ResponseBody, cap: u64) -> Result<Bytes, Error> {
    let too_large = || Error::BodyTooLarge { limit: cap };
    let hint = body.size_hint();
    if hint.lower() > cap {
        return Err(too_large());
    }
    let mut pieces: Vec<Bytes> = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        total += data.len() as u64;
        if total > cap {
            return Err(too_large()); // dropping `body` closes its connection
        }
        pieces.push(data);
    }
    Ok(match pieces.len() {
        0 => Bytes::new(),
        1 => pieces.pop().expect("one piece"),
        _ => {
            let mut whole = Vec::with_capacity(total as usize);
            pieces
                .iter()
                .for_each(|piece| whole.extend_from_slice(piece));
            Bytes::from(whole)
        }
    })
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status())
            .field("version", &self.version())
            .field("headers", self.headers())
            .finish()
    }
}

/// A response body: hyper's [`Incoming`] stream, which hands its HTTP/1 connection back to the
/// pool once the last frame has been read.
pub struct ResponseBody {
    incoming: Incoming,
    /// The HTTP/1 connection to check in at the end; `None` for HTTP/2 (shared, never checked
    /// out) and once it has been checked in.
    checkin: Option<Checkin>,
}

/// An HTTP/1 connection on its way back to the pool.
pub(crate) struct Checkin {
    pub(crate) pool: Pool,
    pub(crate) key: HostKey,
    pub(crate) sender: http1::SendRequest<RequestBody>,
}

impl ResponseBody {
    pub(crate) fn new(incoming: Incoming, checkin: Option<Checkin>) -> ResponseBody {
        let mut body = ResponseBody { incoming, checkin };
        body.check_in_if_ended(); // an empty body ends before the first read
        body
    }

    fn check_in_if_ended(&mut self) {
        if self.incoming.is_end_stream() {
            self.check_in();
        }
    }

    fn check_in(&mut self) {
        if let Some(Checkin { pool, key, sender }) = self.checkin.take() {
            pool.checkin_http1(key, sender);
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.incoming).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => this.check_in(), // the last frame was read
            Poll::Ready(Some(Ok(_))) => this.check_in_if_ended(),
            // An error: the connection is broken; let it go with this body.
            Poll::Ready(Some(Err(_))) => this.checkin = None,
            Poll::Pending => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("size_hint", &self.incoming.size_hint())
            .field("pooled", &self.checkin.is_some())
            .finish()
    }
}
