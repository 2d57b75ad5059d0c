//! One worker thread: the loop that takes a task and runs it (the seed's
//! `foreach (var action in _workItems.GetConsumingEnumerable()) action();`), with the
//! work-stealing scheduler's order of places to look.
//!
//! Each iteration is one *tick*:
//! 1. every [`GLOBAL_QUEUE_INTERVAL`] ticks, a batch from the injector first (fairness for
//!    remote work);
//! 2. the LIFO slot, then the local queue, else a batch from the injector;
//! 3. else become a *searcher* and steal half of a random victim's queue;
//! 4. else park until woken.
//!
//! A yield puts the task at the back of the local queue, behind this worker's share of the
//! injector, so everything already runnable goes first (S9).
//!
//! Running a task is followed by running what it put in the LIFO slot, up to
//! [`MAX_LIFO_POLLS_PER_TICK`] times.
//!
//! # Invariants
//! - The `Core` (local queue producer, LIFO slot) is only touched from this worker's thread;
//!   tasks polled here reach it through the thread-local `CURRENT` while the loop holds no
//!   borrow of it.
//! - A worker never parks with work in its LIFO slot or local queue.

use std::cell::{Cell, RefCell};
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use super::config::Config;
use super::idle::Idle;
use super::injector::Injector;
use super::lifo::LifoSlot;
use super::local_queue::{self, Local, LOCAL_QUEUE_CAPACITY};
use super::monitor::{self, MonitorSignal};
use super::trace::SeededQueue;
use super::{
    blocking::BlockingPool, Remote, Shared, WorkerMetrics, GLOBAL_QUEUE_INTERVAL,
    MAX_LIFO_POLLS_PER_TICK,
};
use crate::io::driver::Reactor;
use crate::park::{self, Parker};
use crate::task::{Notified, OwnedTasks};
use crate::timer::driver::{DriverHost, TimeDriver};
use std::time::Instant;

/// The thread-local face of a running worker.
struct WorkerContext {
    shared: Arc<Shared>,
    index: usize,
    /// A spare (started by the stall monitor): retires when the pool has a surplus.
    is_spare: bool,
    core: RefCell<Core>,
    parker: Parker,
    /// When the worker last left park (for its busy-time counter).
    unparked_at: Cell<Instant>,
    /// Dispatching the events of its own wait in the reactor: still among the sleepers, so a
    /// notification from here would pick this very worker and wake it through the reactor
    /// for nothing. Notifications are owed instead (`notify_owed`) and paid once after the
    /// park, as tokio orders it. (The profile that found it: BENCHMARKS.md, "Why brigade
    /// wakes threads".)
    dispatching_own_wait: Cell<bool>,
    /// A notification deferred while `dispatching_own_wait`.
    notify_owed: Cell<bool>,
}

/// What only this worker's thread may touch. (The LIFO slot lives in the worker's `Remote`:
/// thieves may take from it while the worker is stalled.)
struct Core {
    local: Local<Notified>,
    tick: u32,
    is_searching: bool,
    rng: FastRand,
    /// Deterministic mode: every runnable task waits here and the next is drawn by a seeded
    /// PRNG (the LIFO slot and local queue stay empty).
    seeded: Option<SeededQueue>,
}

impl WorkerContext {
    fn remote(&self) -> &Remote {
        &self.shared.remotes[self.index]
    }
}

/// Counts a spawn on this worker's counter (no shared atomic), or the pool's remote counter.
pub(super) fn count_spawn(shared: &Shared) {
    with_current(
        |cx| match cx.filter(|cx| ptr::eq(Arc::as_ptr(&cx.shared), shared)) {
            Some(cx) => WorkerMetrics::bump(&cx.remote().metrics.spawns, 1),
            None => {
                shared.remote_spawns.fetch_add(1, Ordering::Relaxed);
            }
        },
    )
}

/// Runs `f`, which blocks this thread, without starving the pool: on a worker, the worker is
/// flagged out of service at once and the monitor starts a spare to take over its queue (the
/// cooperative version of stall detection). Elsewhere, just runs `f`.
pub(crate) fn block_in_place<R>(f: impl FnOnce() -> R) -> R {
    let flagged = with_current(|cx| {
        let cx = cx?;
        if cx.remote().is_cooperative() {
            return None; // already blocking cooperatively (nested)
        }
        cx.shared.set_stalled(cx.index, super::COOPERATIVE);
        cx.shared.monitor.wake();
        Some((cx.shared.clone(), cx.index))
    });
    struct Unflag(Option<(Arc<Shared>, usize)>);
    impl Drop for Unflag {
        fn drop(&mut self) {
            if let Some((shared, index)) = self.0.take() {
                shared.clear_stalled(index, super::COOPERATIVE);
            }
        }
    }
    let _unflag = Unflag(flagged);
    f()
}

