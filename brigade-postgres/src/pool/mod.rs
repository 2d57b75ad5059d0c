//! A connection pool — what ADO.NET gives every `new SqlConnection(...)` (and so every EF Core
//! `DbContext`) behind the scenes, seed section 13B.
//!
//! Opening a PostgreSQL connection costs a process fork on the server and several round trips;
//! a web request should not pay that. The pool keeps up to `max_size` connections; a caller
//! borrows one with [`Pool::get`] and gives it back by dropping the [`PooledClient`].
//!
//! # Invariants
//! - At most `max_size` connections exist at once (idle + lent + being opened).
//! - Waiting callers are served first come, first served: a place under `max_size` is a
//!   permit of a [`brigade::sync::Semaphore`], whose waiters are FIFO and whose permits are
//!   never lost to a caller that gave up (its `get` timed out or was dropped, Y1/Y3). A
//!   returned connection goes on the shelf *before* its permit is released, so the caller the
//!   permit goes to finds it there.
//! - `get` returns within `acquire_timeout`: a connection, or [`Error::PoolTimedOut`] that says
//!   the pool was exhausted, or the error of opening a new connection.
//! - Each connection keeps its own statement cache ([`Client::prepare_cached`]) for its whole
//!   life; discarding the connection discards the cache.
//! - A broken connection is never lent: one whose connection task ended
//!   ([`is_closed`](tokio_postgres::Client::is_closed)) is discarded on return and again on
//!   checkout, and with `health_check(true)` each checkout first proves the connection with a
//!   round trip. A discarded connection's place is freed for a new one.
//! - Connections are opened lazily, on demand; a failed open frees its place.

mod builder;

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brigade::sync::{OwnedPermit, Semaphore};
use brigade::time::{timeout_at, Instant};
use tokio_postgres::Config;

use crate::connect::connect_with_cache;
use crate::hosts;
use crate::{Client, Error, DEFAULT_STATEMENT_CACHE_CAPACITY};
pub use builder::PoolBuilder;

/// Default [`PoolBuilder::max_size`].
pub const DEFAULT_MAX_SIZE: usize = 10;
/// Default [`PoolBuilder::acquire_timeout`] (ADO.NET's connection timeout is 15 s as well).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// A pool of PostgreSQL connections; cheap to clone (clones share the pool).
///
/// ```no_run
/// # brigade::block_on(async {
/// let mut config = brigade_postgres::Config::new();
/// config.host("127.0.0.1").user("postgres");
/// let pool = brigade_postgres::Pool::builder(config).max_size(8).build()?;
///
/// let client = pool.get().await?; // a PooledClient: derefs to the client
/// let rows = client.query("SELECT 1", &[]).await?;
/// drop(client); // back to the pool
/// # Ok::<(), brigade_postgres::Error>(())
/// # });
/// ```
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// A snapshot of a pool's counters, from [`Pool::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// The size limit.
    pub max_size: usize,
    /// Connections that exist or are being opened (idle + in use).
    pub open: usize,
    /// Connections on the shelf, ready to lend.
    pub idle: usize,
    /// Callers waiting in `get` (one that just gave up may still be counted).
    pub waiting: usize,
    /// Connections opened over the pool's life.
    pub opened_total: u64,
    /// Connections thrown away because they were broken (or discarded by hand).
    pub discarded_total: u64,
}

/// The pool, shared by [`Pool`] clones, [`PooledClient`]s and waiters.
struct Shared {
    config: Config,
    max_size: usize,
    acquire_timeout: Duration,
    health_check: bool,
    statement_cache_capacity: usize,
    /// One permit per place under `max_size`: held by each lent (or opening) connection.
    places: Arc<Semaphore>,
    /// Callers waiting for a place right now (for `status`).
    waiting: AtomicUsize,
    tls: Option<crate::PgTls>,
    state: Mutex<State>,
}

struct State {
    /// Idle connections, most recently returned last: lent LIFO, so warm connections are reused
    /// and surplus ones stay untouched.
    idle: Vec<Client>,
    /// Connections that exist or are being opened (idle + lent + opening).
    open: usize,
    opened_total: u64,
    discarded_total: u64,
}

impl Pool {
    /// A builder with the defaults: [`DEFAULT_MAX_SIZE`] connections, [`DEFAULT_ACQUIRE_TIMEOUT`],
    /// no health check beyond [`is_closed`](tokio_postgres::Client::is_closed), a statement
    /// cache of [`DEFAULT_STATEMENT_CACHE_CAPACITY`] per connection.
    pub fn builder(config: Config) -> PoolBuilder {
        PoolBuilder {
            config,
            max_size: DEFAULT_MAX_SIZE,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            health_check: false,
            statement_cache_capacity: DEFAULT_STATEMENT_CACHE_CAPACITY,
            tls: None,
        }
    }

    /// A pool with the default settings. Connections are opened on demand.
    pub fn new(config: Config) -> Pool {
        Pool::builder(config)
            .build()
            .expect("the default pool settings are valid")
    }

    /// Borrows a connection: an idle one, a new one if the pool has room, or the next one
    /// returned — waiting at most the acquire timeout, then [`Error::PoolTimedOut`].
    pub async fn get(&self) -> Result<PooledClient, Error> {
        self.get_with_timeout(self.shared.acquire_timeout).await
    }

