//! `Client`: one connection to PostgreSQL, its protocol driver running as a
//! brigade task — seed section 13B (EF Core's `DbContext` opening its connection).
//!
//! tokio-postgres splits a connection in two: the `Client`, which sends requests, and the
//! `Connection`, a future that owns the socket, writes the requests and routes the responses
//! back. We spawn the `Connection` on brigade; its waits on the socket are brigade reactor
//! registrations, so it holds no thread while the server thinks.
//!
//! # Invariants
//! - [`Client`] derefs to [`tokio_postgres::Client`]: every query method of tokio-postgres is
//!   there unchanged; this crate only adds what needs the runtime (cancellation by token).
//! - The connection task ends when the `Client` is dropped (tokio-postgres then says goodbye to
//!   the server) or when the connection breaks; then [`is_closed`](tokio_postgres::Client::is_closed)
//!   is `true` and [`Client::connection_error`] says why, so a broken connection is never a
//!   silent mystery.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use brigade::cancel::CancellationToken;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Statement, ToStatement};

use crate::tls::PgTlsConnect;

use crate::cancel::QueryCanceller;
use crate::socket::Endpoint;
use crate::statement_cache::StatementCache;
use crate::Error;

/// `error` with its causes: tokio-postgres's own text for a server error is just "db error",
/// the server's message is in the source.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text = format!("{text}: {error}");
        cause = error.source();
    }
    text
}

/// A connection to PostgreSQL: tokio-postgres's [`Client`](tokio_postgres::Client) (it derefs
/// to it) plus cancellation by [`CancellationToken`] and a statement cache
/// ([`prepare_cached`](Client::prepare_cached)). Made by [`connect`](crate::connect) or lent by
/// a [`Pool`](crate::Pool).
pub struct Client {
    inner: tokio_postgres::Client,
    /// Boxed: a pooled client (moved around by the pool) stays small.
    canceller: Box<QueryCanceller>,
    endpoint: Endpoint,
    /// Set by the connection task if the connection ended in an error.
    connection_error: Arc<Mutex<Option<String>>>,
    /// Statements prepared on this connection; they die with it. Boxed to keep
    /// `Client` small: it moves through the pool's slots by value.
    statements: Box<StatementCache>,
}

impl Client {
    /// Spawns `connection` (the protocol driver) as a brigade task and wraps `client`.
    pub(crate) fn start(
        client: tokio_postgres::Client,
        connection: impl Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
        endpoint: Endpoint,
        cache_capacity: usize,
        tls: Option<PgTlsConnect>,
    ) -> Client {
        let connection_error = Arc::new(Mutex::new(None));
        let report_to = Arc::clone(&connection_error);
        brigade::spawn_named(format!("postgres connection to {endpoint}"), async move {
            // Keep the cause: queries on a broken connection only say "connection closed".
            if let Err(error) = connection.await {
                *report_to.lock().unwrap_or_else(|e| e.into_inner()) = Some(describe(&error));
            }
        })
        .detach();
        let canceller = Box::new(QueryCanceller::new(
            client.cancel_token(),
            endpoint.clone(),
            tls,
        ));
        Client {
            inner: client,
            canceller,
            endpoint,
            connection_error,
            statements: Box::new(StatementCache::new(cache_capacity)),
        }
    }

    /// Prepares `sql` once per connection: the first call prepares it on the server and keeps
    /// the [`Statement`]; later calls with the same text return the kept one without a round
    /// trip (deadpool-postgres's `prepare_cached`). The cache lives as long as this connection
    /// — across checkouts from a [`Pool`](crate::Pool) — and goes when the connection is closed
    /// or discarded. See [`StatementCache`] for its size limit.
    ///
    /// ```no_run
    /// # async fn demo(pool: &brigade_postgres::Pool) -> Result<(), brigade_postgres::Error> {
    /// let db = pool.get().await?;
    /// let by_id = db.prepare_cached("SELECT item FROM orders WHERE id = $1").await?;
    /// let row = db.query_one(&by_id, &[&7]).await?; // no Parse on the next checkout either
    /// # Ok(()) }
    /// ```
    pub async fn prepare_cached(&self, sql: &str) -> Result<Statement, Error> {
        self.prepare_typed_cached(sql, &[]).await
    }

