//! Glue for the ecosystem's runtime traits (behind features).
//!
//! The I/O traits themselves (futures-io always; tokio's with `tokio-io`; hyper's `rt::Read` /
//! `rt::Write` with `hyper`) are implemented directly on [`crate::net`]'s sockets. Here is what
//! hyper needs besides I/O: somewhere to spawn its background work and a timer.
//!
//! With the `hyper` feature, a hyper HTTP/1 connection served on a brigade socket:
//!
//! ```
//! # #[cfg(feature = "hyper")] {
//! use brigade::compat::hyper::BrigadeTimer;
//! use brigade::net::TcpListener;
//! # brigade::block_on(async {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let serving = brigade::spawn(async move {
//!     let (socket, _) = listener.accept().await?;
//!     let hello = hyper::service::service_fn(|_request| async {
//!         Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("hello")))
//!     });
//!     hyper::server::conn::http1::Builder::new()
//!         .timer(BrigadeTimer)
//!         .serve_connection(socket, hello) // the socket speaks hyper's rt::Read / rt::Write
//!         .await
//!         .map_err(std::io::Error::other)
//! });
//! serving.cancel().await.ok(); // nobody connects in this example
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! # }
//! ```

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;
