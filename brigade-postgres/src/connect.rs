//! `connect`: opening one connection the way tokio-postgres's own `connect` (and libpq) does —
//! every server of the configuration tried in turn, each attempt bounded, the session checked
//! against `target_session_attrs` — over brigade sockets.
//!
//! One attempt, at one address:
//!
//! ```text
//!   socket (TCP with keepalive/user-timeout options, or Unix) ──▶ startup + authentication
//!     ──▶ connection task spawned ──▶ SHOW transaction_read_only (if target_session_attrs asks)
//!     ──▶ Client
//! ```
//!
//! The whole attempt runs under `connect_timeout` (libpq's meaning: the limit for each host
//! address, covering the handshake as well as the TCP connect — a server that accepts and never
//! answers is given up on too). Any failure moves on to the next address, then the next host.
//!
//! # Invariants
//! - A settings combination that can never work (`sslmode=require` without a [`PgTls`],
//!   `channel_binding=require`) is refused before any socket is opened, with a message saying
//!   so.
//! - A connection that fails the session check is closed (its client is dropped, which ends its
//!   connection task) before the next address is tried.
//! - When every attempt failed, the error names every place tried and why each failed.

use std::io;
use std::time::Duration;

use tokio_postgres::config::{ChannelBinding, SslMode, TargetSessionAttrs};
use tokio_postgres::{Config, NoTls, SimpleQueryMessage};

use crate::client::Client;
use crate::hosts;
use crate::socket::{Endpoint, Socket};
use crate::statement_cache::DEFAULT_STATEMENT_CACHE_CAPACITY;
use crate::tcp_socket::{self, TcpOptions};
use crate::tls::PgTls;
use crate::Error;

/// Opens a connection to PostgreSQL over a brigade socket: TCP for a host name or IP address,
/// a Unix domain socket for a host that is a directory path.
///
/// Every connection parameter of tokio-postgres's [`Config`] is honoured, with
/// tokio-postgres's defaults:
///
/// | parameter | meaning here | default |
/// |---|---|---|
/// | `host` | list; a name, an IP, or a Unix socket directory | — (required, or `hostaddr`) |
/// | `hostaddr` | list, one IP per `host`: connect there, `host` only names it | none |
/// | `port` | one for all hosts, or one per host | 5432 |
/// | `load_balance_hosts` | `random`: try hosts (and each name's addresses) in random order | `disable`: in order |
/// | `connect_timeout` | limit for each address tried: TCP connect + startup + authentication + session check | none (the OS's TCP connect timeout, then no limit) |
/// | `target_session_attrs` | `read-write`: skip servers where `transaction_read_only` is on; `read-only`: the reverse | `any` |
/// | `keepalives` | `SO_KEEPALIVE` on TCP sockets | on |
/// | `keepalives_idle` / `_interval` / `_retries` | `TCP_KEEPIDLE` / `TCP_KEEPINTVL` / `TCP_KEEPCNT` (seconds, at least 1) | 2 h / system / system |
/// | `tcp_user_timeout` | `TCP_USER_TIMEOUT` | system default |
/// | `user`, `password`, `dbname`, `options`, `application_name` | the startup message and authentication (tokio-postgres's) | — |
/// | `sslmode` | `disable` and `prefer` connect in plain text here; `require` is refused — use [`connect_tls`] with a [`PgTls`] (there `prefer` uses TLS when the server offers it) | `prefer` |
/// | `channel_binding` | `disable` and `prefer` work (no binding is offered); `require` is refused | `prefer` |
///
/// Mismatched lists (2 hosts and 1 hostaddr, 3 ports for 2 hosts) are refused with
/// [`Error::Config`]. When every address fails, a single failure is returned as it is; several
/// are reported as one [`Error::Connect`] that lists each place tried and why it failed.
///
/// ```no_run
/// # brigade::block_on(async {
/// let mut config = brigade_postgres::Config::new();
/// config.host("127.0.0.1").port(5432).user("postgres").dbname("postgres");
/// let client = brigade_postgres::connect(&config).await?;
/// let row = client.query_one("SELECT 1 + 1", &[]).await?; // tokio-postgres's API
/// assert_eq!(row.get::<_, i32>(0), 2);
/// # Ok::<(), brigade_postgres::Error>(())
/// # });
/// ```
pub async fn connect(config: &Config) -> Result<Client, Error> {
    connect_with_cache(config, DEFAULT_STATEMENT_CACHE_CAPACITY, None).await
}

