//! What the task dump says a task waits on: the raw wait slot (`task::wait`) turned into
//! words — "sleep 5 s, 3.2 s left, at src/orders.rs:41", "read on 127.0.0.1:5432",
//! "join task 17 \"fetch\"" — with socket descriptors resolved to addresses and joined tasks
//! to their names, at dump time (never on the hot path).
//!
//! # Invariants
//! - Everything here runs when a dump is taken, on the thread taking it; nothing is cached.
//! - A socket's addresses are read from its descriptor with `getsockname`/`getpeername`. The
//!   descriptor may have been closed (or even reused) since the task recorded it: the dump then
//!   shows whatever that number names now, or just the number. Diagnostics, not truth.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::task::{GroupId, TaskId, WaitKind, WaitSite, WAIT_DETAIL_MAX};

/// What a task is waiting on, as far as brigade's own futures know (see [`TaskDump::wait`]).
///
/// [`TaskDump::wait`]: super::TaskDump::wait
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOn {
    /// What kind of thing.
    pub kind: WaitKind,
    /// Where the waiting future was created (`#[track_caller]`), when brigade knows it:
    /// sleeps, timeouts, intervals, promises, channel sends and receives, locks, semaphores and
    /// notifications do; sockets and joins do not (the socket's address or the joined task
    /// says more).
    pub location: Option<&'static Location<'static>>,
    /// Kind-specific facts.
    pub detail: WaitDetail,
    /// Other brigade futures that went pending in the same poll (a `select`'s other branches,
    /// a timeout's timer): the first one is shown, these are counted.
    pub others: u8,
}

/// The kind-specific part of a [`WaitOn`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitDetail {
    /// Nothing more to say.
    None,
    /// A timer: the duration asked for (none for `sleep_until` / `timeout_at`), and how long
    /// is left when the dump was taken.
    Timer {
        /// The requested duration.
        duration: Option<Duration>,
        /// Time left until the deadline (zero if it passed and the task was not yet polled).
        remaining: Duration,
    },
    /// A socket, by descriptor, with its addresses if they could be read.
    Socket {
        /// The file descriptor.
        fd: i32,
        /// The local address (`getsockname`).
        local: Option<String>,
        /// The peer's address (`getpeername`), for connected sockets.
        peer: Option<String>,
    },
    /// Another task.
    Task {
        /// Its id.
        id: TaskId,
        /// Its name, if it has one and is still alive.
        name: Option<String>,
    },
    /// The children of a task group.
    Group {
        /// The group.
        group: GroupId,
        /// Children not yet joined.
        children: u64,
    },
    /// Permits of a semaphore or lock.
    Permits(u64),
    /// A Unix signal, by number.
    Signal(i32),
    /// A child process, by pid.
    Child(u32),
}

impl WaitOn {
    pub(crate) fn from_site(site: WaitSite, now_ms: u64) -> WaitOn {
        let detail = match site.kind {
            WaitKind::Sleep | WaitKind::Timeout | WaitKind::Interval => WaitDetail::Timer {
                duration: (site.a != WAIT_DETAIL_MAX).then(|| Duration::from_millis(site.a)),
                remaining: Duration::from_millis(site.b.saturating_sub(now_ms)),
            },
            WaitKind::Readable | WaitKind::Writable => {
                let fd = site.a as i32;
                WaitDetail::Socket {
                    fd,
                    local: socket_name(fd, libc::getsockname),
                    peer: socket_name(fd, libc::getpeername),
                }
            }
            WaitKind::Join => match TaskId::from_raw(site.a) {
                Some(id) => WaitDetail::Task { id, name: None },
                None => WaitDetail::None,
            },
            WaitKind::Group => match GroupId::from_raw(site.a) {
                Some(group) => WaitDetail::Group {
                    group,
                    children: site.b,
                },
                None => WaitDetail::None,
            },
            WaitKind::Semaphore => WaitDetail::Permits(site.a),
            WaitKind::Signal => WaitDetail::Signal(site.a as i32),
            WaitKind::ChildExit => WaitDetail::Child(site.a as u32),
            _ => WaitDetail::None,
        };
        WaitOn {
            kind: site.kind,
            location: site.location,
            detail,
            others: site.others,
        }
    }

