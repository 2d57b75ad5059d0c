//! What the database test files share: throwaway clusters and a small brigade runtime.
//!
//! Every margin here is for a loaded 2-core machine: set-up waits are long (they cost nothing
//! when things go well), and tests assert on behaviour, not on how fast it happened.
#![allow(dead_code)] // each test file uses its own part

use std::future::Future;
use std::time::Duration;

use brigade_postgres::testing::TempCluster;
use brigade_postgres::Client;

/// Worker threads of every test runtime: few, so tasks really share them.
pub const WORKERS: usize = 2;

/// A generous bound for set-up steps (opening a connection, waiting for a server to notice):
/// long enough for a loaded machine, short enough that a hang fails the test.
pub const SETUP_LIMIT: Duration = Duration::from_secs(30);

/// A cluster, or `None` when PostgreSQL is absent and `BRIGADE_SKIP_POSTGRES=1`.
pub fn cluster() -> Option<TempCluster> {
    TempCluster::for_test()
}

/// A cluster whose sessions are read-only, as on a hot standby.
pub fn read_only_cluster() -> Option<TempCluster> {
    TempCluster::for_test_with(&[("default_transaction_read_only", "on")])
}

/// Runs `test` on a fresh 2-worker brigade runtime.
pub fn run<Fut: Future<Output = ()>>(test: Fut) {
    let runtime = brigade::Runtime::builder()
        .workers(WORKERS)
        .build()
        .expect("start a brigade runtime");
    runtime.block_on(test);
}

/// The backend process id of `client`'s session.
pub async fn backend_pid(client: &Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

/// The TCP port the server says `client` reached it on.
pub async fn server_port(client: &Client) -> u16 {
    let port: i32 = client
        .query_one("SELECT inet_server_port()", &[])
        .await
        .unwrap()
        .get(0);
    u16::try_from(port).unwrap()
}

/// A loopback port nobody listens on (free now; nothing binds it in a test's short life).
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