/// What a thread blocked in `block_on` on a worker should do while it waits.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WhileBlocked {
    /// Not a worker, or the pool has workers in service or room for a spare: just sleep.
    Sleep,
    /// The pool is starved and this thread ran one queued task: look at the future again.
    RanATask,
    /// The pool is starved and nothing is queued that this thread could run: sleep briefly
    /// and look again (new work reaches nobody's wake-up while every worker is blocked).
    SleepBriefly,
    /// The pool is starved, tasks are queued, and this thread may not run them (it is already
    /// [`MAX_HELP_DEPTH`] tasks deep): nothing in the pool can run them until a block ends.
    Stuck,
}

/// How deep a blocked thread may nest tasks it runs while blocked: each level is a poll on
/// this thread's stack, and a task run here may itself block.
pub(crate) const MAX_HELP_DEPTH: usize = 32;

thread_local! {
    /// How many tasks this thread is running from inside `help_while_blocked`.
    static HELP_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Called by a worker thread blocked on purpose (`block_on` on a worker) each time it would
/// sleep. Normally a spare has taken over its queue and it just sleeps. But when the pool is
/// *starved* — no worker in service and no spare allowed (`max_workers` reached) — queued
/// tasks would wait for a block to end, and if the block waits for one of them (a nested
/// `block_on(spawn(..))`), forever. Then this thread runs one queued task itself, as .NET's
/// `Task.Wait` inlines a queued task instead of deadlocking.
pub(crate) fn help_while_blocked() -> WhileBlocked {
    with_current(|cx| {
        let Some(cx) = cx else {
            return WhileBlocked::Sleep;
        };
        if !cx.shared.is_starved() {
            return WhileBlocked::Sleep;
        }
        if HELP_DEPTH.with(Cell::get) >= MAX_HELP_DEPTH {
            return if cx.shared.has_queued_work() {
                WhileBlocked::Stuck
            } else {
                WhileBlocked::SleepBriefly
            };
        }
        let Some(task) = cx.take_any_queued_task() else {
            return WhileBlocked::SleepBriefly;
        };
        HELP_DEPTH.with(|depth| depth.set(depth.get() + 1));
        // The task's poll runs nested in the blocked poll. The monitor does not watch a
        // worker that blocks on purpose, so no poll sequence is published for it.
        task.run();
        HELP_DEPTH.with(|depth| depth.set(depth.get() - 1));
        WhileBlocked::RanATask
    })
}

thread_local! {
    /// The worker running on this thread, or null.
    static CURRENT: Cell<*const WorkerContext> = const { Cell::new(ptr::null()) };
}

/// Whether this thread is a worker of any brigade pool.
pub(crate) fn is_worker_thread() -> bool {
    CURRENT.with(|current| !current.get().is_null())
}

/// Calls `f` with the pool this thread works for, if it is a worker.
pub(crate) fn with_current_worker_pool<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    with_current(|cx| f(cx.map(|cx| &cx.shared)))
}

fn with_current<R>(f: impl FnOnce(Option<&WorkerContext>) -> R) -> R {
    CURRENT.with(|current| {
        let ptr = current.get();
        // SAFETY: CURRENT is set only while the WorkerContext lives on this thread's stack
        // (`run_worker` clears it before the context is dropped).
        f(unsafe { ptr.as_ref() })
    })
}

