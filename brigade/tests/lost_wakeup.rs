//! Lost wake-ups (issue 10.1): a wake that reaches the pool must always make the task run
//! again, also while spare workers come and go.
//!
//! The race that lost it: a worker's slow poll is flagged as a stall and a spare starts; the
//! stall ends, so the spare is surplus; a wake from outside queues a task and chooses the
//! sleeping spare, and the worker, refused a search because the spare now counts as searching,
//! parks without a last look; the spare retired from the top of its loop without looking
//! either. The window is a few microseconds wide, so these stress tests hit it only under
//! load; `pool::lost_wakeup_tests` (a unit test) widens it by fault injection and fails
//! every run on the old code.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use brigade::compat::hyper::{BrigadeExecutor, BrigadeTimer};
use brigade::Runtime;
use brigade_test_support::{watchdog, SlowFirstPoll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A cheap pseudo-random sequence: where the wake lands relative to the slow poll.
struct Jitter(u64);

impl Jitter {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spin_for(duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        std::thread::yield_now();
    }
}

#[test]
fn p2_a_wake_racing_a_stalled_first_poll_is_never_lost() {
    watchdog(
        "the stalled-first-poll rounds",
        Duration::from_secs(120),
        || {
            let rounds: u64 = std::env::var("ROUNDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(600);
            // A 1 ms threshold flags every slow first poll, so each round starts and retires a
            // spare: the path that lost the wake.
            let rt = Runtime::builder()
                .workers(1)
                .stall_threshold(Duration::from_millis(1))
                .on_stall(|_| {})
                .build()
                .unwrap();
            let mut jitter = Jitter(0x2545_F491_4F6C_DD1D);
            for round in 0..rounds {
                let waker = Arc::new(Mutex::new(None));
                let started = Arc::new(AtomicBool::new(false));
                let (done, finished) = mpsc::channel();
                let _task = rt.spawn(SlowFirstPoll::new(
                    Duration::from_millis(3),
                    waker.clone(),
                    started.clone(),
                    done,
                ));
                let spawned_at = Instant::now();
                while !started.load(Ordering::Acquire) {
                    assert!(
                    spawned_at.elapsed() < Duration::from_secs(10),
                    "round {round}: the spawned task was never polled (a lost wake-up)\n{:#?}\n{}",
                    rt.metrics(),
                    rt.dump()
                );
                    std::thread::yield_now();
                }
                // Land the wake anywhere from inside the slow poll to a little after it (while
                // the stall ends and the spare becomes surplus).
                spin_for(Duration::from_micros(jitter.below(6_000)));
                let waker = waker.lock().unwrap().take().unwrap();
                waker.wake();
                assert!(
                    finished.recv_timeout(Duration::from_secs(10)).is_ok(),
                    "round {round}: the wake was lost (the task never ran again)\n{:#?}\n{}",
                    rt.metrics(),
                    rt.dump()
                );
            }
            assert!(
                rt.metrics().spares_started > 0,
                "no stall was ever flagged: the rounds did not exercise spares"
            );
        },
    );
}

/// hyper's I/O traits over tokio's in-memory duplex pipe.
struct Pipe(tokio::io::DuplexStream);

impl hyper::rt::Read for Pipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut tmp = [0u8; 4096];
        let mut read = ReadBuf::new(&mut tmp);
        match Pin::new(&mut self.0).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
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

/// A request with no body.
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

/// The shape of hyper's `client::conn::http2_keep_alive_closes_open_streams`, where the lost
/// wake was found: an HTTP/2 client whose peer never answers, on a fresh one-worker runtime
/// per round (the connection task's first poll is slow enough in debug builds to be flagged
/// as a stall). The keep-alive must close the open stream every round.
#[test]
fn p2_an_http2_keep_alive_closes_an_unanswered_stream_every_round() {
    let rounds: usize = std::env::var("H2_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    for round in 0..rounds {
        watchdog(
            "an HTTP/2 keep-alive round",
            Duration::from_secs(30),
            move || {
                let rt = Runtime::builder()
                    .workers(1)
                    .stall_threshold(Duration::from_millis(1))
                    .on_stall(|_| {})
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let (client_io, mut server_io) = tokio::io::duplex(64 * 1024);
                    // The peer reads everything and never answers.
                    brigade::spawn(async move {
                        use tokio::io::AsyncReadExt;
                        let mut buf = [0u8; 1024];
                        while server_io.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                    })
                    .detach();
                    let (mut client, conn) =
                        hyper::client::conn::http2::Builder::new(BrigadeExecutor)
                            .timer(BrigadeTimer)
                            .keep_alive_interval(Duration::from_millis(100))
                            .keep_alive_timeout(Duration::from_millis(100))
                            .handshake::<_, Empty>(Pipe(client_io))
                            .await
                            .expect("handshake");
                    brigade::spawn(async move {
                        let _ = conn.await;
                    })
                    .detach();
                    let outcome = client.send_request(hyper::Request::new(Empty)).await;
                    assert!(
                    outcome.is_err(),
                    "round {round}: the unanswered request should fail when keep-alive closes it"
                );
                });
            },
        );
    }
}
