//! # brigade-postgres
//!
//! PostgreSQL on brigade: [tokio-postgres](tokio_postgres)'s protocol over brigade's own
//! sockets, a connection pool, and queries stopped by a
//! [`CancellationToken`](brigade::cancel::CancellationToken) — the seed
//! article's section 13B, "Database Operations (EF Core)".
//!
//! ## Getting started
//!
//! In `Cargo.toml` (workspace crates: a path or git dependency):
//!
//! ```toml
//! [dependencies]
//! brigade = { path = "../brigade" }
//! brigade-postgres = { path = "../brigade-postgres" }
//! # for tests and examples with a throwaway server:
//! # brigade-postgres = { path = "../brigade-postgres", features = ["testing"] }
//! ```
//!
//! A pool from a libpq-style connection string, a query, and a query stopped by a token
//! (`no_run`: it needs a server at that address):
//!
//! ```no_run
//! use std::time::Duration;
//! use brigade::cancel::CancellationTokenSource;
//! use brigade_postgres::{Config, Pool};
//!
//! #[brigade::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config: Config = "host=127.0.0.1 user=postgres dbname=shop connect_timeout=5".parse()?;
//!     let pool = Pool::builder(config).max_size(8).build()?;
//!
//!     let db = pool.get().await?; // back to the pool when dropped
//!     let rows = db.query("SELECT item FROM orders WHERE customer_id = $1", &[&7]).await?;
//!     for row in &rows {
//!         println!("{}", row.get::<_, String>(0));
//!     }
//!
//!     let user_gave_up = CancellationTokenSource::with_timeout(Duration::from_millis(100));
//!     let slow = db
//!         .query_with_cancellation(&user_gave_up.token(), "SELECT pg_sleep(30)", &[])
//!         .await;
//!     assert!(slow.unwrap_err().is_cancelled()); // stopped on the server; `db` is free again
//!     Ok(())
//! }
//! ```
//!
//! The same against a throwaway server the example starts itself (feature `testing`; it
//! runs where PostgreSQL's server programs are installed, e.g. Debian's `postgresql`
//! package, and is skipped with a note where they are not and `BRIGADE_SKIP_POSTGRES=1`):
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use brigade_postgres::testing::TempCluster;
//!
//! let Some(cluster) = TempCluster::for_test() else { return };
//! let pool = brigade_postgres::Pool::builder(cluster.tcp_config()).build().unwrap();
//! let answer: i32 = brigade::block_on(async {
//!     let db = pool.get().await?;
//!     let row = db.query_one("SELECT 40 + $1::int", &[&2]).await?;
//!     Ok::<_, brigade_postgres::Error>(row.get(0))
//! })
//! .unwrap();
//! assert_eq!(answer, 42);
//! # }
//! ```
//!
//! ## The story
//!
//! The seed's EF Core example awaits `ToListAsync()`: "the thread can handle other requests
//! while the DB processes". Here is the same in brigade:
//!
//! ```no_run
//! use brigade_postgres::{Pool, Error};
//!
//! async fn recent_orders(pool: &Pool, customer: i32) -> Result<Vec<String>, Error> {
//!     let db = pool.get().await?; // `using var context = new MyDbContext();`
//!     let rows = db
//!         .query(
//!             "SELECT item FROM orders WHERE customer_id = $1 \
//!              ORDER BY ordered_at DESC LIMIT 10",
//!             &[&customer],
//!         )
//!         .await?; // `await ... ToListAsync()`
//!     Ok(rows.iter().map(|row| row.get(0)).collect())
//! } // `db` goes back to the pool here
//! ```
//!
//! While the server plans and runs that query, nothing in this process is blocked. The
//! `.await` parks the task: the connection's socket is registered with brigade's reactor
//! (epoll), and the worker thread goes back to the pool to cook other orders. When the
//! server's reply arrives, the reactor wakes the connection task, which hands the rows to the
//! query's future, which wakes our task — on whichever worker is free. A 2-worker runtime can
//! keep dozens of queries in flight (the tests run 50 tasks through a pool on 2 workers).
//!
//! ## What is here
//!
//! | .NET / ADO.NET | brigade-postgres |
//! |---|---|
//! | `new NpgsqlConnection(...).OpenAsync()` | [`connect`] → [`Client`], which derefs to [`tokio_postgres::Client`]: its whole query API |
//! | connection pooling (`Max Pool Size`, `Timeout`) | [`Pool`] (`max_size`, `acquire_timeout`), [`PooledClient`] returned on drop |
//! | connection string keywords (`Host=a,b`, `Target Session Attributes`, `Keepalive`, `Timeout`, `Load Balance Hosts`) | every parameter of [`Config`], honoured by [`connect`] (see its table) |
//! | `Max Auto Prepare` (automatic preparation) | [`Client::prepare_cached`], a per-connection [`StatementCache`] |
//! | `ExecuteReaderAsync(cancellationToken)` | [`Client::query_with_cancellation`], [`Client::run_cancellable`], [`QueryCanceller`] |
//! | `OperationCanceledException` | [`Error::Cancelled`] |
//!
//! Cancellation is the real thing: when the token fires, a PostgreSQL cancel request goes to
//! the server over a fresh brigade socket, the server stops the statement, and the connection
//! is free for the next query at once (see [`QueryCanceller::run`]).
//!
//! ## No tokio runtime
//!
//! tokio-postgres is used with `default-features = false`: it brings tokio's I/O *traits*
//! (and tokio-util's codec), never tokio's runtime, reactor or timers. brigade's `TcpStream`
//! and `UnixStream` implement those traits on brigade's reactor; the connection future is a
//! brigade task; timeouts are brigade timers. A process using this crate runs no tokio runtime
//! (docs/SEMANTICS.md I4).
//!
//! ## Limits
//!
//! - Connections are plain (`NoTls`); TLS is not wired in yet, so `sslmode=require` and
//!   `channel_binding=require` are refused with [`Error::Config`].
//! - Server notices and `LISTEN`/`NOTIFY` notifications are dropped by the connection task.
//!
//! ## Testing
//!
//! Feature `testing` adds `testing::TempCluster`: a throwaway PostgreSQL server in a temporary
//! directory, for tests and examples.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod cancel;
mod client;
mod connect;
mod error;
mod hosts;
mod pool;
mod socket;
mod statement_cache;
mod tcp_socket;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod tls;

pub use cancel::{QueryCanceller, CANCEL_GRACE};
pub use client::Client;
pub use connect::{connect, connect_tls};
pub use error::Error;
pub use pool::{
    Pool, PoolBuilder, PoolStatus, PooledClient, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_SIZE,
};
pub use socket::{Endpoint, Socket};
pub use statement_cache::{StatementCache, StatementCacheStats, DEFAULT_STATEMENT_CACHE_CAPACITY};
pub use tls::PgTls;
/// tokio-postgres itself, for its types (`Row`, `types::ToSql`, `Transaction`, `error::SqlState`, ...).
pub use tokio_postgres;
pub use tokio_postgres::{Config, Row};
