//! A small JSON API on brigade-http — the seed's section 13D, "high-throughput web APIs", in
//! miniature: every connection is a task, no request holds a thread while it waits.
//!
//! ```text
//! GET  /health       {"status":"ok","connections_served_by":"brigade"}
//! GET  /todos        every todo
//! POST /todos        {"title":"..."} adds one (201 Created)
//! GET  /todos/{id}   one todo, or 404
//! GET  /ws           a WebSocket echo (text and binary messages come back as sent)
//! ```
//!
//! `-- --tls-cert PATH --tls-key PATH` serves HTTPS (and `wss://`) on the same port instead,
//! HTTP/2 and HTTP/1.1 by ALPN. A certificate to try it with:
//!
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
//!     -subj /CN=localhost -addext subjectAltName=DNS:localhost \
//!     -addext basicConstraints=critical,CA:FALSE -keyout key.pem -out cert.pem
//! cargo run --release --example http_server -- --tls-cert cert.pem --tls-key key.pem
//! curl -s --cacert cert.pem https://localhost:8080/health
//! ```
//!
//! `cargo run --release --example http_server` serves on 127.0.0.1:8080 (`-- --addr HOST:PORT`
//! for another) until Ctrl-C or SIGTERM (`Server::shutdown_on_signals`), then shuts down
//! gracefully (requests in flight finish). Try:
//!
//! ```text
//! curl -s localhost:8080/todos -d '{"title":"learn how await works"}'
//! curl -s localhost:8080/todos
//! curl -s --http2-prior-knowledge localhost:8080/health
//! ```
//!
//! `-- --demo` serves on a free port, sends itself a few requests with brigade-http's client,
//! prints them, shuts down and exits (CI runs this).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brigade::cancel::CancellationTokenSource;
use brigade_http::websocket::{Message, WebSocket};
use brigade_http::{service_fn, BodyExt, Bytes, Client, Full, Incoming, Server, ServerTls};
use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
struct Todo {
    id: u64,
    title: String,
    done: bool,
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

/// The application state. A std `Mutex` is right here: it is held for a few instructions and
/// never across an `.await`.
#[derive(Default)]
struct Todos {
    items: Mutex<Vec<Todo>>,
}

type HttpResponse = Response<Full<Bytes>>;

fn json<T: Serialize>(status: StatusCode, value: &T) -> HttpResponse {
    let body = serde_json::to_vec(value).expect("plain data always serialises");
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &serde_json::json!({ "error": message }))
}

