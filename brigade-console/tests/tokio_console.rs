//! The real tokio-console (brigade's feature `console`): console-subscriber's layer, installed
//! the way a user would, receives brigade's task spans; its gRPC server, read back with
//! console-api's client (what the `tokio-console` program does), lists brigade's named task
//! with its spawn location, and counts its polls.
//!
//! Run with `cargo test -p brigade-console --features tokio-console --test tokio_console`.
//! console-subscriber serves gRPC from a tokio runtime on its own thread, and tonic's client
//! needs tokio too: both are dev-dependencies, for this test only.
#![cfg(feature = "tokio-console")]

use std::time::{Duration, Instant};

use console_api::field::{Name, Value};
use console_api::instrument::instrument_client::InstrumentClient;
use console_api::instrument::InstrumentRequest;
use tracing_subscriber::layer::SubscriberExt;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn tokio_console_lists_brigades_named_task() {
    // A free port for console-subscriber's server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let layer = console_subscriber::ConsoleLayer::builder()
        .server_addr((std::net::Ipv4Addr::LOCALHOST, port))
        .publish_interval(Duration::from_millis(100))
        .spawn();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();

    // brigade's tasks, on brigade: one keeps sleeping (alive while we look), one finishes.
    let rt = brigade::Runtime::builder().workers(2).build().unwrap();
    let sleeper = rt.handle().spawn_named("console-grpc-sleeper", async {
        loop {
            brigade::time::sleep(Duration::from_millis(50)).await;
        }
    });
    rt.block_on(
        rt.handle()
            .spawn_named("console-grpc-quick", async { 1 + 1 }),
    );

    // The tokio-console side: connect, watch updates, collect tasks until ours shows up.
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let found = client_rt.block_on(async move {
        let started = Instant::now();
        let mut client = loop {
            match InstrumentClient::connect(format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                Err(error) if started.elapsed() < LIMIT => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("console-subscriber's server never answered: {error}"),
            }
        };
        let mut updates = client
            .watch_updates(InstrumentRequest {})
            .await
            .unwrap()
            .into_inner();
        let mut seen = Vec::new();
        let mut polls_of_sleeper = 0;
        let mut sleeper_id = None;
        while started.elapsed() < LIMIT {
            let Ok(Some(update)) = tokio::time::timeout(Duration::from_secs(5), updates.message())
                .await
                .unwrap_or(Ok(None))
            else {
                continue;
            };
            let Some(tasks) = update.task_update else {
                continue;
            };
            for task in &tasks.new_tasks {
                let name =
                    task.fields
                        .iter()
                        .find_map(|field| match (&field.name, &field.value) {
                            (
                                Some(Name::StrName(n)),
                                Some(Value::StrVal(v) | Value::DebugVal(v)),
                            ) if n == "task.name" => Some(v.clone()),
                            _ => None,
                        });
                let file = task
                    .location
                    .as_ref()
                    .and_then(|l| l.file.clone())
                    .unwrap_or_default();
                if name.as_deref() == Some("console-grpc-sleeper") {
                    sleeper_id = task.id.as_ref().map(|id| id.id);
                }
                seen.push((name, file));
            }
            if let Some(id) = sleeper_id {
                if let Some(stats) = tasks.stats_update.get(&id) {
                    polls_of_sleeper = stats.poll_stats.as_ref().map_or(0, |p| p.polls);
                }
            }
            if sleeper_id.is_some() && polls_of_sleeper >= 2 {
                break;
            }
        }
        (seen, polls_of_sleeper)
    });
    let (seen, polls) = found;
    let sleeper_seen = seen
        .iter()
        .find(|(name, _)| name.as_deref() == Some("console-grpc-sleeper"))
        .unwrap_or_else(|| panic!("tokio-console never saw brigade's task; it saw {seen:?}"));
    assert!(
        sleeper_seen.1.ends_with("tokio_console.rs"),
        "{sleeper_seen:?}"
    );
    assert!(
        polls >= 2,
        "tokio-console counts the task's polls ({polls})"
    );
    drop(sleeper);
}
