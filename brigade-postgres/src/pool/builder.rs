//! [`PoolBuilder`]: a pool's settings, checked before the pool exists.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::Config;

use super::{Pool, Shared, State};
use crate::Error;
use brigade::sync::Semaphore;
use std::sync::atomic::AtomicUsize;

/// Settings of a [`Pool`], checked by [`build`](PoolBuilder::build).
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    pub(super) config: Config,
    pub(super) max_size: usize,
    pub(super) acquire_timeout: Duration,
    pub(super) health_check: bool,
    pub(super) statement_cache_capacity: usize,
    pub(super) tls: Option<crate::PgTls>,
}

impl PoolBuilder {
    /// Connects with TLS as `tls` says (with the configuration's `sslmode`: `require` insists
    /// on TLS, `prefer` uses it when the server offers it); see [`PgTls`](crate::PgTls).
    /// Default: none, plain text.
    pub fn tls(mut self, tls: crate::PgTls) -> PoolBuilder {
        self.tls = Some(tls);
        self
    }

    /// The most connections the pool keeps open at once (at least 1).
    pub fn max_size(mut self, max_size: usize) -> PoolBuilder {
        self.max_size = max_size;
        self
    }

    /// How long [`Pool::get`] waits for a connection, including opening a new one, before it
    /// gives up. Zero means "only if one is free right now".
    pub fn acquire_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.acquire_timeout = timeout;
        self
    }

    /// Whether each checkout of an idle connection first checks it with a round trip to the
    /// server (a protocol `Sync`). Costs a round trip per `get`; catches connections the server
    /// closed while they sat idle before a query of yours does.
    pub fn health_check(mut self, enabled: bool) -> PoolBuilder {
        self.health_check = enabled;
        self
    }

    /// How many prepared statements each connection keeps for
    /// [`prepare_cached`](crate::Client::prepare_cached) (default [`DEFAULT_STATEMENT_CACHE_CAPACITY`](crate::DEFAULT_STATEMENT_CACHE_CAPACITY);
    /// 0 turns caching off). The least recently used statement goes first.
    pub fn statement_cache_capacity(mut self, capacity: usize) -> PoolBuilder {
        self.statement_cache_capacity = capacity;
        self
    }

    /// Checks the settings and makes the pool. No connection is opened yet.
    pub fn build(self) -> Result<Pool, Error> {
        if self.max_size == 0 {
            return Err(Error::Config(
                "a pool of max_size 0 could never lend a connection; use max_size(1) or more"
                    .into(),
            ));
        }
        if self.max_size > Semaphore::MAX_PERMITS {
            return Err(Error::Config(format!(
                "max_size({}) is more than a pool can count; PostgreSQL's own max_connections \
                 is usually in the hundreds",
                self.max_size
            )));
        }
        Ok(Pool {
            shared: Arc::new(Shared {
                config: self.config,
                max_size: self.max_size,
                acquire_timeout: self.acquire_timeout,
                health_check: self.health_check,
                statement_cache_capacity: self.statement_cache_capacity,
                places: Arc::new(Semaphore::new(self.max_size)),
                waiting: AtomicUsize::new(0),
                tls: self.tls,
                state: Mutex::new(State {
                    idle: Vec::new(),
                    open: 0,
                    opened_total: 0,
                    discarded_total: 0,
                }),
            }),
        })
    }
}
