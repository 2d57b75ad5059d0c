//! 13B. Database operations: tokio-postgres on brigade against a throwaway server

use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade::Runtime;

use crate::common::{ms, show};

pub(crate) fn ch13b_database(rt: &Runtime) {
    use brigade_postgres::testing::{TempCluster, TempClusterError};
    let cluster = match TempCluster::start() {
        Ok(cluster) => cluster,
        Err(TempClusterError::NotInstalled) => {
            show(
                "PostgreSQL is not installed here; `sudo apt-get install postgresql` and run \
                 the tour again to see this part (the tour goes on)",
            );
            return;
        }
        Err(error) => {
            show(&format!(
                "could not start a throwaway PostgreSQL ({error}); skipping 13B"
            ));
            return;
        }
    };
    let pool = match brigade_postgres::Pool::builder(cluster.tcp_config())
        .max_size(4)
        .build()
    {
        Ok(pool) => pool,
        Err(error) => {
            show(&format!("could not make a pool ({error}); skipping 13B"));
            return;
        }
    };
    let outcome: Result<(Vec<String>, String, Duration, Duration), brigade_postgres::Error> = rt
        .block_on(async move {
            let db = pool.get().await?;
            db.batch_execute("CREATE TABLE orders (customer int, item text)")
                .await?;
            for item in ["soup", "bread", "tart"] {
                db.execute("INSERT INTO orders VALUES (7, $1)", &[&item])
                    .await?;
            }
            let items = db
                .query(
                    "SELECT item FROM orders WHERE customer = $1 ORDER BY item",
                    &[&7],
                )
                .await?
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect();
            let impatient = CancellationTokenSource::with_timeout(Duration::from_millis(100));
            let started = Instant::now();
            let slow = db
                .query_with_cancellation(&impatient.token(), "SELECT pg_sleep(30)", &[])
                .await;
            let stopped_after = started.elapsed();
            let next = Instant::now();
            db.query("SELECT 1", &[]).await?;
            let outcome = match slow {
                Err(error) if error.is_cancelled() => "cancelled on the server".to_string(),
                Err(error) => format!("failed: {error}"),
                Ok(_) => "finished?".to_string(),
            };
            Ok((items, outcome, stopped_after, next.elapsed()))
        });
    match outcome {
        Ok((items, outcome, stopped_after, next)) => {
            show(&format!("customer 7 ordered: {}", items.join(", ")));
            show(&format!(
                "SELECT pg_sleep(30) under a 100 ms token: {outcome} after {}; the same \
                 connection answered the next query in {}",
                ms(stopped_after),
                ms(next)
            ));
        }
        Err(error) => show(&format!("the database part failed: {error}")),
    }
    drop(cluster); // stops the server and deletes its directory
}
