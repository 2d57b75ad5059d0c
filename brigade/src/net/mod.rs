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
