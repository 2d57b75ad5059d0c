//! `Builder`: every knob of a runtime, checked before any thread starts.
//!
//! Bad configuration is an `Err` from [`Builder::build`] that says what is wrong and what to do,
//! never a panic deep inside a worker.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::Runtime;
use crate::io::IoDriver;
use crate::pool::config::{default_on_stall, Config, Hook, StallHook};
pub use crate::pool::config::{UnhandledPanic, UnhandledPanicReport, DEFAULT_SPARE_WORKERS};
use crate::pool::monitor::StallReport;
use crate::pool::MAX_WORKERS;

/// The smallest worker stack brigade accepts. Below this even a modest async fn's state machine
/// plus the scheduler's own frames can overflow, and the failure would be a crash, not an error.
pub const MIN_STACK_SIZE: usize = 64 * 1024;

/// The largest worker stack brigade accepts (1 GiB); more is almost certainly a unit mistake.
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// Configures and starts a [`Runtime`].
///
/// ```
/// let rt = brigade::Runtime::builder()
///     .workers(2)
///     .thread_name("kitchen")
///     .build()
///     .expect("valid configuration");
/// assert_eq!(rt.block_on(async { 6 * 7 }), 42);
/// ```
#[must_use = "a Builder does nothing until .build() is called"]
pub struct Builder {
    workers: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    on_thread_start: Option<Hook>,
    on_thread_stop: Option<Hook>,
    unhandled_panic: UnhandledPanic,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    stall_threshold: Duration,
    max_workers: Option<usize>,
    on_stall: Option<StallHook>,
    start_paused: bool,
    deterministic: Option<u64>,
    io_driver: Option<IoDriver>,
}

/// The default [`Builder::stall_threshold`].
pub const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_millis(10);

/// The default [`Builder::max_workers`] is `workers` plus this many threads.
pub const DEFAULT_MAX_EXTRA_WORKERS: usize = 512;

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: None,
            thread_name: "brigade".to_string(),
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            unhandled_panic: UnhandledPanic::Report,
            max_blocking_threads: 512,
            blocking_keep_alive: Duration::from_secs(10),
            stall_threshold: DEFAULT_STALL_THRESHOLD,
            max_workers: None,
            on_stall: None,
            start_paused: false,
            deterministic: None,
            io_driver: None,
        }
    }
}

