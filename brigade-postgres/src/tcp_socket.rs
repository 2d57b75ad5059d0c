//! TCP sockets opened the way libpq opens them: with the keepalive and user-timeout options of
//! the connection string set on the socket before it connects.
//!
//! brigade's `TcpStream::connect` opens a plain socket and exposes no file descriptor, so this
//! module makes the socket itself (`socket(2)`, `setsockopt(2)`, a non-blocking `connect(2)`),
//! hands it to brigade with `TcpStream::from_std`, and waits on brigade's reactor for the
//! connect to finish — no thread blocks, and the runtime's core is not asked for anything new.
//!
//! # Invariants
//! - Options are set before `connect(2)`, so they hold from the first byte (a keepalive timer
//!   covers the startup too) and a refused option fails the attempt instead of passing silently.
//! - The descriptor is owned (`OwnedFd`, then std's and brigade's stream): closed exactly once
//!   on every path, also when the attempt is dropped half-way (a connect timeout).

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use brigade::net::TcpStream;
use tokio_postgres::Config;

/// The socket options of one connection, from the `keepalives*` and `tcp_user_timeout`
/// parameters of a [`Config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TcpOptions {
    /// `None`: `keepalives=0`, no `SO_KEEPALIVE`.
    pub(crate) keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT`; `None` or zero leaves the system default.
    pub(crate) user_timeout: Option<Duration>,
}

/// TCP keepalive probing: first probe after `idle` without traffic, then every `interval`, and
/// the connection is dropped after `retries` unanswered probes (`None`: the system default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keepalive {
    pub(crate) idle: Duration,
    pub(crate) interval: Option<Duration>,
    pub(crate) retries: Option<u32>,
}

impl TcpOptions {
    /// The options `config` asks for. tokio-postgres's defaults: keepalives on, first probe
    /// after 2 hours idle, the system's interval and count, no user timeout.
    pub(crate) fn from_config(config: &Config) -> TcpOptions {
        TcpOptions {
            keepalive: config.get_keepalives().then(|| Keepalive {
                idle: config.get_keepalives_idle(),
                interval: config.get_keepalives_interval(),
                retries: config.get_keepalives_retries(),
            }),
            user_timeout: config.get_tcp_user_timeout().copied(),
        }
    }

    /// Sets the options on a socket that has not connected yet.
    fn apply(&self, fd: RawFd) -> io::Result<()> {
        // Small request/response messages: Nagle would hold each back for an ACK.
        set_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
        if let Some(keepalive) = &self.keepalive {
            set_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
            set_option(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_KEEPIDLE,
                seconds(keepalive.idle),
            )?;
            if let Some(interval) = keepalive.interval {
                set_option(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_KEEPINTVL,
                    seconds(interval),
                )?;
            }
            if let Some(retries) = keepalive.retries {
                let retries = i32::try_from(retries).unwrap_or(i32::MAX);
                set_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, retries)?;
            }
        }
        if let Some(timeout) = self.user_timeout.filter(|timeout| !timeout.is_zero()) {
            let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
            set_option(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, millis)?;
        }
        Ok(())
    }
}

/// Whole seconds for a keepalive option: the kernel counts in seconds and refuses 0, so a
/// shorter duration becomes 1 s (libpq and socket2 round down the same way).
fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX).max(1)
}

fn set_option(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `fd` is an open socket we own; the value is a live `c_int` and its size is given.
    let result = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens a TCP connection to `addr` with `options` set, on brigade's reactor.
pub(crate) async fn connect(addr: SocketAddr, options: &TcpOptions) -> io::Result<TcpStream> {
    let socket = new_socket(addr)?;
    options.apply(socket.as_raw_fd())?;
    start_connect(socket.as_raw_fd(), addr)?;
    let raw = socket.as_raw_fd();
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    wait_connected(&stream, raw).await?;
    Ok(stream)
}

fn new_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain system call with constant arguments; the result is checked below.
    let fd = unsafe { libc::socket(domain, kind, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Starts a non-blocking connect: `Ok` when it finished at once or is in progress.
fn start_connect(fd: RawFd, addr: SocketAddr) -> io::Result<()> {
    let result = match addr {
        SocketAddr::V4(addr) => {
            // SAFETY: all-zero is a valid `sockaddr_in`; the fields we need are set next.
            let mut raw: libc::sockaddr_in = unsafe { mem::zeroed() };
            raw.sin_family = libc::AF_INET as libc::sa_family_t;
            raw.sin_port = addr.port().to_be();
            raw.sin_addr.s_addr = u32::from_ne_bytes(addr.ip().octets());
            // SAFETY: `raw` is a live `sockaddr_in` and its exact size is passed.
            unsafe {
                libc::connect(
                    fd,
                    (&raw as *const libc::sockaddr_in).cast(),
                    mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(addr) => {
            // SAFETY: all-zero is a valid `sockaddr_in6`; the fields we need are set next.
            let mut raw: libc::sockaddr_in6 = unsafe { mem::zeroed() };
            raw.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            raw.sin6_port = addr.port().to_be();
            raw.sin6_flowinfo = addr.flowinfo();
            raw.sin6_addr.s6_addr = addr.ip().octets();
            raw.sin6_scope_id = addr.scope_id();
            // SAFETY: `raw` is a live `sockaddr_in6` and its exact size is passed.
            unsafe {
                libc::connect(
                    fd,
                    (&raw as *const libc::sockaddr_in6).cast(),
                    mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if result == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok(())
    } else {
        Err(error)
    }
}

/// Waits for a non-blocking connect to finish: the socket turns writable, then `SO_ERROR`
/// says whether it connected.
async fn wait_connected(stream: &TcpStream, fd: RawFd) -> io::Result<()> {
    loop {
        stream.writable().await?;
        if let Some(error) = pending_error(fd)? {
            return Err(error);
        }
        match stream.peer_addr() {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotConnected => {
                // A wake-up before the handshake finished. A zero-length write on a socket
                // still connecting fails with `WouldBlock`, which clears brigade's readiness,
                // so the next `writable` waits for the reactor; the short sleep keeps even an
                // unexpected kernel answer from turning this into a busy loop.
                let _ = stream.try_write(&[]);
                brigade::time::sleep(Duration::from_millis(1)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// `SO_ERROR`: the error a non-blocking connect ended with, if any.
fn pending_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut value: i32 = 0;
    let mut len = mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket (owned by `stream` for the whole wait); `value` and `len`
    // are live and sized for the `c_int` the kernel writes.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut value as *mut i32).cast(),
            &mut len,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((value != 0).then(|| io::Error::from_raw_os_error(value)))
}
