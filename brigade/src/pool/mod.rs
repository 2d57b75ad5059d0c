//! The thread pool: a work-stealing scheduler (seed section 2, grown up).
//!
//! The seed's pool is N threads draining one `BlockingCollection<Action>`. That design works,
//! but every thread fights over the one queue. brigade's pool keeps the same shape — N workers,
//! each a loop of "take a work item, run it" — and gives each worker its own station:
//!
//! - a **LIFO slot**: the task just woken or spawned by the running task runs next, while its
//!   data is still in cache (message passing between two tasks stays on one core). A cap on
//!   consecutive LIFO runs keeps two tasks that wake each other from starving the rest;
//! - a bounded **local queue** ([`local_queue`]) only its worker pushes to, which idle workers
//!   steal half of at a time;
//! - the shared **injector** ([`injector`]) for work arriving from outside the pool, pulled in
//!   batches and checked every [`GLOBAL_QUEUE_INTERVAL`] ticks so it is never starved;
//! - **parking** ([`park`], [`idle`]) that wakes only as many sleeping workers as there is work.
//!
//! Closures given to `brigade::run` go to a separate set of threads ([`blocking`]) so they never
//! hold up async tasks.
//!
//! # Invariants
//! - A task is in at most one queue, LIFO slot or worker's hands at a time (the NOTIFIED bit).
//! - Only a worker's own thread touches its LIFO slot and pushes to its local queue.
//! - After shutdown no task is polled again: queues refuse work, and the last worker to stop
//!   drops every future still alive.

pub(crate) mod blocking;
mod idle;
mod injector;
pub(crate) mod local_queue;
pub(crate) mod park;
mod worker;

use std::any::Any;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::io::driver::IoDriver;
use crate::runtime::builder::Config;
use crate::sync_context::{Runnable, SyncContext};
use crate::task::{self, Notified, OwnedTasks, RawTask, Schedule, Task, TaskId, TaskMeta};
use crate::time::driver::{DriverHost, TimeDriver};

pub(crate) use idle::MAX_WORKERS;
pub(crate) use worker::{is_worker_thread, spawn_workers, with_current_worker_pool};

/// How many ticks (task runs) between two looks at the injector before the local queue.
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// How many tasks in a row may run from the LIFO slot before it yields to the local queue.
const MAX_LIFO_POLLS_PER_TICK: usize = 3;

/// What the workers share: the pool as seen from any thread.
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// One per worker: how to steal from it and how to wake it.
    remotes: Box<[Remote]>,
    injector: injector::Injector,
    idle: idle::Idle,
    owned: OwnedTasks,
    pub(crate) blocking: blocking::BlockingPool,
    shutdown: AtomicBool,
    /// Workers that have not finished their exit; the last one sweeps the owned list.
    workers_running: AtomicUsize,
    /// Set (and announced) once the last worker has swept: shutdown is complete.
    swept: Mutex<bool>,
    swept_signal: Condvar,
    /// Detached tasks whose panic nobody observed.
    unhandled_panics: AtomicU64,
    /// The timer wheel, driven by whichever worker parks first.
    pub(crate) timers: Arc<TimeDriver>,
    /// The I/O reactor, polled by the same worker (the driving role).
    pub(crate) io: Arc<IoDriver>,
}

/// Aligned to two cache lines so one worker's counters never share a line with its
/// neighbour's (they are written on every task run).
#[repr(align(128))]
struct Remote {
    stealer: local_queue::Stealer<Notified>,
    unparker: park::Unparker,
    metrics: WorkerMetrics,
    /// Set when the worker has left its loop (shutdown); until then it may be stuck in a poll.
    stopped: AtomicBool,
}

/// Counters a worker keeps about itself. Only the owning worker writes them (load + store, no
/// read-modify-write needed); anyone may read them.
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
}

impl WorkerMetrics {
    fn bump(counter: &AtomicU64, by: u64) {
        counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
    }
}

