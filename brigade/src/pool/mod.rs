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
//! - Only a worker's own thread pushes to its local queue and puts into its LIFO slot; other
//!   workers take from the LIFO slot only while its worker is out of service (stalled).
//! - After shutdown no task is polled again: queues refuse work, and the last worker to stop
//!   drops every future still alive.

pub(crate) mod auto_advance;
pub(crate) mod blocking;
pub(crate) mod config;
pub(crate) mod current;
mod idle;
mod injector;
mod lifo;
pub(crate) mod local_queue;
#[cfg(all(test, not(loom)))]
mod lost_wakeup_tests;
pub(crate) mod monitor;
pub(crate) mod trace;
mod worker;

use std::any::Any;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::io::driver::Reactor;
use crate::park;
use crate::task::{
    self, Notified, OwnedTasks, RawTask, Runnable, Schedule, SyncContext, Task, TaskId, TaskMeta,
};
use crate::timer::driver::{DriverHost, TimeDriver};
use config::Config;

pub(crate) use auto_advance::BlockOnWaiter;
pub(crate) use idle::MAX_WORKERS;
pub(crate) use worker::{
    block_in_place, help_while_blocked, is_worker_thread, spawn_workers, with_current_worker_pool,
    WhileBlocked, MAX_HELP_DEPTH,
};

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
    pub(crate) io: Arc<Reactor>,
    /// Wakes the stall monitor early.
    pub(crate) monitor: Arc<monitor::MonitorSignal>,
    /// Worker slots with a thread (the configured workers plus running spares).
    active_workers: AtomicUsize,
    /// Active workers flagged as stalled (stuck in a poll, or blocking cooperatively).
    stalled_workers: AtomicUsize,
    /// One past the highest slot index ever activated: the range worth looking at.
    high_water: AtomicUsize,
    /// Serialises starting and retiring spares.
    spares: Mutex<()>,
    /// Spare workers started since the runtime started.
    spares_started: AtomicU64,
    /// Tasks spawned from threads that are not this pool's workers.
    remote_spawns: AtomicU64,
    /// Thread handles of spares, joined at shutdown.
    spare_threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Times the pool needed a spare and was at `max_workers` (one per episode).
    worker_cap_reached: AtomicU64,
    /// An at-the-cap episode is under way (reported once; cleared when enough workers work).
    at_cap_reported: AtomicBool,
    /// The threads inside `block_on` on this pool, as auto-advance sees them.
    block_on_waiters: Mutex<Vec<Arc<std::sync::atomic::AtomicU8>>>,
    /// Deterministic mode: every poll, in order.
    trace: Option<Mutex<trace::Recorder>>,
}

/// One worker slot as every thread sees it. Aligned to two cache lines so one worker's
/// counters never share a line with its neighbour's (they are written on every task run).
#[repr(align(128))]
struct Remote {
    stealer: local_queue::Stealer<Notified>,
    unparker: park::Unparker,
    /// The task to run next (see [`lifo`]): owner-only, except while the owner is stalled.
    lifo: lifo::LifoSlot,
    metrics: WorkerMetrics,
    /// Odd while the worker is inside a poll; bumped before and after each (the monitor's view).
    poll_seq: AtomicU64,
    /// The id of the task being polled (meaningful while `poll_seq` is odd).
    polling_task: AtomicU64,
    /// The worker thread's kernel id (0 until it starts): lets the monitor ask the kernel
    /// whether a long poll is blocked or merely preempted.
    os_thread: std::sync::atomic::AtomicI32,
    /// Why the worker is out of service, if it is: [`DETECTED`] (stuck in a poll, flagged by
    /// the monitor) and/or [`COOPERATIVE`] (blocking on purpose). Two owners, two bits: one
    /// clearing its reason never puts back into service a worker the other still holds out.
    out_of_service: std::sync::atomic::AtomicU8,
    /// Whether a thread runs this slot: always for the configured workers; spares come and go.
    active: AtomicBool,
    /// A spare slot's thread-owned halves, kept here while no thread runs the slot.
    reserve: Mutex<Option<(local_queue::Local<Notified>, park::Parker)>>,
    /// Set when the worker has left its loop (shutdown); until then it may be stuck in a poll.
    stopped: AtomicBool,
}

