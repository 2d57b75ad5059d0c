//! A child's standard streams as brigade streams: non-blocking pipes on the reactor.
//!
//! Each implements futures-io's `AsyncRead` / `AsyncWrite` and, with the `tokio-io` feature,
//! tokio's; plus plain `async fn`s for the common cases. A read that would block frees the
//! worker until epoll reports the pipe readable, as for sockets.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use mio::unix::pipe::{Receiver, Sender};
use mio::Interest;

use crate::io::scheduled_io::Direction;
use crate::net::poll_evented::PollEvented;

/// The read end of a child's stdout or stderr.
pub(super) struct PipeReader {
    io: PollEvented<Receiver>,
}

impl PipeReader {
    pub(super) fn new(receiver: Receiver) -> io::Result<PipeReader> {
        receiver.set_nonblocking(true)?;
        Ok(PipeReader {
            io: PollEvented::with_interest(receiver, Interest::READABLE)?,
        })
    }

    pub(super) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.io.poll_io_until_drained(
            cx,
            Direction::Read,
            |pipe| {
                let mut pipe = pipe;
                pipe.read(buf)
            },
            |&n| n > 0 && n < len,
        )
    }

    /// Appends everything up to EOF to `out`, reading straight into its spare capacity.
    pub(super) fn poll_read_to_end(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
    ) -> Poll<io::Result<()>> {
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(8192);
            }
            let filled = out.len();
            out.resize(out.capacity(), 0);
            let result = self.poll_read(cx, &mut out[filled..]);
            match result {
                Poll::Ready(Ok(0)) => {
                    out.truncate(filled);
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(n)) => out.truncate(filled + n),
                Poll::Ready(Err(error)) => {
                    out.truncate(filled);
                    return Poll::Ready(Err(error));
                }
                Poll::Pending => {
                    out.truncate(filled);
                    return Poll::Pending;
                }
            }
        }
    }
}

macro_rules! reader {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        pub struct $name {
            inner: PipeReader,
        }

        impl $name {
            pub(super) fn from_std(std: $std) -> io::Result<$name> {
                Ok($name { inner: PipeReader::new(Receiver::from(std))? })
            }

            pub(super) fn into_inner(self) -> PipeReader {
                self.inner
            }

            /// Reads into `buf` once the child has written something; `Ok(0)` at EOF (the
            /// child closed its end, usually by exiting).
            pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                poll_fn(|cx| self.inner.poll_read(cx, buf)).await
            }

            /// Reads everything up to EOF, appending it to `out`; returns how many bytes.
            pub async fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
                let before = out.len();
                poll_fn(|cx| self.inner.poll_read_to_end(cx, out)).await?;
                Ok(out.len() - before)
            }
        }

        impl futures_io::AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = std::task::ready!(self.inner.poll_read(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

reader!(
    /// The child's standard output, when it was [`Stdio::piped`](std::process::Stdio::piped).
    ChildStdout,
    std::process::ChildStdout
);
reader!(
    /// The child's standard error, when it was [`Stdio::piped`](std::process::Stdio::piped).
    ChildStderr,
    std::process::ChildStderr
);

/// The child's standard input, when it was [`Stdio::piped`](std::process::Stdio::piped).
///
/// Close it ([`close`](Self::close), `poll_close`, or drop it) so the child reads EOF. Writing
/// after `close` fails with `BrokenPipe` and says so.
pub struct ChildStdin {
    /// `None` once closed.
    io: Option<PollEvented<Sender>>,
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "brigade::process::ChildStdin used after close: the pipe to the child is already closed",
    )
}

impl ChildStdin {
    pub(super) fn from_std(std: std::process::ChildStdin) -> io::Result<ChildStdin> {
        let sender = Sender::from(std);
        sender.set_nonblocking(true)?;
        Ok(ChildStdin {
            io: Some(PollEvented::with_interest(sender, Interest::WRITABLE)?),
        })
    }

    fn poll_write_inner(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let Some(io) = &self.io else {
            return Poll::Ready(Err(closed_error()));
        };
        let len = buf.len();
        io.poll_io_until_drained(
            cx,
            Direction::Write,
            |pipe| {
                let mut pipe = pipe;
                pipe.write(buf)
            },
            |&n| n > 0 && n < len,
        )
    }

    /// Writes some of `buf` once the pipe has room.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write_inner(cx, buf)).await
    }

    /// Writes all of `buf`. `BrokenPipe` if the child closed its end (or exited).
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Closes the pipe: the child reads EOF. Closing twice is harmless.
    pub fn close(&mut self) {
        self.io = None;
    }
}

impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_inner(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: every write went to the kernel.
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_inner(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("closed", &self.io.is_none())
            .finish()
    }
}
