//! The server's side of the WebSocket handshake: a `GET` with `Upgrade: websocket` is answered
//! `101 Switching Protocols`, and once hyper hands the connection over, the handler runs as a
//! task of its own with a [`WebSocket`].
//!
//! [`WebSocketRoutes`] is how [`Server::websocket`](crate::Server::websocket) routes paths to
//! handlers: it sits in front of the user's service and passes every other request through.
//!
//! # Invariants
//! - A request that is not a valid WebSocket handshake is answered with a status that says why
//!   (400, or 426 with `Sec-WebSocket-Version: 13`), never upgraded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::service::Service;
use pin_project_lite::pin_project;
use tungstenite::protocol::{Role, WebSocketConfig};

use super::{default_config, WebSocket};
use crate::Incoming;

/// A route's handler, type-erased: it gets the socket and runs to the connection's end.
pub(crate) type Handler =
    Arc<dyn Fn(WebSocket) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn header_has_token(headers: &HeaderMap, name: http::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .map(|text| {
                text.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
            .unwrap_or(false)
    })
}

/// Whether `request` asks for a WebSocket (`Connection: upgrade`, `Upgrade: websocket`).
pub fn is_upgrade_request<B>(request: &Request<B>) -> bool {
    header_has_token(request.headers(), CONNECTION, "upgrade")
        && header_has_token(request.headers(), UPGRADE, "websocket")
}

fn refuse(status: StatusCode, why: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(why.as_bytes())));
    *response.status_mut() = status;
    if status == StatusCode::UPGRADE_REQUIRED {
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        response
            .headers_mut()
            .insert(UPGRADE, HeaderValue::from_static("websocket"));
    }
    response
}

/// Accepts the WebSocket handshake in `request` — return the response from your handler — and
/// runs `handler` with the socket once the connection is handed over (as its own task). A
/// request that is not a valid handshake gets 426 (no `Upgrade: websocket`, or a version other
/// than 13) or 400 (no key, not a `GET`), and `handler` is not called. `config: None` takes
/// [`default_config`] (16 MiB messages).
///
/// ```no_run
/// use brigade_http::websocket::{self, WebSocket};
/// use brigade_http::{Bytes, Full, Incoming};
///
/// async fn route(mut request: http::Request<Incoming>) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
///     Ok(websocket::upgrade(&mut request, None, |mut ws: WebSocket| async move {
///         while let Some(Ok(message)) = ws.recv().await {
///             let _ = ws.send(message).await;
///         }
///     }))
/// }
/// ```
pub fn upgrade<B, H, F>(
    request: &mut Request<B>,
    config: Option<WebSocketConfig>,
    handler: H,
) -> Response<Full<Bytes>>
where
    H: FnOnce(WebSocket) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    if !is_upgrade_request(request) {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: send a GET with `Connection: Upgrade` and \
             `Upgrade: websocket`",
        );
    }
    if request.method() != Method::GET {
        return refuse(StatusCode::BAD_REQUEST, "a WebSocket handshake is a GET");
    }
    if request
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 (RFC 6455) is spoken here",
        );
    }
    let Some(key) = request.headers().get(SEC_WEBSOCKET_KEY) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the handshake lacks Sec-WebSocket-Key",
        );
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(request);
    let config = config.unwrap_or_else(default_config);
    brigade::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => handler(WebSocket::new(upgraded, Role::Server, config)).await,
            Err(error) => {
                tracing::debug!(%error, "brigade-http: a WebSocket upgrade did not complete");
            }
        }
    })
    .detach();
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// The user's service behind the server's WebSocket routes.
pub(crate) struct WebSocketRoutes<S> {
    pub(crate) inner: S,
    pub(crate) routes: Arc<[(String, Handler, WebSocketConfig)]>,
}

/// A response body from the user's service, or the route's own (a 101, or a refusal).
pub(crate) type RoutedBody<B> = Either<B, Full<Bytes>>;

pin_project! {
    /// The user's future, or the route's response at once.
    #[project = RoutedProjection]
    pub(crate) enum RoutedFuture<F> {
        Service { #[pin] future: F },
        Route { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F, B, E> Future for RoutedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<RoutedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RoutedProjection::Service { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Left))),
            RoutedProjection::Route { response } => Poll::Ready(Ok(response
                .take()
                .expect("polled after completion")
                .map(Either::Right))),
        }
    }
}

impl<S, B> Service<Request<Incoming>> for WebSocketRoutes<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<RoutedBody<B>>;
    type Error = S::Error;
    type Future = RoutedFuture<S::Future>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let path = request.uri().path();
        match self.routes.iter().find(|(route, _, _)| route == path) {
            Some((_, handler, config)) => {
                let handler = Arc::clone(handler);
                let response = upgrade(&mut request, Some(*config), move |ws| handler(ws));
                RoutedFuture::Route {
                    response: Some(response),
                }
            }
            None => RoutedFuture::Service {
                future: self.inner.call(request),
            },
        }
    }
}
