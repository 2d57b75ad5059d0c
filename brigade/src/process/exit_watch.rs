//! How a child's exit wakes its waiter: a pidfd on the reactor, or SIGCHLD where there is none.
//!
//! A pidfd (Linux 5.3+) turns readable when its process exits, so the reactor's epoll wakes the
//! waiting task directly: no thread per child, no polling (O3). Where `pidfd_open` is missing
//! (`ENOSYS`: an older kernel; `EPERM`: a sandbox that filters it) or when the environment
//! variable `BRIGADE_PROCESS_NO_PIDFD=1` is set, the watch listens for SIGCHLD instead and
//! re-checks its child (with a non-blocking `waitpid`) on every delivery.
//!
//! # Invariants
//! - The watch exists before the status is checked, so an exit between the check and the wait
//!   still wakes the waiter (the pidfd turns readable; a SIGCHLD delivery is counted).
//! - Only `waitpid` on this one pid reaps; other children are never touched.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::task::{ready, Context, Poll};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::io::scheduled_io::Direction;
use crate::net::poll_evented::PollEvented;
use crate::signal::unix::{signal, Signal, SignalKind};

/// A process file descriptor: readable once the process has exited.
#[derive(Debug)]
pub(super) struct PidFd(OwnedFd);

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Source for PidFd {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

pub(super) enum ExitWatch {
    PidFd(PollEvented<PidFd>),
    SigChld(Signal),
}

fn pidfd_disabled() -> bool {
    static DISABLED: OnceLock<bool> = OnceLock::new();
    *DISABLED.get_or_init(|| {
        std::env::var_os("BRIGADE_PROCESS_NO_PIDFD").is_some_and(|value| value == "1")
    })
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(pid, flags) takes two integers and returns a new descriptor or -1;
    // it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us (close-on-exec, owned by nobody
    // else).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn pidfd_open(_pid: u32) -> io::Result<OwnedFd> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

impl ExitWatch {
    /// A watch on `pid`, which must be our child and not reaped yet.
    pub(super) fn new(pid: u32) -> io::Result<ExitWatch> {
        if !pidfd_disabled() {
            match pidfd_open(pid) {
                Ok(fd) => {
                    return Ok(ExitWatch::PidFd(PollEvented::with_interest(
                        PidFd(fd),
                        Interest::READABLE,
                    )?))
                }
                Err(error)
                    if matches!(error.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(ExitWatch::SigChld(signal(SignalKind::child())?))
    }

    pub(super) fn is_pidfd(&self) -> bool {
        matches!(self, ExitWatch::PidFd(_))
    }

    /// Ready with the exit status once `child` has exited (and is reaped).
    pub(super) fn poll_exit(
        &mut self,
        cx: &mut Context<'_>,
        child: &mut std::process::Child,
    ) -> Poll<io::Result<ExitStatus>> {
        loop {
            if let Some(status) = child.try_wait()? {
                return Poll::Ready(Ok(status));
            }
            match self {
                ExitWatch::PidFd(io) => {
                    ready!(io.poll_ready(cx, Direction::Read))?;
                    // Readable means exited; reap under that readiness (cleared if, oddly,
                    // the child is still there).
                    match io.try_io(Direction::Read, |_| match child.try_wait() {
                        Ok(Some(status)) => Ok(status),
                        Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
                        Err(error) => Err(error),
                    }) {
                        Ok(status) => return Poll::Ready(Ok(status)),
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                        Err(error) => return Poll::Ready(Err(error)),
                    }
                }
                ExitWatch::SigChld(sigchld) => {
                    if ready!(sigchld.poll_recv(cx)).is_none() {
                        return Poll::Ready(Err(io::Error::other(
                            "brigade::process: the runtime watching this child shut down",
                        )));
                    }
                }
            }
        }
    }
}
