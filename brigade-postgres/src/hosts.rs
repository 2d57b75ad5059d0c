//! Where to connect: the `host`, `hostaddr` and `port` lists of a [`Config`] turned into the
//! places to try, in the order to try them — libpq's multi-host rules, as tokio-postgres's own
//! `connect` applies them.
//!
//! - `host` and `hostaddr` are lists; when both are given they must have the same length, and
//!   entry *i* of each describes the same server: the connection goes to the IP address of
//!   `hostaddr`, and `host` only names it (in errors; TLS would verify it). A host that is a
//!   directory path means the server's Unix socket in that directory.
//! - `port` is one port for every host, or one per host; no port means 5432.
//! - `load_balance_hosts=random` tries the hosts, and the addresses a name resolves to, in a
//!   random order; otherwise in the order given.
//!
//! # Invariants
//! - A configuration with mismatched list lengths is refused before any socket is opened.
//! - Every place tried has a label (`name:port`, `ip:port`, a socket path) that names it in
//!   errors; a name is also shown with the address it resolved to.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::config::{Host, LoadBalanceHosts};
use tokio_postgres::Config;

use crate::socket::Endpoint;
use crate::Error;

/// PostgreSQL's well-known port, used when the configuration names none.
pub(crate) const DEFAULT_PORT: u16 = 5432;

/// One configured server, not yet resolved.
pub(crate) enum Target {
    /// Over TCP: `dial` is what to resolve (the `hostaddr` IP, else the `host` name), `name`
    /// the `host` it stands for, if any.
    Tcp {
        name: Option<String>,
        dial: String,
        port: u16,
    },
    /// The server's Unix socket file (`<dir>/.s.PGSQL.<port>`, libpq's convention).
    Unix(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { name, dial, port } => match name {
                Some(name) if name != dial => write!(f, "{name}:{port} (hostaddr {dial})"),
                _ => write!(f, "{dial}:{port}"),
            },
            Target::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Target {
    /// The endpoints of this target: its socket path, or every address its name resolves to
    /// (shuffled when `random`). A name is looked up on brigade's blocking pool, never on a
    /// worker.
    pub(crate) async fn resolve(&self, random: bool) -> io::Result<Vec<Endpoint>> {
        let (dial, port) = match self {
            Target::Unix(path) => return Ok(vec![Endpoint::Unix(path.clone())]),
            Target::Tcp { dial, port, .. } => (dial, *port),
        };
        let mut addrs = match dial.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let name = dial.clone();
                brigade::run(move || std::net::ToSocketAddrs::to_socket_addrs(&(name, port)))
                    .await?
                    .collect()
            }
        };
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the host name {dial} resolved to no address"),
            ));
        }
        if random {
            shuffle(&mut addrs);
        }
        Ok(addrs.into_iter().map(Endpoint::Tcp).collect())
    }

    /// The name a TLS certificate must carry for this target: the `host` (a name or an IP),
    /// else the `hostaddr`; `localhost` for a Unix socket (where PostgreSQL offers no TLS).
    pub(crate) fn tls_name(&self) -> String {
        match self {
            Target::Tcp { name, dial, .. } => name.clone().unwrap_or_else(|| dial.clone()),
            Target::Unix(_) => "localhost".to_owned(),
        }
    }

    /// The label of one endpoint of this target, for errors: a resolved name shows both.
    pub(crate) fn label_for(&self, endpoint: &Endpoint) -> String {
        match (self, endpoint) {
            (Target::Tcp { dial, .. }, Endpoint::Tcp(addr)) if dial.parse::<IpAddr>().is_err() => {
                format!("{self} at {addr}")
            }
            _ => self.to_string(),
        }
    }
}

/// The configured servers in the order to try them. Refuses mismatched `host`/`hostaddr`/
/// `port` lists and a configuration with no server at all.
pub(crate) fn plan(config: &Config) -> Result<Vec<Target>, Error> {
    let mut targets = targets(config)?;
    if is_random(config)? {
        shuffle(&mut targets);
    }
    Ok(targets)
}

/// Whether `load_balance_hosts=random` is asked for.
pub(crate) fn is_random(config: &Config) -> Result<bool, Error> {
    match config.get_load_balance_hosts() {
        LoadBalanceHosts::Disable => Ok(false),
        LoadBalanceHosts::Random => Ok(true),
        other => Err(Error::Config(format!(
            "load_balance_hosts={other:?} is not supported by brigade-postgres; use disable or \
             random"
        ))),
    }
}

/// The configured servers, labelled, in configuration order — for error messages.
pub(crate) fn describe(config: &Config) -> Vec<String> {
    targets(config)
        .map(|targets| targets.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

fn targets(config: &Config) -> Result<Vec<Target>, Error> {
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let ports = config.get_ports();
    if hosts.is_empty() && addrs.is_empty() {
        return Err(Error::Config(
            "no host: set Config::host to a name, an IP address, or the directory of the \
             server's Unix socket (such as /var/run/postgresql), or Config::hostaddr to an IP \
             address"
                .into(),
        ));
    }
    if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
        return Err(Error::Config(format!(
            "{} hosts but {} hostaddrs: give one hostaddr per host (entry i of each names the \
             same server), or only one of the two lists",
            hosts.len(),
            addrs.len()
        )));
    }
    let count = hosts.len().max(addrs.len());
    if ports.len() > 1 && ports.len() != count {
        return Err(Error::Config(format!(
            "{} ports for {count} hosts: give one port for all hosts, or one per host",
            ports.len()
        )));
    }
    let port_of = |index: usize| match ports {
        [] => DEFAULT_PORT,
        [port] => *port,
        ports => ports[index],
    };
    let targets = (0..count).map(|index| {
        let port = port_of(index);
        let name = match hosts.get(index) {
            Some(Host::Tcp(name)) => Some(name.clone()),
            Some(Host::Unix(dir)) if addrs.get(index).is_none() => {
                return Target::Unix(dir.join(format!(".s.PGSQL.{port}")));
            }
            // A socket directory with a hostaddr: the address wins, as in libpq.
            Some(Host::Unix(_)) | None => None,
        };
        let dial = match addrs.get(index) {
            Some(addr) => addr.to_string(),
            None => name
                .clone()
                .expect("a host for every index without a hostaddr"),
        };
        Target::Tcp { name, dial, port }
    });
    Ok(targets.collect())
}

/// Fisher–Yates with std's randomly keyed hasher as the source: load balancing needs an even
/// spread, not cryptographic randomness, and this needs no extra dependency.
fn shuffle<T>(items: &mut [T]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = RandomState::new();
    for i in (1..items.len()).rev() {
        let draw = random.hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
        let j = (draw % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
