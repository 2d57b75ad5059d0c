//! `brigade::sync` against `tokio::sync` on tokio, side by side, and for the channel workloads
//! also `async-channel` and `flume` running on brigade.
//!
//! ```text
//! cargo run --release -p brigade-bench --bin sync -- [--workers N] [--rounds N] [--warmup N]
//! ```
//!
//! Both runtimes are built once with the same worker count; every round runs each contestant
//! once, in turn (interleaved), and the table reports medians and `brigade/tokio` ratios (below
//! 1.0: brigade faster). Workloads:
//! - `bounded_mpsc`: 4 producers x 50 000 messages, capacity 1 024, one consumer.
//! - `unbounded_mpsc`: the same, unbounded.
//! - `contended_mutex`: 64 tasks x 1 000 lock / increment / unlock.
//! - `semaphore`: 10 000 tasks through 8 permits (each holds its permit across one yield).
//! - `oneshot_round_trip`: 20 000 round trips between two tasks, a fresh oneshot each way
//!   (each message carries the sender for its reply).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------ runtimes

trait Side: Sized {
    fn build(workers: usize) -> Self;
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    fn yield_now() -> impl Future<Output = ()> + Send;
}

struct Tokio(tokio::runtime::Runtime);
struct Brigade(brigade::Runtime);

impl Side for Tokio {
    fn build(workers: usize) -> Self {
        Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .expect("tokio runtime"),
        )
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(future);
        async move { handle.await.expect("tokio task") }
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

impl Side for Brigade {
    fn build(workers: usize) -> Self {
        Brigade(
            brigade::Runtime::builder()
                .workers(workers)
                .build()
                .expect("brigade runtime"),
        )
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        brigade::spawn(future)
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        brigade::yield_now()
    }
}

// ------------------------------------------------------------------------------ channels

trait Mpsc {
    type Tx: Clone + Send + 'static;
    type Rx: Send + 'static;
    fn make(capacity: Option<usize>) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, value: u64) -> impl Future<Output = ()> + Send;
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send;
}

struct BrigadeSync;
struct TokioSync;
struct AsyncChannel;
struct Flume;

impl Mpsc for BrigadeSync {
    type Tx = brigade::sync::Sender<u64>;
    type Rx = brigade::sync::Receiver<u64>;
    fn make(capacity: Option<usize>) -> (Self::Tx, Self::Rx) {
        match capacity {
            Some(capacity) => brigade::sync::channel(capacity),
            None => brigade::sync::unbounded_channel(),
        }
    }
    async fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).await.expect("open");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

#[derive(Clone)]
enum TokioTx {
    Bounded(tokio::sync::mpsc::Sender<u64>),
    Unbounded(tokio::sync::mpsc::UnboundedSender<u64>),
}

enum TokioRx {
    Bounded(tokio::sync::mpsc::Receiver<u64>),
    Unbounded(tokio::sync::mpsc::UnboundedReceiver<u64>),
}

impl Mpsc for TokioSync {
    type Tx = TokioTx;
    type Rx = TokioRx;
    fn make(capacity: Option<usize>) -> (Self::Tx, Self::Rx) {
        match capacity {
            Some(capacity) => {
                let (tx, rx) = tokio::sync::mpsc::channel(capacity);
                (TokioTx::Bounded(tx), TokioRx::Bounded(rx))
            }
            None => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                (TokioTx::Unbounded(tx), TokioRx::Unbounded(rx))
            }
        }
    }
    async fn send(tx: &Self::Tx, value: u64) {
        match tx {
            TokioTx::Bounded(tx) => tx.send(value).await.expect("open"),
            TokioTx::Unbounded(tx) => tx.send(value).expect("open"),
        }
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        match rx {
            TokioRx::Bounded(rx) => rx.recv().await,
            TokioRx::Unbounded(rx) => rx.recv().await,
        }
    }
}

impl Mpsc for AsyncChannel {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn make(capacity: Option<usize>) -> (Self::Tx, Self::Rx) {
        match capacity {
            Some(capacity) => async_channel::bounded(capacity),
            None => async_channel::unbounded(),
        }
    }
    async fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).await.expect("open");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

