//! The reactor: readiness-based I/O (seed section 13: calling a web API, a database, a
//! high-throughput server — the thread is released back to the pool during the network wait).
//!
//! - `driver` is the reactor a runtime owns, polled by whichever worker holds the driving role
//!   (it waits in the kernel, its timeout the next timer deadline), on one of two backends:
//!   - `epoll`, through mio: `epoll_wait`, edge-triggered registrations;
//!   - `uring`, io_uring: one multishot poll per resource, the wait in `io_uring_enter`;
//! - `scheduled_io` is one resource's readiness word and waiting tasks, the same for both;
//! - `uring_op` is a one-shot operation that owns its buffer until the kernel is done with it:
//!   a file's read or write, when the reactor is io_uring (`brigade::fs` uses the blocking
//!   pool on epoll).
//!
//! This is a driver, a layer below the pool: it knows nothing of runtimes. The sockets, and
//! `PollEvented` (a mio source registered with the current runtime's reactor, with the wait /
//! try / clear loop every socket call runs), are the public face in [`crate::net`].

pub(crate) mod driver;
mod epoll;
pub(crate) mod scheduled_io;
#[cfg(target_os = "linux")]
mod uring;
#[cfg(target_os = "linux")]
pub(crate) mod uring_op;

use std::fmt;

/// Which kernel interface a runtime's reactor waits on: [`Builder::io_driver`].
///
/// Sockets behave the same on both (every net test runs on each); what differs is the cost
/// per event. `BRIGADE_IO_DRIVER=epoll|uring|auto` in the environment picks one for runtimes
/// whose builder did not (the default runtime included); without either, a runtime uses
/// epoll. [`RuntimeMetrics::io_driver`] says which one a runtime got.
///
/// [`Builder::io_driver`]: crate::Builder::io_driver
/// [`RuntimeMetrics::io_driver`]: crate::runtime::RuntimeMetrics::io_driver
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoDriver {
    /// epoll (through mio): works everywhere Linux does, and in containers that forbid
    /// io_uring.
    Epoll,
    /// io_uring (Linux 5.17 or later, and not disabled by `io_uring_disabled` or seccomp).
    /// Building a runtime fails with an error saying why if the kernel refuses it.
    Uring,
    /// io_uring where the kernel allows it, epoll otherwise.
    Auto,
}

/// The environment variable that picks the reactor when the builder did not.
pub const IO_DRIVER_ENV: &str = "BRIGADE_IO_DRIVER";

impl IoDriver {
    /// What `BRIGADE_IO_DRIVER` asks for, if it is set: an error names a value it does not
    /// know.
    pub(crate) fn from_env() -> Result<Option<IoDriver>, String> {
        let Some(value) = std::env::var_os(IO_DRIVER_ENV) else {
            return Ok(None);
        };
        match value.to_str().map(str::trim) {
            Some("epoll") => Ok(Some(IoDriver::Epoll)),
            Some("uring" | "io_uring") => Ok(Some(IoDriver::Uring)),
            Some("auto") => Ok(Some(IoDriver::Auto)),
            _ => Err(format!(
                "{IO_DRIVER_ENV}={value:?} is not a reactor brigade knows: use epoll, uring or \
                 auto"
            )),
        }
    }
}

impl fmt::Display for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoDriver::Epoll => "epoll",
            IoDriver::Uring => "io_uring",
            IoDriver::Auto => "auto",
        })
    }
}