impl Builder {
    /// A builder with the defaults: one worker per available core, threads named
    /// `brigade-worker-{i}`, Rust's default thread stack size (2 MiB, or `RUST_MIN_STACK`), up
    /// to 512 blocking threads.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// How many worker threads poll tasks (P1). Default: the number of available cores.
    /// Must be at least 1.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// The prefix of thread names: workers are `{prefix}-worker-{i}`, blocking threads
    /// `{prefix}-blocking-{i}`. Default: `brigade`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// The stack size of every thread the runtime starts, in bytes. Must be between
    /// [`MIN_STACK_SIZE`] and [`MAX_STACK_SIZE`].
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs on each thread the runtime starts, before it takes any work, inside the runtime
    /// (`Handle::current()` works). A panic in it is reported and the thread carries on.
    pub fn on_thread_start(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(hook));
        self
    }

    /// Runs on each thread the runtime starts, just before it exits. A panic in it is
    /// reported.
    pub fn on_thread_stop(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_stop = Some(Arc::new(hook));
        self
    }

    /// What to do when a detached task panics (S3). Default: [`UnhandledPanic::Report`].
    pub fn unhandled_panic(mut self, policy: UnhandledPanic) -> Self {
        self.unhandled_panic = policy;
        self
    }

    /// The most threads running `brigade::run` closures at once; more closures wait their
    /// turn. Default 512; must be at least 1.
    pub fn max_blocking_threads(mut self, threads: usize) -> Self {
        self.max_blocking_threads = threads;
        self
    }

    /// How long an idle blocking thread lingers before exiting. Default: 10 s.
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// How long one poll may block a worker before the pool treats it as stalled (P4): the
    /// stall is reported and a spare worker takes over its queue. Default 10 ms; must not be
    /// zero.
    pub fn stall_threshold(mut self, threshold: Duration) -> Self {
        self.stall_threshold = threshold;
        self
    }

    /// The most worker threads at once, spares included. Default: `workers + 512`
    /// ([`DEFAULT_MAX_EXTRA_WORKERS`], the bound tokio's `block_in_place` grows to); must be at
    /// least `workers`.
    ///
    /// Two kinds of spare count against it. A spare for a worker the stall monitor *caught*
    /// stuck in a poll: at most [`DEFAULT_SPARE_WORKERS`] (32) of those beyond `workers`, one per
    /// stall threshold at most, so CPU-heavy polls cannot explode the thread count. A spare for
    /// a worker that blocks *on purpose* (`block_on` on a worker, [`crate::blocking`]): up to
    /// the cap, since a cooperative block must never be what deadlocks the pool. Reaching the
    /// cap is reported (`RuntimeMetrics::worker_cap_reached` and a warning under target
    /// `brigade::stall`); while every worker is blocked at the cap, a thread blocked in
    /// `block_on` runs queued tasks itself, and the stall monitor fires timers and collects
    /// I/O events, so blocked code waiting on them still finishes.
    pub fn max_workers(mut self, threads: usize) -> Self {
        self.max_workers = Some(threads);
        self
    }

    /// Where stall reports go (the start of a stall, and its end with the time blocked).
    /// Default: a `tracing` warning under target `brigade::stall`, or stderr when nothing
    /// listens.
    pub fn on_stall(mut self, hook: impl Fn(&StallReport) + Send + Sync + 'static) -> Self {
        self.on_stall = Some(Arc::new(hook));
        self
    }

    /// Starts the runtime with its clock paused: virtual time (V1-V3). Default: `false`.
    ///
    /// [`brigade::time::Instant::now`](crate::time::Instant::now) then starts at the runtime's
    /// creation and moves only by [`brigade::time::advance`](crate::time::advance) and by
    /// **auto-advance**: when the pool is quiescent — every worker parked with nothing queued,
    /// no [`brigade::run`](crate::run) closure queued or running, and every thread waiting in
    /// `block_on` on this runtime asleep (there must be at least one) — the clock jumps to the
    /// next timer deadline and fires it. So `sleep(Duration::from_secs(3600))` completes at once,
    /// at exactly one virtual hour later, and timeouts, intervals, `cancel_after` and hyper's
    /// timers follow the same clock. Works with any number of workers.
    ///
    /// What auto-advance cannot see: threads outside the runtime (a `std::thread` about to
    /// send on a channel) and sockets whose peer has not answered yet — with real sockets open
    /// it still jumps, after one zero-timeout look for I/O events, so a slow real peer can see
    /// a virtual timeout elapse. Time never moves while a task is runnable: a task that spins
    /// on `yield_now` waiting for a timer waits forever, and so does a `brigade::run` closure
    /// that itself waits for virtual time (`block_on(sleep(..))` inside it): a closure in
    /// flight holds the clock. `Instant::now()` outside the runtime (before `block_on`, on
    /// other threads) is std's real time, and deadlines built from it do not follow the
    /// virtual clock; take instants inside the runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use brigade::time::{sleep, Instant};
    /// let rt = brigade::Runtime::builder().start_paused(true).build()?;
    /// let took = rt.block_on(async {
    ///     let start = Instant::now();
    ///     sleep(Duration::from_secs(3600)).await;
    ///     start.elapsed()
    /// });
    /// assert_eq!(took, Duration::from_secs(3600));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }

    /// A deterministic runtime for testing (V4, V5): every task runs on one worker thread, the
    /// next task to poll (and so the order of wake-ups that happen together) is drawn by a
    /// PRNG seeded with `seed`, time is virtual ([`start_paused`](Self::start_paused)), and the
    /// stall monitor neither flags workers nor adds spares. The same program with the same seed
    /// polls the same tasks in the same order — [`Runtime::schedule_trace`] returns that order
    /// to print or compare — and other seeds try other orders. `#[brigade::test(seeds = N)]`
    /// runs a test under N seeds.
    ///
    /// A task yielding (`yield_now`) is drawn only once nothing else is runnable. What stays
    /// non-deterministic: code running *outside* the worker — the body of `block_on` itself
    /// (spawn the work and await the task, as `#[brigade::test(seeds)]` does), `brigade::run`
    /// closures and other threads (when their results arrive), real sockets (when the kernel
    /// delivers), and `Instant`s taken from std's clock. Calling `workers(n)` with n > 1 is an
    /// error.
    pub fn deterministic(mut self, seed: u64) -> Self {
        self.deterministic = Some(seed);
        self
    }

    /// The kernel interface the reactor waits on: [`IoDriver::Epoll`], [`IoDriver::Uring`] or
    /// [`IoDriver::Auto`] (io_uring where the kernel allows it). Unset, the runtime takes what
    /// `BRIGADE_IO_DRIVER` says (`epoll`, `uring`, `auto`), else epoll. Sockets behave the same
    /// on both; [`RuntimeMetrics::io_driver`](crate::runtime::RuntimeMetrics::io_driver) says
    /// which one a runtime got. `build` fails with an error saying why if `Uring` is asked
    /// for and the kernel refuses it.
    ///
    /// ```
    /// use brigade::runtime::IoDriver;
    /// let rt = brigade::Runtime::builder().io_driver(IoDriver::Auto).build()?;
    /// let got = rt.metrics().io_driver;
    /// assert!(got == IoDriver::Uring || got == IoDriver::Epoll);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn io_driver(mut self, driver: IoDriver) -> Self {
        self.io_driver = Some(driver);
        self
    }

    /// Checks the configuration and starts the runtime's worker threads.
    ///
    /// # Errors
    /// `InvalidInput` for a configuration that cannot work (zero workers, an impossible stack
    /// size, ...), with a message saying what to change; the OS error if a thread cannot start.
    pub fn build(self) -> io::Result<Runtime> {
        let config = self.validate()?;
        Runtime::start(config)
    }

    fn validate(self) -> io::Result<Config> {
        if let (Some(seed), Some(n)) = (self.deterministic, self.workers) {
            if n > 1 {
                return Err(invalid(format!(
                    "deterministic({seed}) runs every task on one worker thread, so workers({n}) \
                     cannot apply: remove .workers({n}) (or use .start_paused(true) for virtual \
                     time on {n} workers)"
                )));
            }
        }
        let workers = match self.workers {
            Some(0) => return Err(invalid(
                "workers(0) is invalid: a runtime needs at least one worker thread to run tasks",
            )),
            Some(n) if n > MAX_WORKERS => {
                return Err(invalid(format!(
                    "workers({n}) is too many: at most {MAX_WORKERS} are supported"
                )))
            }
            Some(n) => n,
            None if self.deterministic.is_some() => 1,
            None => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS),
        };
        if let Some(bytes) = self.stack_size {
            if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&bytes) {
                return Err(invalid(format!(
                    "stack_size({bytes}) is impossible: give a size in bytes between {MIN_STACK_SIZE} (64 KiB) and {MAX_STACK_SIZE} (1 GiB)"
                )));
            }
        }
        if self.max_blocking_threads == 0 {
            return Err(invalid(
                "max_blocking_threads(0) is invalid: brigade::run needs at least one thread",
            ));
        }
        if self.thread_name.is_empty() || self.thread_name.contains('\0') {
            return Err(invalid(
                "thread_name must be non-empty and must not contain NUL bytes",
            ));
        }
        if self.stall_threshold.is_zero() {
            return Err(invalid(
                "stall_threshold(0) is invalid: every poll would count as a stall; use a few \
                 milliseconds (the default is 10 ms)",
            ));
        }
        let max_workers = match self.max_workers {
            Some(cap) if cap < workers => {
                return Err(invalid(format!(
                    "max_workers({cap}) is below workers({workers}): the cap counts the \
                     configured workers too, so it must be at least {workers}"
                )))
            }
            Some(cap) => cap.min(MAX_WORKERS),
            None if self.deterministic.is_some() => workers,
            None => (workers + DEFAULT_MAX_EXTRA_WORKERS).min(MAX_WORKERS),
        };
        // A spare would be a second thread polling tasks.
        let max_workers = if self.deterministic.is_some() {
            workers
        } else {
            max_workers
        };
        let prefix = self.thread_name.clone();
        let io_driver = match self.io_driver {
            Some(driver) => driver,
            None => IoDriver::from_env()
                .map_err(invalid)?
                .unwrap_or(IoDriver::Epoll),
        };
        Ok(Config {
            workers,
            thread_name: Arc::new(move |index| format!("{prefix}-worker-{index}")),
            thread_name_prefix: self.thread_name,
            stack_size: self.stack_size,
            on_thread_start: self.on_thread_start,
            on_thread_stop: self.on_thread_stop,
            unhandled_panic: self.unhandled_panic,
            max_blocking_threads: self.max_blocking_threads,
            blocking_keep_alive: self.blocking_keep_alive,
            stall_threshold: self.stall_threshold,
            max_workers,
            on_stall: self.on_stall.unwrap_or_else(default_on_stall),
            start_paused: self.start_paused || self.deterministic.is_some(),
            deterministic: self.deterministic,
            io_driver,
        })
    }
}

fn invalid(message: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("brigade::Builder: {message}"),
    )
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .field("unhandled_panic", &self.unhandled_panic)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("blocking_keep_alive", &self.blocking_keep_alive)
            .field("stall_threshold", &self.stall_threshold)
            .field("max_workers", &self.max_workers)
            .field("start_paused", &self.start_paused)
            .field("deterministic", &self.deterministic)
            .finish_non_exhaustive()
    }
}
