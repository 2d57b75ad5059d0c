//! [`TlsStream`]: a rustls connection driven over a non-blocking brigade socket — what .NET's
//! `SslStream` is to a `NetworkStream`.
//!
//! rustls is sans-I/O: it turns TLS records into plaintext and back (`read_tls`,
//! `process_new_packets`, `write_tls`) and never touches a socket. This module is the pump
//! between the two. It hands rustls a synchronous `io::Read`/`io::Write` view of the socket
//! ([`SocketView`]) in which "not ready yet" is `WouldBlock`, so the socket's readiness
//! registration (and the task's waker) is what every `Pending` rests on.
//!
//! # Invariants
//! - A `Pending` is only ever returned after the socket itself returned `Pending` for the
//!   direction that is waited on, so a waker is registered and the task is woken when the
//!   socket is ready (never a lost wake-up, never a busy loop).
//! - Plaintext rustls has accepted from a `poll_write` is counted as written; it reaches the
//!   socket on the next write, flush or shutdown (a flush returns `Ready` only when every TLS
//!   record has been handed to the socket).
//! - A peer that closes TCP without TLS's `close_notify` reads as EOF (`Ok(0)`), as most HTTP
//!   peers do so; the protocol on top (HTTP's framing, PostgreSQL's messages) detects a
//!   truncated message itself.
//! - A TLS protocol error is sent to the peer as an alert (best effort) and surfaces as an
//!   `io::Error` of kind `InvalidData` whose source is the `rustls::Error` (see
//!   [`crate::TlsFailure`]).

use std::io::{self, BufRead, Read, Write};
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use rustls::{ConnectionCommon, SideData};

/// A TLS connection over the socket `IO` (a brigade `TcpStream`, or anything with futures-io's
/// `AsyncRead + AsyncWrite`). `C` is rustls's `ClientConnection` or `ServerConnection`; see
/// the aliases [`ClientTlsStream`](crate::ClientTlsStream) and
/// [`ServerTlsStream`](crate::ServerTlsStream). It implements futures-io's traits, and behind
/// features hyper's (`hyper`) and tokio's (`tokio-io`).
pub struct TlsStream<IO, C> {
    pub(crate) io: IO,
    pub(crate) conn: C,
    /// The socket said EOF: nothing more will come.
    eof: bool,
    /// `close_notify` has been queued (by a shutdown).
    close_sent: bool,
}

/// The socket as rustls sees it: synchronous, with `Pending` turned into `WouldBlock`.
struct SocketView<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncRead + Unpin> Read for SocketView<'_, '_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_read(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<IO: AsyncWrite + Unpin> Write for SocketView<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// A caller's read buffer, as the read side fills it: futures-io's `&mut [u8]`, hyper's
/// `ReadBufCursor` and tokio's `ReadBuf` (the last two possibly uninitialised, filled without
/// zeroing first).
pub(crate) trait ReadTarget {
    /// How many more bytes fit.
    fn remaining(&self) -> usize;
    /// Appends `bytes`; never more than [`remaining`](Self::remaining).
    fn put_slice(&mut self, bytes: &[u8]);
}

/// A slice fills from the front and shrinks to what is left, as `io::Write for &mut [u8]`.
impl ReadTarget for &mut [u8] {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        let (head, rest) = std::mem::take(self).split_at_mut(bytes.len());
        head.copy_from_slice(bytes);
        *self = rest;
    }
}

/// `WouldBlock` back into `Pending`.
fn pending_on_would_block<T>(result: io::Result<T>) -> Poll<io::Result<T>> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        other => Poll::Ready(other),
    }
}

