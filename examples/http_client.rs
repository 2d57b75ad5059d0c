//! brigade-http's client — the seed's section 13A, "calling a web API (HttpClient)": the
//! thread is released back to the pool during the network wait, and a `CancellationToken`
//! stops the request.
//!
//! `cargo run --release --example http_client` starts a small server of its own on a free
//! port (so it needs no network), then shows:
//!
//! 1. pooling: sequential requests share one TCP connection (the server reports the client's
//!    address, so you can see it);
//! 2. HTTP/2: concurrent requests multiplexed on one connection;
//! 3. a timeout: a request to a slow endpoint gives up after 300 ms;
//! 4. a cancellation: a request whose token is cancelled by another task (a "Cancel" button)
//!    stops at once — the request future is dropped, the connection closed;
//! 5. HTTPS: the same server over TLS with a certificate from a CA made on the spot — refused
//!    by a default client (Mozilla's roots do not know that CA, and the error says so), then
//!    trusted with `add_root_certificate`, where ALPN picks HTTP/2; and a `wss://` WebSocket;
//!
//! then shuts the server down and exits.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade_http::websocket::{CloseCode, Message, WebSocket};
use brigade_http::{service_fn, Bytes, Client, Error, Full, Incoming, PeerAddr, Server, ServerTls};
use http::{Request, Response};

/// The local server: `/whoami` answers with the client's address, `/slow` after 5 s.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match request.uri().path() {
        "/whoami" => match request.extensions().get::<PeerAddr>() {
            Some(PeerAddr(peer)) => format!("you are {peer}"),
            None => "you are unknown".to_owned(),
        },
        "/slow" => {
            brigade::time::sleep(Duration::from_secs(5)).await;
            "finally".to_owned()
        }
        _ => "hello".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

#[brigade::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stop_server = CancellationTokenSource::new();
    let server = Server::bind("127.0.0.1:0")
        .await?
        .shutdown_on(stop_server.token())
        .drain_timeout(Duration::from_secs(1));
    let base = format!("http://{}", server.local_addr()?);
    let serving = brigade::spawn(server.serve(service_fn(handle)));
    println!("a local server on {base}\n");

    println!("1. pooling: five requests in a row, one client");
    let client = Client::new();
    for _ in 0..5 {
        let answer = client.get(format!("{base}/whoami")).await?.text().await?;
        println!("   {answer}");
    }
    println!("   -> the same client port each time: one TCP connection, reused\n");

    println!("2. HTTP/2 with prior knowledge: five requests at once");
    let http2 = Client::builder().http2_prior_knowledge().build();
    let requests = (0..5).map(|_| {
        let (client, url) = (http2.clone(), format!("{base}/whoami"));
        brigade::spawn(async move { client.get(url).await?.text().await })
    });
    for answer in brigade::when_all(requests).await {
        println!("   {}", answer?);
    }
    println!("   -> one connection, five streams multiplexed on it\n");

    println!("3. a timeout: /slow answers after 5 s, we wait 300 ms");
    let started = Instant::now();
    let outcome = client
        .get(format!("{base}/slow"))
        .timeout(Duration::from_millis(300))
        .await;
    report(outcome, started);

    println!("4. a cancellation: a 'Cancel' button pressed 200 ms into a request to /slow");
    let cancel_button = CancellationTokenSource::new();
    let request = client
        .get(format!("{base}/slow"))
        .cancellation_token(&cancel_button.token())
        .send();
    let started = Instant::now();
    let user = brigade::spawn(async move {
        brigade::time::sleep(Duration::from_millis(200)).await;
        cancel_button.cancel(); // the request's future is dropped right away
    });
    report(request.await, started);
    user.await;

    println!("5. HTTPS with a private CA");
    let ca = brigade_tls::testing::TestCa::new("example CA"); // made now, never written to disk
    let cert = ca.server(&["localhost"]);
    let tls = ServerTls::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())?;
    let server = Server::bind("127.0.0.1:0")
        .await?
        .shutdown_on(stop_server.token())
        .drain_timeout(Duration::from_secs(1))
        .tls(tls)
        .websocket("/ws", echo);
    let https = format!("https://localhost:{}", server.local_addr()?.port());
    let serving_tls = brigade::spawn(server.serve(service_fn(handle)));
    match Client::new().get(format!("{https}/whoami")).await {
        Ok(response) => println!("   unexpectedly answered {}", response.status()),
        Err(error) => println!("   a default client: {error}"),
    }
    let trusting = Client::builder()
        .add_root_certificate(ca.cert_pem())?
        .build();
    let response = trusting.get(format!("{https}/whoami")).await?;
    println!(
        "   trusting the CA: {:?}, {}",
        response.version(),
        response.text().await?
    );
    let mut ws = trusting
        .websocket(format!("{}/ws", https.replacen("https", "wss", 1)))
        .await?;
    ws.send(Message::text("over TLS")).await?;
    if let Some(Ok(echoed)) = ws.recv().await {
        println!("   wss:// echo: {echoed}\n");
    }
    let _ = ws.close(CloseCode::Normal, "done").await;

    stop_server.cancel();
    serving.await?;
    serving_tls.await?;
    println!("server stopped; done");
    Ok(())
}

/// `/ws` on the HTTPS server: every message comes back.
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_text() && ws.send(message).await.is_err() {
            break;
        }
    }
}

fn report(outcome: Result<brigade_http::Response, Error>, started: Instant) {
    let after = started.elapsed();
    match outcome {
        Ok(response) => println!("   answered {} after {after:.0?}\n", response.status()),
        Err(error) if error.is_timeout() => println!("   timed out after {after:.0?}: {error}\n"),
        Err(error) if error.is_cancelled() => println!("   cancelled after {after:.0?}: {error}\n"),
        Err(error) => println!("   failed after {after:.0?}: {error}\n"),
    }
}
