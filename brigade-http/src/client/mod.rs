//! The client: .NET's `HttpClient` on brigade (seed section 13A: "your thread shouldn't just sit
//! there waiting for the bytes to come back over the network").
//!
//! A [`Client`] owns a connection pool; clone it freely (clones share the pool) and keep it
//! for the life of the program — making one per request, like `new HttpClient()` per request
//! in .NET, throws the pool away each time. Each request is a hyper exchange on a brigade
//! [`TcpStream`](brigade::net::TcpStream); the connection itself is driven by a brigade task
//! of its own, so a request's future only waits and can be dropped at any moment.
//!
//! `https://` runs over brigade-tls (rustls with the ring provider): Mozilla's roots by
//! default ([`ClientBuilder::add_root_certificate`] adds your own), a client certificate
//! ([`ClientBuilder::identity`]), SNI, and ALPN — HTTP/2 when the server offers `h2`, HTTP/1.1
//! otherwise. The TLS handshake runs under the request's timeout and token, like the TCP
//! connect. A failed handshake is an [`Error::Tls`] that says why (expired certificate, wrong
//! host, unknown issuer...).
//!
//! # Invariants
//! - Every request runs under its deadline and token (`response::Limits`); when either
//!   passes, the request future is dropped and the error says which (K8, K9).
//! - A request that hyper hands back unsent (its connection closed or failed before the request
//!   was written) is retried on another connection, up to [`MAX_SEND_ATTEMPTS`] connections in
//!   all; a request that may have reached the server is never silently resent. A connection
//!   that fails under a request is reported as [`Error::ConnectionClosed`], never as a
//!   cancellation.
//! - Buffered bodies (`bytes`, `text`, `json`) are capped
//!   ([`ClientBuilder::max_buffered_body`]); [`Response::chunk`] streams without a cap.

pub(crate) mod connect;
pub(crate) mod pool;
mod request;
mod response;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use hyper::client::conn::http2;

use self::connect::{Connected, Connector};
use self::pool::{Http2Checkout, Pool, RequestBody};
use self::request::Prepared;
use self::response::Checkin;
pub(crate) use self::response::Limits;
use crate::Error;

pub use self::request::RequestBuilder;
pub use self::response::{Response, ResponseBody};

/// How many connections one request may be tried on when each closes before the request could
/// be written (the request is resent only then: it never reached the server).
pub const MAX_SEND_ATTEMPTS: usize = 3;

/// An HTTP client with a connection pool; see the [module docs](self).
///
/// ```no_run
/// use std::time::Duration;
/// use brigade::cancel::CancellationTokenSource;
/// use brigade_http::Client;
///
/// # brigade::block_on(async {
/// let client = Client::builder().timeout(Duration::from_secs(10)).build();
/// let cancel = CancellationTokenSource::new();
///
/// let response = client
///     .get("http://127.0.0.1:8080/users/7")
///     .cancellation_token(&cancel.token())
///     .send()
///     .await?
///     .error_for_status()?; // EnsureSuccessStatusCode
/// let user = response.text().await?;
/// # Ok::<(), brigade_http::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<ClientShared>,
}

struct ClientShared {
    config: ClientConfig,
    pool: Pool,
    connector: Connector,
}

