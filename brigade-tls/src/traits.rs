//! hyper's and tokio's I/O traits on [`TlsStream`], each behind its feature: thin forwards to
//! the same operations futures-io's traits use (`stream`): the read side through
//! [`TlsStream::poll_read_into`], which copies straight from rustls's plaintext buffer into the
//! caller's (possibly uninitialised) buffer — no zero-filling, no `unsafe` — and the write side
//! through the `poll_*_plain` methods. hyper's `Write` and tokio's `AsyncWrite` have the same
//! five methods, so one macro writes both.

#[cfg(any(feature = "hyper", feature = "tokio-io"))]
use std::{
    io,
    ops::DerefMut,
    pin::Pin,
    task::{Context, Poll},
};

#[cfg(any(feature = "hyper", feature = "tokio-io"))]
use futures_io::{AsyncRead, AsyncWrite};
#[cfg(any(feature = "hyper", feature = "tokio-io"))]
use rustls::{ConnectionCommon, SideData};

#[cfg(any(feature = "hyper", feature = "tokio-io"))]
use crate::stream::ReadTarget;
#[cfg(any(feature = "hyper", feature = "tokio-io"))]
use crate::TlsStream;

/// `impl $trait for TlsStream`, where `$trait` is hyper's `Write` or tokio's `AsyncWrite`.
#[cfg(any(feature = "hyper", feature = "tokio-io"))]
macro_rules! forward_write {
    ($trait:path) => {
        impl<IO, C, S> $trait for TlsStream<IO, C>
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

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().poll_flush_plain(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().poll_shutdown_plain(cx)
            }
        }
    };
}

#[cfg(feature = "hyper")]
impl ReadTarget for hyper::rt::ReadBufCursor<'_> {
    fn remaining(&self) -> usize {
        hyper::rt::ReadBufCursor::remaining(self)
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        hyper::rt::ReadBufCursor::put_slice(self, bytes)
    }
}

#[cfg(feature = "hyper")]
impl<IO, C, S> hyper::rt::Read for TlsStream<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<S>> + Unpin,
    S: SideData + 'static,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_read_into(cx, &mut buf).map_ok(|_| ())
    }
}

#[cfg(feature = "hyper")]
forward_write!(hyper::rt::Write);

#[cfg(feature = "tokio-io")]
impl ReadTarget for tokio::io::ReadBuf<'_> {
    fn remaining(&self) -> usize {
        tokio::io::ReadBuf::remaining(self)
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        tokio::io::ReadBuf::put_slice(self, bytes)
    }
}

#[cfg(feature = "tokio-io")]
impl<IO, C, S> tokio::io::AsyncRead for TlsStream<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<S>> + Unpin,
    S: SideData + 'static,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_read_into(cx, buf).map_ok(|_| ())
    }
}

#[cfg(feature = "tokio-io")]
forward_write!(tokio::io::AsyncWrite);