/// Puts `task` in this thread's LIFO slot or local queue if this thread is a worker of
/// `shared`; gives it back otherwise.
pub(super) fn schedule_on_current_worker(
    shared: &Shared,
    task: Notified,
    is_yield: bool,
) -> Result<(), Notified> {
    with_current(|cx| {
        let Some(cx) = cx.filter(|cx| ptr::eq(Arc::as_ptr(&cx.shared), shared)) else {
            return Err(task);
        };
        if cx.remote().is_out_of_service() {
            // This worker is out of service (blocking on purpose, inside `block_on` or
            // `brigade::blocking`): work it schedules goes where the spares look, with a
            // wake-up, not into a slot nobody would be told about.
            return Err(task);
        }
        if is_yield {
            // S9: timer and I/O events that are due run before the yielder too. Collected
            // before the core is borrowed: their wakes schedule onto this worker.
            cx.collect_due_events();
        }
        // The loop never holds the core across a poll; a borrow here means we are inside
        // the worker's own bookkeeping (e.g. a future dropped during exit) — go remote.
        let Ok(mut core) = cx.core.try_borrow_mut() else {
            return Err(task);
        };
        if let Some(seeded) = core.seeded.as_mut() {
            // Deterministic mode: the one worker draws from here; nobody else to wake.
            seeded.push(task, is_yield);
            return Ok(());
        }
        let should_notify = if is_yield {
            // S9: everything already runnable runs before the yielder — the local queue, and
            // this worker's share of remote work waiting in the injector, which joins the
            // local queue ahead of the yielder.
            cx.move_injector_share_to_local(&mut core, 1);
            core.local.push_back(task, &shared.injector);
            // A lone yielder is not worth waking a sleeper for; it would only be stolen.
            core.local.len() > 1
        } else {
            match cx.remote().lifo.replace(task) {
                Some(previous) => {
                    core.local.push_back(previous, &shared.injector);
                    true
                }
                // The worker will run it right after the current task; nothing to share.
                None => false,
            }
        };
        drop(core);
        if should_notify {
            if cx.dispatching_own_wait.get() {
                cx.notify_owed.set(true);
            } else {
                shared.notify_parked();
            }
        }
        Ok(())
    })
}

/// Builds the pool and starts its worker threads.
pub(crate) fn spawn_workers(config: Config) -> io::Result<(Arc<Shared>, Vec<JoinHandle<()>>)> {
    let workers = config.workers;
    let io = Arc::new(Reactor::new(config.io_driver).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "brigade: could not create the I/O reactor ({}): {error}",
                config.io_driver
            ),
        )
    })?);
    // Slots for the configured workers and for every spare the cap allows; a spare slot's
    // thread-owned halves wait in its `reserve` until the monitor starts a thread for it.
    let slots = config.max_workers;
    let mut locals = Vec::with_capacity(workers);
    let mut parkers = Vec::with_capacity(workers);
    let mut remotes = Vec::with_capacity(slots);
    for index in 0..slots {
        let (local, stealer) = local_queue::local();
        let driver_waker: Arc<dyn park::DriverWaker> = io.clone();
        let (parker, unparker) = park::pair(Some(driver_waker));
        let is_configured = index < workers;
        let reserve = if is_configured {
            locals.push(local);
            parkers.push(parker);
            None
        } else {
            Some((local, parker))
        };
        remotes.push(Remote {
            stealer,
            unparker,
            lifo: LifoSlot::new(),
            metrics: WorkerMetrics::default(),
            poll_seq: AtomicU64::new(0),
            polling_task: AtomicU64::new(0),
            os_thread: std::sync::atomic::AtomicI32::new(0),
            out_of_service: std::sync::atomic::AtomicU8::new(0),
            active: AtomicBool::new(is_configured),
            reserve: std::sync::Mutex::new(reserve),
            stopped: AtomicBool::new(false),
        });
    }
    let shared = Arc::new(Shared {
        blocking: BlockingPool::new(&config),
        remotes: remotes.into_boxed_slice(),
        injector: Injector::new(),
        idle: Idle::new(workers),
        owned: OwnedTasks::new(workers * 4),
        shutdown: AtomicBool::new(false),
        workers_running: AtomicUsize::new(workers),
        swept: std::sync::Mutex::new(false),
        swept_signal: std::sync::Condvar::new(),
        unhandled_panics: AtomicU64::new(0),
        timers: Arc::new(TimeDriver::new(config.start_paused)),
        block_on_waiters: std::sync::Mutex::new(Vec::new()),
        trace: config
            .deterministic
            .map(|_| std::sync::Mutex::new(super::trace::Recorder::default())),
        io,
        monitor: Arc::new(MonitorSignal::default()),
        active_workers: AtomicUsize::new(workers),
        stalled_workers: AtomicUsize::new(0),
        high_water: AtomicUsize::new(workers),
        spares: std::sync::Mutex::new(()),
        spares_started: AtomicU64::new(0),
        remote_spawns: AtomicU64::new(0),
        spare_threads: std::sync::Mutex::new(Vec::new()),
        worker_cap_reached: AtomicU64::new(0),
        at_cap_reported: AtomicBool::new(false),
        config,
    });
    let host: Weak<dyn DriverHost> = Arc::downgrade(&shared) as Weak<Shared>;
    shared.timers.set_host(host);

    let mut threads = Vec::with_capacity(workers + 1);
    for (index, (local, parker)) in locals.into_iter().zip(parkers).enumerate() {
        match spawn_worker_thread(shared.clone(), index, local, parker) {
            Ok(thread) => threads.push(thread),
            Err(error) => {
                // Stop the workers already started, then report what went wrong. The workers that
                // never started will not count themselves out; if none started, nobody is left
                // to sweep the (empty) owned list, so close it here.
                let not_started = workers - index;
                let before = shared
                    .workers_running
                    .fetch_sub(not_started, Ordering::AcqRel);
                shared.begin_shutdown();
                if before == not_started {
                    shared.sweep_owned_tasks();
                }
                for thread in threads {
                    let _ = thread.join();
                }
                return Err(error);
            }
        }
    }
    match monitor::start(&shared) {
        Ok(thread) => threads.push(thread),
        Err(error) => {
            shared.begin_shutdown();
            for thread in threads {
                let _ = thread.join();
            }
            return Err(io::Error::new(
                error.kind(),
                format!("brigade: could not start the stall monitor thread: {error}"),
            ));
        }
    }
    Ok((shared, threads))
}

