//! The socket as tungstenite wants it: synchronous `io::Read + io::Write`, where "not ready"
//! is `WouldBlock` — over hyper's async `Read`/`Write` (an upgraded connection).
//!
//! tungstenite is written for blocking or non-blocking sockets; it treats `WouldBlock` as "try
//! again later" and keeps its partial state (a half-read frame, unsent bytes) across calls.
//! [`SyncIo`] carries the waker of the task polling the [`WebSocket`](super::WebSocket), set
//! before every call into tungstenite, so a `WouldBlock` here always means the socket has
//! registered that task to be woken.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use hyper::rt::{Read, ReadBuf, Write};

pub(crate) struct SyncIo<IO> {
    io: IO,
    waker: Waker,
}

impl<IO> SyncIo<IO> {
    pub(crate) fn new(io: IO) -> SyncIo<IO> {
        SyncIo {
            io,
            waker: Waker::noop().clone(),
        }
    }

    /// The task to wake when the socket becomes ready: the one polling now.
    pub(crate) fn set_waker(&mut self, cx: &Context<'_>) {
        if !self.waker.will_wake(cx.waker()) {
            self.waker = cx.waker().clone();
        }
    }
}

fn would_block<T>(poll: Poll<io::Result<T>>) -> io::Result<T> {
    match poll {
        Poll::Ready(result) => result,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl<IO: Read + Unpin> io::Read for SyncIo<IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(&self.waker);
        let mut read_buf = ReadBuf::new(buf);
        would_block(Pin::new(&mut self.io).poll_read(&mut cx, read_buf.unfilled()))?;
        Ok(read_buf.filled().len())
    }
}

impl<IO: Write + Unpin> io::Write for SyncIo<IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(&self.waker);
        would_block(Pin::new(&mut self.io).poll_write(&mut cx, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut cx = Context::from_waker(&self.waker);
        would_block(Pin::new(&mut self.io).poll_flush(&mut cx))
    }
}
