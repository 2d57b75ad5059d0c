//! The workloads, written once and generic over [`Side`].
//!
//! Shapes follow tokio's `benches/rt_multi_threaded.rs`. Each function runs
//! one iteration on an already-built runtime and returns the time it took;
//! any setup that is not part of the measured shape happens outside the timer.

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::oneshot;
use crate::sides::Side;

const NUM_SPAWN: usize = 10_000;
const YIELD_TASKS: usize = 200;
const NUM_YIELD: usize = 1_000;
const NUM_PINGS: usize = 1_000;
const CHAIN_DEPTH: usize = 1_000;
const NUM_TIMERS: usize = 100_000;
/// CPU burned per spin of a busy task in `spawn_many_remote_busy1`.
const STALL_DUR: Duration = Duration::from_micros(10);

/// One workload: a name, a one-line description and a monomorphised runner
/// per side.
pub struct Workload {
    /// Row label.
    pub name: &'static str,
    /// Optional footnote printed under the table.
    pub note: Option<&'static str>,
    /// Runs one iteration on `S` and returns its duration.
    pub run_tokio: fn(&crate::sides::Tokio, usize) -> Duration,
    /// Same, for brigade.
    pub run_brigade: fn(&crate::sides::Brigade, usize) -> Duration,
}

macro_rules! workload {
    ($f:ident, $note:expr) => {
        Workload {
            name: stringify!($f),
            note: $note,
            run_tokio: $f::<crate::sides::Tokio>,
            run_brigade: $f::<crate::sides::Brigade>,
        }
    };
}

/// All workloads, in table order.
pub fn all() -> Vec<Workload> {
    vec![
        workload!(spawn_many_local, None),
        workload!(spawn_many_remote_idle, None),
        workload!(spawn_many_remote_busy1, None),
        workload!(
            yield_many,
            Some(
                "tokio's `yield_now` defers the task until after the worker next polls its \
                 driver / parks; brigade's `yield_now` puts the task at the back of the run \
                 queue (after collecting any timer and I/O events that are due)."
            )
        ),
        workload!(ping_pong, None),
        workload!(chained_spawn, None),
        workload!(
            timer_fire,
            Some("100 000 tasks, each sleeping 1-10 ms, until all are done (the sleeps dominate: \
                  the ideal is ~10 ms).")
        ),
        workload!(
            tcp_echo,
            Some("64 loopback TCP connections x 1 000 round trips of 64 B (TCP_NODELAY), server \
                  and clients on the runtime under test.")
        ),
        workload!(
            timer_cancel,
            Some("100 000 sleeps created, polled once (registered) and dropped (removed), in one task.")
        ),
    ]
}

/// `block_on` spawns one task; that task (now on a worker) spawns 10 000
/// detached tasks, each decrementing a shared counter; the one that brings it
/// to zero signals a std `sync_channel`, which the `block_on` body waits on.
pub fn spawn_many_local<S: Side>(rt: &S, _workers: usize) -> Duration {
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    let rem = Arc::new(AtomicUsize::new(NUM_SPAWN));

    let start = Instant::now();
    rt.block_on(async {
        S::detach(rt.spawn_remote(async move {
            for _ in 0..NUM_SPAWN {
                let tx = tx.clone();
                let rem = rem.clone();
                S::detach(S::spawn(async move {
                    if rem.fetch_sub(1, Relaxed) == 1 {
                        tx.send(()).unwrap();
                    }
                }));
            }
        }));
        rx.recv().unwrap();
    });
    start.elapsed()
}

/// 10 000 empty tasks spawned from the main (non-worker) thread, then one
/// `block_on` awaits every handle in spawn order.
pub fn spawn_many_remote_idle<S: Side>(rt: &S, _workers: usize) -> Duration {
    let mut handles = Vec::with_capacity(NUM_SPAWN);

    let start = Instant::now();
    for _ in 0..NUM_SPAWN {
        handles.push(rt.spawn_remote(async {}));
    }
    rt.block_on(async {
        for handle in handles.drain(..) {
            handle.await;
        }
    });
    start.elapsed()
}

/// Same as `spawn_many_remote_idle`, but while 2 × workers background tasks
/// keep every worker busy, each looping `yield_now().await` + a 10 µs spin.
/// The spinners are started (and confirmed running) before the timer and
/// stopped/joined after it, so they never leak into other workloads.
pub fn spawn_many_remote_busy1<S: Side>(rt: &S, workers: usize) -> Duration {
    let busy = 2 * workers;
    let flag = Arc::new(AtomicBool::new(true));
    let started = Arc::new(AtomicUsize::new(0));
    let spinners: Vec<_> = (0..busy)
        .map(|_| {
            let flag = flag.clone();
            let started = started.clone();
            rt.spawn_remote(async move {
                started.fetch_add(1, Relaxed);
                while flag.load(Relaxed) {
                    S::yield_now().await;
                    stall();
                }
            })
        })
        .collect();
    while started.load(Relaxed) < busy {
        std::thread::yield_now();
    }
    let mut handles = Vec::with_capacity(NUM_SPAWN);

    let start = Instant::now();
    for _ in 0..NUM_SPAWN {
        handles.push(rt.spawn_remote(async {}));
    }
    rt.block_on(async {
        for handle in handles.drain(..) {
            handle.await;
        }
    });
    let elapsed = start.elapsed();

    flag.store(false, Relaxed);
    rt.block_on(async {
        for s in spinners {
            s.await;
        }
    });
    elapsed
}