impl Mpsc for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn make(capacity: Option<usize>) -> (Self::Tx, Self::Rx) {
        match capacity {
            Some(capacity) => flume::bounded(capacity),
            None => flume::unbounded(),
        }
    }
    async fn send(tx: &Self::Tx, value: u64) {
        tx.send_async(value).await.expect("open");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 50_000;

fn mpsc<S: Side, C: Mpsc>(side: &S, capacity: Option<usize>) -> Duration {
    side.block_on(async {
        let start = Instant::now();
        let (tx, mut rx) = C::make(capacity);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let tx = tx.clone();
                S::spawn(async move {
                    for i in 0..PER_PRODUCER {
                        C::send(&tx, i).await;
                    }
                })
            })
            .collect();
        drop(tx);
        let consumer = S::spawn(async move {
            let mut received = 0u64;
            while C::recv(&mut rx).await.is_some() {
                received += 1;
            }
            received
        });
        for producer in producers {
            producer.await;
        }
        assert_eq!(consumer.await, PRODUCERS * PER_PRODUCER);
        start.elapsed()
    })
}

// ------------------------------------------------------------------- mutex and semaphore

trait Sync_: Send + Sync + 'static {
    fn new_mutex() -> Self;
    fn increment(&self) -> impl Future<Output = ()> + Send;
    fn value(&self) -> u64;
}

impl Sync_ for brigade::sync::Mutex<u64> {
    fn new_mutex() -> Self {
        brigade::sync::Mutex::new(0)
    }
    async fn increment(&self) {
        *self.lock().await += 1;
    }
    fn value(&self) -> u64 {
        *self.try_lock().expect("free")
    }
}

impl Sync_ for tokio::sync::Mutex<u64> {
    fn new_mutex() -> Self {
        tokio::sync::Mutex::new(0)
    }
    async fn increment(&self) {
        *self.lock().await += 1;
    }
    fn value(&self) -> u64 {
        *self.try_lock().expect("free")
    }
}

