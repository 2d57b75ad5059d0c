//! The last minutes of a runtime's counters: one sample a second in a fixed ring, so the
//! dashboard can draw throughput and queue-depth charts (dotnet-counters' view, kept in the
//! process).
//!
//! # Invariants
//! - The ring never holds more than `capacity` samples: memory is fixed once `serve` starts.
//! - Rates are differences of counters that only grow, divided by the real time between the
//!   two samples (the sampler may be late on a loaded machine).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use brigade::runtime::RuntimeMetrics;

/// One second's worth of the runtime, derived from two consecutive metric snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Seconds since the console started.
    pub(crate) t: f64,
    /// Task polls per second over the last interval.
    pub(crate) polls_per_s: f64,
    /// Tasks finished per second.
    pub(crate) completed_per_s: f64,
    /// Tasks spawned per second.
    pub(crate) spawned_per_s: f64,
    /// Tasks waiting in queues now: the injection queue plus every worker's local queue.
    pub(crate) queue_depth: usize,
    /// Live tasks now.
    pub(crate) alive_tasks: usize,
    /// Workers flagged as stalled now.
    pub(crate) stalled_workers: usize,
    /// Per worker: the fraction of the last interval spent out of park (0..=1).
    pub(crate) worker_busy: [f32; MAX_WORKERS_CHARTED],
}

/// Workers whose busy fraction is kept per sample (the rest are summed into none; a pool this
/// wide is rare on the machines a dashboard is opened on).
pub(crate) const MAX_WORKERS_CHARTED: usize = 64;

/// The ring of samples, and the snapshot the next one is measured against.
pub(crate) struct History {
    started: Instant,
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    samples: VecDeque<Sample>,
    previous: Option<(Instant, RuntimeMetrics)>,
}

impl History {
    /// A ring holding `span` of one-second samples (at least one).
    pub(crate) fn new(span: Duration) -> History {
        let capacity = (span.as_secs() as usize).max(1);
        History {
            started: Instant::now(),
            capacity,
            inner: Mutex::new(Inner {
                samples: VecDeque::with_capacity(capacity),
                previous: None,
            }),
        }
    }

    /// Adds the sample that `metrics`, taken now, makes with the previous snapshot.
    pub(crate) fn record(&self, metrics: RuntimeMetrics) {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((then, before)) = &inner.previous {
            let secs = now.duration_since(*then).as_secs_f64().max(1e-3);
            let rate = |after: u64, before: u64| after.saturating_sub(before) as f64 / secs;
            let mut worker_busy = [0f32; MAX_WORKERS_CHARTED];
            for (index, (after, before)) in metrics
                .per_worker
                .iter()
                .zip(before.per_worker.iter())
                .enumerate()
                .take(MAX_WORKERS_CHARTED)
            {
                let busy = after.busy.saturating_sub(before.busy).as_secs_f64() / secs;
                worker_busy[index] = busy.clamp(0.0, 1.0) as f32;
            }
            let sample = Sample {
                t: now.duration_since(self.started).as_secs_f64(),
                polls_per_s: rate(metrics.total_polls(), before.total_polls()),
                completed_per_s: rate(metrics.tasks_completed, before.tasks_completed),
                spawned_per_s: rate(metrics.tasks_spawned, before.tasks_spawned),
                queue_depth: metrics.injection_queue_depth
                    + metrics
                        .per_worker
                        .iter()
                        .map(|w| w.local_queue_depth)
                        .sum::<usize>(),
                alive_tasks: metrics.alive_tasks,
                stalled_workers: metrics.stalled_workers,
                worker_busy,
            };
            if inner.samples.len() == self.capacity {
                inner.samples.pop_front();
            }
            inner.samples.push_back(sample);
        }
        inner.previous = Some((now, metrics));
    }

    /// The samples, oldest first.
    pub(crate) fn samples(&self) -> Vec<Sample> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.samples.iter().copied().collect()
    }

    /// The newest sample, if a second has passed since the console started.
    pub(crate) fn latest(&self) -> Option<Sample> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.samples.back().copied()
    }

    /// How many samples the ring keeps.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