/// Starts the thread for worker slot `index`.
pub(super) fn spawn_worker_thread(
    shared: Arc<Shared>,
    index: usize,
    local: Local<Notified>,
    parker: Parker,
) -> io::Result<JoinHandle<()>> {
    start_thread(shared, index, move |shared| {
        run_worker(shared, index, local, parker)
    })
}

/// Starts the thread for spare slot `index`; the thread takes the slot's halves out of its
/// `reserve` (so a failed start leaves them there).
pub(super) fn spawn_spare_thread(shared: Arc<Shared>, index: usize) -> io::Result<JoinHandle<()>> {
    start_thread(shared, index, move |shared| {
        let halves = shared.remotes[index]
            .reserve
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let (local, parker) =
            halves.expect("a spare slot is started only with its halves in reserve");
        run_worker(shared, index, local, parker)
    })
}

fn start_thread(
    shared: Arc<Shared>,
    index: usize,
    body: impl FnOnce(Arc<Shared>) + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    let name = (shared.config.thread_name)(index);
    let mut builder = std::thread::Builder::new().name(name.clone());
    if let Some(stack_size) = shared.config.stack_size {
        builder = builder.stack_size(stack_size);
    }
    builder.spawn(move || body(shared)).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("brigade: could not start worker thread {name:?}: {error}"),
        )
    })
}

fn run_worker(shared: Arc<Shared>, index: usize, local: Local<Notified>, parker: Parker) {
    let cx = WorkerContext {
        core: RefCell::new(Core {
            local,
            tick: 0,
            is_searching: false,
            rng: FastRand::new(index as u64 + 1),
            seeded: shared.config.deterministic.map(SeededQueue::new),
        }),
        is_spare: index >= shared.config.workers,
        shared,
        index,
        parker,
        unparked_at: Cell::new(Instant::now()),
        dispatching_own_wait: Cell::new(false),
        notify_owed: Cell::new(false),
    };
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    cx.remote().os_thread.store(tid, Ordering::Relaxed);
    // The hooks run inside the runtime, so they may spawn onto it or ask for `Handle::current`.
    CURRENT.with(|current| current.set(&cx));
    cx.shared.io.adopt_this_thread();
    // Whatever happens below, CURRENT must not outlive `cx` (declared after it, dropped first).
    let _clear_current = ClearCurrentOnDrop;
    cx.shared
        .config
        .run_hook(cx.shared.config.on_thread_start.as_ref(), "on_thread_start");
    let retired = cx.run();
    if retired {
        cx.shared
            .config
            .run_hook(cx.shared.config.on_thread_stop.as_ref(), "on_thread_stop");
        // The hook may have spawned onto this worker: hand that on too.
        cx.hand_back_work();
        CURRENT.with(|current| current.set(ptr::null()));
        let WorkerContext {
            shared,
            index,
            core,
            parker,
            ..
        } = cx;
        shared.retire_spare(index, core.into_inner().local, parker);
        if shared.workers_running.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Shutdown began while we retired and we were the last worker out.
            shared.sweep_owned_tasks();
        }
        return;
    }
    cx.exit();
    cx.shared
        .config
        .run_hook(cx.shared.config.on_thread_stop.as_ref(), "on_thread_stop");
    cx.drain_core();
}

/// Clears this thread's `CURRENT` when dropped, even during unwinding: a thread-local
/// destructor that wakes a task later must not reach a worker context that no longer exists.
struct ClearCurrentOnDrop;

impl Drop for ClearCurrentOnDrop {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.set(ptr::null()));
    }
}

