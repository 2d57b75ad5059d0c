//! PostgreSQL on brigade — the seed article's section 13B, "Database Operations (EF Core)".
//!
//! Run it with `cargo run --release --example postgres`. It starts a throwaway PostgreSQL
//! server of its own (in a temporary directory, on a free loopback port; stopped and deleted
//! at the end), so it needs PostgreSQL's server programs installed
//! (`apt-get install postgresql`); without them it says so and exits.
//!
//! What it shows, in order:
//! 1. inserting and querying through a connection pool — the seed's `GetRecentOrdersAsync`;
//! 2. that a query's wait holds no thread: eight slow queries on a 2-worker runtime finish
//!    together, while a ticker on the same workers keeps ticking;
//! 3. a slow query stopped by a cancellation token: the server really stops it, and the same
//!    connection serves the next query at once.

use std::error::Error;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade_postgres::testing::{TempCluster, TempClusterError};
use brigade_postgres::{Pool, Row};

/// Worker threads: two, so "the thread goes back to the pool" is visible.
const WORKERS: usize = 2;
/// Slow queries run at once in part 2 (and the pool's size).
const SLOW_QUERIES: usize = 8;
/// How long each of those sleeps on the server.
const SLOW_QUERY_SECONDS: f64 = 0.5;

fn main() -> Result<(), Box<dyn Error>> {
    println!("brigade-postgres: the seed's database scenario (13B) on brigade sockets.");
    let cluster = match TempCluster::start() {
        Ok(cluster) => cluster,
        Err(TempClusterError::NotInstalled) => {
            println!("{}", TempClusterError::NotInstalled);
            println!("This example starts its own throwaway server; on Debian or Ubuntu:");
            println!("    sudo apt-get install postgresql");
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    println!(
        "started a throwaway PostgreSQL on 127.0.0.1:{} (socket in {})",
        cluster.port(),
        cluster.socket_dir().display()
    );

    let runtime = brigade::Runtime::builder().workers(WORKERS).build()?;
    let pool = Pool::builder(cluster.tcp_config())
        .max_size(SLOW_QUERIES)
        .build()?;
    runtime.block_on(async {
        orders(&pool).await?;
        waits_hold_no_thread(&pool).await?;
        cancel_a_slow_query(&pool).await
    })?;
    println!("\npool at the end: {:?}", pool.status());
    Ok(()) // the cluster is stopped and deleted when `cluster` is dropped
}

/// Part 1: the seed's `GetRecentOrdersAsync`, with a pool standing in for `new MyDbContext()`.
async fn orders(pool: &Pool) -> Result<(), Box<dyn Error>> {
    println!("\n1. Insert and query through the pool");
    let db = pool.get().await?;
    db.batch_execute(
        "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int, item text, \
         ordered_at timestamptz DEFAULT clock_timestamp())",
    )
    .await?;
    let insert = db
        .prepare("INSERT INTO orders (customer_id, item) VALUES ($1, $2)")
        .await?;
    for (customer, item) in [
        (7, "soup"),
        (7, "bread"),
        (8, "pie"),
        (7, "tart"),
        (7, "tea"),
    ] {
        db.execute(&insert, &[&customer, &item]).await?;
    }
    drop(db); // back to the pool

    // On a worker of the pool, like a request handler would run.
    let recent = brigade::spawn(recent_orders(pool.clone(), 7)).await?;
    println!("   customer 7's three most recent orders: {recent:?}");
    Ok(())
}

/// `context.Orders.Where(o => o.CustomerId == id).OrderByDescending(o => o.OrderDate).Take(3)
/// .ToListAsync()`: while the server works, this task is parked and its thread is free.
async fn recent_orders(
    pool: Pool,
    customer_id: i32,
) -> Result<Vec<String>, brigade_postgres::Error> {
    let db = pool.get().await?;
    let before = thread_name();
    let rows: Vec<Row> = db
        .query(
            "SELECT item FROM orders WHERE customer_id = $1 ORDER BY ordered_at DESC LIMIT 3",
            &[&customer_id],
        )
        .await?;
    println!(
        "   (the query was awaited on {before} and resumed on {}: while the server worked, \
         the thread was free; the continuation runs on whichever worker is)",
        thread_name()
    );
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Part 2: eight queries that each sleep on the server, on a runtime with two workers.
async fn waits_hold_no_thread(pool: &Pool) -> Result<(), Box<dyn Error>> {
    println!(
        "\n2. {SLOW_QUERIES} queries of pg_sleep({SLOW_QUERY_SECONDS}) at once, on {WORKERS} \
         worker threads"
    );
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker_ticks = Arc::clone(&ticks);
    let ticker = brigade::spawn(async move {
        loop {
            brigade::time::sleep(Duration::from_millis(10)).await;
            ticker_ticks.fetch_add(1, Ordering::Relaxed);
        }
    });

    let started = Instant::now();
    let queries = (0..SLOW_QUERIES).map(|_| {
        let pool = pool.clone();
        brigade::spawn(async move {
            let db = pool.get().await?;
            db.execute("SELECT pg_sleep($1)", &[&SLOW_QUERY_SECONDS])
                .await?;
            Ok::<_, brigade_postgres::Error>(())
        })
    });
    for outcome in brigade::when_all(queries.collect::<Vec<_>>()).await {
        outcome?;
    }
    let took = started.elapsed();
    drop(ticker.cancel());
    println!(
        "   all {SLOW_QUERIES} done in {took:.2?} (one after another they would take {:.1} s); \
         meanwhile a 10 ms ticker on the same workers ticked {} times",
        SLOW_QUERIES as f64 * SLOW_QUERY_SECONDS,
        ticks.load(Ordering::Relaxed)
    );
    println!("   The waits were on the network, in the reactor, not on the two threads.");
    Ok(())
}

/// Part 3: cancellation (seed section 12) reaching the database server.
async fn cancel_a_slow_query(pool: &Pool) -> Result<(), Box<dyn Error>> {
    println!("\n3. A 30-second query, cancelled by a token after 200 ms");
    let db = pool.get().await?;
    let user_gave_up = CancellationTokenSource::with_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let outcome = db
        .query_with_cancellation(&user_gave_up.token(), "SELECT pg_sleep(30)", &[])
        .await;
    match outcome {
        Err(error) if error.is_cancelled() => {
            println!("   stopped after {:.2?}: {error}", started.elapsed())
        }
        other => return Err(format!("expected a cancelled query, got {other:?}").into()),
    }
    let started = Instant::now();
    let answer: i32 = db.query_one("SELECT 6 * 7", &[]).await?.get(0);
    println!(
        "   the same connection answered the next query ({answer}) in {:.2?}: the server \
         stopped the sleep, it did not just stop waiting for it",
        started.elapsed()
    );
    Ok(())
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("an unnamed thread")
        .to_string()
}
