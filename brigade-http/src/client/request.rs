//! Building a request: [`RequestBuilder`] collects the method, URL, headers, body, timeout and
//! cancellation token; `.send().await` (or just `.await`) sends it.
//!
//! Mistakes in the pieces (a bad URL, a header name with a space) are kept until `send`, which
//! reports the first one as an [`Error`], so a chain of builder calls never panics.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use brigade::cancel::CancellationToken;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::uri::{PathAndQuery, Uri};
use http::{HeaderMap, Method, Request};
use http_body_util::Full;

use super::pool::{HostKey, RequestBody};
use super::{Client, Response};
use crate::Error;

/// A request being put together; from [`Client::get`], [`Client::post`],
/// [`Client::request`]...
///
/// ```no_run
/// use std::time::Duration;
/// # brigade::block_on(async {
/// let client = brigade_http::Client::new();
/// let response = client
///     .post("http://127.0.0.1:8080/todos")
///     .header("content-type", "text/plain")
///     .body("buy milk")
///     .timeout(Duration::from_secs(5))
///     .await?;                               // or .send().await
/// println!("{}", response.status());
/// # Ok::<(), brigade_http::Error>(())
/// # }).unwrap();
/// ```
#[must_use = "a request does nothing until it is sent: add `.await` or `.send().await`"]
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client,
    request: Result<Prepared, Error>,
}

