//! `File`: an open file whose reads, writes and seeks run on the blocking pool — .NET's async
//! `FileStream`.
//!
//! One operation is in flight at a time. Each `File` owns one buffer that travels to the
//! blocking thread and back with every operation: a read fills it and hands its bytes out
//! (the rest serve the next reads), a write copies into it and returns at once while the
//! blocking thread writes it out. Nothing else is allocated per operation beyond the pool's
//! task (O8).
//!
//! On a runtime whose reactor is io_uring, a regular file's reads and writes go to the ring
//! instead (`IORING_OP_READ`/`WRITE` at the file position): the buffer is lent to the kernel
//! and comes back with the completion, no blocking thread involved. Cached data is copied
//! during the submission; a read that would wait for the disk is finished by the kernel's
//! own workers. Seeks, `sync_all`, metadata and the like stay on the blocking pool.
//!
//! # Invariants
//! - `state` is `Busy` exactly while an operation runs on a blocking thread, `OnRing` while
//!   one is on the ring; the buffer is with that operation and comes back when it is polled
//!   to completion (a dropped `File` leaves a ring operation's buffer to the ring).
//! - Read-ahead bytes not handed out yet (`pos..end`) are "given back" before anything that
//!   depends on the file position: a write or a relative seek first moves the position back.
//! - A write's error is reported by the next operation (or `flush`/`close`), never dropped.
//! - After `close`, every operation fails with a clear error.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::blocking;
use super::buf::{give_back, Buf};
use super::open_options::OpenOptions;
use crate::io::driver::Reactor;
#[cfg(target_os = "linux")]
use crate::io::uring_op::{FileOp, RingOp};
use crate::task::Task;

/// Default cap on how much one read or write moves per trip to the blocking pool: 2 MiB.
/// Larger reads return short counts, larger writes accept a part; change it with
/// [`File::set_max_buf_size`].
pub const DEFAULT_MAX_BUF_SIZE: usize = 2 * 1024 * 1024;

/// How many full reads in a row make a reader sequential (then it is read ahead).
pub const SEQUENTIAL_AFTER: u32 = 2;

/// A sequential reader's trip fetches this many times its request (within the max buffer).
pub const READ_AHEAD_FACTOR: usize = 4;

/// An open file; see the [module docs](crate::fs).
///
/// A sequential reader is read ahead: once [`SEQUENTIAL_AFTER`] reads in a row came back full,
/// each trip to the blocking pool fetches [`READ_AHEAD_FACTOR`] times the request (within the
/// [max buffer size](File::set_max_buf_size)) and the next reads are served from the buffer —
/// a quarter of the trips. A seek, a write or a short read ends it. (.NET's `FileStream`
/// buffers small reads the same way.)
///
/// A write returns once its bytes are copied into the file's buffer; [`flush`](File::flush),
/// [`close`](File::close) or the next operation reports how it went. A `File` dropped with a
/// write in flight lets it finish in the background, but nobody sees its error: close files
/// you wrote to.
///
/// ```
/// use brigade::fs::File;
/// # brigade::block_on(async {
/// # let path = std::env::temp_dir().join(format!("brigade-file-doc-{}", std::process::id()));
/// let mut file = File::create(&path).await?;
/// file.write_all(b"hello, file").await?;
/// file.close().await?; // flushes; further use is an error
///
/// let mut file = File::open(&path).await?;
/// let mut contents = Vec::new();
/// file.read_to_end(&mut contents).await?;
/// assert_eq!(contents, b"hello, file");
/// # brigade::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
pub struct File {
    /// `None` once closed.
    pub(super) std: Option<Arc<std::fs::File>>,
    pub(super) state: State,
    max_buf: usize,
    /// Reads in a row that came back full, with no seek or write between (see read-ahead).
    full_reads: u32,
    /// Where reads and writes go, decided at the first one.
    pub(super) route: Route,
}

pub(super) enum State {
    /// The buffer is home (`None` only if an operation was lost to a runtime shutdown).
    Idle(Option<Buf>),
    Busy(Task<(Operation, Buf)>),
    /// A read or write on the io_uring reactor; the buffer's bookkeeping waits here while its
    /// bytes are with the kernel.
    #[cfg(target_os = "linux")]
    OnRing(RingOp, FileOp, Buf),
}

/// Where a file's reads and writes run.
pub(super) enum Route {
    Undecided,
    /// The blocking pool: the reactor is epoll, or the file is no regular file (a FIFO, a
    /// device), whose reads may wait forever.
    Pool,
    /// The runtime's io_uring reactor.
    Ring(Arc<Reactor>),
}

