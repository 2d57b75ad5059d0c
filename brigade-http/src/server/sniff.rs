//! The socket of a new connection, with a deadline on the bytes that decide its protocol.
//!
//! hyper's header-read timeout covers an HTTP/1 request head, but not the protocol sniff before
//! it: a peer that connects and sends nothing (or half of the HTTP/2 preface) would hold its
//! connection forever. [`SniffDeadline`] closes it after the same header-read timeout.
//!
//! # Invariants
//! - Armed only until the protocol is known (or the peer closes); after that, a plain
//!   pass-through with no timer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use brigade::time::Sleep;
use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};

/// HTTP/2's connection preface: a client that starts with these bytes speaks HTTP/2.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The socket (TCP, or TLS after its handshake), with a deadline on the bytes that decide the protocol.
///
/// Armed until the bytes read so far either leave HTTP/2's preface (the peer speaks HTTP/1,
/// and hyper's header-read timeout takes over) or complete it (HTTP/2), or the peer closes.
/// While armed, a read that finds the deadline passed fails with `TimedOut`, which ends the
/// connection. After that it is a plain pass-through.
pub(crate) struct SniffDeadline<IO> {
    stream: IO,
    /// Boxed because hyper wants an `Unpin` socket and a brigade `Sleep` carries its timer
    /// entry inside itself; freed as soon as the protocol is known.
    deadline: Option<Pin<Box<Sleep>>>,
    /// How many bytes of the preface the peer has sent so far.
    preface_seen: usize,
}

impl<IO: Read + Unpin> SniffDeadline<IO> {
    pub(crate) fn new(stream: IO, deadline: Option<Duration>) -> SniffDeadline<IO> {
        SniffDeadline {
            stream,
            deadline: deadline.map(|after| Box::pin(brigade::time::sleep(after))),
            preface_seen: 0,
        }
    }

    /// A read while the deadline is armed: through a small buffer of our own, so the bytes
    /// can be compared with the preface before they are handed on.
    fn poll_read_sniffing(
        &mut self,
        cx: &mut Context<'_>,
        mut out: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let deadline = self.deadline.as_mut().expect("called only while armed");
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "brigade-http: the client sent no request within the header-read timeout",
            )));
        }
        let mut local = [0u8; H2_PREFACE.len()];
        let wanted = out.remaining().min(H2_PREFACE.len() - self.preface_seen);
        let mut local = ReadBuf::new(&mut local[..wanted]);
        std::task::ready!(Pin::new(&mut self.stream).poll_read(cx, local.unfilled()))?;
        let got = local.filled();
        let expected = &H2_PREFACE[self.preface_seen..self.preface_seen + got.len()];
        self.preface_seen += got.len();
        let decided = got.is_empty() // EOF
            || got != expected // not HTTP/2
            || self.preface_seen == H2_PREFACE.len(); // all of the HTTP/2 preface
        if decided {
            self.deadline = None;
        }
        out.put_slice(got);
        Poll::Ready(Ok(()))
    }
}

impl<IO: Read + Unpin> Read for SniffDeadline<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.deadline.is_some() && buf.remaining() > 0 {
            return this.poll_read_sniffing(cx, buf);
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl<IO: Write + Unpin> Write for SniffDeadline<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }
}
