//! # brigade-http
//!
//! HTTP on brigade: hyper's HTTP/1.1 and HTTP/2, server and client, running on brigade's
//! sockets, executor and timer — no tokio runtime anywhere in the process (I4).
//!
//! # Getting started
//!
//! In `Cargo.toml` (workspace crates: a path or git dependency):
//!
//! ```toml
//! [dependencies]
//! brigade = { path = "../brigade" }
//! brigade-http = { path = "../brigade-http", features = ["json"] } # json: get_json, .json()
//! ```
//!
//! A server and a client in one program — the server on a free loopback port, a request with
//! a timeout and a token, and a graceful shutdown (the `http` types come re-exported:
//! [`Request`], [`HttpResponse`], [`StatusCode`], [`Method`], [`HeaderMap`], ...):
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use brigade::cancel::CancellationTokenSource;
//! use brigade_http::{service_fn, Bytes, Client, Full, HttpResponse, Incoming, Request, Server, StatusCode};
//!
//! async fn hello(request: Request<Incoming>) -> Result<HttpResponse<Full<Bytes>>, Infallible> {
//!     let body = format!("hello, {}", request.uri().path().trim_start_matches('/'));
//!     Ok(HttpResponse::new(Full::new(Bytes::from(body))))
//! }
//!
//! #[brigade::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let shutdown = CancellationTokenSource::new();
//!     let server = Server::bind("127.0.0.1:0").await?.shutdown_on(shutdown.token());
//!     let addr = server.local_addr()?;
//!     let serving = brigade::spawn(server.serve(service_fn(hello)));
//!
//!     let client = Client::builder().timeout(Duration::from_secs(5)).build();
//!     let user_gave_up = CancellationTokenSource::new();
//!     let response = client
//!         .get(format!("http://{addr}/ada"))
//!         .cancellation_token(&user_gave_up.token())
//!         .send()
//!         .await?;
//!     assert_eq!(response.status(), StatusCode::OK);
//!     assert_eq!(response.text().await?, "hello, ada");
//!
//!     shutdown.cancel(); // graceful: in-flight requests finish, then serve() returns
//!     serving.await?;
//!     Ok(())
//! }
//! ```
//!
//! It tells the last chapter of the seed article, "Real-World Scenarios", in Rust:
//!
//! **13A. Calling a web API (`HttpClient`).** The seed's example —
//!
//! ```text
//! var response = await _httpClient.GetAsync($"https://api.example.com/users/{id}", ct);
//! response.EnsureSuccessStatusCode();
//! return await response.Content.ReadFromJsonAsync<User>(cancellationToken: ct);
//! ```
//!
//! — is, with a [`Client`] (and the `json` feature):
//!
//! ```no_run
//! # #[cfg(feature = "json")] {
//! # #[derive(serde::Deserialize)] struct User { name: String }
//! use brigade::cancel::CancellationToken;
//! use brigade_http::{Client, Error};
//!
//! async fn get_user(client: &Client, id: u32, ct: &CancellationToken) -> Result<User, Error> {
//!     client
//!         .get(format!("http://127.0.0.1:8080/users/{id}"))
//!         .cancellation_token(ct)
//!         .send()
//!         .await?
//!         .error_for_status()?
//!         .json::<User>()
//!         .await
//! }
//! # }
//! ```
//!
//! While the request waits for the network, the worker thread serves other tasks: the await
//! gives it back to the pool, as the seed says. The client pools connections per host (one
//! TCP handshake for many requests, like .NET's `SocketsHttpHandler`), bounds every request
//! with a timeout (100 s by default, as `HttpClient.Timeout`), and stops it the moment its
//! token is cancelled — the request future is dropped, not merely abandoned. `https://` works
//! as in .NET: Mozilla's roots by default, your own with
//! [`ClientBuilder::add_root_certificate`], HTTP/2 when the server offers it in ALPN, and a
//! certificate problem reported as such ([`Error::Tls`]: expired, wrong host, unknown issuer).
//!
//! **13D. High-throughput web APIs.** "By using async/await, a single server can handle
//! thousands of concurrent requests with just a few dozen threads." A [`Server`] serves each
//! connection as one brigade task: ten thousand idle connections cost ten thousand small
//! futures and no threads (the tests hold 10 000 of them on a two-worker runtime). Around
//! hyper it adds what a server exposed to real clients needs: a header-read timeout against
//! clients that connect and stall, an idle timeout (HTTP/1 and HTTP/2) and HTTP/2 PINGs so
//! that no peer holds a connection it does not use, a minimum request body rate against
//! trickling uploads, a maximum request body size (413) against floods, a 500 for a handler
//! that panics, a connection limit that makes new clients wait instead of exhausting memory
//! or file descriptors, an accept loop that survives running out of file descriptors (it
//! pauses, it does not spin: I2), and graceful shutdown on a cancellation token. Every limit has a documented default and a builder
//! method on [`Server`]. [`Server::tls`] serves HTTPS (HTTP/2 and HTTP/1.1 by ALPN on one
//! port; the TLS handshake is bounded by the header-read timeout) and [`Server::websocket`]
//! routes WebSocket upgrades.
//!
//! TLS is rustls with the *ring* crypto provider, through brigade-tls (brigade's own async TLS
//! stream on its sockets — no tokio-rustls); WebSocket framing is tungstenite's, driven over
//! brigade's sockets.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use brigade_http::{Bytes, Full, HttpResponse, Incoming, Request};
//!
//! async fn hello(_: Request<Incoming>) -> Result<HttpResponse<Full<Bytes>>, Infallible> {
//!     Ok(HttpResponse::new(Full::new(Bytes::from("hello from the brigade"))))
//! }
//!
//! #[brigade::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = brigade::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     brigade_http::serve(listener, hello).await
//! }
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`server`] | [`Server`]: accept loop, limits, timeouts, graceful shutdown; [`serve`] |
//! | [`client`] | [`Client`]: pooled connections, `https://`, [`RequestBuilder`], [`Response`] |
//! | [`server::ServerTls`] | HTTPS for a [`Server`]: certificate and key from PEM files, reloadable |
//! | [`websocket`] | WebSockets: [`Server::websocket`] routes, [`websocket::connect`] (`ws://`, `wss://`) |
//! | [`Error`] | what went wrong with a client request |
//!
//! The examples `http_server` and `http_client` (in the workspace's `examples/`) show both
//! sides at work.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod client;
mod error;
pub mod server;
pub mod websocket;

pub use client::{Client, ClientBuilder, RequestBuilder, Response, ResponseBody};
pub use error::Error;
pub use server::{serve, BodyError, Incoming, MinDataRate, PeerAddr, Server, ServerTls};

/// The bytes type of bodies (from the `bytes` crate).
pub use bytes::Bytes;
/// `.collect().await` and friends, to read a request body in a handler.
pub use http_body_util::BodyExt;
/// A body that is one buffer, sent at once: what handlers usually answer with.
pub use http_body_util::Full;
/// Makes a hyper `Service` from an `async fn(Request<Incoming>) -> Result<Response<_>, _>`.
pub use hyper::service::service_fn;

/// The whole `http` crate, for anything the re-exports above leave out.
pub use http;
/// `http::Response`: what a handler answers with (named apart from the client's [`Response`]).
pub use http::Response as HttpResponse;
/// The `http` crate's types that handlers and requests are made of, so a program needs no
/// `http` dependency of its own for them. `http::Response` is [`HttpResponse`] here, because
/// [`Response`] is the client's response.
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};

/// The error type handlers and bodies may use: anything that is an error and can cross
/// threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
