//! Seed section 13D, "a single server can handle thousands of concurrent requests with just a
//! few dozen threads": 10 000 idle connections held open against a server on a two-worker
//! runtime, which still answers a request at once.
//!
//! The client side runs in a child process (the test binary, re-run) so each process holds
//! 10 000 descriptors, under the hard limit; this file holds this test alone, so the
//! descriptor count of the process is the server's.

mod common;

use std::io::BufRead;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use brigade::Runtime;
use brigade_http::Client;
use common::{
    eventually, listener_with_backlog, open_fds, reset_on_close, set_open_files_limit, spawn_child,
    wait_for_line, wait_or_kill, TestServer, CHILD_ROLE,
};

const CONNECTIONS: u64 = 10_000; // a multiple of 4: the child connects from four threads
const HOLDER: &str = "child_holds_idle_connections";

/// The child half: opens the connections given in its role (`hold <addr> <count>`), prints
/// `HELD <count>`, and keeps them until its stdin closes.
#[test]
#[ignore = "the client half of ten_thousand_idle_connections_on_two_workers"]
fn child_holds_idle_connections() {
    let role = std::env::var(CHILD_ROLE).unwrap_or_default();
    let mut words = role.split_whitespace();
    if words.next() != Some("hold") {
        eprintln!("note: run by ten_thousand_idle_connections_on_two_workers");
        return;
    }
    let addr: SocketAddr = words.next().unwrap().parse().unwrap();
    let count: u64 = words.next().unwrap().parse().unwrap();
    set_open_files_limit(u64::MAX); // up to the hard limit
                                    // Four threads connect a quarter each, so one connect waiting out a SYN retransmit does
                                    // not hold up the rest.
    let quarters: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                (0..count / 4)
                    .map(|i| {
                        std::net::TcpStream::connect(addr)
                            .unwrap_or_else(|error| panic!("connection {i}: {error}"))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let held: Vec<_> = quarters
        .into_iter()
        .flat_map(|quarter| quarter.join().unwrap())
        .collect();
    println!("HELD {}", held.len());
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line); // until the parent closes stdin
                                                          // Close with a reset: a normal close would leave 10 000 ports in TIME_WAIT for a minute,
                                                          // slowing every later connect on the machine (and a rerun of this test) to a crawl.
    for stream in &held {
        reset_on_close(stream);
    }
    drop(held);
}

#[test]
fn ten_thousand_idle_connections_on_two_workers() {
    let (_, hard_limit) = set_open_files_limit(u64::MAX);
    let connections = CONNECTIONS.min(hard_limit.saturating_sub(500)) / 4 * 4;
    if connections < CONNECTIONS {
        eprintln!(
            "note: the hard limit on open files is {hard_limit}; holding {connections} \
             connections instead of {CONNECTIONS}"
        );
    }
    let me = std::process::id();
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async move {
        // Room for all of them, and no header-read timeout firing while the test holds them.
        // A deep accept queue: the child connects as fast as it can, and a debug build on a
        // busy machine may fall behind for a moment; an overflow costs a 1 s SYN retransmit.
        let server = TestServer::start_on(listener_with_backlog(4096), |server| {
            server
                .max_connections(connections as usize + 100)
                .header_read_timeout(Duration::from_secs(120))
        });
        let baseline = open_fds(me) as u64;

        let role = format!("hold {} {connections}", server.addr);
        let (mut child, mut stdout) = spawn_child(HOLDER, &role);
        let stdout = brigade::run(move || {
            wait_for_line(&mut stdout, "HELD ");
            stdout
        })
        .await;
        let all_accepted = brigade::run(move || {
            eventually(Duration::from_secs(20), || {
                open_fds(me) as u64 >= baseline + connections
            })
        })
        .await;
        assert!(
            all_accepted,
            "the server accepted only {} of {connections} connections",
            open_fds(me) as u64 - baseline
        );

        // With all of them open, a request is still answered at once.
        let asked = Instant::now();
        let response = Client::new().get(server.url("/")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "hello");
        let took = asked.elapsed();
        assert!(took < Duration::from_secs(5), "answered after {took:?}");

        // Let go of them: the server closes its ends.
        drop(child.stdin.take());
        let status = brigade::run(move || wait_or_kill(&mut child, Duration::from_secs(20))).await;
        assert!(status.success());
        drop(stdout);
        let all_closed = brigade::run(move || {
            eventually(Duration::from_secs(20), || {
                (open_fds(me) as u64) < baseline + 50
            })
        })
        .await;
        assert!(
            all_closed,
            "{} server-side descriptors still open",
            open_fds(me) as u64 - baseline
        );
        server.shut_down().await;
    });
}