/// 200 tasks spawned from the main thread, each doing 1 000
/// `yield_now().await`, then signalling a std `sync_channel`; the main thread
/// waits for all 200 signals (no `block_on`).
pub fn yield_many<S: Side>(rt: &S, _workers: usize) -> Duration {
    let (tx, rx) = mpsc::sync_channel::<()>(YIELD_TASKS);

    let start = Instant::now();
    for _ in 0..YIELD_TASKS {
        let tx = tx.clone();
        S::detach(rt.spawn_remote(async move {
            for _ in 0..NUM_YIELD {
                S::yield_now().await;
            }
            tx.send(()).unwrap();
        }));
    }
    for _ in 0..YIELD_TASKS {
        rx.recv().unwrap();
    }
    start.elapsed()
}

/// `block_on` spawns one task, which spawns 1 000 "ping" tasks. Each ping
/// creates two oneshots (the bench's own, identical on both sides), spawns a
/// "pong" task that awaits the first and answers on the second, sends, awaits
/// the answer and decrements a counter; the last one signals a std
/// `sync_channel` that the `block_on` body waits on. 2 001 spawns and 2 000
/// cross-task wake-ups per iteration.
pub fn ping_pong<S: Side>(rt: &S, _workers: usize) -> Duration {
    let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);
    let rem = Arc::new(AtomicUsize::new(NUM_PINGS));

    let start = Instant::now();
    rt.block_on(async {
        S::detach(rt.spawn_remote(async move {
            for _ in 0..NUM_PINGS {
                let rem = rem.clone();
                let done_tx = done_tx.clone();
                S::detach(S::spawn(async move {
                    let (tx1, rx1) = oneshot::channel::<()>();
                    let (tx2, rx2) = oneshot::channel::<()>();
                    S::detach(S::spawn(async move {
                        rx1.await.unwrap();
                        tx2.send(());
                    }));
                    tx1.send(());
                    rx2.await.unwrap();
                    if rem.fetch_sub(1, Relaxed) == 1 {
                        done_tx.send(()).unwrap();
                    }
                }));
            }
        }));
        done_rx.recv().unwrap();
    });
    start.elapsed()
}

/// `block_on` spawns one task; each task spawns the next, 1 000 deep, and
/// the last one signals a std `sync_channel` that the `block_on` body waits
/// on. Measures spawn-to-run latency of a strictly sequential chain.
pub fn chained_spawn<S: Side>(rt: &S, _workers: usize) -> Duration {
    fn link<S: Side>(done_tx: mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done_tx.send(()).unwrap();
        } else {
            S::detach(S::spawn(async move { link::<S>(done_tx, n - 1) }));
        }
    }

    let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);

    let start = Instant::now();
    rt.block_on(async {
        S::detach(rt.spawn_remote(async move { link::<S>(done_tx, CHAIN_DEPTH) }));
        done_rx.recv().unwrap();
    });
    start.elapsed()
}

/// `block_on` spawns one task, which spawns 100 000 tasks each sleeping 1-10 ms and then
/// decrementing a counter; the last signals a std `sync_channel`.
pub fn timer_fire<S: Side>(rt: &S, _workers: usize) -> Duration {
    let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);
    let rem = Arc::new(AtomicUsize::new(NUM_TIMERS));

    let start = Instant::now();
    rt.block_on(async {
        S::detach(rt.spawn_remote(async move {
            for i in 0..NUM_TIMERS {
                let rem = rem.clone();
                let done_tx = done_tx.clone();
                S::detach(S::spawn(async move {
                    S::sleep(Duration::from_millis(1 + (i % 10) as u64)).await;
                    if rem.fetch_sub(1, Relaxed) == 1 {
                        done_tx.send(()).unwrap();
                    }
                }));
            }
        }));
        done_rx.recv().unwrap();
    });
    start.elapsed()
}

/// One task creates 100 000 sleeps (1-10 s ahead, so none fires), polls each once and drops it.
pub fn timer_cancel<S: Side>(rt: &S, _workers: usize) -> Duration {
    rt.block_on(rt.spawn_remote(async {
        let start = Instant::now();
        for i in 0..NUM_TIMERS {
            let mut sleep = std::pin::pin!(S::sleep(Duration::from_secs(1 + (i % 10) as u64)));
            std::future::poll_fn(|cx| {
                assert!(sleep.as_mut().poll(cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
        }
        start.elapsed()
    }))
}

/// 64 connections x 1 000 round trips of 64 B through a loopback echo server.
pub fn tcp_echo<S: Side>(rt: &S, _workers: usize) -> Duration {
    rt.tcp_echo(64, 1_000, 64)
}

fn stall() {
    let now = Instant::now();
    while now.elapsed() < STALL_DUR {
        std::thread::yield_now();
    }
}