    /// [`get`](Pool::get) with `acquire_timeout` in place of the pool's for this one call
    /// (deadpool's `timeout_get`): a longer wait for a start-up task that opens the first
    /// connections, a shorter one for a request that must answer fast.
    pub async fn get_with_timeout(&self, acquire_timeout: Duration) -> Result<PooledClient, Error> {
        let started = Instant::now();
        let deadline = started + acquire_timeout;
        let place = {
            let _counted = WaitingGuard::enter(&self.shared.waiting);
            let acquire = Arc::clone(&self.shared.places).acquire_owned();
            // A timed-out wait drops the acquire (inside timeout_at), which passes on any
            // permit granted to it at the last moment (Y3).
            match timeout_at(deadline, acquire).await {
                Ok(place) => place.expect("the pool never closes its semaphore"),
                Err(_elapsed) => {
                    return Err(Error::PoolTimedOut {
                        waited: started.elapsed(),
                        max_size: self.shared.max_size,
                    })
                }
            }
        };
        // From here the place is ours; the lease gives it back if we fail or are dropped.
        let mut lease = self.shared.take_from_shelf(place);
        if lease.client.is_some() {
            if self.shared.is_usable(&lease).await {
                return Ok(PooledClient { lease });
            }
            // Broken: thrown away, but its place stays ours for a fresh connection.
            lease.discard_client();
        }
        let opening = connect_with_cache(
            &self.shared.config,
            self.shared.statement_cache_capacity,
            self.shared.tls.as_ref(),
        );
        match timeout_at(deadline, opening).await {
            Ok(Ok(client)) => {
                self.shared.lock().opened_total += 1;
                lease.client = Some(client);
                Ok(PooledClient { lease })
            }
            Ok(Err(error)) => Err(error),
            Err(_elapsed) => Err(self.shared.connect_timed_out(acquire_timeout)),
        }
    }

    /// The pool's counters now.
    pub fn status(&self) -> PoolStatus {
        let state = self.shared.lock();
        PoolStatus {
            max_size: self.shared.max_size,
            open: state.open,
            idle: state.idle.len(),
            waiting: self.shared.waiting.load(Ordering::Relaxed),
            opened_total: state.opened_total,
            discarded_total: state.discarded_total,
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.status())
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under this lock; recover from poisoning rather than spread a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// With a place in hand: the most recently returned idle connection, or (none idle) room
    /// to open one, counted in `open` from now.
    fn take_from_shelf(self: &Arc<Self>, place: OwnedPermit) -> Lease {
        let mut state = self.lock();
        let client = state.idle.pop();
        if client.is_none() {
            state.open += 1;
        }
        drop(state);
        Lease {
            shared: Arc::clone(self),
            client,
            _place: place,
        }
    }

    /// Whether a connection taken from the shelf may be lent.
    async fn is_usable(&self, lease: &Lease) -> bool {
        let Some(client) = &lease.client else {
            return false;
        };
        if client.is_closed() {
            return false;
        }
        !self.health_check || client.check_connection().await.is_ok()
    }

    fn connect_timed_out(&self, acquire_timeout: Duration) -> Error {
        Error::Connect {
            tried: hosts::describe(&self.config),
            source: io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "opening a new pooled connection took longer than the \
                     acquire timeout of {acquire_timeout:?}"
                ),
            ),
        }
    }
}

/// A place in a caller's hands: given back to the pool when dropped.
struct Lease {
    shared: Arc<Shared>,
    /// `None`: room for a connection not opened yet, or a discarded one.
    client: Option<Client>,
    /// Released after the connection is back on the shelf (field order: dropped last).
    _place: OwnedPermit,
}

impl Lease {
    /// Drops the connection, keeping its place.
    fn discard_client(&mut self) {
        if self.client.take().is_some() {
            self.shared.lock().discarded_total += 1;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // A broken connection goes no further than here: its place is freed instead.
        if self
            .client
            .as_ref()
            .is_some_and(|client| client.is_closed())
        {
            self.discard_client();
        }
        let mut state = self.shared.lock();
        match self.client.take() {
            Some(client) => state.idle.push(client),
            // An empty place: no connection left behind it.
            None => state.open -= 1,
        }
        // `_place` is released after this, with the connection already on the shelf.
    }
}

/// Counts a caller waiting for a place, for as long as it waits.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn enter(waiting: &'a AtomicUsize) -> WaitingGuard<'a> {
        waiting.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(waiting)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection borrowed from a [`Pool`]: derefs to [`Client`] (and so to tokio-postgres's
/// client); returns to the pool when dropped.
pub struct PooledClient {
    /// Always holds a client; the `Option` inside is for the pool's own bookkeeping.
    lease: Lease,
}

impl PooledClient {
    /// Closes this connection instead of returning it (after an error that leaves its state
    /// unknown, say); the pool opens a fresh one when needed.
    pub fn discard(mut self) {
        self.lease.discard_client();
    }
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.lease
            .client
            .as_ref()
            .expect("a PooledClient always holds a client")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.lease
            .client
            .as_mut()
            .expect("a PooledClient always holds a client")
    }
}

impl fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PooledClient").field(&**self).finish()
    }
}
