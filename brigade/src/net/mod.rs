//! Sockets on the reactor: TCP, UDP and Unix domain sockets (seed section 13: the HTTP client,
//! the database connection, the high-throughput server).
//!
//! Every socket is registered with the current runtime's reactor when it is made (or with the
//! default runtime's, outside any). An operation that would block returns `Pending`, frees the
//! worker, and resumes when epoll reports the socket ready. Host names are resolved through
//! [`crate::run`], so a slow DNS lookup never blocks a worker.
//!
//! Cancel any wait with a token — `stream.read(&mut buf).with_cancellation(&token).await` —
//! or a [`crate::time::timeout`]; dropping the operation's future is always safe.
//!
//! ```
//! use std::time::Duration;
//! use brigade::net::{TcpListener, TcpStream, UdpSocket};
//! use brigade::time::timeout;
//! # brigade::block_on(async {
//! // TCP: a listener and a connection (see TcpStream for an echo).
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let _client = TcpStream::connect(listener.local_addr()?).await?;
//! let (_server_side, peer) = listener.accept().await?;
//! assert!(peer.ip().is_loopback());
//!
//! // Nobody else connects: a bounded wait gives up instead of hanging.
//! assert!(timeout(Duration::from_millis(20), listener.accept()).await.is_err());
//!
//! // UDP: datagrams between two sockets.
//! let (a, b) = (UdpSocket::bind("127.0.0.1:0").await?, UdpSocket::bind("127.0.0.1:0").await?);
//! a.send_to(b"order up", b.local_addr()?).await?;
//! let mut buf = [0; 16];
//! let (n, from) = b.recv_from(&mut buf).await?;
//! assert_eq!((&buf[..n], from), (&b"order up"[..], a.local_addr()?));
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

mod addr;
pub(crate) mod poll_evented;
pub(crate) mod stream_io;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use tcp::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