impl WorkerContext {
    /// The worker loop. Returns `true` if this spare retired (the pool has a surplus),
    /// `false` at shutdown. A spare retires only from its park (see
    /// [`WorkerContext::park_until_work`]).
    fn run(&self) -> bool {
        while !self.shared.is_shutdown() {
            if let Some(task) = self.next_task() {
                self.run_task(task);
            } else if self.shared.config.deterministic.is_some() {
                self.park(); // one worker: nobody to steal from
            } else if let Some(task) = self.steal_work() {
                self.run_task(task);
            } else if self.park() == Parked::Retire {
                return true;
            }
        }
        false
    }

    /// A retiring spare puts what it holds back where other workers look.
    fn hand_back_work(&self) {
        self.transition_from_searching();
        let mut moved = false;
        let mut core = self.core.borrow_mut();
        for task in self.remote().lifo.take().into_iter() {
            let _ = self.shared.injector.push(task);
            moved = true;
        }
        while let Some(task) = core.local.pop() {
            let _ = self.shared.injector.push(task);
            moved = true;
        }
        drop(core);
        if moved {
            self.shared.notify_parked();
        }
    }

    /// Any task queued anywhere in the pool, for a blocked thread to run (see
    /// [`help_while_blocked`]): this worker's own LIFO slot and queue, the injector, then the
    /// other workers' (every one of them is out of service).
    fn take_any_queued_task(&self) -> Option<Notified> {
        if let Some(task) = self.remote().lifo.take() {
            return Some(task);
        }
        let Ok(mut core) = self.core.try_borrow_mut() else {
            return None;
        };
        if let Some(task) = core.seeded.as_mut().and_then(SeededQueue::draw) {
            return Some(task);
        }
        if let Some(task) = core.local.pop() {
            return Some(task);
        }
        if let Some(task) = self.shared.injector.pop_batch(1, |_| {}) {
            return Some(task);
        }
        let remotes = &self.shared.remotes[..self.shared.high_water()];
        for (index, remote) in remotes.iter().enumerate() {
            if index == self.index || !remote.is_active() {
                continue;
            }
            if let Some(task) = remote.stealer.steal_half_into(&mut core.local) {
                return Some(task);
            }
            if remote.is_out_of_service() {
                if let Some(task) = remote.lifo.take() {
                    return Some(task);
                }
            }
        }
        None
    }

    /// Steps 1-2 of the tick: the injector now and then, the LIFO slot, the local queue, else a
    /// batch from the injector.
    fn next_task(&self) -> Option<Notified> {
        let mut core = self.core.borrow_mut();
        core.tick = core.tick.wrapping_add(1);
        if core.seeded.is_some() {
            return self.next_seeded_task(core);
        }
        if core.tick % GLOBAL_QUEUE_INTERVAL == 0 {
            // The woken tasks are scheduled onto this worker, which needs the core for that.
            drop(core);
            self.collect_due_events();
            core = self.core.borrow_mut();
            // Fairness for remote work: take a batch, not one task. While busy tasks keep the
            // local queue full this check is the injector's only way in, and one task per
            // interval would let a backlog of remote spawns wait for ages.
            if let Some(task) = self.pull_injector_batch(&mut core) {
                return Some(task);
            }
        }
        if let Some(task) = self.remote().lifo.take() {
            return Some(task);
        }
        if let Some(task) = core.local.pop() {
            return Some(task);
        }
        self.pull_injector_batch(&mut core)
    }

