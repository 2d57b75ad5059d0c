//! TCP: a listener that accepts connections and a stream that reads and writes them, on the
//! reactor (seed section 13A/13D: the web server and the HTTP client).

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use mio::Interest;

use super::addr::{first_that_works, resolve, ToSocketAddrs};
use super::poll_evented::PollEvented;
use super::stream_io::{self, stream_traits};
use crate::io::scheduled_io::Direction;

/// A TCP socket server, listening for connections.
///
/// ```
/// use brigade::net::{TcpListener, TcpStream};
/// # brigade::block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let client = brigade::spawn(async move { TcpStream::connect(addr).await });
/// let (_server_side, peer) = listener.accept().await?;
/// assert_eq!(peer, client.await?.local_addr()?);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl Drop for TcpListener {
    /// A dropped listener refuses connections at once, on either reactor.
    fn drop(&mut self) {
        self.io.stop_listening();
    }
}

impl TcpListener {
    /// Binds to `addr` (anything std's `ToSocketAddrs` takes; host names are resolved off the
    /// worker). With several addresses, the first that binds wins. `SO_REUSEADDR` is set.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let listener = first_that_works(resolve(addr).await?, mio::net::TcpListener::bind)?;
        TcpListener::from_mio(listener)
    }

    /// Wraps a std listener (switched to non-blocking mode) for use on the current runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    fn from_mio(listener: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: PollEvented::with_interest(listener, Interest::READABLE)?,
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Errors are returned as they come (a reset before accept, `EMFILE` when out of file
    /// descriptors); the listener stays usable. An accept loop should pause briefly after
    /// `EMFILE`/`ENFILE` instead of retrying at once (the pending connection stays queued).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The polling form of [`accept`](Self::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self
            .io
            .poll_io(cx, Direction::Read, |listener| listener.accept())
        {
            Poll::Ready(Ok((stream, peer))) => {
                Poll::Ready(TcpStream::from_mio(stream).map(|s| (s, peer)))
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

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection.
///
/// Read and write with the inherent methods, or through futures-io's `AsyncRead` /
/// `AsyncWrite` (always), tokio's (feature `tokio-io`) or hyper's `rt::Read` / `rt::Write`
/// (feature `hyper`). After setup, reads and writes allocate nothing (I1). A reset, EOF or any
/// other I/O error comes back as an `io::Error` or a 0-byte read (I3).
/// Cancel a wait with [`crate::cancel::CancellationExt::with_cancellation`] or a timeout.
///
/// ```
/// use brigade::net::{TcpListener, TcpStream};
/// # brigade::block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let echo = brigade::spawn(async move {
///     let (mut peer, _) = listener.accept().await?;
///     let mut buf = [0; 5];
///     peer.read_exact(&mut buf).await?;
///     peer.write_all(&buf).await
/// });
/// let mut stream = TcpStream::connect(addr).await?;
/// stream.write_all(b"hello").await?;
/// let mut reply = [0; 5];
/// stream.read_exact(&mut reply).await?;
/// assert_eq!(&reply, b"hello");
/// echo.await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct TcpStream {
    io: PollEvented<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn until one accepts.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last_error = None;
        for addr in resolve(addr).await? {
            match TcpStream::connect_one(addr).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("resolve returns at least one address"))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        // A non-blocking connect finishes when the socket turns writable; then the socket's
        // error (if any) says how it went. "Not connected yet" means a spurious wake-up.
        poll_fn(|cx| {
            stream.io.poll_io(cx, Direction::Write, |socket| {
                if let Some(error) = socket.take_error()? {
                    return Err(error);
                }
                match socket.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(error) if error.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(error) => Err(error),
                }
            })
        })
        .await?;
        Ok(stream)
    }

    /// Wraps a connected std stream (switched to non-blocking mode) for the current runtime.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: PollEvented::new(stream)?,
        })
    }

    fn io(&self) -> &PollEvented<mio::net::TcpStream> {
        &self.io
    }

    /// Reads into `buf`; `Ok(0)` means the peer closed its side (or `buf` is empty).
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        stream_io::read(&self.io, buf).await
    }

    /// Writes some of `buf`; returns how much.
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

    /// Reads without consuming: the same bytes come back on the next read.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            self.io
                .poll_io(cx, Direction::Read, |socket| socket.peek(buf))
        })
        .await
    }

    /// Waits until a read may make progress.
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_ready(cx, Direction::Read)).await
    }

    /// Waits until a write may make progress.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_ready(cx, Direction::Write)).await
    }

    /// One non-blocking read attempt: `WouldBlock` if nothing is there (and then the next
    /// [`readable`](Self::readable) waits for new data instead of returning at once).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |socket| {
            let mut socket = socket;
            socket.read(buf)
        })
    }

    /// One non-blocking write attempt: `WouldBlock` if the send buffer is full (and then the
    /// next [`writable`](Self::writable) waits for room).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |socket| {
            let mut socket = socket;
            socket.write(buf)
        })
    }

    /// Shuts down the read, write or both halves of the connection.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Sets `TCP_NODELAY` (send small writes at once instead of coalescing them).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Splits into a read half and a write half that can move to different tasks. Dropping
    /// the write half shuts down the write direction (the peer reads EOF).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let shared = Arc::new(self);
        (
            OwnedReadHalf {
                stream: shared.clone(),
            },
            OwnedWriteHalf {
                stream: shared,
                shutdown_on_drop: true,
            },
        )
    }
}

stream_traits!(read: TcpStream);
stream_traits!(write: TcpStream);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

/// The reading half of a [`TcpStream`], from [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: Arc<TcpStream>,
}

impl OwnedReadHalf {
    fn io(&self) -> &PollEvented<mio::net::TcpStream> {
        &self.stream.io
    }

    /// Reads into `buf`; `Ok(0)` at EOF.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        stream_io::read(self.io(), buf).await
    }

    /// The stream both halves share (addresses, options).
    pub fn as_stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// The writing half of a [`TcpStream`], from [`TcpStream::into_split`]. Dropping it shuts down
/// the write direction.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Arc<TcpStream>,
    shutdown_on_drop: bool,
}

impl OwnedWriteHalf {
    fn io(&self) -> &PollEvented<mio::net::TcpStream> {
        &self.stream.io
    }

    /// Writes some of `buf`.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        stream_io::write(self.io(), buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        stream_io::write_all(self.io(), buf).await
    }

    /// The stream both halves share.
    pub fn as_stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Drops the half without shutting down the write direction.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = stream_io::shutdown_write(self.io());
        }
    }
}

stream_traits!(read: OwnedReadHalf);
stream_traits!(write: OwnedWriteHalf);
