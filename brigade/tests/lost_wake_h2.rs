//! Experiment: hyper's http2_keep_alive_closes_open_streams on a 1-worker brigade runtime over an in-memory pipe.
mod common;
use brigade::compat::hyper::{BrigadeExecutor, BrigadeTimer};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

struct Pipe(tokio::io::DuplexStream);
impl hyper::rt::Read for Pipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut tmp = [0u8; 4096];
        let mut rb = ReadBuf::new(&mut tmp);
        match Pin::new(&mut self.0).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(rb.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}
impl hyper::rt::Write for Pipe {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

struct Empty;
impl hyper::body::Body for Empty {
    type Data = std::io::Cursor<Vec<u8>>;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(None)
    }
    fn is_end_stream(&self) -> bool {
        true
    }
}

#[test]
fn experiment_h2() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    for round in 0..rounds {
        common::watchdog("round", Duration::from_secs(20), move || {
            let rt = brigade::Runtime::builder().workers(1).build().unwrap();
            rt.block_on(async move {
                let (client_io, mut server_io) = tokio::io::duplex(64 * 1024);
                brigade::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 1024];
                    while server_io
                        .read(&mut buf)
                        .await
                        .map(|n| n > 0)
                        .unwrap_or(false)
                    {}
                });
                let (mut client, conn) = hyper::client::conn::http2::Builder::new(BrigadeExecutor)
                    .timer(BrigadeTimer)
                    .keep_alive_interval(Duration::from_millis(200))
                    .keep_alive_timeout(Duration::from_millis(200))
                    .handshake::<_, Empty>(Pipe(client_io))
                    .await
                    .expect("handshake");
                brigade::spawn(async move {
                    let _ = conn.await;
                });
                let req = hyper::Request::new(Empty);
                let err = client
                    .send_request(req)
                    .await
                    .expect_err("request should time out");
                let _ = (err, round);
            });
        });
    }
}
