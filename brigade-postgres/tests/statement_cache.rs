//! The per-connection statement cache (`prepare_cached`) against a real server: a statement is
//! prepared once per connection, survives checkouts, goes with a discarded connection, and the
//! cache stays within its capacity. The server's own `pg_prepared_statements` view (one
//! session's prepared statements, protocol-level ones included) is the witness.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade_postgres::tokio_postgres::types::Type;
use brigade_postgres::{Client, Pool};
use common::{backend_pid, cluster, run, SETUP_LIMIT};

const BY_ID: &str = "SELECT $1::int + 1";

/// How many statements with exactly this text the session behind `client` has prepared.
async fn prepared_on_server(client: &Client, sql: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
            &[&sql],
        )
        .await
        .unwrap()
        .get(0)
}

/// The server-side names of the statements with this text (tokio-postgres keeps its own
/// `Statement::name` private, so the server says which statement is which).
async fn names_on_server(client: &Client, sql: &str) -> Vec<String> {
    let rows = client
        .query(
            "SELECT name FROM pg_prepared_statements WHERE statement = $1 ORDER BY name",
            &[&sql],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

#[test]
fn prepare_cached_prepares_once_per_connection_across_checkouts() {
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        let pool = Pool::builder(server.tcp_config())
            .max_size(1)
            .build()
            .unwrap();
        let client = pool.get_with_timeout(SETUP_LIMIT).await.unwrap();
        let pid = backend_pid(&client).await;
        client.prepare_cached(BY_ID).await.unwrap();
        let names = names_on_server(&client, BY_ID).await;
        let second = client.prepare_cached(BY_ID).await.unwrap();
        let stats = client.statement_cache().stats();
        assert_eq!(
            (stats.misses, stats.hits, stats.len),
            (1, 1, 1),
            "{stats:?}"
        );
        assert_eq!(prepared_on_server(&client, BY_ID).await, 1);
        let row = client.query_one(&second, &[&41]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 42);
        drop(client); // back to the pool, cache and all

        let client = pool.get_with_timeout(SETUP_LIMIT).await.unwrap();
        assert_eq!(backend_pid(&client).await, pid, "the same connection");
        client.prepare_cached(BY_ID).await.unwrap();
        assert_eq!(client.statement_cache().stats().misses, 1, "still cached");
        assert_eq!(
            names_on_server(&client, BY_ID).await,
            names,
            "the very statement of the first checkout, never prepared again"
        );
    });
}

#[test]
fn prepare_typed_cached_keys_by_text_and_types() {
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        let client = brigade_postgres::connect(&server.tcp_config())
            .await
            .unwrap();
        let sql = "SELECT $1";
        let as_int = client
            .prepare_typed_cached(sql, &[Type::INT4])
            .await
            .unwrap();
        let as_text = client
            .prepare_typed_cached(sql, &[Type::TEXT])
            .await
            .unwrap();
        assert_eq!(as_int.params(), [Type::INT4]);
        assert_eq!(as_text.params(), [Type::TEXT]);
        let again = client
            .prepare_typed_cached(sql, &[Type::INT4])
            .await
            .unwrap();
        assert_eq!(again.params(), [Type::INT4]);
        assert_eq!(client.statement_cache().stats().hits, 1);
        assert_eq!(client.statement_cache().len(), 2);
        assert_eq!(prepared_on_server(&client, sql).await, 2);

        assert!(client.statement_cache().remove(sql, &[Type::TEXT]));
        assert_eq!(client.statement_cache().len(), 1);
        client.statement_cache().clear();
        assert!(client.statement_cache().is_empty());
    });
}

