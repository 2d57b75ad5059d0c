//! 13. Real-world scenarios (A: HttpClient and a web API; B is ch13b.rs; C is ch13c.rs; D)

use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade::{Handle, Runtime};

use crate::common::{chapter, ms, say, show};

/// A tiny "users" API for chapter 13: `/users/{id}` answers after 5 ms of pretend work;
/// `/slow` never answers in time.
async fn users_api(
    request: http::Request<brigade_http::Incoming>,
) -> Result<http::Response<brigade_http::Full<brigade_http::Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_string();
    if path == "/slow" {
        brigade::time::sleep(Duration::from_secs(30)).await;
    }
    brigade::time::sleep(Duration::from_millis(5)).await; // a database call, say
    let id = path.trim_start_matches("/users/");
    let body = format!(r#"{{"id":{id},"name":"cook {id}"}}"#);
    Ok(http::Response::new(brigade_http::Full::new(body.into())))
}

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)] // printed with Debug
struct User {
    id: u32,
    name: String,
}

pub(crate) fn ch13_real_world(rt: &Runtime) {
    chapter("13. Real-world scenarios");
    say(
        "The article ends where async pays for itself: waiting on the network. Every wait \
         below — a socket read, a database reply, a timer — returns the worker thread to the \
         pool until epoll says the bytes are there. The servers are real, on loopback, \
         started by the tour itself.",
    );

    // 13A and 13D share one HTTP server, running on the tour's runtime.
    let shutdown = CancellationTokenSource::new();
    let server_token = shutdown.token();
    let addr = rt.block_on(async move {
        let server = brigade_http::Server::bind("127.0.0.1:0")
            .await
            .expect("bind the tour's HTTP server")
            .shutdown_on(server_token);
        let addr = server.local_addr().expect("local address");
        brigade::spawn(server.serve(brigade_http::service_fn(users_api))).detach();
        addr
    });

    say(
        "A. Calling a web API (HttpClient): GET /users/7, the JSON read into a struct, with a \
         cancellation token; then a request the user gives up on after 50 ms.",
    );
    let client = brigade_http::Client::new();
    let (user, pooled, gave_up, gave_up_after) = rt.block_on({
        let client = client.clone();
        async move {
            let token = CancellationTokenSource::new();
            let user: User = client
                .get(format!("http://{addr}/users/7"))
                .cancellation_token(&token.token())
                .send()
                .await
                .and_then(|response| response.error_for_status())
                .expect("GET /users/7")
                .json()
                .await
                .expect("a user");
            let pooled = client.idle_connections("127.0.0.1", addr.port());
            let impatient = CancellationTokenSource::with_timeout(Duration::from_millis(50));
            let started = Instant::now();
            let gave_up = client
                .get(format!("http://{addr}/slow"))
                .cancellation_token(&impatient.token())
                .send()
                .await;
            (user, pooled, gave_up.err(), started.elapsed())
        }
    });
    show(&format!(
        "{user:?}; idle pooled connections afterwards: {pooled}"
    ));
    show(&format!(
        "the slow request ended after {}: {}",
        ms(gave_up_after),
        gave_up.map_or("no error?".to_string(), |e| e.to_string())
    ));

    say(
        "B. Database operations (EF Core): tokio-postgres over brigade sockets against a \
         throwaway PostgreSQL server the tour starts in a temporary directory. A pool, an \
         insert and a query, and a 30 s query stopped on the server by a token.",
    );
    crate::ch13b::ch13b_database(rt);

    say(
        "C. UI responsiveness: the seed's upload button. This thread becomes a UI thread (a \
         MainLoop) with a spinner drawing a frame every 20 ms; a click runs ProcessLargeFile() \
         — 200 ms of blocking work — through brigade::run, and the handler resumes on the UI \
         thread to set the status. (`cargo run --release --example main_loop_ui` is the full \
         version, with progress and a failing upload.)",
    );
    crate::ch13c::ch13c_ui(rt);

    say(
        "D. A high-throughput web API: 2 000 requests, 64 at a time, from the client to the \
         server, all on the same 4 worker threads — each waiting request costs a small \
         future, not a thread.",
    );
    let (took, served, threads) = rt.block_on({
        let client = client.clone();
        async move {
            let started = Instant::now();
            let mut served = 0;
            for batch in 0..(2_000 / 64 + 1) {
                let requests = (0..64).filter(|i| batch * 64 + i < 2_000).map(|i| {
                    let client = client.clone();
                    brigade::spawn(async move {
                        client
                            .get(format!("http://{addr}/users/{i}"))
                            .send()
                            .await
                            .map(|r| r.status().is_success())
                            .unwrap_or(false)
                    })
                });
                served += brigade::when_all(requests)
                    .await
                    .into_iter()
                    .filter(|ok| *ok)
                    .count();
            }
            (
                started.elapsed(),
                served,
                Handle::current().metrics().active_workers,
            )
        }
    });
    show(&format!(
        "{served} of 2 000 requests answered in {} ({:.0} requests/s, each with 5 ms of pretend \
         work) on {threads} worker threads",
        ms(took),
        served as f64 / took.as_secs_f64()
    ));
    shutdown.cancel(); // graceful: the server finishes what is in flight and stops
}
