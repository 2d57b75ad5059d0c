//! A small JSON API on brigade-http — the seed's section 13D, "high-throughput web APIs", in
//! miniature: every connection is a task, no request holds a thread while it waits.
//!
//! ```text
//! GET  /health       {"status":"ok","connections_served_by":"brigade"}
//! GET  /todos        every todo
//! POST /todos        {"title":"..."} adds one (201 Created)
//! GET  /todos/{id}   one todo, or 404
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
use brigade_http::{service_fn, BodyExt, Bytes, Client, Full, Incoming, Server};
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
    let rt = brigade::Runtime::new()?;
    rt.block_on(async {
        let shutdown = CancellationTokenSource::new();
        let server = Server::bind(address)
            .await?
            .shutdown_on(shutdown.token())
            // SIGINT (Ctrl-C) or SIGTERM: finish the requests in flight, then stop.
            .shutdown_on_signals()?
            .drain_timeout(Duration::from_secs(5));
        let addr = server.local_addr()?;

        let todos = Arc::new(Todos::default());
        let service = service_fn(move |request| {
            let todos = Arc::clone(&todos);
            async move { Ok::<_, Infallible>(handle(todos, request).await) }
        });
        let serving = brigade::spawn(server.serve(service));

        if demo {
            run_demo(&format!("http://{addr}")).await;
            shutdown.cancel();
        } else {
            println!(
                "serving the todo API on http://{addr} (HTTP/1.1 and HTTP/2); Ctrl-C or \
                 SIGTERM stops it gracefully"
            );
        }
        serving.await?;
        println!("server stopped gracefully");
        Ok(())
    })
}

/// The demo: the server's own client walks through the API.
async fn run_demo(base: &str) {
    println!("demo: a todo API on {base}, called by brigade-http's client");
    let client = Client::new();
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
    println!(
        "  the client's pool holds {} idle connection(s) to the server: requests reuse it",
        client.idle_connections("127.0.0.1", port_of(base))
    );
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or(80)
}