impl Shared {
    /// Runs `future` as a new task on this pool.
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        future: F,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified, raw) = task::new_task(future, self.clone(), name, location);
        match self.owned.bind(raw) {
            Ok(()) => self.schedule_task(notified, false),
            Err(_closed) => {
                // The runtime has shut down: the task never runs, and its handle reports
                // `TaskError::RuntimeShutdown`.
                drop(notified);
                raw.shutdown();
            }
        }
        task
    }

    /// Whether the runtime has begun shutting down.
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Queues a runnable task: locally if we are one of this pool's workers, else through the
    /// injector. `is_yield` sends it to the back of the local queue instead of the LIFO slot.
    fn schedule_task(&self, task: Notified, is_yield: bool) {
        let task = match worker::schedule_on_current_worker(self, task, is_yield) {
            Ok(()) => return,
            Err(task) => task,
        };
        match self.injector.push(task) {
            Ok(()) => self.notify_parked(),
            // Shut down: drop the entry; the shutdown sweep drops the future.
            Err(task) => drop(task),
        }
    }

    /// Wakes a sleeping worker if work is waiting and nobody is looking for it.
    fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].unparker.unpark();
        }
    }

    /// The last searcher is going to sleep: if any queue still has work, wake someone.
    fn notify_if_work_pending(&self) {
        let pending =
            self.remotes.iter().any(|r| !r.stealer.is_empty()) || !self.injector.is_empty();
        if pending {
            self.notify_parked();
        }
    }

    /// Starts shutdown: queues close, workers are woken to exit. Idempotent.
    pub(crate) fn begin_shutdown(&self) {
        if self.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        // Entries still in the injector are dropped; their futures go in the owned-list sweep.
        drop(self.injector.close());
        for remote in self.remotes.iter() {
            remote.unparker.unpark();
        }
        self.blocking.shutdown();
    }

    /// The last worker out drops every future still alive (P3).
    fn sweep_owned_tasks(&self) {
        self.owned.close_and_drain(RawTask::shutdown);
        drop(self.injector.close());
        // Sleeps still waiting belong to futures outside the runtime (block_on elsewhere):
        // they learn the runtime is gone instead of waiting forever.
        self.timers.shutdown();
        self.io.shutdown();
        *self.swept.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.swept_signal.notify_all();
    }

    /// Waits until shutdown has completed (every worker stopped and every future dropped), or
    /// until `timeout`. Returns whether it completed.
    pub(crate) fn wait_for_shutdown(&self, timeout: Duration) -> bool {
        let guard = self.swept.lock().unwrap_or_else(|e| e.into_inner());
        let (swept, _) = self
            .swept_signal
            .wait_timeout_while(guard, timeout, |swept| !*swept)
            .unwrap_or_else(|e| e.into_inner());
        *swept
    }

    /// The thread names of the workers that have not left their loop yet.
    pub(crate) fn busy_worker_names(&self) -> Vec<String> {
        (0..self.remotes.len())
            .filter(|&index| !self.remotes[index].stopped.load(Ordering::Acquire))
            .map(|index| (self.config.thread_name)(index))
            .collect()
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.remotes.len()
    }

    pub(crate) fn num_alive_tasks(&self) -> usize {
        self.owned.len()
    }

    pub(crate) fn injector_depth(&self) -> usize {
        self.injector.len()
    }

    pub(crate) fn num_searching(&self) -> usize {
        self.idle.num_searching()
    }

    pub(crate) fn unhandled_panics(&self) -> u64 {
        self.unhandled_panics.load(Ordering::Relaxed)
    }

    pub(crate) fn worker_metrics(&self, index: usize) -> (&WorkerMetrics, usize) {
        let remote = &self.remotes[index];
        (&remote.metrics, remote.stealer.len())
    }
}

impl park::DriverWaker for IoDriver {
    fn wake_driver(&self) {
        self.wake();
    }
}

impl DriverHost for Shared {
    fn wake_one_for_timers(&self) {
        // A sleeper woken without being chosen loops back to its park, where the first thing
        // it tries is the driving role.
        if let Some(index) = self.idle.any_sleeper() {
            self.remotes[index].unparker.unpark();
        }
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        self.schedule_task(task, false);
    }

    fn yield_now(&self, task: Notified) {
        self.schedule_task(task, true);
    }

    fn release(&self, task: RawTask) -> bool {
        self.owned.remove(task)
    }

    fn unhandled_panic(&self, id: TaskId, meta: &TaskMeta, payload: Box<dyn Any + Send>) {
        self.unhandled_panics.fetch_add(1, Ordering::Relaxed);
        self.config.unhandled_panic.handle(id, meta, payload);
    }

    fn sync_context(&self) -> Option<Arc<dyn SyncContext>> {
        Some(self.clone())
    }

    fn pool(&self) -> Option<Arc<dyn SyncContext>> {
        Some(self.clone())
    }
}

/// The pool is one synchronization context (seed section 8: "in .NET Core console and web
/// apps there is no SynchronizationContext, so continuations run on the ThreadPool"): a task
/// moved here runs on whichever worker takes it.
impl SyncContext for Shared {
    fn post(&self, task: Runnable) {
        let is_yield = task.is_yield();
        self.schedule_task(task.into_notified(), is_yield);
    }
}