#[derive(Clone, Debug)]
pub(crate) struct ClientConfig {
    pub(crate) timeout: Option<Duration>,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) pool_max_idle_per_host: usize,
    pub(crate) max_buffered_body: u64,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) http1_only: bool,
    pub(crate) user_agent: Option<http::HeaderValue>,
    pub(crate) tls: brigade_tls::ClientSettings,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with the default settings (see [`ClientBuilder`]).
    pub fn new() -> Client {
        Client::builder().build()
    }

    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            config: ClientConfig {
                timeout: Some(ClientBuilder::DEFAULT_TIMEOUT),
                pool_idle_timeout: ClientBuilder::DEFAULT_POOL_IDLE_TIMEOUT,
                pool_max_idle_per_host: ClientBuilder::DEFAULT_POOL_MAX_IDLE_PER_HOST,
                max_buffered_body: ClientBuilder::DEFAULT_MAX_BUFFERED_BODY,
                http2_prior_knowledge: false,
                http1_only: false,
                tls: brigade_tls::ClientSettings::default(),
                user_agent: Some(http::HeaderValue::from_static(concat!(
                    "brigade-http/",
                    env!("CARGO_PKG_VERSION")
                ))),
            },
        }
    }

    /// A `GET` request to `url` — .NET's `GetAsync`. Send it with `.await` (or `.send().await`).
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `POST` request to `url`; add a body with [`RequestBuilder::body`].
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A `PUT` request to `url`.
    pub fn put(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A `DELETE` request to `url`.
    pub fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A request with any method to `url`.
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.as_ref())
    }

    /// A ready-made `http::Request` (its URI must be absolute: `http://host/path`), to add a
    /// timeout or a token to before sending.
    pub fn send_http<B: Into<Bytes>>(&self, request: Request<B>) -> RequestBuilder {
        RequestBuilder::from_http(self.clone(), request)
    }

    /// `GET`s `url` and reads the body as JSON — the seed's
    /// `GetAsync(url, ct)` + `EnsureSuccessStatusCode()` + `ReadFromJsonAsync<T>()` in one.
    /// A 4xx or 5xx status is an [`Error::Status`].
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: impl AsRef<str>,
    ) -> Result<T, Error> {
        self.get(url).send().await?.error_for_status()?.json().await
    }

    /// `POST`s `value` as JSON to `url` and returns the response.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        url: impl AsRef<str>,
        value: &T,
    ) -> Result<Response, Error> {
        self.post(url).json(value).send().await
    }

    /// How many HTTP/1 connections to `host:port` (`http` and `https` together) wait idle in
    /// the pool right now.
    pub fn idle_connections(&self, host: &str, port: u16) -> usize {
        [false, true]
            .into_iter()
            .map(|https| {
                self.shared.pool.idle_count(&pool::HostKey {
                    https,
                    host: host.to_ascii_lowercase(),
                    port,
                })
            })
            .sum()
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    pub(crate) fn connector(&self) -> &Connector {
        &self.shared.connector
    }

    /// Sends a checked request under its deadline and token.
    async fn execute(&self, mut request: Prepared) -> Result<Response, Error> {
        if let Some(user_agent) = &self.shared.config.user_agent {
            request
                .headers
                .entry(http::header::USER_AGENT)
                .or_insert_with(|| user_agent.clone());
        }
        let limits = Limits {
            deadline: request
                .timeout
                .map(|timeout| (Instant::now() + timeout, timeout)),
            token: request.token.clone(),
        };
        let response = limits.enforce(self.exchange(request)).await?;
        Ok(Response::new(
            response,
            limits,
            self.shared.config.max_buffered_body,
        ))
    }

    /// Finds a connection, sends, and waits for the response head.
    async fn exchange(&self, request: Prepared) -> Result<http::Response<ResponseBody>, Error> {
        let http2 = if request.key.https {
            self.shared.config.http2_prior_knowledge || self.shared.pool.speaks_http2(&request.key)
        } else {
            self.shared.config.http2_prior_knowledge
        };
        if http2 {
            self.exchange_http2(request).await
        } else {
            self.exchange_http1(request).await
        }
    }

    async fn exchange_http1(
        &self,
        request: Prepared,
    ) -> Result<http::Response<ResponseBody>, Error> {
        let pool = &self.shared.pool;
        let key = request.key.clone();
        // Kept as `Prepared` until the protocol is known: a new TLS connection may turn out to
        // speak HTTP/2 (ALPN), which wants the request in its own form.
        let mut prepared = Some(request);
        let mut unsent = None;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut sender = match pool.checkout_http1(&key).await {
                Some(sender) => sender,
                None => match self.shared.connector.connect(&key, pool).await? {
                    Connected::Http1(sender) => sender,
                    Connected::Http2(sender) => {
                        let id = pool.adopt_http2(&key, sender.clone());
                        let request = match (prepared.take(), unsent.take()) {
                            (Some(prepared), _) => prepared.into_http2(),
                            (None, Some(unsent)) => request::http1_to_http2(unsent, &key),
                            (None, None) => unreachable!("the request is kept until it is sent"),
                        };
                        return self.send_http2(&key, sender, id, request, attempts).await;
                    }
                },
            };
            let request = match (prepared.take(), unsent.take()) {
                (Some(prepared), _) => prepared.into_http1(),
                (None, Some(unsent)) => unsent,
                (None, None) => unreachable!("the request is kept until it is sent"),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let checkin = Checkin {
                        pool: pool.clone(),
                        key,
                        sender,
                    };
                    return Ok(response.map(|body| ResponseBody::new(body, Some(checkin))));
                }
                Err(mut failed) => match failed.take_message() {
                    // The connection closed before our request went out: nothing reached the
                    // server, so another connection may carry it.
                    Some(request) if attempts < MAX_SEND_ATTEMPTS => unsent = Some(request),
                    request => {
                        return Err(send_failure(&key, request.is_none(), failed.into_error()))
                    }
                },
            }
        }
    }

    async fn exchange_http2(
        &self,
        request: Prepared,
    ) -> Result<http::Response<ResponseBody>, Error> {
        let pool = &self.shared.pool;
        let key = request.key.clone();
        let (sender, id) = match pool.checkout_http2(&key).await {
            Http2Checkout::Open(sender, id) => (sender, id),
            Http2Checkout::Connect(job) => {
                // A failure drops `job`: the next waiting request tries.
                match self.shared.connector.connect(&key, pool).await? {
                    Connected::Http2(sender) => {
                        let id = job.opened(sender.clone());
                        (sender, id)
                    }
                    Connected::Http1(_) => {
                        // The server stopped offering h2 (ALPN): go the HTTP/1 way from now on.
                        pool.forget_http2(&key);
                        drop(job);
                        return Box::pin(self.exchange_http1(request)).await;
                    }
                }
            }
        };
        self.send_http2(&key, sender, id, request.into_http2(), 1)
            .await
    }

    /// Sends on a shared HTTP/2 connection; a request it hands back unsent goes on a new one.
    async fn send_http2(
        &self,
        key: &pool::HostKey,
        mut sender: http2::SendRequest<RequestBody>,
        mut id: u64,
        mut request: http::Request<RequestBody>,
        mut attempts: usize,
    ) -> Result<http::Response<ResponseBody>, Error> {
        let pool = &self.shared.pool;
        loop {
            // Our handle goes before the wait: a request hyper strands in a closing
            // connection's queue comes back only when the last handle drops (see `pool`).
            let response = sender.try_send_request(request);
            drop(sender);
            match response.await {
                Ok(response) => return Ok(response.map(|body| ResponseBody::new(body, None))),
                Err(mut failed) => {
                    let unsent = failed.take_message();
                    let error = failed.into_error();
                    if unsent.is_some() || is_connection_failure(&error) {
                        pool.remove_http2(key, id); // dead: the next request makes a new one
                    }
                    match unsent {
                        Some(unsent) if attempts < MAX_SEND_ATTEMPTS => request = unsent,
                        unsent => return Err(send_failure(key, unsent.is_none(), error)),
                    }
                }
            }
            attempts += 1;
            (sender, id) = match pool.checkout_http2(key).await {
                Http2Checkout::Open(sender, id) => (sender, id),
                Http2Checkout::Connect(job) => {
                    match self.shared.connector.connect(key, pool).await? {
                        Connected::Http2(sender) => {
                            let id = job.opened(sender.clone());
                            (sender, id)
                        }
                        Connected::Http1(mut sender) => {
                            // The server stopped offering h2 between two attempts: one HTTP/1 try.
                            pool.forget_http2(key);
                            drop(job);
                            let request = request::http2_to_http1(request);
                            let response = sender
                                .send_request(request)
                                .await
                                .map_err(|error| send_failure(key, true, error))?;
                            let checkin = Checkin {
                                pool: pool.clone(),
                                key: key.clone(),
                                sender,
                            };
                            return Ok(response.map(|body| ResponseBody::new(body, Some(checkin))));
                        }
                    }
                }
            };
        }
    }
}