    /// The task this wait is on, when it is a join: the next link of a wait chain.
    pub fn joined_task(&self) -> Option<TaskId> {
        match self.detail {
            WaitDetail::Task { id, .. } => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for WaitOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            WaitDetail::Timer {
                duration,
                remaining,
            } => {
                f.write_str(self.kind.as_str())?;
                if let Some(duration) = duration {
                    write!(f, " {}", Short(*duration))?;
                }
                write!(f, ", {} left", Short(*remaining))?;
            }
            WaitDetail::Socket { fd, local, peer } => {
                let kind = match (self.kind, peer) {
                    (WaitKind::Readable, None) if is_listening(*fd) => "accept",
                    (WaitKind::Readable, None) => "recv",
                    _ => self.kind.as_str(),
                };
                match (peer, local) {
                    (Some(peer), _) => write!(f, "{kind} on {peer} (fd {fd})")?,
                    (None, Some(local)) => write!(f, "{kind} on {local} (fd {fd})")?,
                    (None, None) => write!(f, "{kind} on fd {fd}")?,
                }
            }
            WaitDetail::Task { id, name } => match name {
                Some(name) => write!(f, "join task {id} {name:?}")?,
                None => write!(f, "join task {id}")?,
            },
            WaitDetail::Group { group, children } => {
                write!(f, "group join g{group} ({children} running)")?
            }
            WaitDetail::Permits(n) if *n > 1 => write!(f, "{} ({n} permits)", self.kind)?,
            WaitDetail::Signal(number) => write!(f, "signal {}", signal_name(*number))?,
            WaitDetail::Child(pid) => write!(f, "child exit, pid {pid}")?,
            _ => f.write_str(self.kind.as_str())?,
        }
        if let Some(location) = self.location {
            write!(f, ", at {}:{}", location.file(), location.line())?;
        }
        if self.others > 0 {
            write!(f, " (+{} more)", self.others)?;
        }
        Ok(())
    }
}

/// A signal's usual name (`SIGTERM`), or its number.
fn signal_name(number: i32) -> String {
    let name = match number {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        _ => return format!("#{number}"),
    };
    name.to_string()
}

/// A duration the way people say it: `250 ms`, `3.2 s`, `5 s`, `12 min`, `1 min 59 s`, `2.5 h`.
struct Short(Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            write!(f, "{ms} ms")
        } else if ms < 60_000 {
            let tenths = ms / 100;
            if tenths % 10 == 0 {
                write!(f, "{} s", tenths / 10)
            } else {
                write!(f, "{}.{} s", tenths / 10, tenths % 10)
            }
        } else if ms < 3_600_000 {
            let (min, s) = (ms / 60_000, ms / 1000 % 60);
            if s == 0 {
                write!(f, "{min} min")
            } else {
                write!(f, "{min} min {s} s")
            }
        } else {
            write!(f, "{:.1} h", ms as f64 / 3_600_000.0)
        }
    }
}

/// Whether `fd` is a listening socket (`SO_ACCEPTCONN`).
fn is_listening(fd: i32) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the pointers are to an int and its length, which we own; a bad descriptor only
    // makes the call fail.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && value != 0
}

type NameFn =
    unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

/// `getsockname`/`getpeername` of `fd`, formatted (`127.0.0.1:5432`, `[::1]:80`, a Unix path).
fn socket_name(fd: i32, name: NameFn) -> Option<String> {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the pointers are to a buffer of `len` bytes we own; on a bad descriptor the call
    // fails with EBADF/ENOTSOCK and writes nothing.
    let rc = unsafe {
        name(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the buffer holds a sockaddr_in.
            let sin: &libc::sockaddr_in = unsafe { &*(&storage as *const _ as *const _) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(format!("{ip}:{}", u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the buffer holds a sockaddr_in6.
            let sin6: &libc::sockaddr_in6 = unsafe { &*(&storage as *const _ as *const _) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(format!("[{ip}]:{}", u16::from_be(sin6.sin6_port)))
        }
        libc::AF_UNIX => {
            // SAFETY: the family says the buffer holds a sockaddr_un.
            let sun: &libc::sockaddr_un = unsafe { &*(&storage as *const _ as *const _) };
            let path: Vec<u8> = sun
                .sun_path
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            if path.is_empty() {
                None
            } else {
                Some(String::from_utf8_lossy(&path).into_owned())
            }
        }
        _ => None,
    }
}
