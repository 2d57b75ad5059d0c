//! Always-on counters: a snapshot of what the pool is doing, readable from any thread at any
//! time, with no build flag. Workers keep their own counters, each on its own cache lines, so
//! counting never makes two workers fight over a line; a snapshot reads them all.

use std::sync::atomic::Ordering::Relaxed;

use crate::io::IoDriver;
use crate::pool::Shared;

/// A snapshot of a runtime's counters. Counters only grow; depths are instantaneous.
///
/// ```
/// let rt = brigade::Runtime::builder().workers(2).build()?;
/// rt.block_on(brigade::when_all((0..10).map(|i| rt.spawn(async move { i }))));
/// let metrics = rt.metrics();
/// assert_eq!(metrics.workers, 2);
/// assert!(metrics.tasks_spawned >= 10);
/// println!(
///     "{} tasks done, {} spare workers, {} stalls",
///     metrics.tasks_completed, metrics.spare_workers, metrics.stalls_detected
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Worker threads configured (`Builder::workers`).
    pub workers: usize,
    /// Worker threads running now: the configured ones plus spares.
    pub active_workers: usize,
    /// Spare workers running now (started for stalled workers, retiring when they are back).
    pub spare_workers: usize,
    /// Spare workers started since the runtime started ("threads injected").
    pub spares_started: u64,
    /// Workers flagged as stalled right now (stuck in a poll, or blocking on purpose).
    pub stalled_workers: usize,
    /// Times the pool needed a spare worker and was at `Builder::max_workers` (one per
    /// episode; also reported as a warning under target `brigade::stall`).
    pub worker_cap_reached: u64,
    /// Stalls detected since the runtime started.
    pub stalls_detected: u64,
    /// Tasks spawned since the runtime started.
    pub tasks_spawned: u64,
    /// Tasks finished (or dropped at shutdown) since the runtime started.
    pub tasks_completed: u64,
    /// Tasks spawned and not yet finished (blocking closures not included).
    pub alive_tasks: usize,
    /// Tasks waiting in the global injection queue.
    pub injection_queue_depth: usize,
    /// Workers looking for work to steal right now.
    pub searching_workers: usize,
    /// Threads currently running or waiting for `brigade::run` closures.
    pub blocking_threads: usize,
    /// Detached tasks whose panic went to the unhandled-panic policy.
    pub unhandled_panics: u64,
    /// Timers (sleeps, timeouts, intervals) waiting in the timer wheel.
    pub timers_pending: usize,
    /// Timers fired since the runtime started.
    pub timers_fired: u64,
    /// Sockets registered with the I/O reactor.
    pub io_registrations: usize,
    /// Readiness events the reactor has dispatched since the runtime started.
    pub io_events: u64,
    /// The reactor's backend: [`IoDriver::Epoll`] or [`IoDriver::Uring`] (what `Auto`
    /// resolved to).
    pub io_driver: IoDriver,
    /// Per worker, in worker index order.
    pub per_worker: Vec<WorkerStats>,
}

/// One worker's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Task polls run by this worker.
    pub polls: u64,
    /// Successful steals from other workers.
    pub steals: u64,
    /// Times the worker went to sleep for lack of work.
    pub parks: u64,
    /// Tasks in its local queue right now.
    pub local_queue_depth: usize,
    /// Time spent out of park: running tasks, looking for work, driving timers and I/O.
    pub busy: std::time::Duration,
    /// Whether a thread runs this slot (spare slots come and go).
    pub active: bool,
    /// Whether the worker is flagged as stalled right now.
    pub stalled: bool,
    /// Stalls detected on this worker.
    pub stalls: u64,
}

impl RuntimeMetrics {
    pub(crate) fn collect(shared: &Shared) -> RuntimeMetrics {
        let per_worker: Vec<WorkerStats> = (0..shared.high_water())
            .map(|index| {
                let (metrics, depth, active, stalled) = shared.worker_metrics(index);
                WorkerStats {
                    polls: metrics.polls.load(Relaxed),
                    steals: metrics.steals.load(Relaxed),
                    parks: metrics.parks.load(Relaxed),
                    local_queue_depth: depth,
                    busy: std::time::Duration::from_nanos(metrics.busy_ns.load(Relaxed)),
                    active,
                    stalled,
                    stalls: metrics.stalls.load(Relaxed),
                }
            })
            .collect();
        let active_workers = shared.num_workers();
        let alive_tasks = shared.num_alive_tasks();
        let tasks_spawned = shared.tasks_spawned();
        RuntimeMetrics {
            workers: shared.config.workers,
            active_workers,
            spare_workers: active_workers.saturating_sub(shared.config.workers),
            spares_started: shared.spares_started(),
            stalled_workers: per_worker.iter().filter(|w| w.stalled).count(),
            stalls_detected: shared.stalls_detected(),
            worker_cap_reached: shared.worker_cap_reached(),
            tasks_spawned,
            tasks_completed: tasks_spawned.saturating_sub(alive_tasks as u64),
            alive_tasks,
            injection_queue_depth: shared.injector_depth(),
            searching_workers: shared.num_searching(),
            blocking_threads: shared.blocking.num_threads(),
            unhandled_panics: shared.unhandled_panics(),
            timers_pending: shared.timers.pending(),
            timers_fired: shared.timers.fired(),
            io_registrations: shared.io.registrations(),
            io_events: shared.io.events_dispatched(),
            io_driver: shared.io.kind(),
            per_worker,
        }
    }

    /// Total polls over all workers.
    pub fn total_polls(&self) -> u64 {
        self.per_worker.iter().map(|w| w.polls).sum()
    }
}