fn contended_mutex<S: Side, M: Sync_>(side: &S) -> Duration {
    side.block_on(async {
        let start = Instant::now();
        let mutex = Arc::new(M::new_mutex());
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let mutex = mutex.clone();
                S::spawn(async move {
                    for _ in 0..1_000 {
                        mutex.increment().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        assert_eq!(mutex.value(), 64_000);
        start.elapsed()
    })
}

trait Permits: Send + Sync + 'static {
    fn new_semaphore(permits: usize) -> Self;
    fn hold_once<S: Side>(&self) -> impl Future<Output = ()> + Send;
}

impl Permits for brigade::sync::Semaphore {
    fn new_semaphore(permits: usize) -> Self {
        brigade::sync::Semaphore::new(permits)
    }
    async fn hold_once<S: Side>(&self) {
        let _permit = self.acquire().await.expect("open");
        S::yield_now().await;
    }
}

impl Permits for tokio::sync::Semaphore {
    fn new_semaphore(permits: usize) -> Self {
        tokio::sync::Semaphore::new(permits)
    }
    async fn hold_once<S: Side>(&self) {
        let _permit = self.acquire().await.expect("open");
        S::yield_now().await;
    }
}

fn semaphore<S: Side, P: Permits>(side: &S) -> Duration {
    side.block_on(async {
        let start = Instant::now();
        let semaphore = Arc::new(P::new_semaphore(8));
        let tasks: Vec<_> = (0..10_000)
            .map(|_| {
                let semaphore = semaphore.clone();
                S::spawn(async move { semaphore.hold_once::<S>().await })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        start.elapsed()
    })
}

// ------------------------------------------------------------------------------- oneshot

const ROUND_TRIPS: u64 = 20_000;

macro_rules! oneshot_round_trip {
    ($name:ident, $side:ty, $oneshot:path) => {
        fn $name(side: &$side) -> Duration {
            use $oneshot as oneshot;
            struct Ping {
                seq: u64,
                reply: oneshot::Sender<oneshot::Sender<Ping>>,
            }
            side.block_on(async {
                let start = Instant::now();
                let (first_tx, first_rx) = oneshot::channel::<Ping>();
                let responder = <$side>::spawn(async move {
                    let mut inbox = first_rx;
                    let mut seen = 0;
                    while let Ok(ping) = inbox.await {
                        seen = ping.seq;
                        let (next_tx, next_rx) = oneshot::channel();
                        if ping.reply.send(next_tx).is_err() {
                            break;
                        }
                        inbox = next_rx;
                    }
                    seen
                });
                // The pinging side is a task too: both ends on workers, as in a service.
                let pinger = <$side>::spawn(async move {
                    let mut outbox = first_tx;
                    for seq in 1..=ROUND_TRIPS {
                        let (reply_tx, reply_rx) = oneshot::channel();
                        assert!(outbox
                            .send(Ping {
                                seq,
                                reply: reply_tx
                            })
                            .is_ok());
                        outbox = reply_rx.await.expect("responder alive");
                    }
                });
                pinger.await;
                assert_eq!(responder.await, ROUND_TRIPS);
                start.elapsed()
            })
        }
    };
}

oneshot_round_trip!(oneshot_tokio, Tokio, tokio::sync::oneshot);
oneshot_round_trip!(oneshot_brigade, Brigade, brigade::sync::oneshot);

// ---------------------------------------------------------------------------- the harness

type Run<'a> = Box<dyn Fn() -> Duration + 'a>;

struct Workload<'a> {
    name: &'static str,
    /// (label, run): the first is tokio, the second brigade::sync, then rivals on brigade.
    contestants: Vec<(&'static str, Run<'a>)>,
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    }
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1_000.0)
    }
}

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{flag}: `{v}` is not a number"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = arg(&args, "--workers", cores).max(1);
    let rounds = arg(&args, "--rounds", 10).max(1);
    let warmup = arg(&args, "--warmup", 2);
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; use --release for real figures");
    }
    eprintln!("{workers} workers per runtime ({cores} cores); {warmup} warm-up + {rounds} rounds, interleaved");
    let tokio = Tokio::build(workers);
    let brigade = Brigade::build(workers);
    let (t, b) = (&tokio, &brigade);
    let workloads: Vec<Workload> = vec![
        Workload {
            name: "bounded_mpsc",
            contestants: vec![
                (
                    "tokio",
                    Box::new(move || mpsc::<_, TokioSync>(t, Some(1024))),
                ),
                (
                    "brigade",
                    Box::new(move || mpsc::<_, BrigadeSync>(b, Some(1024))),
                ),
                (
                    "async-channel",
                    Box::new(move || mpsc::<_, AsyncChannel>(b, Some(1024))),
                ),
                ("flume", Box::new(move || mpsc::<_, Flume>(b, Some(1024)))),
            ],
        },
        Workload {
            name: "unbounded_mpsc",
            contestants: vec![
                ("tokio", Box::new(move || mpsc::<_, TokioSync>(t, None))),
                ("brigade", Box::new(move || mpsc::<_, BrigadeSync>(b, None))),
                (
                    "async-channel",
                    Box::new(move || mpsc::<_, AsyncChannel>(b, None)),
                ),
                ("flume", Box::new(move || mpsc::<_, Flume>(b, None))),
            ],
        },
        Workload {
            name: "contended_mutex",
            contestants: vec![
                (
                    "tokio",
                    Box::new(move || contended_mutex::<_, tokio::sync::Mutex<u64>>(t)),
                ),
                (
                    "brigade",
                    Box::new(move || contended_mutex::<_, brigade::sync::Mutex<u64>>(b)),
                ),
            ],
        },
        Workload {
            name: "semaphore",
            contestants: vec![
                (
                    "tokio",
                    Box::new(move || semaphore::<_, tokio::sync::Semaphore>(t)),
                ),
                (
                    "brigade",
                    Box::new(move || semaphore::<_, brigade::sync::Semaphore>(b)),
                ),
            ],
        },
        Workload {
            name: "oneshot_round_trip",
            contestants: vec![
                ("tokio", Box::new(move || oneshot_tokio(t))),
                ("brigade", Box::new(move || oneshot_brigade(b))),
            ],
        },
    ];
    let filter = args
        .iter()
        .position(|a| a == "--filter")
        .and_then(|i| args.get(i + 1));
    println!("| workload | tokio::sync on tokio | brigade::sync | brigade/tokio | async-channel on brigade | flume on brigade |");
    println!("|---|---:|---:|---:|---:|---:|");
    for workload in workloads
        .iter()
        .filter(|w| filter.is_none_or(|f| w.name.contains(f.as_str())))
    {
        eprintln!("{} ...", workload.name);
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); workload.contestants.len()];
        for round in 0..warmup + rounds {
            for (i, (_, run)) in workload.contestants.iter().enumerate() {
                let took = run();
                if round >= warmup {
                    samples[i].push(took);
                }
            }
        }
        let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
        let ratio = medians[1].as_secs_f64() / medians[0].as_secs_f64();
        let rival = |i: usize| medians.get(i).map_or("–".to_string(), |d| fmt(*d));
        println!(
            "| {} | {} | {} | {:.2} | {} | {} |",
            workload.name,
            fmt(medians[0]),
            fmt(medians[1]),
            ratio,
            rival(2),
            rival(3)
        );
    }
}
