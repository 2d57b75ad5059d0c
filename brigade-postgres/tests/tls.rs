//! TLS to a real PostgreSQL started with `ssl=on` and a certificate made by the test:
//! `sslmode=require` (encrypted, unchecked), `verify-full` (chain and host name, with clear
//! errors when either is wrong), query cancellation over TLS, and the pool.

mod common;

use std::time::Duration;

use brigade::cancel::CancellationTokenSource;
use brigade_postgres::testing::TempCluster;
use brigade_postgres::tokio_postgres::config::SslMode;
use brigade_postgres::{Client, Config, Error, PgTls, Pool};
use brigade_tls::testing::TestCa;
use common::{run, SETUP_LIMIT};

struct TlsCluster {
    ca: TestCa,
    cluster: TempCluster,
}

/// A cluster with TLS on, its certificate naming `localhost` only (not 127.0.0.1).
fn tls_cluster() -> Option<TlsCluster> {
    let ca = TestCa::new("postgres test CA");
    let cert = ca.server(&["localhost"]);
    let cluster = TempCluster::for_test_with_tls(&cert.cert_pem, &cert.key_pem)?;
    Some(TlsCluster { ca, cluster })
}

fn config(db: &TlsCluster, host: &str, mode: SslMode) -> Config {
    let mut config = Config::new();
    config
        .host(host)
        .port(db.cluster.port())
        .user("postgres")
        .dbname("postgres")
        .ssl_mode(mode)
        .connect_timeout(SETUP_LIMIT);
    config
}

async fn uses_tls(client: &Client) -> bool {
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

#[test]
fn sslmode_require_encrypts_and_plain_connect_refuses_it() {
    let Some(db) = tls_cluster() else { return };
    run(async {
        let config = config(&db, "127.0.0.1", SslMode::Require);
        let client = brigade_postgres::connect_tls(&config, &PgTls::require())
            .await
            .unwrap();
        assert!(uses_tls(&client).await, "the session is encrypted");

        let refused = brigade_postgres::connect(&config).await.unwrap_err();
        assert!(matches!(refused, Error::Config(_)), "{refused}");
        assert!(refused.to_string().contains("connect_tls"), "{refused}");

        // prefer + PgTls: TLS, since the server offers it; disable: plain text.
        let prefer = config_with(&db, SslMode::Prefer);
        let client = brigade_postgres::connect_tls(&prefer, &PgTls::require())
            .await
            .unwrap();
        assert!(uses_tls(&client).await);
        let disable = config_with(&db, SslMode::Disable);
        let client = brigade_postgres::connect_tls(&disable, &PgTls::require())
            .await
            .unwrap();
        assert!(!uses_tls(&client).await);
    });
}

fn config_with(db: &TlsCluster, mode: SslMode) -> Config {
    config(db, "127.0.0.1", mode)
}

#[test]
fn verify_full_checks_the_chain_and_the_host_name() {
    let Some(db) = tls_cluster() else { return };
    run(async {
        let verify = PgTls::verify_full(db.ca.cert_pem().as_bytes()).unwrap();
        let good = config(&db, "localhost", SslMode::Require);
        let client = brigade_postgres::connect_tls(&good, &verify).await.unwrap();
        assert!(uses_tls(&client).await);

        // 127.0.0.1 is not a name the certificate carries.
        let wrong_host = config(&db, "127.0.0.1", SslMode::Require);
        let error = brigade_postgres::connect_tls(&wrong_host, &verify)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("not valid for this host name"),
            "{error}"
        );

        let stranger = PgTls::verify_full(TestCa::new("other CA").cert_pem().as_bytes()).unwrap();
        let error = brigade_postgres::connect_tls(&good, &stranger)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("unknown authority"), "{error}");

        assert!(matches!(
            PgTls::verify_full(b"no pem here"),
            Err(Error::Config(_))
        ));
    });
}

#[test]
fn a_server_without_tls_fails_sslmode_require_clearly() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    run(async {
        let mut config = cluster.tcp_config();
        config.ssl_mode(SslMode::Require);
        let error = brigade_postgres::connect_tls(&config, &PgTls::require())
            .await
            .unwrap_err();
        assert!(
            error.to_string().to_lowercase().contains("tls") || error.to_string().contains("ssl"),
            "{error}"
        );
    });
}

#[test]
fn k9_a_query_is_cancelled_over_tls() {
    let Some(db) = tls_cluster() else { return };
    run(async {
        let config = config(&db, "localhost", SslMode::Require);
        let verify = PgTls::verify_full(db.ca.cert_pem().as_bytes()).unwrap();
        let client = brigade_postgres::connect_tls(&config, &verify)
            .await
            .unwrap();
        let source = CancellationTokenSource::with_timeout(Duration::from_millis(200));
        let result = brigade::time::timeout(
            SETUP_LIMIT,
            client.query_with_cancellation(&source.token(), "SELECT pg_sleep(30)", &[]),
        )
        .await
        .expect("the cancel request stops the query long before 30 s");
        let error = result.unwrap_err();
        assert!(error.is_cancelled(), "{error:?}");
        // The connection is free at once, still encrypted.
        assert!(uses_tls(&client).await);
    });
}

#[test]
fn the_pool_opens_tls_connections() {
    let Some(db) = tls_cluster() else { return };
    run(async {
        let config = config(&db, "localhost", SslMode::Require);
        let verify = PgTls::verify_full(db.ca.cert_pem().as_bytes()).unwrap();
        let pool = Pool::builder(config)
            .max_size(2)
            .tls(verify)
            .build()
            .unwrap();
        for _ in 0..3 {
            let client = pool.get().await.unwrap();
            assert!(uses_tls(&client).await);
        }
    });
}