/// The error of a request hyper could not complete: a closed or failed connection is said to
/// be one (hyper calls it "canceled", though nobody cancelled anything); `sent` says whether
/// the request may have reached the server.
fn send_failure(key: &pool::HostKey, sent: bool, error: hyper::Error) -> Error {
    if !sent || is_connection_failure(&error) {
        Error::ConnectionClosed {
            authority: key.to_string(),
            sent,
            source: error,
        }
    } else {
        Error::Http(error)
    }
}

/// Whether `error` says the connection closed or failed (rather than, say, a malformed reply).
fn is_connection_failure(error: &hyper::Error) -> bool {
    if error.is_canceled() || error.is_incomplete_message() || error.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]: timeouts, pooling, HTTP/2.
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the Client"]
pub struct ClientBuilder {
    config: ClientConfig,
}

impl ClientBuilder {
    /// The default request timeout: 100 s, as .NET's `HttpClient.Timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(100);
    /// The default pool idle timeout: 60 s, as .NET's `PooledConnectionIdleTimeout`.
    pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default number of idle connections kept per host: no cap (`usize::MAX`), as .NET's
    /// `SocketsHttpHandler` and reqwest. A cap smaller than the peak concurrency closes
    /// connections after every burst only to reopen them in the next one (64 concurrent
    /// requests with a cap of 32 opened 96 connections per round instead of 64); the idle
    /// timeout is what closes connections nobody needs any more.
    pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = usize::MAX;
    /// The default cap on a body read whole by [`Response::bytes`], `text` or `json`: 64 MiB.
    /// .NET's `MaxResponseContentBufferSize` is 2 GiB, which lets one endless or hostile body
    /// take 2 GiB of memory per request; 64 MiB holds any API response, and larger downloads
    /// belong in [`Response::chunk`], which has no cap.
    pub const DEFAULT_MAX_BUFFERED_BODY: u64 = 64 * 1024 * 1024;

