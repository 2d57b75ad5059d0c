//! The live dashboard (issue 18) over a small shop's workload: named tasks waiting on
//! channels, locks, timers, sockets and each other, and one that blocks its worker now and
//! then (a stall, reported on the page).
//!
//! ```sh
//! cargo run --release --example dashboard -- --port 6669        # then open http://127.0.0.1:6669/
//! cargo run --release --example dashboard -- --demo             # ~3 s: fetches its own /api/tasks, exits
//! cargo run --release --example dashboard -- --measure-cost     # CPU cost of serving 1 request/s
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade::sync::{channel, Mutex};
use brigade::time::{interval, sleep};
use brigade::Runtime;

struct Args {
    port: u16,
    demo: bool,
    measure_cost: bool,
}

fn args() -> Args {
    let mut args = Args {
        port: 6669,
        demo: false,
        measure_cost: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" => {
                args.port = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage("--port needs a number"))
            }
            "--demo" => args.demo = true,
            "--measure-cost" => args.measure_cost = true,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!("dashboard: {problem}\nusage: dashboard [--port N] [--demo] [--measure-cost]");
    std::process::exit(2)
}

fn main() -> std::io::Result<()> {
    let args = args();
    let rt = Runtime::builder()
        .workers(2)
        .stall_threshold(Duration::from_millis(100))
        .on_stall(brigade_console::stall_hook(|report| {
            eprintln!("brigade: {report}")
        }))
        .build()?;
    rt.block_on(workload());
    if args.measure_cost {
        return rt.block_on(measure_cost());
    }
    let port = if args.demo { 0 } else { args.port };
    let console = rt.block_on(async { brigade_console::serve(("127.0.0.1", port)) })?;
    let url = format!("http://{}/", console.local_addr());
    if !args.demo {
        println!("dashboard at {url} (Ctrl-C to stop)");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    // --demo: let the workload run, read our own task list back, check it, exit.
    std::thread::sleep(Duration::from_secs(3));
    let body = rt.block_on(async {
        let client = brigade_http::Client::new();
        client
            .get(format!("{url}api/tasks"))
            .send()
            .await?
            .text()
            .await
    });
    let body = body.map_err(std::io::Error::other)?;
    let tasks: serde_json::Value = serde_json::from_str(&body).map_err(std::io::Error::other)?;
    let list = tasks["tasks"].as_array().cloned().unwrap_or_default();
    let named = |name: &str| list.iter().find(|t| t["name"] == name).cloned();
    let checker = named("checkout").expect("the checkout task is listed");
    println!(
        "{} tasks; e.g. checkout: {}",
        list.len(),
        checker["wait"]["text"]
    );
    for task in list.iter().filter(|t| !t["name"].is_null()).take(12) {
        println!(
            "  {:>4} {:<14} {:<9} {}",
            task["id"],
            task["name"].as_str().unwrap_or("-"),
            task["state"].as_str().unwrap_or("-"),
            task["wait"]["text"].as_str().unwrap_or("-")
        );
    }
    assert!(
        list.iter().any(|t| !t["wait"].is_null()),
        "some task reports a wait: {body}"
    );
    // The same, as `Runtime::dump` prints it: each wait, and chains through joins.
    println!("\n{}", rt.dump());
    drop(console);
    rt.shutdown_timeout(Duration::from_secs(5)).ok();
    Ok(())
}

/// The shop: an echo "database", connections that query it, a job queue with workers sharing
/// an inventory lock, a ticker, a checkout awaiting a report that awaits the database, and a
/// task that blocks its worker every few seconds.
async fn workload() {
    let database = brigade::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let db_addr = database.local_addr().unwrap();
    brigade::spawn_named("database", async move {
        loop {
            let Ok((mut conn, _)) = database.accept().await else {
                return;
            };
            brigade::spawn_named("db-session", async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    // "Query time": reports are slow, so their callers are seen waiting on us.
                    let query_ms = if buf[0] == b'r' { 600 } else { 30 };
                    sleep(Duration::from_millis(query_ms)).await;
                    if conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            })
            .detach();
        }
    })
    .detach();

    for pool_slot in 0..2 {
        brigade::spawn_named(format!("db-conn-{pool_slot}"), async move {
            let mut conn = brigade::net::TcpStream::connect(db_addr).await.unwrap();
            let mut buf = [0u8; 5];
            loop {
                if conn.write_all(b"query").await.is_err()
                    || conn.read_exact(&mut buf).await.is_err()
                {
                    return;
                }
                sleep(Duration::from_millis(200 + 150 * pool_slot)).await;
            }
        })
        .detach();
    }

    let (jobs, queue) = channel::<u64>(16);
    let queue = Arc::new(queue);
    let inventory = Arc::new(Mutex::new(0u64));
    let done = Arc::new(AtomicU64::new(0));
    for worker in 0..3 {
        let (queue, inventory, done) = (queue.clone(), inventory.clone(), done.clone());
        brigade::spawn_named(format!("packer-{worker}"), async move {
            while let Some(order) = queue.recv().await {
                let mut stock = inventory.lock().await;
                *stock += order;
                sleep(Duration::from_millis(40)).await; // holds the lock: the others queue
                drop(stock);
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
        .detach();
    }
    brigade::spawn_named("orders", async move {
        let mut next = 0;
        loop {
            next += 1;
            if jobs.send(next).await.is_err() {
                return;
            }
            sleep(Duration::from_millis(25)).await;
        }
    })
    .detach();

    brigade::spawn_named("ticker", async move {
        let mut ticks = interval(Duration::from_millis(500));
        loop {
            ticks.tick().await;
        }
    })
    .detach();

    brigade::spawn_named("checkout", async move {
        loop {
            let report = brigade::spawn_named("report", async move {
                let mut conn = brigade::net::TcpStream::connect(db_addr).await.unwrap();
                let mut buf = [0u8; 6];
                conn.write_all(b"report").await.unwrap();
                conn.read_exact(&mut buf).await.unwrap();
                sleep(Duration::from_millis(100)).await;
            });
            report.await;
        }
    })
    .detach();

    brigade::spawn_named("nightly-export", async move {
        loop {
            sleep(Duration::from_secs(4)).await;
            // A blocking call in async code: the stall monitor catches it.
            std::thread::sleep(Duration::from_millis(250));
        }
    })
    .detach();
}

/// CPU time of this process so far (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the whole line (utime, stime) are 12 and 13 after the ')'.
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// The workload's CPU over 10 s without the console, then over 10 s with the console served
/// and fetched once a second (the page's rate): the difference is the console's cost.
async fn measure_cost() -> std::io::Result<()> {
    const SPAN: Duration = Duration::from_secs(10);
    sleep(Duration::from_secs(1)).await;
    let (cpu, wall) = (cpu_time(), Instant::now());
    sleep(SPAN).await;
    let without = cpu_time() - cpu;
    let without_wall = wall.elapsed();
    let console = brigade_console::serve("127.0.0.1:0")?;
    let url = format!("http://{}/api/snapshot", console.local_addr());
    let client = brigade_http::Client::new();
    let (cpu, wall) = (cpu_time(), Instant::now());
    let mut fetched = 0;
    while wall.elapsed() < SPAN {
        let body = client
            .get(&url)
            .send()
            .await
            .map_err(std::io::Error::other)?;
        fetched += body.bytes().await.map_err(std::io::Error::other)?.len();
        sleep(Duration::from_secs(1)).await;
    }
    let with = cpu_time() - cpu;
    let with_wall = wall.elapsed();
    let share = |cpu: Duration, wall: Duration| 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    println!(
        "workload alone: {:.2}% of one core; with the console at 1 request/s: {:.2}%; \
         difference {:.2}% ({} bytes fetched)",
        share(without, without_wall),
        share(with, with_wall),
        share(with, with_wall) - share(without, without_wall),
        fetched
    );
    drop(console);
    Ok(())
}