/// A checked request, ready to go out on an HTTP/1 or an HTTP/2 connection.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    /// Absolute: `http://host[:port]/path?query`.
    pub(crate) uri: Uri,
    pub(crate) key: HostKey,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) timeout: Option<Duration>,
    pub(crate) token: CancellationToken,
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: &str) -> RequestBuilder {
        let request = parse_url(url).map(|(uri, key)| Prepared {
            method,
            uri,
            key,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: client.config().timeout,
            token: CancellationToken::none(),
        });
        RequestBuilder { client, request }
    }

    pub(crate) fn from_http<B: Into<Bytes>>(client: Client, request: Request<B>) -> RequestBuilder {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let request = check_uri(parts.uri, &url).map(|(uri, key)| Prepared {
            method: parts.method,
            uri,
            key,
            headers: parts.headers,
            body: body.into(),
            timeout: client.config().timeout,
            token: CancellationToken::none(),
        });
        RequestBuilder { client, request }
    }

    /// Adds a header (a repeated name adds another value). An invalid name or value makes
    /// `send` fail with [`Error::InvalidRequest`].
    pub fn header<K, V>(mut self, name: K, value: V) -> RequestBuilder
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        if let Ok(request) = &mut self.request {
            let header = name
                .try_into()
                .map_err(Into::into)
                .and_then(|name| Ok((name, value.try_into().map_err(Into::into)?)));
            match header {
                Ok((name, value)) => {
                    request.headers.append(name, value);
                }
                Err(error) => self.request = Err(Error::InvalidRequest(error)),
            }
        }
        self
    }

    /// Sets the body (a `String`, `&'static str`, `Vec<u8>`, `Bytes`...).
    pub fn body(mut self, body: impl Into<Bytes>) -> RequestBuilder {
        if let Ok(request) = &mut self.request {
            request.body = body.into();
        }
        self
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> RequestBuilder {
        if let Ok(request) = &mut self.request {
            match serde_json::to_vec(value) {
                Ok(json) => {
                    request.body = json.into();
                    request.headers.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                Err(error) => self.request = Err(Error::Json(error)),
            }
        }
        self
    }

    /// Gives this request its own timeout, replacing the client's (`None`: no timeout). It
    /// covers connecting, sending and the response head, and the response body's reading
    /// through [`Response`]'s helpers; when it passes, the request is dropped and the
    /// error is [`Error::Timeout`].
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> RequestBuilder {
        if let Ok(request) = &mut self.request {
            request.timeout = timeout.into();
        }
        self
    }

    /// Cancels the request when `token` is cancelled — the `CancellationToken` parameter of
    /// .NET's `GetAsync(url, ct)`. The request future is dropped at once (which closes an
    /// HTTP/1 connection mid-request) and the error is [`Error::Cancelled`]. Like the timeout,
    /// it also covers reading the body through [`Response`]'s helpers.
    pub fn cancellation_token(mut self, token: &CancellationToken) -> RequestBuilder {
        if let Ok(request) = &mut self.request {
            request.token = token.clone();
        }
        self
    }

    /// Sends the request and waits for the response head. The body is read afterwards,
    /// through the [`Response`].
    pub async fn send(self) -> Result<Response, Error> {
        self.client.execute(self.request?).await
    }
}

impl IntoFuture for RequestBuilder {
    type Output = Result<Response, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send>>;

    /// `client.get(url).await` is `client.get(url).send().await`.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

impl Prepared {
    /// The request as HTTP/1 wants it: origin-form target (`/path?query`) and a `Host` header.
    pub(crate) fn into_http1(self) -> Request<RequestBody> {
        let mut headers = self.headers;
        if !headers.contains_key(HOST) {
            let host = match self.uri.port() {
                Some(port) => format!("{}:{}", self.key.host, port),
                None => self.key.host.clone(),
            };
            if let Ok(value) = HeaderValue::try_from(host) {
                headers.insert(HOST, value);
            }
        }
        let target = self
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut request = Request::new(Full::new(self.body));
        *request.method_mut() = self.method;
        *request.uri_mut() = Uri::from(target);
        *request.headers_mut() = headers;
        request
    }

    /// The request as HTTP/2 wants it: the absolute URI (hyper turns it into the `:scheme`,
    /// `:authority` and `:path` pseudo-headers).
    pub(crate) fn into_http2(self) -> Request<RequestBody> {
        let mut request = Request::new(Full::new(self.body));
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = http::Version::HTTP_2;
        *request.headers_mut() = self.headers;
        request
    }
}

/// An HTTP/1-form request (origin-form target, `Host` header) back in HTTP/2 form, for a
/// request that a new connection to `key` turned out to carry as HTTP/2 (ALPN).
pub(crate) fn http1_to_http2(
    mut request: Request<RequestBody>,
    key: &HostKey,
) -> Request<RequestBody> {
    let scheme = if key.https { "https" } else { "http" };
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", PathAndQuery::as_str)
        .to_owned();
    let authority = request
        .headers_mut()
        .remove(HOST)
        .and_then(|host| host.to_str().ok().map(str::to_owned))
        .unwrap_or_else(|| key.to_string());
    if let Ok(uri) = format!("{scheme}://{authority}{target}").parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    *request.version_mut() = http::Version::HTTP_2;
    request
}

/// An HTTP/2-form request (absolute URI) in HTTP/1 form: origin-form target and `Host`.
pub(crate) fn http2_to_http1(mut request: Request<RequestBody>) -> Request<RequestBody> {
    if let Some(authority) = request.uri().authority().cloned() {
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            request.headers_mut().entry(HOST).or_insert(host);
        }
    }
    let target = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(target);
    *request.version_mut() = http::Version::HTTP_11;
    request
}

/// Parses and checks a URL: absolute, `http` or `https`, with a host.
pub(crate) fn parse_url(url: &str) -> Result<(Uri, HostKey), Error> {
    let uri = url.parse::<Uri>().map_err(|error| Error::InvalidUrl {
        url: url.to_owned(),
        reason: error.to_string(),
    })?;
    check_uri(uri, url)
}

fn check_uri(uri: Uri, url: &str) -> Result<(Uri, HostKey), Error> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let https = match uri.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
        Some(_) => {
            return Err(Error::UnsupportedScheme {
                url: url.to_owned(),
            })
        }
        None => {
            return Err(invalid(
                "it needs to be absolute, with a scheme and a host: http://host[:port]/path",
            ))
        }
    };
    let host = uri
        .host()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| invalid("it has no host"))?;
    let key = HostKey {
        https,
        host: host.to_ascii_lowercase(),
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
    };
    Ok((uri, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_for_scheme_and_host() {
        let (_, key) = parse_url("http://Example.com/a?b=c").unwrap();
        assert_eq!((key.host.as_str(), key.port), ("example.com", 80));
        let (_, key) = parse_url("http://[::1]:8080/").unwrap();
        assert_eq!((key.host.as_str(), key.port), ("[::1]", 8080));
        let (_, key) = parse_url("https://example.com/").unwrap();
        assert!(key.https && key.port == 443);
        assert!(matches!(
            parse_url("ftp://example.com/"),
            Err(Error::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            parse_url("/relative/path"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_url("http://exa mple.com"),
            Err(Error::InvalidUrl { .. })
        ));
    }

    #[test]
    fn http1_requests_get_an_origin_form_target_and_a_host_header() {
        let (uri, key) = parse_url("http://localhost:8080/todos?done=false").unwrap();
        let prepared = Prepared {
            method: Method::GET,
            uri,
            key,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
            token: CancellationToken::none(),
        };
        let request = prepared.into_http1();
        assert_eq!(request.uri(), "/todos?done=false");
        assert_eq!(request.headers()[HOST], "localhost:8080");
    }
}