/// The monitor saw the worker stuck in one poll.
pub(crate) const DETECTED: u8 = 1;
/// The worker blocks on purpose (`brigade::blocking`, `block_on` on a worker).
pub(crate) const COOPERATIVE: u8 = 2;

impl Remote {
    fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    fn is_out_of_service(&self) -> bool {
        self.out_of_service.load(Ordering::Acquire) != 0
    }

    fn is_cooperative(&self) -> bool {
        self.out_of_service.load(Ordering::Relaxed) & COOPERATIVE != 0
    }
}

/// Counters a worker keeps about itself. Only the owning worker writes them (load + store, no
/// read-modify-write needed); anyone may read them.
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    /// Nanoseconds spent out of park (running tasks, searching, driving).
    pub(crate) busy_ns: AtomicU64,
    /// Tasks spawned from this worker.
    pub(crate) spawns: AtomicU64,
    /// Stalls detected on this worker.
    pub(crate) stalls: AtomicU64,
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
        worker::count_spawn(self);
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
        if self.has_queued_work() {
            self.notify_parked();
        }
    }

    /// Whether a task waits in any queue a worker could take it from.
    pub(crate) fn has_queued_work(&self) -> bool {
        self.remotes[..self.high_water()]
            .iter()
            .any(|r| !r.stealer.is_empty() || (r.is_out_of_service() && !r.lifo.is_empty()))
            || !self.injector.is_empty()
    }

    /// Starts shutdown: queues close, workers are woken to exit. Idempotent.
    pub(crate) fn begin_shutdown(&self) {
        if self.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        // A spare being started right now finishes starting (and is joined) or sees the flag.
        drop(self.spares.lock().unwrap_or_else(|e| e.into_inner()));
        // Entries still in the injector are dropped; their futures go in the owned-list sweep.
        drop(self.injector.close());
        for remote in self.remotes.iter() {
            remote.unparker.unpark();
        }
        self.monitor.wake();
        self.blocking.shutdown();
    }

    /// Drops, on the calling thread, every future whose task is idle (not inside a poll) —
    /// called right after [`Shared::begin_shutdown`] by the thread dropping the runtime. Doing
    /// it only when the last worker exits is not enough: a worker blocked on purpose
    /// (`brigade::blocking`, `block_on` on a worker) may be waiting for exactly one of these
    /// futures to be dropped (a channel's sender it holds), and that worker never exits
    /// until it is. Tasks inside a poll are marked cancelled and dropped by their worker when
    /// the poll returns; the last worker out still sweeps whatever is left (P3).
    pub(crate) fn drop_idle_tasks(&self) {
        self.owned.close_and_drain(RawTask::shutdown);
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
        (0..self.high_water())
            .filter(|&index| {
                let remote = &self.remotes[index];
                remote.is_active() && !remote.stopped.load(Ordering::Acquire)
            })
            .map(|index| (self.config.thread_name)(index))
            .collect()
    }

    /// Worker slots with a thread right now (configured workers plus spares).
    pub(crate) fn num_workers(&self) -> usize {
        self.active_workers.load(Ordering::Acquire)
    }

    /// One past the highest worker slot that may be active.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Acquire)
    }

    /// Active workers not flagged as stalled.
    pub(crate) fn working_workers(&self) -> usize {
        self.num_workers()
            .saturating_sub(self.stalled_workers.load(Ordering::Acquire))
    }

    /// Whether every worker is parked (the monitor may wait longer).
    pub(crate) fn all_workers_parked(&self) -> bool {
        self.idle.all_parked()
    }

    /// More workers are working than configured (a stalled one came back): spares retire.
    pub(crate) fn has_surplus(&self) -> bool {
        self.working_workers() > self.config.workers
    }

    /// Takes worker `index` out of service for `reason` ([`DETECTED`] or [`COOPERATIVE`]):
    /// its LIFO slot becomes stealable and it counts as not working.
    pub(crate) fn set_stalled(&self, index: usize, reason: u8) {
        let previous = self.remotes[index]
            .out_of_service
            .fetch_or(reason, Ordering::AcqRel);
        if previous == 0 {
            self.stalled_workers.fetch_add(1, Ordering::AcqRel);
            // Its queued work must not wait: someone should come and steal it.
            self.notify_parked();
        }
    }

    /// `reason` no longer holds worker `index` out of service; it is back once no reason does.
    pub(crate) fn clear_stalled(&self, index: usize, reason: u8) {
        let previous = self.remotes[index]
            .out_of_service
            .fetch_and(!reason, Ordering::AcqRel);
        if previous == reason {
            self.stalled_workers.fetch_sub(1, Ordering::AcqRel);
            self.wake_surplus_spares();
        }
    }

    fn count_stall(&self, index: usize) {
        self.remotes[index]
            .metrics
            .stalls
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The name and spawn location of a live task (for stall reports).
    fn describe_task(&self, id: TaskId) -> (Option<String>, Option<&'static Location<'static>>) {
        match self.owned.find(id, |meta| {
            (meta.name.as_deref().map(str::to_owned), meta.location)
        }) {
            Some((name, location)) => (name, Some(location)),
            None => (None, None),
        }
    }

    fn report_stall(&self, report: monitor::StallReport) {
        let hook = &self.config.on_stall;
        if let Err(payload) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&report)))
        {
            // A broken hook must not take the monitor down (and stall detection with it).
            crate::report::warn(
                crate::report::Topic::Runtime,
                &format!(
                    "the on_stall hook panicked ({}); the report was: {report}",
                    task::panic_message(payload.as_ref())
                ),
            );
        }
    }

    /// Starts a spare worker in a free slot, within the cap. Returns whether one started.
    fn start_spare(self: &Arc<Self>) -> bool {
        let _serial = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_shutdown() {
            return false;
        }
        // Workers caught stuck in a poll get a bounded number of spares (CPU-heavy polls must
        // not grow the pool without end); each worker blocking on purpose may have one more,
        // up to the cap: a cooperative block must never be what deadlocks the pool.
        let stall_spares = config::DEFAULT_SPARE_WORKERS + self.cooperative_blocks();
        if self.num_workers() >= self.config.workers + stall_spares {
            return false;
        }
        // A slot is free when no thread runs it and its last thread handed its halves back.
        let Some(index) = (self.config.workers..self.remotes.len()).find(|&index| {
            let remote = &self.remotes[index];
            !remote.is_active()
                && remote
                    .reserve
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_some()
        }) else {
            return false; // at the cap
        };
        self.join_finished_spares();
        self.workers_running.fetch_add(1, Ordering::AcqRel);
        self.idle.add_worker();
        self.active_workers.fetch_add(1, Ordering::AcqRel);
        self.remotes[index].stopped.store(false, Ordering::Release);
        self.remotes[index].active.store(true, Ordering::Release);
        self.high_water.fetch_max(index + 1, Ordering::AcqRel);
        // The thread takes the slot's halves out of `reserve` itself, so a thread that fails
        // to start leaves them there for the next attempt.
        // Counted before the thread starts: it may run (and finish) work before `spawn`
        // returns here, and whoever sees that work done must see the spare counted.
        self.spares_started.fetch_add(1, Ordering::Relaxed);
        match worker::spawn_spare_thread(self.clone(), index) {
            Ok(thread) => {
                self.spare_threads
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(thread);
                true
            }
            Err(_) => {
                // Could not start a thread (the OS said no): leave the slot inactive again.
                self.spares_started.fetch_sub(1, Ordering::Relaxed);
                self.remotes[index].active.store(false, Ordering::Release);
                self.active_workers.fetch_sub(1, Ordering::AcqRel);
                self.idle.remove_worker();
                self.workers_running.fetch_sub(1, Ordering::AcqRel);
                false
            }
        }
    }

    /// Workers blocking on purpose right now (`block_on` on a worker, `brigade::blocking`).
    fn cooperative_blocks(&self) -> usize {
        self.remotes[..self.high_water()]
            .iter()
            .filter(|remote| remote.is_active() && remote.is_cooperative())
            .count()
    }

    /// Whether every worker thread the cap allows is running (no spare can be added).
    pub(crate) fn at_worker_cap(&self) -> bool {
        self.num_workers() >= self.config.max_workers
    }

    /// No worker is in service (every one is blocked or stuck in a poll) and no spare can be
    /// added: queued tasks wait until a block ends.
    pub(crate) fn is_starved(&self) -> bool {
        self.working_workers() == 0 && self.at_worker_cap()
    }

    /// The monitor wanted a spare and the pool was at its cap: count and report the episode
    /// once (a warning under target `brigade::stall`), so a pool that stops growing says why.
    fn note_worker_cap_reached(&self) {
        if self.at_cap_reported.swap(true, Ordering::AcqRel) {
            return;
        }
        self.worker_cap_reached.fetch_add(1, Ordering::Relaxed);
        crate::report::warn(
            crate::report::Topic::Stall,
            &format!(
                "every one of the pool's {} worker threads (max_workers) is in use and {} of \
                 them are blocked, so no spare worker can be added; queued tasks wait for a \
                 block to end (threads blocked in block_on run queued tasks meanwhile). Raise \
                 Builder::max_workers, or move blocking work to brigade::run",
                self.config.max_workers,
                self.stalled_workers.load(Ordering::Acquire),
            ),
        );
    }

    /// Enough workers work again: a later shortage at the cap is a new episode.
    fn clear_worker_cap_episode(&self) {
        if self.at_cap_reported.load(Ordering::Relaxed) {
            self.at_cap_reported.store(false, Ordering::Release);
        }
    }

    /// Times a spare was needed while the pool was at `max_workers`.
    pub(crate) fn worker_cap_reached(&self) -> u64 {
        self.worker_cap_reached.load(Ordering::Relaxed)
    }

    /// Fires due timers and collects ready I/O events when no worker can: every worker is
    /// out of service (blocked, or stuck in a poll) and so none will park and take the
    /// driving role. The monitor calls this on every look. Returns how long until the next
    /// timer deadline, so the monitor can look again then.
    pub(crate) fn drive_if_no_worker_can(&self) -> Option<Duration> {
        if self.working_workers() > 0 || self.is_shutdown() {
            return None;
        }
        self.timers.fire_if_due();
        self.poll_io_if_undriven();
        self.timers.time_to_next_deadline()
    }

    /// Collects ready I/O events without waiting, unless a parked worker already waits in
    /// epoll (it holds the driving role). Cheap when there is nothing: two atomic loads.
    pub(crate) fn poll_io_if_undriven(&self) {
        if self.io.registrations() == 0 {
            return;
        }
        if let Some(driving) = self.timers.try_drive() {
            let _ = self.io.poll(Some(Duration::ZERO));
            self.end_transient_drive(driving);
        }
    }

    /// Gives back the driving role after a zero-timeout look. A worker that parked during the
    /// look found the role taken and sleeps on its condvar without it; unless one is woken to
    /// take the role, nobody waits in epoll any more and I/O readiness (a socket, a pidfd) goes
    /// unnoticed until something else wakes a worker. The parker noted the miss
    /// (`TimeDriver::try_drive_before_parking`), and letting go of the role here wakes a
    /// sleeper exactly then — no wake-up when nobody missed it.
    fn end_transient_drive(&self, driving: crate::timer::driver::Driving<'_>) {
        drop(driving);
    }

    /// Joins spare threads that have exited (retired), so their stacks are released now rather
    /// than at shutdown.
    fn join_finished_spares(&self) {
        let finished: Vec<_> = {
            let mut threads = self.spare_threads.lock().unwrap_or_else(|e| e.into_inner());
            let (finished, running) = std::mem::take(&mut *threads)
                .into_iter()
                .partition(|thread| thread.is_finished());
            *threads = running;
            finished
        };
        for thread in finished {
            let _ = thread.join();
        }
    }

    /// A spare's thread gives its slot back. It has already left the idle counts
    /// ([`idle::Idle::retire_sleeper`]).
    fn retire_spare(
        &self,
        index: usize,
        local: local_queue::Local<Notified>,
        parker: park::Parker,
    ) {
        let _serial = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        debug_assert!(local.is_empty());
        self.clear_stalled(index, DETECTED | COOPERATIVE);
        *self.remotes[index]
            .reserve
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((local, parker));
        self.remotes[index].active.store(false, Ordering::Release);
        self.active_workers.fetch_sub(1, Ordering::AcqRel);
    }

    /// Wakes parked spares when the pool has more working workers than configured, so they
    /// retire instead of sleeping on.
    fn wake_surplus_spares(&self) {
        if !self.has_surplus() {
            return;
        }
        for remote in &self.remotes[self.config.workers..self.high_water()] {
            if remote.is_active() {
                remote.unparker.unpark();
            }
        }
    }

    /// Spare workers started so far.
    pub(crate) fn spares_started(&self) -> u64 {
        self.spares_started.load(Ordering::Relaxed)
    }

    /// Tasks spawned so far (from workers and from outside).
    pub(crate) fn tasks_spawned(&self) -> u64 {
        let on_workers: u64 = self
            .remotes
            .iter()
            .map(|r| r.metrics.spawns.load(Ordering::Relaxed))
            .sum();
        on_workers + self.remote_spawns.load(Ordering::Relaxed)
    }

    /// Stalls detected so far.
    pub(crate) fn stalls_detected(&self) -> u64 {
        self.remotes
            .iter()
            .map(|r| r.metrics.stalls.load(Ordering::Relaxed))
            .sum()
    }

    /// Waits for the spares' threads (after shutdown), except the calling thread's own.
    pub(crate) fn join_spares(&self) {
        let threads =
            std::mem::take(&mut *self.spare_threads.lock().unwrap_or_else(|e| e.into_inner()));
        let me = std::thread::current().id();
        for thread in threads {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
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

    pub(crate) fn worker_metrics(&self, index: usize) -> (&WorkerMetrics, usize, bool, bool) {
        let remote = &self.remotes[index];
        (
            &remote.metrics,
            remote.stealer.len(),
            remote.is_active(),
            remote.is_out_of_service(),
        )
    }

    /// Deterministic mode's poll record so far.
    pub(crate) fn schedule_trace(&self) -> Option<trace::ScheduleTrace> {
        self.trace
            .as_ref()
            .map(|trace| trace.lock().unwrap_or_else(|e| e.into_inner()).snapshot())
    }

    /// The list of live tasks (for the task dump).
    pub(crate) fn owned_tasks(&self) -> &OwnedTasks {
        &self.owned
    }
}

impl park::DriverWaker for Reactor {
    fn wake_driver(&self) {
        self.wake();
    }
}

impl DriverHost for Shared {
    fn wake_one_to_drive(&self) {
        // A sleeper woken without being chosen loops back to its park, where the first thing
        // it tries is the driving role.
        if let Some(index) = self.idle.any_sleeper() {
            self.remotes[index].unparker.unpark();
        } else if self.working_workers() == 0 {
            // Every worker is blocked: the monitor drives until one parks again.
            self.monitor.wake();
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

#[cfg(all(test, not(loom)))]
mod found_by_the_os_bench {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Found by the `os` bench, where a child's exit was never noticed: a worker parked while
    /// the monitor held the driving role for a zero-timeout look, slept without the role, and
    /// nobody waited in epoll any more.
    #[test]
    fn a_worker_that_parked_during_a_transient_look_is_woken_to_take_the_driving_role() {
        let runtime = crate::Runtime::builder().workers(1).build().unwrap();
        let shared = runtime.handle().shared.clone();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let busy = runtime.spawn(async move {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        started_rx.recv().unwrap();
        // The only worker is busy: nobody drives, so the look takes the role.
        let driving = shared
            .timers
            .try_drive()
            .expect("the role is free while the worker runs");
        release_tx.send(()).unwrap();
        wait_until("the worker parks", || shared.idle.any_sleeper().is_some());
        std::thread::sleep(Duration::from_millis(50)); // it tries for the role, and sleeps
        shared.end_transient_drive(driving);
        wait_until("the parked worker takes the driving role", || {
            shared.timers.is_driven()
        });
        runtime.block_on(busy);
    }

    /// `Command::spawn` forks inside `brigade::blocking`; a long fork followed by a moment of
    /// ordinary work in the same poll was reported as a stall of the whole poll.
    #[test]
    fn time_in_a_cooperative_block_does_not_count_toward_a_stall() {
        use std::sync::{Arc, Mutex};
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = reports.clone();
        let runtime = crate::Runtime::builder()
            .workers(2)
            .stall_threshold(Duration::from_millis(100))
            .on_stall(move |report| sink.lock().unwrap().push(report.blocked_for))
            .build()
            .unwrap();
        for _ in 0..3 {
            runtime.block_on(runtime.spawn(async {
                crate::blocking(|| std::thread::sleep(Duration::from_millis(300)));
                std::thread::sleep(Duration::from_millis(10)); // well under the threshold
            }));
        }
        std::thread::sleep(Duration::from_millis(200));
        let reports = reports.lock().unwrap();
        assert!(reports.is_empty(), "stalls reported: {reports:?}");
    }
}