#[test]
fn a_discarded_connection_takes_its_statement_cache_along() {
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        let pool = Pool::builder(server.tcp_config())
            .max_size(1)
            .build()
            .unwrap();
        let client = pool.get_with_timeout(SETUP_LIMIT).await.unwrap();
        let old_pid = backend_pid(&client).await;
        client.prepare_cached(BY_ID).await.unwrap();
        client.discard();

        let client = pool.get_with_timeout(SETUP_LIMIT).await.unwrap();
        assert_ne!(backend_pid(&client).await, old_pid, "a fresh connection");
        assert!(
            client.statement_cache().is_empty(),
            "the old cache went with its connection"
        );
        assert_eq!(prepared_on_server(&client, BY_ID).await, 0);
        let statement = client.prepare_cached(BY_ID).await.unwrap();
        let row = client.query_one(&statement, &[&1]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 2);
        assert_eq!(client.statement_cache().stats().misses, 1);
    });
}

#[test]
fn the_cache_keeps_its_capacity_evicting_the_least_recently_used() {
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        let pool = Pool::builder(server.tcp_config())
            .max_size(1)
            .statement_cache_capacity(2)
            .build()
            .unwrap();
        let client = pool.get_with_timeout(SETUP_LIMIT).await.unwrap();
        let [a, b, c] = ["SELECT 1", "SELECT 2", "SELECT 3"];
        client.prepare_cached(a).await.unwrap();
        client.prepare_cached(b).await.unwrap();
        client.prepare_cached(a).await.unwrap(); // `a` is now the most recently used
        client.prepare_cached(c).await.unwrap(); // evicts `b`
        let stats = client.statement_cache().stats();
        assert_eq!(
            (stats.len, stats.capacity, stats.evictions),
            (2, 2, 1),
            "{stats:?}"
        );
        let hits = client.statement_cache().stats().hits;
        client.prepare_cached(a).await.unwrap();
        assert_eq!(
            client.statement_cache().stats().hits,
            hits + 1,
            "`a` stayed"
        );
        // The evicted statement was closed on the server (the Close went out before this query).
        assert_eq!(prepared_on_server(&client, b).await, 0);
        assert_eq!(prepared_on_server(&client, c).await, 1);

        // Capacity 0: no caching, every call prepares.
        client.statement_cache().set_capacity(0);
        let one = client.prepare_cached(a).await.unwrap();
        let two = client.prepare_cached(a).await.unwrap();
        assert_eq!(
            prepared_on_server(&client, a).await,
            2,
            "each call prepared anew"
        );
        assert!(client.statement_cache().is_empty());
        drop((one, two));
    });
}

/// The figures: queries per second through a pool with the statement cache and
/// without it (each query prepared again, as a pool user without a cache must). Run with
/// `cargo test --release -p brigade-postgres --test statement_cache -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: prints queries/s with and without the statement cache"]
fn measure_queries_per_second_with_and_without_the_statement_cache() {
    const TASKS: usize = 16;
    const POOL_SIZE: usize = 4;
    const DURATION: Duration = Duration::from_secs(3);
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        let pool = Pool::builder(server.tcp_config())
            .max_size(POOL_SIZE)
            .acquire_timeout(SETUP_LIMIT)
            .build()
            .unwrap();
        for cached in [false, true, false, true] {
            let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let until = Instant::now() + DURATION;
            let tasks = (0..TASKS).map(|task| {
                let (pool, done) = (pool.clone(), done.clone());
                brigade::spawn(async move {
                    let mut n = task as i32;
                    while Instant::now() < until {
                        let client = pool.get().await.unwrap();
                        let row = if cached {
                            let statement = client.prepare_cached(BY_ID).await.unwrap();
                            client.query_one(&statement, &[&n]).await.unwrap()
                        } else {
                            client.query_one(BY_ID, &[&n]).await.unwrap()
                        };
                        assert_eq!(row.get::<_, i32>(0), n + 1);
                        n = n.wrapping_add(1) % 1_000_000;
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            });
            let started = Instant::now();
            brigade::when_all(tasks.collect::<Vec<_>>()).await;
            let rate = done.load(std::sync::atomic::Ordering::Relaxed) as f64
                / started.elapsed().as_secs_f64();
            let label = if cached {
                "prepare_cached"
            } else {
                "prepared each time"
            };
            println!(
                "{label:>20}: {rate:>8.0} queries/s ({TASKS} tasks, pool of {POOL_SIZE}, {WORKERS} workers)",
                WORKERS = common::WORKERS
            );
        }
    });
}
