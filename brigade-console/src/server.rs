//! The console's two tasks: the sampler (one metrics snapshot a second into the history ring)
//! and the HTTP server (brigade-http) answering the page and the JSON API.
//!
//! # Invariants
//! - Both tasks stop when the [`Console`](crate::Console) handle is dropped: the server
//!   through its shutdown token, the sampler at its next tick.
//! - Only GET and HEAD are answered; every response says `Cache-Control: no-store`.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use brigade::cancel::CancellationToken;
use brigade::runtime::Handle;
use brigade_http::{Bytes, Full, Incoming, Server};
use http::{header, Method, Request, Response, StatusCode};

use crate::api;
use crate::history::History;

/// The page: HTML, CSS, JavaScript and SVG in one file, embedded at build time.
const PAGE: &str = include_str!("page.html");

pub(crate) struct Start {
    pub(crate) handle: Handle,
    pub(crate) listener: std::net::TcpListener,
    pub(crate) history: Duration,
    pub(crate) loopback_only: bool,
    pub(crate) stop: CancellationToken,
}

struct State {
    handle: Handle,
    history: History,
    loopback_only: bool,
}

pub(crate) fn start(start: Start) -> io::Result<()> {
    let state = Arc::new(State {
        handle: start.handle.clone(),
        history: History::new(start.history),
        loopback_only: start.loopback_only,
    });
    start.listener.set_nonblocking(true)?;
    let std_listener = start.listener;
    state.history.record(start.handle.metrics());
    let sampler_state = state.clone();
    let sampler_stop = start.stop.clone();
    start
        .handle
        .spawn_named("console:sampler", async move {
            let mut ticks = brigade::time::interval(Duration::from_secs(1));
            ticks.tick().await;
            while !sampler_stop.is_cancellation_requested() {
                ticks.tick().await;
                sampler_state.history.record(sampler_state.handle.metrics());
            }
        })
        .detach();
    let stop = start.stop;
    let service = brigade_http::service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(answer(&state, &request)) }
    });
    start
        .handle
        .spawn_named("console:http", async move {
            // Registered from inside a task of the observed runtime, with its reactor.
            let served = match brigade::net::TcpListener::from_std(std_listener) {
                Ok(listener) => {
                    Server::from_listener(listener)
                        .shutdown_on(stop)
                        .drain_timeout(Duration::from_secs(1))
                        .serve(service)
                        .await
                }
                Err(error) => Err(error),
            };
            if let Err(error) = served {
                eprintln!("brigade-console: the dashboard's listener failed: {error}");
            }
        })
        .detach();
    Ok(())
}

fn answer(state: &State, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if state.loopback_only && !host_is_loopback(request) {
        return plain(
            StatusCode::MISDIRECTED_REQUEST,
            "brigade-console answers loopback host names only (localhost, 127.0.0.1, [::1])",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "the console is read-only");
    }
    let json =
        |value: serde_json::Value| respond(StatusCode::OK, "application/json", value.to_string());
    match request.uri().path() {
        "/" | "/index.html" => respond(StatusCode::OK, "text/html; charset=utf-8", PAGE.to_owned()),
        "/api/metrics" => json(api::metrics(
            &state.handle.metrics(),
            &state.handle.dump(),
            &state.history,
        )),
        "/api/tasks" => json(api::tasks(&state.handle.dump())),
        "/api/stalls" => json(api::stalls()),
        "/api/snapshot" => {
            let dump = state.handle.dump();
            json(serde_json::json!({
                "metrics": api::metrics(&state.handle.metrics(), &dump, &state.history),
                "tasks": api::tasks(&dump),
                "stalls": api::stalls(),
            }))
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: try /, /api/metrics, /api/tasks, /api/stalls or /api/snapshot",
        ),
    }
}

/// Whether the request's `Host` (or HTTP/2 authority) names a loopback host.
fn host_is_loopback(request: &Request<Incoming>) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().host().map(str::to_owned));
    let Some(host) = host else {
        // HTTP/1.0 without Host: only a direct client does that.
        return true;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host.as_str(),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    respond(status, "text/plain; charset=utf-8", format!("{text}\n"))
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_str(content_type).expect("a valid content type"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    response
}