    /// Deterministic mode's pick: what arrived from other threads (the injector) joins the
    /// seeded queue, and the PRNG draws the next task from it.
    fn next_seeded_task<'a>(&'a self, mut core: std::cell::RefMut<'a, Core>) -> Option<Notified> {
        if core.tick % GLOBAL_QUEUE_INTERVAL == 0 {
            drop(core);
            self.collect_due_events();
            core = self.core.borrow_mut();
        }
        let core = &mut *core;
        let seeded = core.seeded.as_mut()?;
        // Nothing lands in the LIFO slot or local queue in this mode but a task queued while
        // the worker was out of service; gather it all.
        seeded.extend(self.remote().lifo.take());
        while let Some(task) = core.local.pop() {
            seeded.push(task, false);
        }
        while let Some(task) = self.shared.injector.pop_batch(usize::MAX, |rest| {
            rest.for_each(|task| seeded.push(task, false))
        }) {
            seeded.push(task, false);
        }
        seeded.draw()
    }

    /// Fires due timers and, unless a parked worker already waits in epoll (it holds the
    /// driving role), collects ready I/O events without waiting. Cheap when there is nothing:
    /// two atomic loads. A busy pool parks rarely, so a worker does this every
    /// [`GLOBAL_QUEUE_INTERVAL`] ticks, and before a yield (S9).
    fn collect_due_events(&self) {
        self.shared.timers.fire_if_due();
        self.shared.poll_io_if_undriven();
    }

    /// Takes a fair share of the injector (its length over the worker count, capped by half a
    /// local queue): one to run now, the rest into the local queue.
    fn pull_injector_batch(&self, core: &mut Core) -> Option<Notified> {
        let max = self.injector_share(core, 0);
        let local = &mut core.local;
        self.shared
            .injector
            .pop_batch(max.max(1), |rest| local.push_back_batch(rest))
    }

    /// Moves this worker's share of the injector to the back of its local queue, keeping
    /// `keep_free` slots free.
    fn move_injector_share_to_local(&self, core: &mut Core, keep_free: usize) {
        if self.shared.injector.is_empty() {
            return;
        }
        let max = self.injector_share(core, keep_free);
        let local = &mut core.local;
        self.shared
            .injector
            .move_batch(max, |batch| local.push_back_batch(batch));
    }

    /// A fair share of the injector: its length over the worker count, capped by half a local
    /// queue and by the room left in ours (minus `keep_free`).
    fn injector_share(&self, core: &Core, keep_free: usize) -> usize {
        let fair_share = self.shared.injector.len() / self.shared.num_workers() + 1;
        let room = core.local.remaining_slots().saturating_sub(keep_free);
        fair_share.min(room).min(LOCAL_QUEUE_CAPACITY / 2)
    }

    /// Step 3: become a searcher (unless half the pool already is) and steal.
    fn steal_work(&self) -> Option<Notified> {
        let mut core = self.core.borrow_mut();
        if !core.is_searching {
            if !self.shared.idle.transition_worker_to_searching() {
                return None;
            }
            core.is_searching = true;
        }
        let remotes = &self.shared.remotes[..self.shared.high_water()];
        let start = core.rng.below(remotes.len());
        for offset in 0..remotes.len() {
            let victim = (start + offset) % remotes.len();
            let remote = &remotes[victim];
            if victim == self.index || !remote.is_active() {
                continue;
            }
            if let Some(task) = remote.stealer.steal_half_into(&mut core.local) {
                WorkerMetrics::bump(&remotes[self.index].metrics.steals, 1);
                return Some(task);
            }
            // A stalled worker's LIFO slot holds a task it cannot run until its poll returns.
            if remote.is_out_of_service() {
                if let Some(task) = remote.lifo.take() {
                    WorkerMetrics::bump(&remotes[self.index].metrics.steals, 1);
                    return Some(task);
                }
            }
        }
        self.pull_injector_batch(&mut core)
    }

    /// Runs one task, then whatever it left in the LIFO slot (up to the cap).
    fn run_task(&self, task: Notified) {
        self.transition_from_searching();
        let metrics = &self.shared.remotes[self.index].metrics;
        self.poll(task);
        let mut polls = 1;
        loop {
            let next = {
                let mut core = self.core.borrow_mut();
                if self.shared.is_shutdown() {
                    // No task is polled once shutdown has begun; the exit drains the slot.
                    break;
                }
                let Some(next) = self.remote().lifo.take() else {
                    break;
                };
                if polls > MAX_LIFO_POLLS_PER_TICK {
                    // Two tasks waking each other would otherwise keep this worker forever:
                    // send the next one behind the queued tasks, and let others steal it.
                    core.local.push_back(next, &self.shared.injector);
                    drop(core);
                    self.shared.notify_parked();
                    break;
                }
                next
            };
            polls += 1;
            self.poll(next);
        }
        WorkerMetrics::bump(&metrics.polls, polls as u64);
    }

    /// Runs one task, publishing the poll for the stall monitor: the sequence is odd while
    /// inside (two plain stores per poll, the hot path's whole cost of stall detection).
    fn poll(&self, task: Notified) {
        let remote = self.remote();
        let sequence = remote.poll_seq.load(Ordering::Relaxed);
        remote
            .polling_task
            .store(task.raw().id().as_u64(), Ordering::Relaxed);
        if let Some(trace) = &self.shared.trace {
            trace
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(&task);
        }
        remote.poll_seq.store(sequence + 1, Ordering::Release);
        task.run();
        remote.poll_seq.store(sequence + 2, Ordering::Release);
    }

    /// A searcher that found work stops searching; if it was the last, it wakes a sleeper
    /// to continue the search (there may be more where this came from).
    fn transition_from_searching(&self) {
        let mut core = self.core.borrow_mut();
        if !core.is_searching {
            return;
        }
        core.is_searching = false;
        drop(core);
        if self.shared.idle.transition_worker_from_searching() {
            self.shared.notify_parked();
        }
    }

    /// Step 4: sleep until a pusher picks this worker (or shutdown) — or, for the worker that
    /// holds the timer driving role, until the next timer deadline, then fire what is due.
    fn park(&self) -> Parked {
        let metrics = &self.remote().metrics;
        let parked_at = Instant::now();
        WorkerMetrics::bump(
            &metrics.busy_ns,
            (parked_at - self.unparked_at.get()).as_nanos() as u64,
        );
        let parked = self.park_until_work();
        self.unparked_at.set(Instant::now());
        self.shared.monitor.worker_woke();
        parked
    }

    /// Parks until there is work, shutdown, or — for a spare, when the pool has a surplus —
    /// retirement.
    ///
    /// A spare retires only from here, as a sleeper nobody chose: it leaves the sleepers and
    /// the worker count in one step under the sleepers' lock, so no pusher ever counts on it.
    /// A spare that was awake (chosen for new work, or counted unparked while it worked) must
    /// look at the queues again before it may leave: a pusher that saw it awake woke nobody,
    /// and a worker refused a search because it was searching parked without a last look
    /// (issue 10.1: the spare retiring from the top of the loop left exactly that work behind).
    fn park_until_work(&self) -> Parked {
        #[cfg(all(test, not(loom)))]
        test_hooks::before_park();
        let is_searching = {
            let mut core = self.core.borrow_mut();
            debug_assert!(self.remote().lifo.is_empty() && core.local.is_empty());
            std::mem::replace(&mut core.is_searching, false)
        };
        self.shared
            .idle
            .transition_worker_to_parked(self.index, is_searching);
        // Every parking worker takes a second look, not only the last searcher (as in tokio):
        // a worker refused a search relies on the searcher's last look, but that searcher may
        // be a spare that looked, then retired before this worker parked — and a pusher in
        // between saw this worker awake and woke nobody. Deterministic mode's one worker never
        // searches at all. After joining the sleepers (SeqCst), either this look sees the
        // pushed task or the pusher sees this worker asleep and wakes it.
        self.shared.notify_if_work_pending();
        WorkerMetrics::bump(&self.shared.remotes[self.index].metrics.parks, 1);
        let timers = &self.shared.timers;
        let mut was_driving = false;
        loop {
            if self.is_spare && self.shared.has_surplus() {
                if self.shared.idle.retire_sleeper(self.index) {
                    // The role may have been offered to us (or held by us until now): pass it
                    // on, or pending timers would wait for nobody.
                    self.hand_off_driving(true);
                    return Parked::Retire;
                }
                // A pusher chose us meanwhile and counted us as searching: look for its work.
                self.core.borrow_mut().is_searching = true;
                self.hand_off_driving(was_driving);
                return Parked::Work;
            }
            was_driving = false;
            let woke_with_work = match timers.try_drive_before_parking() {
                Some(driving) => {
                    was_driving = true;
                    // The driving role: wait in epoll until an I/O event, the next timer
                    // deadline, or an unpark (through the eventfd). Under a paused clock there
                    // is no deadline to wait for: when the whole pool is idle, auto-advance
                    // (after `begin_park`, so a nudge arriving meanwhile is not lost).
                    let timeout = driving.begin_park(&self.shared.remotes[self.index].unparker);
                    let advanced = timers.is_paused() && self.auto_advance();
                    let mut io_events = 0;
                    if !advanced {
                        self.dispatching_own_wait.set(true);
                        self.parker.park_on_driver(|| {
                            io_events = self.shared.io.poll(timeout).unwrap_or(0);
                        });
                        self.dispatching_own_wait.set(false);
                    }
                    let timers_due = driving.end_park();
                    advanced || timers_due || io_events > 0
                }
                None => {
                    if timers.is_paused() && self.shared.is_quiescent() {
                        // This park may be what leaves the pool idle: the driving thread must
                        // look (and auto-advance).
                        timers.nudge_driver();
                    }
                    self.parker.park();
                    false
                }
            };
            if self.shared.is_shutdown() {
                return Parked::Work;
            }
            let chosen = !self.shared.idle.is_parked(self.index);
            if woke_with_work {
                // Leave the sleepers ourselves (unless a pusher already picked us), then fire
                // what is due: the tasks woken by I/O and timers land in this worker's LIFO slot
                // and local queue.
                let chosen = chosen || !self.shared.idle.unpark_worker_by_id(self.index);
                self.core.borrow_mut().is_searching = chosen;
                // Out of the sleepers now: the notification the dispatch owed goes to another
                // worker, once (a searching worker's own search covers it).
                if self.notify_owed.replace(false) && !chosen {
                    self.shared.notify_parked();
                }
                timers.fire_if_due();
                self.hand_off_driving(was_driving);
                return Parked::Work;
            }
            if chosen {
                // `worker_to_notify` chose us and already counted us as searching (our own
                // search covers what the dispatch owed).
                self.notify_owed.set(false);
                self.core.borrow_mut().is_searching = true;
                self.hand_off_driving(was_driving);
                return Parked::Work;
            }
            if self.notify_owed.replace(false) {
                self.shared.notify_parked();
            }
            // A stale unpark, a nudge to take the driving role, or (for a spare) a nudge to
            // retire: look again at the top of the loop.
        }
    }

    /// Auto-advance (V1, V2), by the thread holding the driving role while it parks: when the
    /// pool is quiescent (`Shared::is_quiescent`: every worker parked with nothing queued, no
    /// `brigade::run` closure in flight, every `block_on` thread asleep), collect I/O events
    /// that are already there, and if there are none, move the paused clock to the next
    /// deadline. Returns whether there is something to do (the caller fires what is due).
    fn auto_advance(&self) -> bool {
        let holds_work = {
            let core = self.core.borrow();
            !core.local.is_empty() || core.seeded.as_ref().is_some_and(|q| !q.is_empty())
        };
        if holds_work || !self.shared.is_quiescent() {
            return false;
        }
        if self.shared.io.registrations() > 0
            && self
                .shared
                .io
                .poll(Some(std::time::Duration::ZERO))
                .unwrap_or(0)
                > 0
        {
            return true;
        }
        self.shared.timers.advance_to_next_deadline()
    }

    /// Leaving park after holding the driving role, with timers pending or sockets registered:
    /// make sure a sleeping worker takes the role, so timers and I/O events do not wait for
    /// this worker's next park.
    fn hand_off_driving(&self, was_driving: bool) {
        if was_driving && (self.shared.timers.has_pending() || self.shared.io.registrations() > 0) {
            self.shared.wake_one_to_drive();
        }
    }

    /// Leaving the loop at shutdown: drop queued entries; the last worker out drops every
    /// future still alive, then drops any entries that sweep produced here.
    fn exit(&self) {
        self.shared.remotes[self.index]
            .stopped
            .store(true, Ordering::Release);
        self.drain_core();
        let previous = self.shared.workers_running.fetch_sub(1, Ordering::AcqRel);
        if previous == 1 {
            self.shared.sweep_owned_tasks();
            self.drain_core();
        }
    }

    fn drain_core(&self) {
        let mut drained = Vec::new();
        {
            let mut core = self.core.borrow_mut();
            drained.extend(self.remote().lifo.take());
            while let Some(task) = core.local.pop() {
                drained.push(task);
            }
            if let Some(seeded) = core.seeded.as_mut() {
                drained.extend(seeded.drain());
            }
        }
        // Dropped outside the borrow: freeing a cell can run arbitrary drop code.
        drop(drained);
    }
}