/// [`connect`] with TLS: `sslmode=require` in `config` insists on it, `prefer` (the default)
/// uses it when the server offers it; `tls` says what is checked — [`PgTls::require`] (libpq's
/// `sslmode=require`: encrypted, certificate unchecked) or [`PgTls::verify_full`] (libpq's
/// `verify-full`: chain and host name). The TLS handshake is part of the attempt, so
/// `connect_timeout` bounds it too. See [`crate::tls`].
///
/// ```no_run
/// # brigade::block_on(async {
/// use brigade_postgres::{Config, PgTls};
/// use brigade_postgres::tokio_postgres::config::SslMode;
/// let mut config = Config::new();
/// config.host("db.example.com").user("app").dbname("app").ssl_mode(SslMode::Require);
/// let ca = std::fs::read("root.crt").expect("the server's CA");
/// let client = brigade_postgres::connect_tls(&config, &PgTls::verify_full(&ca)?).await?;
/// # Ok::<(), brigade_postgres::Error>(())
/// # });
/// ```
pub async fn connect_tls(config: &Config, tls: &PgTls) -> Result<Client, Error> {
    connect_with_cache(config, DEFAULT_STATEMENT_CACHE_CAPACITY, Some(tls)).await
}

/// [`connect`], with a statement cache of `cache_capacity` (the pool's setting) and TLS.
pub(crate) async fn connect_with_cache(
    config: &Config,
    cache_capacity: usize,
    tls: Option<&PgTls>,
) -> Result<Client, Error> {
    refuse_what_cannot_work(config, tls.is_some())?;
    let random = hosts::is_random(config)?;
    let targets = hosts::plan(config)?;
    let tcp = TcpOptions::from_config(config);
    let limit = config.get_connect_timeout().copied();

    let mut failures: Vec<(String, Error)> = Vec::new();
    for target in &targets {
        let endpoints = match bounded(limit, target.resolve(random)).await {
            Ok(endpoints) => endpoints,
            Err(error) => {
                failures.push((target.to_string(), connect_error(target.to_string(), error)));
                continue;
            }
        };
        for endpoint in endpoints {
            let label = target.label_for(&endpoint);
            let tls = tls.map(|tls| (tls, target.tls_name()));
            let attempt = attempt(config, &tcp, &endpoint, &label, cache_capacity, tls);
            match bounded_attempt(limit, &label, attempt).await {
                Ok(client) => return Ok(client),
                Err(error) => failures.push((label, error)),
            }
        }
    }
    Err(all_failed(failures))
}

/// Settings this crate's plain (`NoTls`) connections can never satisfy, refused up front.
fn refuse_what_cannot_work(config: &Config, has_tls: bool) -> Result<(), Error> {
    match config.get_ssl_mode() {
        SslMode::Disable | SslMode::Prefer => {}
        _ if has_tls => {}
        mode => {
            return Err(Error::Config(format!(
                "sslmode={mode:?} needs TLS, and `connect` speaks plain text: use connect_tls \
                 (or PoolBuilder::tls) with PgTls::require() or PgTls::verify_full(root_pem)"
            )))
        }
    }
    match config.get_channel_binding() {
        ChannelBinding::Disable | ChannelBinding::Prefer => {}
        binding => {
            return Err(Error::Config(format!(
                "channel_binding={binding:?} is not supported: brigade-postgres's TLS does not \
                 offer SCRAM channel binding yet; use channel_binding=prefer (the default) or \
                 disable"
            )))
        }
    }
    match config.get_target_session_attrs() {
        TargetSessionAttrs::Any | TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => {
            Ok(())
        }
        other => Err(Error::Config(format!(
            "target_session_attrs={other:?} is not supported by brigade-postgres; use any, \
             read-write or read-only"
        ))),
    }
}