/// The whole API: one `async fn` from request to response.
async fn handle(todos: Arc<Todos>, request: Request<Incoming>) -> HttpResponse {
    let path: Vec<&str> = request.uri().path().trim_matches('/').split('/').collect();
    match (request.method(), path.as_slice()) {
        (&Method::GET, ["health"]) => json(
            StatusCode::OK,
            &serde_json::json!({ "status": "ok", "connections_served_by": "brigade" }),
        ),
        (&Method::GET, ["todos"]) => {
            let items = todos.items.lock().unwrap().clone();
            json(StatusCode::OK, &items)
        }
        (&Method::GET, ["todos", id]) => {
            let id: Option<u64> = id.parse().ok();
            let found = todos
                .items
                .lock()
                .unwrap()
                .iter()
                .find(|todo| Some(todo.id) == id)
                .cloned();
            match found {
                Some(todo) => json(StatusCode::OK, &todo),
                None => error(StatusCode::NOT_FOUND, "no such todo"),
            }
        }
        (&Method::POST, ["todos"]) => {
            // Reading the body awaits the network: the worker serves others meanwhile.
            let body = match request.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => return error(StatusCode::BAD_REQUEST, "the body did not arrive"),
            };
            let new: NewTodo = match serde_json::from_slice(&body) {
                Ok(new) => new,
                Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad JSON: {e}")),
            };
            let mut items = todos.items.lock().unwrap();
            let todo = Todo {
                id: items.len() as u64 + 1,
                title: new.title,
                done: false,
            };
            items.push(todo.clone());
            json(StatusCode::CREATED, &todo)
        }
        _ => error(StatusCode::NOT_FOUND, "no such route"),
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let demo = args.iter().any(|arg| arg == "--demo");
    let address = match args.iter().position(|arg| arg == "--addr") {
        Some(at) => args.get(at + 1).cloned().expect("--addr needs HOST:PORT"),
        None if demo => "127.0.0.1:0".to_owned(),
        None => "127.0.0.1:8080".to_owned(),
    };
    let path_after = |flag: &str| {
        args.iter().position(|arg| arg == flag).map(|at| {
            args.get(at + 1)
                .cloned()
                .unwrap_or_else(|| panic!("{flag} needs a PATH"))
        })
    };
    let cert_path = path_after("--tls-cert");
    let tls = match (&cert_path, path_after("--tls-key")) {
        (Some(cert), Some(key)) => Some(ServerTls::from_pem_files(cert, key)?),
        (None, None) => None,
        _ => panic!("--tls-cert and --tls-key go together"),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let rt = brigade::Runtime::new()?;
    rt.block_on(async {
        let shutdown = CancellationTokenSource::new();
        let server = Server::bind(address)
            .await?
            .shutdown_on(shutdown.token())
            // SIGINT (Ctrl-C) or SIGTERM: finish the requests in flight, then stop.
            .shutdown_on_signals()?
            .drain_timeout(Duration::from_secs(5))
            .websocket("/ws", echo);
        let server = match tls {
            Some(tls) => server.tls(tls),
            None => server,
        };
        let addr = server.local_addr()?;

        let todos = Arc::new(Todos::default());
        let service = service_fn(move |request| {
            let todos = Arc::clone(&todos);
            async move { Ok::<_, Infallible>(handle(todos, request).await) }
        });
        let serving = brigade::spawn(server.serve(service));

        if demo {
            // Over TLS the demo's client trusts the server's certificate and calls it by the
            // name a certificate for this machine carries.
            let root = cert_path.map(std::fs::read).transpose()?;
            let host = if root.is_some() {
                format!("localhost:{}", addr.port())
            } else {
                addr.to_string()
            };
            run_demo(&format!("{scheme}://{host}"), root).await;
            shutdown.cancel();
        } else {
            println!(
                "serving the todo API on {scheme}://{addr} (HTTP/1.1 and HTTP/2; a WebSocket \
                 echo on /ws); Ctrl-C or SIGTERM stops it gracefully"
            );
        }
        serving.await?;
        println!("server stopped gracefully");
        Ok(())
    })
}

/// `/ws`: sends every text and binary message back.
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && ws.send(message).await.is_err()
        {
            break;
        }
    }
}

/// The demo: the server's own client walks through the API.
async fn run_demo(base: &str, root: Option<Vec<u8>>) {
    println!("demo: a todo API on {base}, called by brigade-http's client");
    let client = match root {
        Some(pem) => Client::builder()
            .add_root_certificate(pem)
            .expect("the server's certificate is a valid root")
            .build(),
        None => Client::new(),
    };
    let show = |method: &str, path: &str, status: StatusCode, body: &str| {
        println!("  {method:<4} {path:<10} -> {} {body}", status.as_u16());
    };

    for title in ["learn how await works", "write an HTTP server"] {
        let response = client
            .post_json(
                format!("{base}/todos"),
                &serde_json::json!({ "title": title }),
            )
            .await
            .expect("POST /todos");
        let status = response.status();
        show("POST", "/todos", status, &response.text().await.unwrap());
    }
    for path in ["/todos", "/todos/1", "/todos/9", "/health"] {
        let response = client.get(format!("{base}{path}")).await.expect("GET");
        let status = response.status();
        show("GET", path, status, &response.text().await.unwrap());
    }
    let todos: Vec<Todo> = client
        .get_json(format!("{base}/todos"))
        .await
        .expect("GET /todos as JSON");
    println!("  get_json::<Vec<Todo>>() read {} todos", todos.len());
    if base.starts_with("https") {
        println!(
            "  over HTTPS, ALPN chose HTTP/2: one multiplexed connection carried every request"
        );
    } else {
        println!(
            "  the client's pool holds {} idle connection(s) to the server: requests reuse it",
            client.idle_connections("127.0.0.1", port_of(base))
        );
    }
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut ws = client
        .websocket(&ws_url)
        .await
        .expect("WebSocket handshake");
    ws.send(Message::text("echo me")).await.expect("send");
    let echoed = ws.recv().await.expect("an answer").expect("a message");
    println!("  WebSocket {ws_url}: sent \"echo me\", got back {echoed:?}");
    let _ = ws
        .close(brigade_http::websocket::CloseCode::Normal, "done")
        .await;
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or(80)
}
