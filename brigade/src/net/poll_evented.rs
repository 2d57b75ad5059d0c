//! `PollEvented`: a mio source registered with the current runtime's reactor, and the loop every
//! socket operation runs — wait until ready, try the non-blocking call, and on `WouldBlock`
//! clear the readiness and wait again.
//!
//! This is the seed's "the thread is released back to the pool during the network wait"
//! (section 13A): a read that would block returns `Pending`, the task's worker goes on with
//! other tasks, and the reactor wakes the task when epoll reports the socket readable.
//! Nothing is allocated per operation: the waker is stored in the resource's `ScheduledIo`.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::task::{Context, Poll};

use mio::event::Source;
use mio::Interest;

use crate::io::driver::{shut_down_error, Reactor, Registered};
use crate::io::scheduled_io::Direction;
use crate::task::{record_wait, WaitKind};

/// Records the task's wait on this socket (the task dump turns the descriptor into addresses).
#[inline]
fn record_socket_wait(fd: i32, direction: Direction) {
    let kind = match direction {
        Direction::Read => WaitKind::Readable,
        Direction::Write => WaitKind::Writable,
    };
    record_wait(kind, None, fd as u64, 0);
}

/// A registered mio source. Deregisters (and closes the source) when dropped.
pub(crate) struct PollEvented<E: Source> {
    io: Option<E>,
    registered: Registered,
    driver: Arc<Reactor>,
    /// The descriptor, for the task dump's "read on 127.0.0.1:5432".
    fd: i32,
}

impl<E: Source> PollEvented<E> {
    /// Registers `io` with the current runtime's reactor (or the default runtime's).
    pub(crate) fn new(io: E) -> io::Result<Self>
    where
        E: AsRawFd,
    {
        Self::with_interest(io, Interest::READABLE | Interest::WRITABLE)
    }

    pub(crate) fn with_interest(mut io: E, interest: Interest) -> io::Result<Self>
    where
        E: AsRawFd,
    {
        let driver = crate::runtime::current_io();
        let registered = driver.register(&mut io, interest)?;
        Ok(PollEvented {
            fd: io.as_raw_fd(),
            io: Some(io),
            registered,
            driver,
        })
    }

    /// Stops a listening socket from taking connections, now (`shutdown(SHUT_RD)`), ahead of its
    /// close. For listeners' `Drop`: on the io_uring reactor the socket's poll holds the socket
    /// open until the poll's cancellation is finished by the thread that armed it (the kernel's
    /// task work), so after a plain close the kernel could still complete connections to a
    /// listener the program has dropped.
    pub(crate) fn stop_listening(&self) {
        // SAFETY: `fd` is this source's descriptor, open until `self` drops. An error (not a
        // listening socket any more) leaves nothing to undo.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RD) };
    }

    /// The mio source.
    pub(crate) fn get_ref(&self) -> &E {
        self.io.as_ref().expect("the source is present until drop")
    }

    /// Runs `op` once the resource is ready in `direction`, until it stops saying `WouldBlock`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        op: impl FnMut(&E) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_until_drained(cx, direction, op, |_| false)
    }

    /// [`poll_io`](Self::poll_io), also clearing the readiness when `drained` says the result
    /// shows the kernel buffer ran dry (a short read or write): the next call then waits for
    /// the reactor instead of spending a syscall to learn `WouldBlock`.
    pub(crate) fn poll_io_until_drained<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut(&E) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let scheduled = &self.registered.scheduled;
        // A socket that is always ready must not keep its task on the worker forever (Y9).
        let spend = std::task::ready!(crate::coop::poll_proceed(cx));
        loop {
            let event = match scheduled.poll_ready(direction, cx) {
                Poll::Ready(event) => event,
                Poll::Pending => {
                    record_socket_wait(self.fd, direction);
                    return Poll::Pending;
                }
            };
            if event.is_shutdown() {
                return Poll::Ready(Err(shut_down_error()));
            }
            match op(self.get_ref()) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    scheduled.clear_readiness(event);
                }
                Ok(value) => {
                    if drained(&value) {
                        scheduled.clear_readiness(event);
                    }
                    spend.made_progress();
                    return Poll::Ready(Ok(value));
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    /// One attempt at `op`, without waiting: `WouldBlock` if the resource is not known to be
    /// ready, or if the attempt says so (then the readiness is cleared, so a later
    /// `readable()` / `writable()` really waits for the reactor).
    pub(crate) fn try_io<R>(
        &self,
        direction: Direction,
        op: impl FnOnce(&E) -> io::Result<R>,
    ) -> io::Result<R> {
        let scheduled = &self.registered.scheduled;
        let Some(event) = scheduled.ready_in(direction) else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        if event.is_shutdown() {
            return Err(shut_down_error());
        }
        let result = op(self.get_ref());
        if matches!(&result, Err(error) if error.kind() == io::ErrorKind::WouldBlock) {
            scheduled.clear_readiness(event);
        }
        result
    }

    /// Waits until the resource is ready in `direction` (without performing anything).
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
    ) -> Poll<io::Result<()>> {
        match self.registered.scheduled.poll_ready(direction, cx) {
            Poll::Ready(event) if event.is_shutdown() => Poll::Ready(Err(shut_down_error())),
            Poll::Ready(_) => Poll::Ready(Ok(())),
            Poll::Pending => {
                record_socket_wait(self.fd, direction);
                Poll::Pending
            }
        }
    }
}

impl<E: Source> Drop for PollEvented<E> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            self.driver.deregister(&mut io, &self.registered);
            // `io` is closed here, after it left epoll.
        }
    }
}

impl<E: Source + std::fmt::Debug> std::fmt::Debug for PollEvented<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get_ref().fmt(f)
    }
}
