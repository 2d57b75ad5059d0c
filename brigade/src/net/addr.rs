//! Addresses: what `bind` and `connect` accept — whatever std's `ToSocketAddrs` takes — and name
//! resolution that never blocks a worker.
//!
//! A literal address (`"127.0.0.1:8080"`, a `SocketAddr`, `(ip, port)`) is parsed on the spot.
//! A host name (`"localhost:8080"`) needs `getaddrinfo`, which blocks: it runs through
//! [`crate::run`], brigade's `Task.Run`, and the caller awaits it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

mod sealed {
    pub trait Sealed {}
}

/// Anything brigade's sockets can be bound or connected to: the same inputs as
/// [`std::net::ToSocketAddrs`], resolved without blocking the worker.
///
/// This trait is sealed; it is implemented for `SocketAddr`, `SocketAddrV4`, `SocketAddrV6`,
/// `(IpAddr | Ipv4Addr | Ipv6Addr, u16)`, `(&str | String, u16)`, `&str`, `String`, `&String`,
/// `&SocketAddr` and `&[SocketAddr]`.
pub trait ToSocketAddrs: sealed::Sealed {
    #[doc(hidden)]
    fn into_resolution(self) -> Resolution;
}

/// What an address turned into: ready at once, or a name to look up.
#[doc(hidden)]
pub enum Resolution {
    Ready(Vec<SocketAddr>),
    Lookup(String),
}

/// Resolves `addr` to one or more socket addresses.
pub(crate) async fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.into_resolution() {
        Resolution::Ready(addrs) => addrs,
        Resolution::Lookup(name) => {
            crate::run(move || std::net::ToSocketAddrs::to_socket_addrs(&name))
                .await?
                .collect()
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "brigade::net: the address resolved to no socket addresses",
        ));
    }
    Ok(addrs)
}

/// Tries `attempt` on each address in turn: the first success, or the last error (std's
/// rule for `bind` and `connect` with several addresses).
pub(crate) fn first_that_works<T>(
    addrs: Vec<SocketAddr>,
    mut attempt: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_error = None;
    for addr in addrs {
        match attempt(addr) {
            Ok(value) => return Ok(value),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.expect("resolve returns at least one address"))
}

macro_rules! ready_addr {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl ToSocketAddrs for $ty {
            fn into_resolution(self) -> Resolution {
                Resolution::Ready(vec![SocketAddr::from(self)])
            }
        }
    )*};
}

ready_addr!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

fn host_port(host: &str, port: u16) -> Resolution {
    match host.parse::<IpAddr>() {
        Ok(ip) => Resolution::Ready(vec![SocketAddr::new(ip, port)]),
        Err(_) => Resolution::Lookup(format!("{host}:{port}")),
    }
}

fn host_and_port(text: &str) -> Resolution {
    match text.parse::<SocketAddr>() {
        Ok(addr) => Resolution::Ready(vec![addr]),
        Err(_) => Resolution::Lookup(text.to_owned()),
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn into_resolution(self) -> Resolution {
        host_port(self.0, self.1)
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn into_resolution(self) -> Resolution {
        host_port(&self.0, self.1)
    }
}

impl sealed::Sealed for &str {}
impl ToSocketAddrs for &str {
    fn into_resolution(self) -> Resolution {
        host_and_port(self)
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn into_resolution(self) -> Resolution {
        host_and_port(&self)
    }
}

impl sealed::Sealed for &String {}
impl ToSocketAddrs for &String {
    fn into_resolution(self) -> Resolution {
        host_and_port(self)
    }
}

impl sealed::Sealed for &[SocketAddr] {}
impl ToSocketAddrs for &[SocketAddr] {
    fn into_resolution(self) -> Resolution {
        Resolution::Ready(self.to_vec())
    }
}

impl sealed::Sealed for &SocketAddr {}
impl ToSocketAddrs for &SocketAddr {
    fn into_resolution(self) -> Resolution {
        Resolution::Ready(vec![*self])
    }
}