/// One attempt at one address: socket, startup, connection task, session check.
async fn attempt(
    config: &Config,
    tcp: &TcpOptions,
    endpoint: &Endpoint,
    label: &str,
    cache_capacity: usize,
    tls: Option<(&PgTls, String)>,
) -> Result<Client, Error> {
    let socket = match endpoint {
        Endpoint::Tcp(addr) => tcp_socket::connect(*addr, tcp).await.map(Socket::Tcp),
        Endpoint::Unix(path) => brigade::net::UnixStream::connect(path)
            .await
            .map(Socket::Unix),
    }
    .map_err(|error| connect_error(label.to_string(), error))?;
    let client = match tls {
        None => {
            let (client, connection) = config.connect_raw(socket, NoTls).await?;
            Client::start(client, connection, endpoint.clone(), cache_capacity, None)
        }
        Some((tls, name)) => {
            let connector = tls
                .for_host(&name)
                .map_err(|error| connect_error(label.to_string(), error))?;
            let (client, connection) = config.connect_raw(socket, connector.clone()).await?;
            let canceller_tls = Some(connector);
            Client::start(
                client,
                connection,
                endpoint.clone(),
                cache_capacity,
                canceller_tls,
            )
        }
    };
    check_session(&client, config.get_target_session_attrs(), label).await?;
    Ok(client)
}

/// `target_session_attrs`: asks the server whether this session may write, as libpq does.
async fn check_session(
    client: &Client,
    wanted: TargetSessionAttrs,
    label: &str,
) -> Result<(), Error> {
    if wanted == TargetSessionAttrs::Any {
        return Ok(());
    }
    let messages = client.simple_query("SHOW transaction_read_only").await?;
    let read_only = messages.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => row.get(0).map(|value| value == "on"),
        _ => None,
    });
    let Some(read_only) = read_only else {
        return Err(connect_error(
            label.to_string(),
            io::Error::other("the server gave no answer to SHOW transaction_read_only"),
        ));
    };
    let refusal = match (wanted, read_only) {
        (TargetSessionAttrs::ReadWrite, true) => {
            "the server is read-only (transaction_read_only is on) and target_session_attrs=\
             read-write asks for one that accepts writes"
        }
        (TargetSessionAttrs::ReadOnly, false) => {
            "the server accepts writes (transaction_read_only is off) and target_session_attrs=\
             read-only asks for a read-only one"
        }
        _ => return Ok(()),
    };
    Err(connect_error(
        label.to_string(),
        io::Error::new(io::ErrorKind::PermissionDenied, refusal),
    ))
}

fn connect_error(label: String, source: io::Error) -> Error {
    Error::Connect {
        tried: vec![label],
        source,
    }
}

/// `work` under the connect timeout, if one is set.
async fn bounded<T>(
    limit: Option<Duration>,
    work: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let Some(limit) = limit else {
        return work.await;
    };
    brigade::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_elapsed| Err(timed_out(limit)))
}

/// An attempt under the connect timeout; dropping it on timeout closes whatever it opened.
async fn bounded_attempt(
    limit: Option<Duration>,
    label: &str,
    attempt: impl std::future::Future<Output = Result<Client, Error>>,
) -> Result<Client, Error> {
    let Some(limit) = limit else {
        return attempt.await;
    };
    brigade::time::timeout(limit, attempt)
        .await
        .unwrap_or_else(|_elapsed| Err(connect_error(label.to_string(), timed_out(limit))))
}

fn timed_out(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no connection within the connect_timeout of {limit:?} (connecting, starting up and \
             authenticating)"
        ),
    )
}

/// One error for every failed attempt: a single one as it is; several as one
/// [`Error::Connect`] naming each place and its reason.
fn all_failed(mut failures: Vec<(String, Error)>) -> Error {
    if failures.len() <= 1 {
        return match failures.pop() {
            Some((_, error)) => error,
            None => Error::Config("no host to try".into()),
        };
    }
    let kind = match failures.last() {
        Some((_, Error::Connect { source, .. })) => source.kind(),
        _ => io::ErrorKind::Other,
    };
    let reasons = failures
        .iter()
        .map(|(label, error)| match error {
            Error::Connect { source, .. } => format!("{label}: {source}"),
            other => format!("{label}: {other}"),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Error::Connect {
        tried: failures.into_iter().map(|(label, _)| label).collect(),
        source: io::Error::new(kind, format!("every host failed: {reasons}")),
    }
}
