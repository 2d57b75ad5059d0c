//! The read and write calls every stream socket shares (TCP, Unix, and their halves): one
//! non-blocking syscall per attempt inside [`PollEvented::poll_io`], no buffering, no copies.
//!
//! Reads into *uninitialised* memory (tokio's `ReadBuf`, hyper's `ReadBufCursor`) go straight to
//! `read(2)` with a raw pointer, so no buffer is zero-filled first.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use mio::event::Source;

use super::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;

/// A mio stream socket brigade can read and write.
pub(crate) trait StreamSocket: Source + AsRawFd {
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

impl StreamSocket for mio::net::TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::TcpStream::shutdown(self, how)
    }
}

impl StreamSocket for mio::net::UnixStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::UnixStream::shutdown(self, how)
    }
}

pub(crate) fn poll_read<E>(
    io: &PollEvented<E>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    E: StreamSocket,
    for<'a> &'a E: Read,
{
    let len = buf.len();
    io.poll_io_until_drained(
        cx,
        Direction::Read,
        |socket| {
            let mut socket = socket;
            socket.read(buf)
        },
        // A short read emptied the receive buffer (0 is EOF, which stays visible anyway).
        |&n| n > 0 && n < len,
    )
}

/// Reads into memory that may be uninitialised; returns how many bytes are now initialised.
#[cfg(any(feature = "tokio-io", feature = "hyper"))]
pub(crate) fn poll_read_uninit<E: StreamSocket>(
    io: &PollEvented<E>,
    cx: &mut Context<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    io.poll_io_until_drained(
        cx,
        Direction::Read,
        |socket| read_uninit(socket.as_raw_fd(), buf),
        |&n| n > 0 && n < len,
    )
}

#[cfg(any(feature = "tokio-io", feature = "hyper"))]
fn read_uninit(fd: std::os::fd::RawFd, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of writes; `read(2)` only writes into it (it
    // never reads the uninitialised bytes), and reports how many it wrote.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

pub(crate) fn poll_write<E>(
    io: &PollEvented<E>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    E: StreamSocket,
    for<'a> &'a E: Write,
{
    let len = buf.len();
    io.poll_io_until_drained(
        cx,
        Direction::Write,
        |socket| {
            let mut socket = socket;
            socket.write(buf)
        },
        // A short write filled the send buffer.
        |&n| n > 0 && n < len,
    )
}

pub(crate) fn poll_write_vectored<E>(
    io: &PollEvented<E>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>>
where
    E: StreamSocket,
    for<'a> &'a E: Write,
{
    io.poll_io(cx, Direction::Write, |socket| {
        let mut socket = socket;
        socket.write_vectored(bufs)
    })
}

/// Reads into `buf` once it can; `Ok(0)` at EOF.
pub(crate) async fn read<E>(io: &PollEvented<E>, buf: &mut [u8]) -> io::Result<usize>
where
    E: StreamSocket,
    for<'a> &'a E: Read,
{
    std::future::poll_fn(|cx| poll_read(io, cx, buf)).await
}

/// Writes some of `buf` once it can.
pub(crate) async fn write<E>(io: &PollEvented<E>, buf: &[u8]) -> io::Result<usize>
where
    E: StreamSocket,
    for<'a> &'a E: Write,
{
    std::future::poll_fn(|cx| poll_write(io, cx, buf)).await
}

/// Writes all of `buf`.
pub(crate) async fn write_all<E>(io: &PollEvented<E>, mut buf: &[u8]) -> io::Result<()>
where
    E: StreamSocket,
    for<'a> &'a E: Write,
{
    while !buf.is_empty() {
        match write(io, buf).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes, or fails with `UnexpectedEof`.
pub(crate) async fn read_exact<E>(io: &PollEvented<E>, mut buf: &mut [u8]) -> io::Result<()>
where
    E: StreamSocket,
    for<'a> &'a E: Read,
{
    while !buf.is_empty() {
        match read(io, buf).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf = &mut buf[n..],
        }
    }
    Ok(())
}

/// Closes the write direction (the peer reads EOF). A socket the peer already dropped counts
/// as closed.
pub(crate) fn shutdown_write<E: StreamSocket>(io: &PollEvented<E>) -> io::Result<()> {
    match io.get_ref().shutdown(Shutdown::Write) {
        Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// Implements futures-io's `AsyncRead` / `AsyncWrite` (and, behind features, tokio's and
/// hyper's traits) for a type with `fn io(&self) -> &PollEvented<E>`.
macro_rules! stream_traits {
    (read: $ty:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_read(self.io(), cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio-io")))]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // SAFETY: `poll_read_uninit` writes only initialised bytes and reports how
                // many; we mark exactly those as filled.
                let unfilled = unsafe { buf.unfilled_mut() };
                match $crate::net::stream_io::poll_read_uninit(self.io(), cx, unfilled) {
                    std::task::Poll::Ready(Ok(n)) => {
                        // SAFETY: `read(2)` initialised the first `n` bytes of `unfilled`.
                        unsafe { buf.assume_init(n) };
                        buf.advance(n);
                        std::task::Poll::Ready(Ok(()))
                    }
                    std::task::Poll::Ready(Err(error)) => std::task::Poll::Ready(Err(error)),
                    std::task::Poll::Pending => std::task::Poll::Pending,
                }
            }
        }

        #[cfg(feature = "hyper")]
        #[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
        impl hyper::rt::Read for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                mut buf: hyper::rt::ReadBufCursor<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // SAFETY: as for tokio's ReadBuf: only bytes `read(2)` wrote are advanced over.
                let unfilled = unsafe { buf.as_mut() };
                match $crate::net::stream_io::poll_read_uninit(self.io(), cx, unfilled) {
                    std::task::Poll::Ready(Ok(n)) => {
                        // SAFETY: the first `n` bytes were initialised by `read(2)`.
                        unsafe { buf.advance(n) };
                        std::task::Poll::Ready(Ok(()))
                    }
                    std::task::Poll::Ready(Err(error)) => std::task::Poll::Ready(Err(error)),
                    std::task::Poll::Pending => std::task::Poll::Pending,
                }
            }
        }
    };
    (write: $ty:ty) => {
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_write(self.io(), cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_write_vectored(self.io(), cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // Nothing is buffered: every write went to the kernel.
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::stream_io::shutdown_write(self.io()))
            }
        }

        #[cfg(feature = "tokio-io")]
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio-io")))]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_write(self.io(), cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_write_vectored(self.io(), cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::stream_io::shutdown_write(self.io()))
            }
        }

        #[cfg(feature = "hyper")]
        #[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
        impl hyper::rt::Write for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_write(self.io(), cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_write_vectored(self.io(), cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::stream_io::shutdown_write(self.io()))
            }
        }
    };
}

pub(crate) use stream_traits;
