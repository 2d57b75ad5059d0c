//! Unix domain stream sockets: local connections by path (PostgreSQL's default transport).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

use mio::Interest;

use super::poll_evented::PollEvented;
use super::stream_io::{self, stream_traits};
use crate::io::scheduled_io::Direction;

/// The socket address for `path`: a leading NUL byte names a Linux abstract socket (the rest
/// of the bytes are the name); anything else is a path in the file system.
fn socket_addr(path: &Path) -> io::Result<SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    match path.as_os_str().as_bytes() {
        [0, name @ ..] => abstract_addr(name),
        _ => SocketAddr::from_pathname(path),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "abstract Unix socket names (a leading NUL byte) exist only on Linux and Android",
    ))
}

/// A Unix domain socket server.
///
/// ```
/// use brigade::net::{UnixListener, UnixStream};
/// # brigade::block_on(async {
/// // On Linux a leading NUL byte names an abstract socket: no file to clean up.
/// let name = format!("\0brigade-doc-{}", std::process::id());
/// let listener = UnixListener::bind(&name)?;
/// let server = brigade::spawn(async move {
///     let (mut peer, _) = listener.accept().await?;
///     peer.write_all(b"welcome").await
/// });
/// let mut client = UnixStream::connect(&name).await?;
/// let mut greeting = [0; 7];
/// client.read_exact(&mut greeting).await?;
/// assert_eq!(&greeting, b"welcome");
/// server.await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct UnixListener {
    io: PollEvented<mio::net::UnixListener>,
}

impl Drop for UnixListener {
    /// A dropped listener refuses connections at once, on either reactor.
    fn drop(&mut self) {
        self.io.stop_listening();
    }
}

impl UnixListener {
    /// Binds to the socket file at `path` (which must not exist yet), or — on Linux — to the
    /// abstract name after a leading NUL byte (`"\0name"`), as std's
    /// `SocketAddr::from_abstract_name` does: no file, gone when the last socket closes.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: PollEvented::with_interest(
                mio::net::UnixListener::bind_addr(&socket_addr(path.as_ref())?)?,
                Interest::READABLE,
            )?,
        })
    }

    /// Binds to `address` (a path or, on Linux, an abstract name).
    pub fn bind_addr(address: &SocketAddr) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: PollEvented::with_interest(
                mio::net::UnixListener::bind_addr(address)?,
                Interest::READABLE,
            )?,
        })
    }

    /// Wraps a std listener (switched to non-blocking mode) for the current runtime.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            io: PollEvented::with_interest(
                mio::net::UnixListener::from_std(listener),
                Interest::READABLE,
            )?,
        })
    }

    /// Waits for a connection.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The polling form of [`accept`](Self::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        match self
            .io
            .poll_io(cx, Direction::Read, |listener| listener.accept())
        {
            Poll::Ready(Ok((stream, peer))) => {
                Poll::Ready(PollEvented::new(stream).map(|io| (UnixStream { io }, peer)))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A Unix domain stream connection; reads and writes like [`super::TcpStream`].
///
/// ```
/// use brigade::net::UnixStream;
/// # brigade::block_on(async {
/// let (mut left, mut right) = UnixStream::pair()?;
/// left.write_all(b"ping").await?;
/// let mut buf = [0; 4];
/// right.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"ping");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct UnixStream {
    io: PollEvented<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket file at `path`, or — on Linux — to the abstract name after a
    /// leading NUL byte (`"\0name"`).
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        Self::connect_addr(&socket_addr(path.as_ref())?).await
    }

    /// Connects to `address` (a path or, on Linux, an abstract name).
    pub async fn connect_addr(address: &SocketAddr) -> io::Result<UnixStream> {
        let stream = UnixStream {
            io: PollEvented::new(mio::net::UnixStream::connect_addr(address)?)?,
        };
        poll_fn(|cx| {
            stream.io.poll_io(cx, Direction::Write, |socket| {
                match socket.take_error()? {
                    Some(error) => Err(error),
                    None => Ok(()),
                }
            })
        })
        .await?;
        Ok(stream)
    }

    /// A connected pair of sockets (handy in tests).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((
            UnixStream {
                io: PollEvented::new(a)?,
            },
            UnixStream {
                io: PollEvented::new(b)?,
            },
        ))
    }

    /// Wraps a connected std stream (switched to non-blocking mode) for the current runtime.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream {
            io: PollEvented::new(mio::net::UnixStream::from_std(stream))?,
        })
    }

    fn io(&self) -> &PollEvented<mio::net::UnixStream> {
        &self.io
    }

    /// Reads into `buf`; `Ok(0)` at EOF.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        stream_io::read(&self.io, buf).await
    }

    /// Writes some of `buf`.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        stream_io::write(&self.io, buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        stream_io::write_all(self.io(), buf).await
    }

    /// Reads exactly `buf.len()` bytes, or fails with `UnexpectedEof`.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        stream_io::read_exact(self.io(), buf).await
    }

    /// Shuts down the read, write or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}

stream_traits!(read: UnixStream);
stream_traits!(write: UnixStream);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