    /// The timeout of every request that sets none of its own (`None`: no timeout). It covers
    /// connecting, sending, the response head and reading the body through [`Response`]'s
    /// helpers. Default: 100 s.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.config.timeout = timeout.into();
        self
    }

    /// How long an HTTP/1 connection may wait idle in the pool before it is closed (and an
    /// HTTP/2 connection may go unused). Default: 60 s.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.config.pool_idle_timeout = timeout;
        self
    }

    /// How many idle HTTP/1 connections the pool keeps per host (0: no pooling, a new
    /// connection per request). Default: no cap; idle connections close after
    /// [`pool_idle_timeout`](ClientBuilder::pool_idle_timeout).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> ClientBuilder {
        self.config.pool_max_idle_per_host = max;
        self
    }

    /// The most bytes [`Response::bytes`], [`text`](Response::text) and `json` read into
    /// memory; a longer body fails with [`Error::BodyTooLarge`] as soon as it passes the cap
    /// (at once when its `Content-Length` says so), and its connection is closed. Default:
    /// 64 MiB ([`DEFAULT_MAX_BUFFERED_BODY`](ClientBuilder::DEFAULT_MAX_BUFFERED_BODY)).
    /// [`Response::chunk`] reads a body of any length in pieces.
    pub fn max_buffered_body(mut self, bytes: u64) -> ClientBuilder {
        self.config.max_buffered_body = bytes;
        self
    }

    /// Speaks HTTP/2 from the first byte ("prior knowledge"), one multiplexed connection per
    /// host, on `http://` URLs; on `https://` it offers only `h2` in ALPN and fails if the
    /// server does not take it. Without it, `http://` is HTTP/1.1 and `https://` is whatever
    /// the server picks in ALPN (HTTP/2 when it offers `h2`, as most public servers do).
    pub fn http2_prior_knowledge(mut self) -> ClientBuilder {
        self.config.http2_prior_knowledge = true;
        self
    }

    /// Speaks HTTP/1.1 only: `https://` offers only `http/1.1` in ALPN. Default: off (`h2`
    /// is offered first).
    pub fn http1_only(mut self) -> ClientBuilder {
        self.config.http1_only = true;
        self
    }

    /// Trusts `pem`'s certificates as roots for `https://` (a private CA, or a self-signed
    /// server's own certificate), besides Mozilla's. A text without a certificate, or one
    /// that does not parse, is an [`Error::InvalidTlsConfig`] here.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), brigade_http::Error> {
    /// let ca = std::fs::read("ca.pem").expect("the CA's certificate");
    /// let client = brigade_http::Client::builder().add_root_certificate(&ca)?.build();
    /// # Ok(()) }
    /// ```
    pub fn add_root_certificate(mut self, pem: impl AsRef<[u8]>) -> Result<ClientBuilder, Error> {
        let certificates = brigade_tls::certificates_from_pem(pem.as_ref()).map_err(|error| {
            Error::InvalidTlsConfig {
                reason: error.to_string(),
            }
        })?;
        self.config.tls.extra_roots.extend(certificates);
        Ok(self)
    }

    /// Whether Mozilla's root certificates (webpki-roots, compiled in) are trusted. Default:
    /// yes. Turn them off to trust only [`add_root_certificate`](Self::add_root_certificate)'s.
    pub fn tls_built_in_root_certs(mut self, trust: bool) -> ClientBuilder {
        self.config.tls.mozilla_roots = trust;
        self
    }

    /// Presents a client certificate to servers that ask for one: the certificate chain (leaf
    /// first) and its private key, as PEM texts (one text may hold both).
    pub fn identity(
        mut self,
        chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<ClientBuilder, Error> {
        let identity = brigade_tls::Identity::from_pem(chain_pem.as_ref(), key_pem.as_ref())
            .map_err(|error| Error::InvalidTlsConfig {
                reason: error.to_string(),
            })?;
        self.config.tls.identity = Some(identity);
        Ok(self)
    }

    /// The `User-Agent` sent with requests that set none (`None`: send none). Default:
    /// `brigade-http/<version>`. An invalid header value is reported here, by a panic.
    pub fn user_agent(mut self, user_agent: Option<&str>) -> ClientBuilder {
        self.config.user_agent = user_agent.map(|text| {
            http::HeaderValue::from_str(text).unwrap_or_else(|error| {
                panic!("ClientBuilder::user_agent({text:?}) is not a valid header value: {error}")
            })
        });
        self
    }

    /// The client.
    pub fn build(self) -> Client {
        let pool = Pool::new(
            self.config.pool_idle_timeout,
            self.config.pool_max_idle_per_host,
        );
        let mut tls = self.config.tls.clone();
        tls.alpn = if self.config.http2_prior_knowledge {
            vec![b"h2".to_vec()]
        } else if self.config.http1_only {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        // A configuration that cannot be built (no root trusted at all, a key rustls cannot
        // use) fails each https request with the reason; http:// is unaffected.
        let tls_websocket = brigade_tls::ClientSettings {
            alpn: vec![b"http/1.1".to_vec()],
            ..tls.clone()
        };
        let connector = Connector {
            tls: tls.build().map_err(Arc::new),
            tls_websocket: tls_websocket.build().map_err(Arc::new),
            http2_prior_knowledge: self.config.http2_prior_knowledge,
        };
        Client {
            shared: Arc::new(ClientShared {
                config: self.config,
                pool,
                connector,
            }),
        }
    }
}