impl<IO, C, S> TlsStream<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<S>> + Unpin,
    S: SideData + 'static,
{
    pub(crate) fn new(io: IO, conn: C) -> Self {
        TlsStream {
            io,
            conn,
            eof: false,
            close_sent: false,
        }
    }

    /// The socket underneath.
    pub fn get_ref(&self) -> (&IO, &C) {
        (&self.io, &self.conn)
    }

    /// The socket and the rustls connection, mutably (writing to the socket directly corrupts
    /// the TLS stream).
    pub fn get_mut(&mut self) -> (&mut IO, &mut C) {
        (&mut self.io, &mut self.conn)
    }

    /// The protocol ALPN settled on (`b"h2"`, `b"http/1.1"`), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// Reads TLS records from the socket and decrypts them; `Ok(0)` is the socket's EOF.
    fn poll_read_records(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut socket = SocketView {
            io: &mut self.io,
            cx,
        };
        let read = ready!(pending_on_would_block(self.conn.read_tls(&mut socket)))?;
        if read == 0 {
            self.eof = true;
        }
        if let Err(error) = self.conn.process_new_packets() {
            // rustls has queued an alert saying what went wrong: let the peer know (best effort;
            // the connection is over either way).
            let _ = self.conn.write_tls(&mut socket);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)));
        }
        Poll::Ready(Ok(read))
    }

    /// Hands queued TLS records to the socket until rustls has none left.
    fn poll_write_records(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut socket = SocketView {
                io: &mut self.io,
                cx,
            };
            match ready!(pending_on_would_block(self.conn.write_tls(&mut socket)))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                _ => continue,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Drives the handshake to its end (and the last flight to the socket).
    pub(crate) fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let flushed = self.poll_write_records(cx)?.is_ready();
            if !self.conn.is_handshaking() {
                return if flushed {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                };
            }
            if !self.conn.wants_read() {
                // rustls waits for our records to go out before it reads on; with nothing to
                // send and nothing to read (the peer said close_notify) it cannot go on.
                return if flushed {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the TLS session during the handshake",
                    )))
                } else {
                    Poll::Pending
                };
            }
            match ready!(self.poll_read_records(cx))? {
                0 => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    )))
                }
                _ => continue,
            }
        }
    }

    /// Copies decrypted bytes into `buf` (as many as it has room for and rustls has ready),
    /// reading records as needed; `Ok(0)` at EOF or when `buf` has no room. The read side of
    /// all three trait families (futures-io, hyper, tokio).
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut impl ReadTarget,
    ) -> Poll<io::Result<usize>> {
        let wanted = buf.remaining();
        if wanted == 0 {
            return Poll::Ready(Ok(0));
        }
        loop {
            let mut reader = self.conn.reader();
            match reader.fill_buf() {
                Ok(chunk) => {
                    let n = chunk.len().min(wanted);
                    buf.put_slice(&chunk[..n]);
                    reader.consume(n);
                    return Poll::Ready(Ok(n));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                // TCP closed without close_notify: EOF (see the module's invariants).
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Ok(0))
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
            if self.eof {
                return Poll::Ready(Ok(0));
            }
            // Records rustls wants to send (a key update, an alert) go out on the way; a full
            // socket does not hold up reading.
            if self.conn.wants_write() {
                let _ = self.poll_write_records(cx)?;
            }
            ready!(self.poll_read_records(cx))?;
        }
    }

    pub(crate) fn poll_write_plain(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut written = 0;
        loop {
            written += self.conn.writer().write(&buf[written..])?;
            let flushed = self.poll_write_records(cx)?;
            if written == buf.len() {
                return Poll::Ready(Ok(written));
            }
            if flushed.is_pending() {
                // rustls's buffer is full and the socket is too: what rustls took is written.
                return if written > 0 {
                    Poll::Ready(Ok(written))
                } else {
                    Poll::Pending
                };
            }
        }
    }

    /// Several buffers at once: rustls packs them into as few records as fit, so a frame
    /// header and its payload (hyper's HTTP/2 writes) go out as one record and one syscall.
    pub(crate) fn poll_write_plain_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|buf| buf.len()).sum();
        loop {
            let written = self.conn.writer().write_vectored(bufs)?;
            let flushed = self.poll_write_records(cx)?;
            if written > 0 || total == 0 {
                return Poll::Ready(Ok(written));
            }
            if flushed.is_pending() {
                return Poll::Pending; // rustls's buffer and the socket are both full
            }
        }
    }

    pub(crate) fn poll_flush_plain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.writer().flush()?;
        ready!(self.poll_write_records(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Sends `close_notify`, flushes, then closes the socket's write side.
    pub(crate) fn poll_shutdown_plain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.close_sent {
            self.conn.send_close_notify();
            self.close_sent = true;
        }
        ready!(self.poll_write_records(cx))?;
        Pin::new(&mut self.io).poll_close(cx)
    }
}

impl<IO, C, S> AsyncRead for TlsStream<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<S>> + Unpin,
    S: SideData + 'static,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut target = buf;
        self.get_mut().poll_read_into(cx, &mut target)
    }
}

impl<IO, C, S> AsyncWrite for TlsStream<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<S>> + Unpin,
    S: SideData + 'static,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_plain(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_plain_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_plain(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_plain(cx)
    }
}

impl<IO, C: std::fmt::Debug> std::fmt::Debug for TlsStream<IO, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("conn", &self.conn)
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}
