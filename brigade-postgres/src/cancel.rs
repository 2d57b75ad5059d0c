//! Stopping a running query with a [`CancellationToken`] — seed section 12 (cooperative
//! cancellation) applied to 13B (the database), docs/SEMANTICS.md K9 for the database.
//!
//! Dropping a query future is not enough: the server would go on running the query, and the
//! connection would stay busy with it (the next query on it waits behind). PostgreSQL's own way
//! is a *cancel request*: a fresh connection to the server carrying the backend's process id and
//! secret key, on which the server interrupts that backend's current statement. The statement
//! then fails with SQLSTATE 57014 (`query_canceled`) and the connection is free at once.
//!
//! So [`QueryCanceller::run`] does what .NET's `DbCommand.ExecuteReaderAsync(token)` does:
//! 1. a token already cancelled stops everything before the query is sent;
//! 2. otherwise the query runs; when the token fires, a cancel request is sent over a new
//!    brigade socket to the same endpoint;
//! 3. then it waits — at most [`CANCEL_GRACE`] — for the query to end, and reports
//!    `Err(Error::Cancelled)` once the server confirmed the stop with 57014.
//!
//! # Invariants
//! - `Err(Error::Cancelled)` means the server stopped the query: the connection is idle again
//!   and the next query on it starts immediately.
//! - The race is PostgreSQL's: a query that finished before the cancel request arrived returns
//!   its real result (`Ok`), since its effects happened; an error other than 57014 is returned
//!   as it is.
//! - Never a hang: if the cancel request cannot be delivered, or the query does not stop
//!   within [`CANCEL_GRACE`], the work is dropped and the result is
//!   `Err(Error::CancelUnconfirmed)`, which says the query may still run.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use brigade::cancel::CancellationToken;
use brigade::prelude::*;
use tokio_postgres::error::SqlState;
use tokio_postgres::{CancelToken, NoTls};

use crate::socket::Endpoint;
use crate::tls::PgTlsConnect;
use crate::Error;

/// How long [`QueryCanceller::run`] waits, after sending a cancel request, for the server to
/// stop the query. A server interrupts a statement within milliseconds; this bound is only for
/// a server that is unreachable or stuck.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// The capability to stop the query running on one connection: its backend's id and secret
/// key, and the endpoint to send the request to. Cheap to clone; outlives borrows of the client.
#[derive(Clone)]
pub struct QueryCanceller {
    token: CancelToken,
    endpoint: Endpoint,
    /// The connection's TLS, if any: the cancel request goes over TLS as well.
    tls: Option<PgTlsConnect>,
}

impl QueryCanceller {
    pub(crate) fn new(
        token: CancelToken,
        endpoint: Endpoint,
        tls: Option<PgTlsConnect>,
    ) -> QueryCanceller {
        QueryCanceller {
            token,
            endpoint,
            tls,
        }
    }

    /// Asks the server to stop the statement this connection is running now, over a fresh
    /// brigade socket (with TLS, when the connection has it and its `sslmode` asks for it). Returns once the server has received the request; like PostgreSQL
    /// itself, it cannot say whether a statement was running to be stopped.
    pub async fn cancel_query(&self) -> Result<(), Error> {
        let socket = self
            .endpoint
            .dial()
            .await
            .map_err(|source| Error::Connect {
                tried: vec![self.endpoint.to_string()],
                source,
            })?;
        match &self.tls {
            // As the connection itself: TLS when its sslmode asks for it.
            Some(tls) => self.token.cancel_query_raw(socket, tls.clone()).await?,
            None => self.token.cancel_query_raw(socket, NoTls).await?,
        }
        Ok(())
    }

    /// Runs `work` — a query future on this canceller's connection — and stops it on the
    /// server when `token` is cancelled.
    ///
    /// - A token already cancelled: `Err(Error::Cancelled)` at once; nothing is sent.
    /// - The token fires while the query runs: a PostgreSQL cancel request goes to the server
    ///   over a fresh brigade socket; when the query then fails with SQLSTATE 57014
    ///   (`query_canceled`), the result is `Err(Error::Cancelled)` and the connection is free
    ///   for the next query.
    /// - The query finished before the request reached the server: its real result (`Ok`, or
    ///   its own error) — its effects happened, so they are not reported as cancelled.
    /// - The request cannot be delivered, or the query does not stop within [`CANCEL_GRACE`]:
    ///   `work` is dropped and the result is `Err(Error::CancelUnconfirmed)`; never a hang.
    ///
    /// `work` may be several statements (a closure's `async` block, a transaction's body); the
    /// one running when the token fires is interrupted and the error ends the block.
    ///
    /// ```no_run
    /// # async fn demo(client: &mut brigade_postgres::Client) -> Result<(), brigade_postgres::Error> {
    /// use brigade::cancel::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let canceller = client.canceller(); // taken before the transaction borrows the client
    /// let transaction = client.transaction().await?;
    /// let rows = canceller
    ///     .run(&source.token(), transaction.query("SELECT * FROM orders", &[]))
    ///     .await?;
    /// transaction.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<T, F>(&self, token: &CancellationToken, work: F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        // A cancelled token never starts the work (K2's spirit: no query for a caller who left).
        token.error_if_cancelled().map_err(Error::Cancelled)?;

        let mut work = pin!(work);
        // Race the work against the token; on cancel only the borrow is dropped, the work
        // itself stays pinned here, so we can still learn how it ended.
        let cancelled = match work.as_mut().with_cancellation(token).await {
            Ok(outcome) => return outcome.map_err(Error::Postgres),
            Err(cancelled) => cancelled,
        };

        if let Err(error) = self.cancel_query().await {
            return Err(Error::CancelUnconfirmed {
                cancelled,
                reason: format!("the cancel request could not be sent: {error}"),
            });
        }
        match brigade::time::timeout(CANCEL_GRACE, work).await {
            Ok(Err(error)) if error.code() == Some(&SqlState::QUERY_CANCELED) => {
                Err(Error::Cancelled(cancelled))
            }
            // Finished before the request reached the server: the result is real, keep it.
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Error::Postgres(error)),
            Err(_elapsed) => Err(Error::CancelUnconfirmed {
                cancelled,
                reason: format!("the server did not stop the query within {CANCEL_GRACE:?}"),
            }),
        }
    }
}

impl fmt::Debug for QueryCanceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret key stays out of logs.
        f.debug_struct("QueryCanceller")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}
