//! Always-on counters: a snapshot of what the pool is doing, readable from any thread at any
//! time, with no build flag. Workers keep their own counters, each on its own cache lines, so
//! counting never makes two workers fight over a line; a snapshot reads them all.

use std::sync::atomic::Ordering::Relaxed;

use crate::pool::Shared;

/// A snapshot of a runtime's counters. Counters only grow; depths are instantaneous.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Worker threads.
    pub workers: usize,
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
}

impl RuntimeMetrics {
    pub(crate) fn collect(shared: &Shared) -> RuntimeMetrics {
        let per_worker = (0..shared.num_workers())
            .map(|index| {
                let (metrics, depth) = shared.worker_metrics(index);
                WorkerStats {
                    polls: metrics.polls.load(Relaxed),
                    steals: metrics.steals.load(Relaxed),
                    parks: metrics.parks.load(Relaxed),
                    local_queue_depth: depth,
                }
            })
            .collect();
        RuntimeMetrics {
            workers: shared.num_workers(),
            alive_tasks: shared.num_alive_tasks(),
            injection_queue_depth: shared.injector_depth(),
            searching_workers: shared.num_searching(),
            blocking_threads: shared.blocking.num_threads(),
            unhandled_panics: shared.unhandled_panics(),
            timers_pending: shared.timers.pending(),
            timers_fired: shared.timers.fired(),
            io_registrations: shared.io.registrations(),
            io_events: shared.io.events_dispatched(),
            per_worker,
        }
    }

    /// Total polls over all workers.
    pub fn total_polls(&self) -> u64 {
        self.per_worker.iter().map(|w| w.polls).sum()
    }
}
