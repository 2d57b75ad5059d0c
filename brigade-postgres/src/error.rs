//! `Error`: everything that can go wrong between a caller and the database, each case with a
//! message that says what happened and what to do.
//!
//! Protocol and server errors stay tokio-postgres's own ([`Error::Postgres`]); what this crate
//! adds — opening sockets, the pool, cancellation by token — gets its own variant, so a caller
//! can `match` on "the pool was exhausted" or "my token stopped the query" without parsing text.

use std::fmt;
use std::io;
use std::time::Duration;

use brigade::cancel::Cancelled;

/// The error of every brigade-postgres operation.
///
/// ```
/// use brigade_postgres::{Config, Error};
/// # brigade::block_on(async {
/// // A port nobody listens on: a Connect error that says where it tried and why.
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let config: Config = format!("host=127.0.0.1 port={port} user=postgres").parse().unwrap();
/// match brigade_postgres::connect(&config).await {
///     Err(error @ Error::Connect { .. }) => {
///         assert!(!error.is_cancelled());
///         println!("{error}"); // names 127.0.0.1:<port> and "connection refused"
///     }
///     other => panic!("expected a connect error, got {:?}", other.map(|_| ())),
/// }
/// # });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be used: no host, a pool of size 0, ... The text says what to set.
    Config(String),
    /// No server could be reached at any of the configured hosts, or none that matched
    /// `target_session_attrs`.
    Connect {
        /// Where we tried, in order (`127.0.0.1:5432`, `/var/run/postgresql/.s.PGSQL.5432`, ...).
        tried: Vec<String>,
        /// Why: the error of the one attempt, or — when several were made — an error of the
        /// last attempt's kind whose message gives each place's reason.
        source: io::Error,
    },
    /// The server or the protocol reported an error (a failed query, authentication, a closed
    /// connection, ...).
    Postgres(tokio_postgres::Error),
    /// The token was cancelled and the server confirmed it stopped the query (or the token was
    /// already cancelled, and the query was never sent).
    Cancelled(Cancelled),
    /// The token was cancelled, but the server did not confirm that it stopped the query: the
    /// cancel request could not be delivered, or the query kept running past the grace period.
    /// We stopped waiting for it; the query may still be running on the server, and its
    /// connection stays busy until it ends.
    CancelUnconfirmed {
        /// The cancellation that asked for the stop.
        cancelled: Cancelled,
        /// Why the stop is unconfirmed.
        reason: String,
    },
    /// Every connection of the pool stayed in use for the whole acquire timeout.
    PoolTimedOut {
        /// How long `Pool::get` waited.
        waited: Duration,
        /// The pool's size limit, every connection of which was in use.
        max_size: usize,
    },
}

impl Error {
    /// `true` when a cancellation token stopped the operation ([`Error::Cancelled`] or
    /// [`Error::CancelUnconfirmed`]) — the .NET `OperationCanceledException` case.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_) | Error::CancelUnconfirmed { .. })
    }

    /// The SQLSTATE code of a server error, if this is one.
    pub fn code(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            Error::Postgres(error) => error.code(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(message) => write!(f, "brigade-postgres: bad configuration: {message}"),
            Error::Connect { tried, source } => {
                write!(
                    f,
                    "brigade-postgres: could not connect to PostgreSQL (tried {}): {source}",
                    tried.join(", ")
                )?;
                // A server that answered but did not suit (target_session_attrs) is running.
                if source.kind() != io::ErrorKind::PermissionDenied {
                    write!(f, "; is the server running and listening there?")?;
                }
                Ok(())
            }
            // tokio-postgres says only "db error" for a server error; show the server's words.
            Error::Postgres(error) => match error.as_db_error() {
                Some(server_said) => write!(f, "{error}: {server_said}"),
                // "error performing TLS handshake" and the like: say why.
                None => match std::error::Error::source(error) {
                    Some(cause) => write!(f, "{error}: {cause}"),
                    None => write!(f, "{error}"),
                },
            },
            Error::Cancelled(cancelled) => write!(
                f,
                "the query was cancelled by its token (cancellation source #{}); the server \
                 stopped it",
                cancelled.source_id()
            ),
            Error::CancelUnconfirmed { cancelled, reason } => write!(
                f,
                "the query was cancelled by its token (cancellation source #{}), but the server \
                 did not confirm the stop: {reason}; the query may still be running and its \
                 connection stays busy until it ends",
                cancelled.source_id()
            ),
            Error::PoolTimedOut { waited, max_size } => write!(
                f,
                "brigade-postgres: no pooled connection became free within {waited:?} (all \
                 {max_size} of max_size {max_size} were in use); drop PooledClients sooner, or \
                 raise the pool's max_size or acquire_timeout"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } => Some(source),
            Error::Postgres(error) => Some(error),
            Error::Cancelled(cancelled) | Error::CancelUnconfirmed { cancelled, .. } => {
                Some(cancelled)
            }
            Error::Config(_) | Error::PoolTimedOut { .. } => None,
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Error {
        Error::Postgres(error)
    }
}
