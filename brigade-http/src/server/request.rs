//! What happens around each request on a connection, between hyper and the user's service:
//!
//! - the request gets its [`PeerAddr`] extension, and its body becomes brigade-http's
//!   [`Incoming`], with the minimum data rate and the maximum size (`body`);
//! - the request counts as in flight from the call until its response body has been sent
//!   (`activity`: the idle timeout);
//! - a handler that panics — when called, while polled, or in its response body — answers
//!   `500 Internal Server Error` instead of tearing the connection down, and the panic is
//!   reported in one line (`panic`);
//! - a request whose body came too slowly answers `408 Request Timeout`, and one whose body is
//!   larger than the cap answers `413 Payload Too Large`, whatever the handler made of the
//!   error (HTTP/1: with `Connection: close`, so the connection is not used again).
//!
//! # Invariants
//! - The [`InFlight`] guard lives in the response future and then in the response body, so
//!   the request counts as in flight until hyper drops the body (sent, or the connection
//!   ended).
//! - A panic in handler code never unwinds into hyper.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use hyper::service::Service;
use pin_project_lite::pin_project;

use super::activity::{ConnectionActivity, InFlight};
use super::body::{Incoming, MinDataRate, Refusal, Refused};
use super::connection::PeerAddr;
use super::panic;
use crate::BoxError;

/// The user's service, as one connection runs it.
pub(crate) struct ConnectionService<S> {
    pub(crate) inner: Arc<S>,
    pub(crate) peer: PeerAddr,
    pub(crate) activity: Arc<ConnectionActivity>,
    pub(crate) min_body_rate: Option<MinDataRate>,
    pub(crate) max_body_size: Option<u64>,
}

impl<S, B> Service<Request<hyper::body::Incoming>> for ConnectionService<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = Response<ServerBody<B>>;
    type Error = BoxError;
    type Future = HandlerFuture<S::Future>;

    fn call(&self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let in_flight = self.activity.request_started();
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(self.peer);
        let what = format!("{} {}", parts.method, parts.uri.path());
        let version = parts.version;
        let refusal = Arc::new(Refusal::default());
        let body = Incoming::new(
            body,
            self.min_body_rate,
            self.max_body_size,
            Arc::clone(&refusal),
        );
        let request = Request::from_parts(parts, body);
        let state = match panic::guarded(|| self.inner.call(request)) {
            Ok(future) => Some(future),
            Err(caught) => {
                panic::report(caught, &what, "answered 500 Internal Server Error");
                None
            }
        };
        HandlerFuture {
            handler: OptionFuture { future: state },
            in_flight: Some(in_flight),
            refusal,
            what,
            version,
        }
    }
}

pin_project! {
    /// `Option<F>` as a pinned field: `None` once the handler panicked in `call`.
    pub(crate) struct OptionFuture<F> {
        #[pin]
        future: Option<F>,
    }
}

pin_project! {
    /// The handler's future, with its panics caught, and a body too slow or too large turned
    /// into a 408 or a 413.
    pub(crate) struct HandlerFuture<F> {
        #[pin]
        handler: OptionFuture<F>,
        in_flight: Option<InFlight>,
        refusal: Arc<Refusal>,
        what: String,
        version: Version,
    }
}

impl<F, B, E> Future for HandlerFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ServerBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let in_flight = this.in_flight.take();
        let outcome = match this.handler.project().future.as_pin_mut() {
            None => Err(None), // panicked in `call`, reported there
            Some(handler) => match panic::guarded(|| handler.poll(cx)) {
                Ok(Poll::Pending) => {
                    *this.in_flight = in_flight;
                    return Poll::Pending;
                }
                Ok(Poll::Ready(outcome)) => outcome.map_err(|error| Some(error.into())),
                Err(caught) => {
                    panic::report(caught, this.what, "answered 500 Internal Server Error");
                    Err(None)
                }
            },
        };
        if let Some(refused) = this.refusal.get() {
            let status = match refused {
                Refused::TooSlow => StatusCode::REQUEST_TIMEOUT,
                Refused::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            };
            let mut response = fixed(status, in_flight);
            if *this.version < Version::HTTP_2 {
                let close = HeaderValue::from_static("close");
                response.headers_mut().insert(header::CONNECTION, close);
            }
            return Poll::Ready(Ok(response));
        }
        Poll::Ready(match outcome {
            Ok(response) => Ok(response.map(|body| ServerBody::Handler {
                body,
                _in_flight: in_flight,
                what: std::mem::take(this.what),
            })),
            Err(Some(error)) => Err(error),
            Err(None) => Ok(fixed(StatusCode::INTERNAL_SERVER_ERROR, in_flight)),
        })
    }
}

/// A response of the server's own: status line and reason as the body.
fn fixed<B>(status: StatusCode, in_flight: Option<InFlight>) -> Response<ServerBody<B>> {
    let reason = status.canonical_reason().unwrap_or("");
    let body = Full::new(Bytes::from(format!("{} {reason}\n", status.as_u16())));
    let mut response = Response::new(ServerBody::Fixed {
        body,
        _in_flight: in_flight,
    });
    *response.status_mut() = status;
    let text = HeaderValue::from_static("text/plain; charset=utf-8");
    response.headers_mut().insert(header::CONTENT_TYPE, text);
    response
}

pin_project! {
    /// A response body on its way out: the handler's (its panics caught), or one of the
    /// server's own; either way holding the request's in-flight guard until hyper drops it.
    #[project = ServerBodyProjection]
    pub(crate) enum ServerBody<B> {
        Handler {
            #[pin]
            body: B,
            _in_flight: Option<InFlight>,
            what: String,
        },
        Fixed {
            #[pin]
            body: Full<Bytes>,
            _in_flight: Option<InFlight>,
        },
    }
}

impl<B> Body for ServerBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            ServerBodyProjection::Handler { body, what, .. } => {
                match panic::guarded(|| body.poll_frame(cx)) {
                    Ok(frame) => frame.map(|frame| frame.map(|frame| frame.map_err(Into::into))),
                    Err(caught) => {
                        // The head is out: all that can be done is to cut the body short.
                        panic::report(caught, what, "its response body was cut short");
                        Poll::Ready(Some(Err("the response body's producer panicked".into())))
                    }
                }
            }
            ServerBodyProjection::Fixed { body, .. } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(|never| match never {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ServerBody::Handler { body, .. } => body.is_end_stream(),
            ServerBody::Fixed { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ServerBody::Handler { body, .. } => body.size_hint(),
            ServerBody::Fixed { body, .. } => body.size_hint(),
        }
    }
}