/// What the operation that just finished was, and how it went.
pub(super) enum Operation {
    Read(io::Result<()>),
    Write(io::Result<()>),
    Seek(io::Result<u64>),
}

fn closed_error() -> io::Error {
    io::Error::other("brigade::fs::File used after close: open the file again to keep using it")
}

impl File {
    /// Opens an existing file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens a file for writing, creating it or truncating it.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Options to open a file with ([`OpenOptions`]).
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps an open std file.
    pub fn from_std(std: std::fs::File) -> File {
        File {
            std: Some(Arc::new(std)),
            state: State::Idle(Some(Buf::default())),
            max_buf: DEFAULT_MAX_BUF_SIZE,
            full_reads: 0,
            route: Route::Undecided,
        }
    }

    /// Sets how much one read or write moves per trip to the blocking pool (default
    /// [`DEFAULT_MAX_BUF_SIZE`]; at least 1 byte).
    pub fn set_max_buf_size(&mut self, max: usize) {
        self.max_buf = max.max(1);
    }

    fn std(&self) -> io::Result<Arc<std::fs::File>> {
        self.std.clone().ok_or_else(closed_error)
    }

    /// Waits for the operation in flight, if any, and says what it was.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Operation>>> {
        #[cfg(target_os = "linux")]
        while let State::OnRing(ring_op, op, _) = &mut self.state {
            let op = *op;
            let (result, data) = ready!(ring_op.poll_done(cx));
            let State::OnRing(_, _, buf) = std::mem::replace(&mut self.state, State::Idle(None))
            else {
                unreachable!("matched above");
            };
            if let Some(operation) = self.finish_on_ring(op, buf, result, data) {
                return Poll::Ready(Ok(Some(operation)));
            }
        }
        let State::Busy(task) = &mut self.state else {
            return Poll::Ready(Ok(None));
        };
        match ready!(blocking::poll_finished(task, cx)) {
            Ok((operation, buf)) => {
                self.state = State::Idle(Some(buf));
                Poll::Ready(Ok(Some(operation)))
            }
            Err(error) => {
                self.state = State::Idle(None);
                Poll::Ready(Err(error))
            }
        }
    }

    fn take_buf(&mut self) -> Buf {
        match &mut self.state {
            State::Idle(buf) => buf.take().unwrap_or_default(),
            _ => unreachable!("taken only when idle"),
        }
    }

    fn idle_buf(&mut self) -> &mut Buf {
        match &mut self.state {
            State::Idle(buf) => buf.get_or_insert_with(Buf::default),
            _ => unreachable!("only when idle"),
        }
    }

    pub(super) fn poll_read_inner(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let std = self.std()?;
        loop {
            match ready!(self.poll_complete(cx))? {
                Some(Operation::Write(Err(error)) | Operation::Read(Err(error))) => {
                    return Poll::Ready(Err(error))
                }
                // A read just finished: hand out what it got (nothing means end of file). A
                // full one counts toward read-ahead; a short one ends it.
                Some(Operation::Read(Ok(()))) => {
                    let buf = self.idle_buf();
                    let full = buf.asked > 0 && buf.unread() == buf.asked;
                    let n = buf.copy_to(dst);
                    self.full_reads = if full { self.full_reads + 1 } else { 0 };
                    return Poll::Ready(Ok(n));
                }
                _ => {}
            }
            let buf = self.idle_buf();
            if buf.unread() > 0 || dst.is_empty() {
                return Poll::Ready(Ok(buf.copy_to(dst)));
            }
            let mut buf = self.take_buf();
            let mut len = dst.len().min(self.max_buf);
            if self.full_reads >= SEQUENTIAL_AFTER {
                len = (len * READ_AHEAD_FACTOR).min(self.max_buf).max(len);
            }
            #[cfg(target_os = "linux")]
            if let Some(reactor) = self.ring(&std) {
                self.start_on_ring(&reactor, &std, FileOp::Read { len }, buf);
                continue;
            }
            let std = std.clone();
            self.state = State::Busy(blocking::start(move || {
                let result = buf.read_from(&std, len);
                (Operation::Read(result), buf)
            }));
        }
    }

    pub(super) fn poll_write_inner(
        &mut self,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let std = self.std()?;
        if let Some(Operation::Write(Err(error))) = ready!(self.poll_complete(cx))? {
            return Poll::Ready(Err(error));
        }
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.full_reads = 0;
        let mut buf = self.take_buf();
        let unread = buf.unread();
        let n = src.len().min(self.max_buf);
        #[cfg(target_os = "linux")]
        if let Some(reactor) = self.ring(&std) {
            // Moving the position back over read-ahead is one `lseek`, which never waits.
            if let Err(error) = give_back(&std, unread) {
                self.state = State::Idle(Some(buf));
                return Poll::Ready(Err(error));
            }
            buf.fill_from(&src[..n]);
            self.start_on_ring(&reactor, &std, FileOp::Write { from: 0, to: n }, buf);
            return Poll::Ready(Ok(n));
        }
        buf.fill_from(&src[..n]);
        self.state = State::Busy(blocking::start(move || {
            let result = give_back(&std, unread).and_then(|()| buf.write_to(&std));
            (Operation::Write(result), buf)
        }));
        Poll::Ready(Ok(n))
    }

    pub(super) fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.std()?;
        match ready!(self.poll_complete(cx))? {
            Some(Operation::Write(Err(error))) => Poll::Ready(Err(error)),
            _ => Poll::Ready(Ok(())),
        }
    }

    pub(super) fn poll_seek_inner(
        &mut self,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let std = self.std()?;
        loop {
            match ready!(self.poll_complete(cx))? {
                Some(Operation::Seek(result)) => return Poll::Ready(result),
                Some(Operation::Write(Err(error))) => return Poll::Ready(Err(error)),
                _ => {}
            }
            self.full_reads = 0;
            let mut buf = self.take_buf();
            let unread = buf.unread();
            buf.discard();
            let pos = match pos {
                SeekFrom::Current(offset) => SeekFrom::Current(offset - unread as i64),
                other => other,
            };
            let std = std.clone();
            self.state = State::Busy(blocking::start(move || {
                (Operation::Seek((&*std).seek(pos)), buf)
            }));
        }
    }

    /// Reads into `dst`; `Ok(0)` at end of file.
    pub async fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_inner(cx, dst)).await
    }

    /// Reads to end of file, appending to `out`; returns how many bytes.
    pub async fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let before = out.len();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut chunk).await? {
                0 => return Ok(out.len() - before),
                n => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Writes some of `src` (returns at once; the bytes reach the file on a blocking thread,
    /// and an error comes back from the next operation or [`flush`](Self::flush)).
    pub async fn write(&mut self, src: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write_inner(cx, src)).await
    }

    /// Writes all of `src`.
    pub async fn write_all(&mut self, mut src: &[u8]) -> io::Result<()> {
        while !src.is_empty() {
            let n = self.write(src).await?;
            src = &src[n..];
        }
        Ok(())
    }

    /// Waits until every write so far has reached the OS (not the disk: see
    /// [`sync_all`](Self::sync_all)), reporting a write's error.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Moves the position; returns the new one from the start of the file.
    pub async fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        poll_fn(|cx| self.poll_seek_inner(cx, pos)).await
    }

    /// Flushes, then runs `operation` on the blocking pool with the file (read-ahead given back).
    async fn with_std<R: Send + 'static>(
        &mut self,
        operation: impl FnOnce(&std::fs::File) -> io::Result<R> + Send + 'static,
    ) -> io::Result<R> {
        self.flush().await?;
        let std = self.std()?;
        self.full_reads = 0;
        let unread = self.idle_buf().unread();
        self.idle_buf().discard();
        blocking::asyncify(move || {
            give_back(&std, unread)?;
            operation(&std)
        })
        .await
    }

    /// Flushes and waits until the data and metadata are on the disk (`fsync`).
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.with_std(|file| file.sync_all()).await
    }

    /// Flushes and waits until the data is on the disk (`fdatasync`).
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.with_std(|file| file.sync_data()).await
    }

    /// Truncates or extends the file to `size` bytes (the position does not move).
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.with_std(move |file| file.set_len(size)).await
    }

    /// The file's metadata.
    pub async fn metadata(&mut self) -> io::Result<std::fs::Metadata> {
        self.with_std(|file| file.metadata()).await
    }

    pub(super) fn poll_close_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.std.is_none() {
            return Poll::Ready(Ok(()));
        }
        let result = ready!(self.poll_flush_inner(cx));
        self.std = None;
        self.state = State::Idle(None);
        Poll::Ready(result)
    }

    /// Flushes and closes the file, reporting a pending write's error. Any later use of this
    /// `File` fails with "used after close"; closing twice is harmless.
    pub async fn close(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_close_inner(cx)).await
    }

    /// Waits for the operation in flight and returns the std file (read-ahead given back).
    pub async fn into_std(mut self) -> io::Result<std::fs::File> {
        self.with_std(|_| Ok(())).await?;
        let std = self.std.take().ok_or_else(closed_error)?;
        Arc::try_unwrap(std).or_else(|shared| shared.try_clone())
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("closed", &self.std.is_none())
            .field("busy", &!matches!(self.state, State::Idle(_)))
            .field("on_io_uring", &matches!(self.route, Route::Ring(_)))
            .finish()
    }
}