/// How a worker's park ended.
#[derive(Debug, PartialEq, Eq)]
enum Parked {
    /// Back to the loop: there may be work (or shutdown began).
    Work,
    /// A spare left the sleepers for good: the pool has a surplus.
    Retire,
}

/// Fault injection for the pool's unit tests: a delay where a worker is preempted at the worst
/// moment, after its last look at the queues and before it joins the sleepers.
#[cfg(all(test, not(loom)))]
pub(crate) mod test_hooks {
    use std::cell::Cell;
    use std::time::Duration;

    thread_local! {
        static PARK_DELAY: Cell<Option<Duration>> = const { Cell::new(None) };
    }

    /// Delays every park of the calling worker thread (call it from `on_thread_start`).
    pub(crate) fn delay_parks_on_this_thread(delay: Duration) {
        PARK_DELAY.with(|d| d.set(Some(delay)));
    }

    pub(super) fn before_park() {
        if let Some(delay) = PARK_DELAY.with(Cell::get) {
            std::thread::sleep(delay);
        }
    }
}

/// A small xorshift generator for picking steal victims; quality barely matters.
struct FastRand(u64);

impl FastRand {
    fn new(seed: u64) -> FastRand {
        FastRand(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        // Multiply-shift maps 32 random bits onto 0..n without a division.
        (((x >> 32) * n as u64) >> 32) as usize
    }
}
