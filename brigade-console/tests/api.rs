//! The console's HTTP surface, through real sockets: the JSON API shows named tasks and their
//! waits, the history ring fills, stalls arrive through `stall_hook`, non-loopback addresses
//! and foreign Host headers are refused, and dropping the console stops it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brigade_test_support::{wait_until, watchdog};

const LIMIT: Duration = Duration::from_secs(60);

/// A plain HTTP/1.1 GET with a chosen Host header; returns the status line and the body.
fn get(addr: std::net::SocketAddr, path: &str, host: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

fn json(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = get(addr, path, "127.0.0.1");
    assert!(status.contains("200"), "{path}: {status}\n{body}");
    // Connection: close with a known length: the body is the whole JSON document.
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn the_api_shows_named_tasks_their_waits_history_and_stalls() {
    watchdog("console api", LIMIT, || {
        let user_hook_calls = Arc::new(AtomicUsize::new(0));
        let calls = user_hook_calls.clone();
        let rt = brigade::Runtime::builder()
            .workers(2)
            .stall_threshold(Duration::from_millis(100))
            .on_stall(brigade_console::stall_hook(move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
            }))
            .build()
            .unwrap();
        let sleeper = rt.handle().spawn_named(
            "api-visible-sleeper",
            brigade::time::sleep(Duration::from_secs(50)),
        );
        let console = rt
            .block_on(async { brigade_console::serve("127.0.0.1:0") })
            .unwrap();
        let addr = console.local_addr();

        let tasks = json(addr, "/api/tasks");
        let list = tasks["tasks"].as_array().unwrap();
        let mine = list
            .iter()
            .find(|t| t["name"] == "api-visible-sleeper")
            .unwrap_or_else(|| panic!("{tasks:#}"));
        assert_eq!(mine["state"], "idle", "{mine:#}");
        let wait = mine["wait"]["text"].as_str().unwrap();
        assert!(wait.starts_with("sleep 50 s, "), "{wait}");
        assert!(wait.contains("api.rs:"), "{wait}");

        // A blocking task: a stall report reaches the console and the user's hook.
        let blocker = rt.handle().spawn_named("api-blocker", async {
            std::thread::sleep(Duration::from_millis(600));
        });
        rt.block_on(blocker);
        wait_until("the stall report", LIMIT, || {
            json(addr, "/api/stalls")["reports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["task_name"] == "api-blocker")
        });
        assert!(user_hook_calls.load(Ordering::SeqCst) >= 1);

        // The sampler fills the history ring once a second.
        wait_until("two history samples", LIMIT, || {
            json(addr, "/api/metrics")["history"]
                .as_array()
                .unwrap()
                .len()
                >= 2
        });
        let metrics = json(addr, "/api/metrics");
        assert_eq!(metrics["workers_configured"], 2);
        assert!(metrics["workers"].as_array().unwrap().len() >= 2);
        assert!(metrics["timers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["task_name"] == "api-visible-sleeper"));

        let (status, page) = get(addr, "/", "localhost");
        assert!(status.contains("200"), "{status}");
        assert!(page.contains("<title>brigade console</title>"));
        let (status, _) = get(addr, "/nope", "localhost");
        assert!(status.contains("404"), "{status}");

        drop(console);
        wait_until("the listener to close", LIMIT, || {
            TcpStream::connect(addr).is_err()
        });
        drop(sleeper);
    });
}

#[test]
fn non_loopback_addresses_are_refused_unless_allowed() {
    let rt = brigade_test_support::rt(1);
    let refused = rt
        .block_on(async { brigade_console::serve("0.0.0.0:0") })
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(refused.to_string().contains("allow_remote"), "{refused}");
    let allowed = rt.block_on(async {
        brigade_console::ConsoleBuilder::new()
            .allow_remote(true)
            .serve("0.0.0.0:0")
    });
    assert!(allowed.is_ok(), "{allowed:?}");
}

#[test]
fn a_foreign_host_header_is_refused_while_loopback_only() {
    watchdog("host check", LIMIT, || {
        let rt = brigade_test_support::rt(1);
        let console = rt
            .block_on(async { brigade_console::serve("127.0.0.1:0") })
            .unwrap();
        let (status, _) = get(console.local_addr(), "/api/tasks", "attacker.example:80");
        assert!(status.contains("421"), "{status}");
        let (status, _) = get(console.local_addr(), "/api/tasks", "[::1]:6669");
        assert!(status.contains("200"), "{status}");
    });
}

#[test]
fn serve_outside_a_runtime_says_what_to_do() {
    let error = brigade_console::serve("127.0.0.1:0").unwrap_err();
    assert!(
        error.to_string().contains("outside a brigade runtime"),
        "{error}"
    );
}
