//! The two contestants behind one small trait.
//!
//! [`Side`] is everything the workloads need from a runtime: build it with N
//! workers, `block_on` from the main thread, spawn from outside
//! (`spawn_remote`), spawn from inside a task (`spawn`), detach a handle, and
//! `yield_now`. The workloads in `workloads.rs` are generic over it, so both
//! runtimes run literally the same workload code.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A runtime under test.
pub trait Side: Sync + Sized + 'static {
    /// Column label.
    const NAME: &'static str;

    /// Join handle: resolves to the task's output (re-raising its panic).
    type Join<T: Send + 'static>: Future<Output = T> + Send + 'static;

    /// Builds a multi-threaded runtime with exactly `workers` worker threads.
    fn build(workers: usize) -> Self;

    /// Runs `fut` to completion on the calling (non-worker) thread.
    fn block_on<F: Future>(&self, fut: F) -> F::Output;

    /// Spawns from outside the runtime (the "remote" path).
    fn spawn_remote<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns onto the current runtime from inside one of its tasks.
    fn spawn<F>(fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Lets the task run on without anyone awaiting it.
    fn detach<T: Send + 'static>(task: Self::Join<T>);

    /// Yields back to the scheduler once.
    fn yield_now() -> impl Future<Output = ()> + Send;

    /// The runtime's timer: completes after `duration`.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;

    /// `connections` clients each make `round_trips` round trips of `message` bytes through a
    /// loopback TCP echo server on this runtime; returns the time from the first write to the
    /// last read. The shape is identical on both sides; only the socket types differ.
    fn tcp_echo(&self, connections: usize, round_trips: usize, message: usize) -> Duration;
}

/// tokio, `rt-multi-thread` scheduler with its time and I/O drivers enabled (brigade's are
/// always on, so both sides carry the same drivers).
pub struct Tokio(tokio::runtime::Runtime);

/// tokio's `JoinHandle<T>` resolves to `Result<T, JoinError>`; this adapter
/// unwraps it the way `brigade::Task<T>` behaves (panics are re-raised).
pub struct TokioJoin<T>(tokio::task::JoinHandle<T>);

impl<T> Future for TokioJoin<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx).map(|res| match res {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("tokio task failed: {e}"),
        })
    }
}

impl Side for Tokio {
    const NAME: &'static str = "tokio";
    type Join<T: Send + 'static> = TokioJoin<T>;

    fn build(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("build tokio runtime");
        Tokio(rt)
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.0.block_on(fut)
    }

    fn spawn_remote<F>(&self, fut: F) -> TokioJoin<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        TokioJoin(self.0.spawn(fut))
    }

    fn spawn<F>(fut: F) -> TokioJoin<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        TokioJoin(tokio::spawn(fut))
    }

    fn detach<T: Send + 'static>(task: TokioJoin<T>) {
        // Dropping a tokio JoinHandle detaches the task.
        drop(task);
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }

    fn tcp_echo(&self, connections: usize, round_trips: usize, message: usize) -> Duration {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.0.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                for _ in 0..connections {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; message];
                        while stream.read_exact(&mut buf).await.is_ok() {
                            stream.write_all(&buf).await.unwrap();
                        }
                    });
                }
            });
            let mut streams = Vec::with_capacity(connections);
            for _ in 0..connections {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                streams.push(stream);
            }
            server.await.unwrap();
            let start = std::time::Instant::now();
            let clients: Vec<_> = streams
                .into_iter()
                .map(|mut stream| {
                    tokio::spawn(async move {
                        let out = vec![7u8; message];
                        let mut back = vec![0u8; message];
                        for _ in 0..round_trips {
                            stream.write_all(&out).await.unwrap();
                            stream.read_exact(&mut back).await.unwrap();
                        }
                    })
                })
                .collect();
            for client in clients {
                client.await.unwrap();
            }
            start.elapsed()
        })
    }
}

/// brigade, built with the same worker count.
pub struct Brigade(brigade::Runtime);

impl Side for Brigade {
    const NAME: &'static str = "brigade";
    type Join<T: Send + 'static> = brigade::Task<T>;

    fn build(workers: usize) -> Self {
        let rt = brigade::Runtime::builder()
            .workers(workers)
            .build()
            .expect("build brigade runtime");
        Brigade(rt)
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.0.block_on(fut)
    }

    fn spawn_remote<F>(&self, fut: F) -> brigade::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.spawn(fut)
    }

    fn spawn<F>(fut: F) -> brigade::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        brigade::spawn(fut)
    }

    fn detach<T: Send + 'static>(task: brigade::Task<T>) {
        task.detach();
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        brigade::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        brigade::time::sleep(duration)
    }

    fn tcp_echo(&self, connections: usize, round_trips: usize, message: usize) -> Duration {
        use brigade::net::{TcpListener, TcpStream};
        self.0.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = brigade::spawn(async move {
                for _ in 0..connections {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    brigade::spawn(async move {
                        let mut buf = vec![0u8; message];
                        while stream.read_exact(&mut buf).await.is_ok() {
                            stream.write_all(&buf).await.unwrap();
                        }
                    })
                    .detach();
                }
            });
            let mut streams = Vec::with_capacity(connections);
            for _ in 0..connections {
                let stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                streams.push(stream);
            }
            server.await;
            let start = std::time::Instant::now();
            let clients: Vec<_> = streams
                .into_iter()
                .map(|mut stream| {
                    brigade::spawn(async move {
                        let out = vec![7u8; message];
                        let mut back = vec![0u8; message];
                        for _ in 0..round_trips {
                            stream.write_all(&out).await.unwrap();
                            stream.read_exact(&mut back).await.unwrap();
                        }
                    })
                })
                .collect();
            brigade::when_all(clients).await;
            start.elapsed()
        })
    }
}