    /// [`prepare_cached`](Client::prepare_cached) with parameter types given (as
    /// [`prepare_typed`](tokio_postgres::Client::prepare_typed)); cached per text *and* types.
    pub async fn prepare_typed_cached(
        &self,
        sql: &str,
        types: &[Type],
    ) -> Result<Statement, Error> {
        if let Some(statement) = self.statements.lookup(sql, types) {
            return Ok(statement);
        }
        let statement = self.inner.prepare_typed(sql, types).await?;
        self.statements.insert(sql, types, statement.clone());
        Ok(statement)
    }

    /// This connection's statement cache: its size, counters, and `clear` (after DDL that
    /// changes a cached statement's result columns, say).
    pub fn statement_cache(&self) -> &StatementCache {
        &self.statements
    }

    /// The endpoint this connection reached (a TCP address or a socket path).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Why the connection ended, if it broke (server shutdown, `pg_terminate_backend`, network
    /// failure). `None` while it is healthy.
    pub fn connection_error(&self) -> Option<String> {
        self.connection_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A handle that can stop this connection's running query; cloneable and `'static`, so it
    /// also serves while a [`Transaction`](tokio_postgres::Transaction) borrows the client.
    pub fn canceller(&self) -> QueryCanceller {
        (*self.canceller).clone()
    }

    /// Runs `work` — any query future on this connection — under `token`. See
    /// [`QueryCanceller::run`] for what happens on cancel.
    pub async fn run_cancellable<T, F>(
        &self,
        token: &CancellationToken,
        work: F,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.canceller.run(token, work).await
    }

    /// [`query`](tokio_postgres::Client::query) under `token`: when the token is cancelled, the
    /// server is asked to stop the query and the result is `Err(Error::Cancelled)`.
    ///
    /// ```no_run
    /// # use brigade_postgres::Client;
    /// use brigade::cancel::CancellationTokenSource;
    /// use std::time::Duration;
    /// # async fn demo(client: &Client) {
    /// let user_gave_up = CancellationTokenSource::with_timeout(Duration::from_millis(100));
    /// let result = client
    ///     .query_with_cancellation(&user_gave_up.token(), "SELECT pg_sleep(30)", &[])
    ///     .await;
    /// assert!(result.unwrap_err().is_cancelled());
    /// # }
    /// ```
    pub async fn query_with_cancellation<S>(
        &self,
        token: &CancellationToken,
        statement: &S,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error>
    where
        S: ?Sized + ToStatement,
    {
        self.run_cancellable(token, self.inner.query(statement, params))
            .await
    }

    /// [`execute`](tokio_postgres::Client::execute) under `token`; see
    /// [`query_with_cancellation`](Client::query_with_cancellation).
    pub async fn execute_with_cancellation<S>(
        &self,
        token: &CancellationToken,
        statement: &S,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error>
    where
        S: ?Sized + ToStatement,
    {
        self.run_cancellable(token, self.inner.execute(statement, params))
            .await
    }

    /// The tokio-postgres client alone; the connection lives as long as it does.
    pub fn into_inner(self) -> tokio_postgres::Client {
        self.inner
    }
}

impl Deref for Client {
    type Target = tokio_postgres::Client;

    fn deref(&self) -> &tokio_postgres::Client {
        &self.inner
    }
}

impl DerefMut for Client {
    /// Mutable access, for [`transaction`](tokio_postgres::Client::transaction).
    fn deref_mut(&mut self) -> &mut tokio_postgres::Client {
        &mut self.inner
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("closed", &self.inner.is_closed())
            .finish_non_exhaustive()
    }
}
