//! hyper's and tokio's I/O traits on [`TlsStream`], each behind its feature: the same four
//! operations as futures-io's (`stream`), with the read side copying straight from rustls's
//! plaintext buffer into the caller's (possibly uninitialised) buffer — no zero-filling, no
//! `unsafe`.

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
use crate::TlsStream;

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
        let wanted = buf.remaining();
        self.get_mut()
            .poll_read_plain(cx, wanted, |chunk| {
                let n = chunk.len().min(wanted);
                buf.put_slice(&chunk[..n]);
                n
            })
            .map_ok(|_| ())
    }
}

#[cfg(feature = "hyper")]
impl<IO, C, S> hyper::rt::Write for TlsStream<IO, C>
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
        let wanted = buf.remaining();
        self.get_mut()
            .poll_read_plain(cx, wanted, |chunk| {
                let n = chunk.len().min(wanted);
                buf.put_slice(&chunk[..n]);
                n
            })
            .map_ok(|_| ())
    }
}

#[cfg(feature = "tokio-io")]
impl<IO, C, S> tokio::io::AsyncWrite for TlsStream<IO, C>
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
