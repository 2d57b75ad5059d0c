//! The stall monitor: .NET's thread-pool starvation detection (seed sections 2 and 13D), for a
//! work-stealing pool.
//!
//! A worker blocked inside one poll — `std::thread::sleep`, a synchronous file read, a lock held
//! too long — holds up everything queued behind it. The monitor is one thread per runtime that
//! looks at every worker a few times per threshold:
//!
//! - each worker publishes a *poll sequence* (odd while inside a poll) and the id of the task it
//!   polls: two plain stores per poll, the only cost on the hot path;
//! - a sequence that stayed odd and unchanged for longer than the threshold is a **stall**: the
//!   worker is flagged (its LIFO slot becomes stealable), the stall is reported with the task's
//!   id, name and spawn location, and a **spare worker** is started so the pool keeps its
//!   configured number of working threads;
//! - when the stuck worker comes back the flag clears, the end of the stall is reported with
//!   how long it lasted, and the surplus spare retires at its next idle moment.
//!
//! Spares are capped (`Builder::max_workers`) and rate-limited (one per threshold), so a burst of
//! blocking does not explode the thread count. Code that *knows* it blocks says so with
//! [`crate::blocking`], which flags its worker at once instead of waiting to be caught.
//!
//! The monitor also advances the coarse clock (`crate::clock`, milliseconds, each look) that task
//! bookkeeping reads instead of the system clock.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Shared;
use crate::task::TaskId;

/// The shortest spacing between two spare starts: a burst of blocking adds at most about a
/// hundred threads a second (and never more than the cap).
const SPARE_INTERVAL: Duration = Duration::from_millis(10);

/// How many thresholds a runnable (computing or preempted) worker gets before it counts as
/// stalled.
const RUNNABLE_GRACE: u32 = 5;

/// The longest the monitor sleeps while every worker is parked (it doubles its wait up to
/// this; the first worker to wake brings it back at once). An idle runtime costs a few
/// wake-ups a second, not hundreds.
const IDLE_INTERVAL: Duration = Duration::from_millis(250);

/// Whether the kernel says thread `tid` of this process is running or runnable (state `R` in
/// `/proc/self/task/<tid>/stat`), as opposed to asleep in a system call. Unknown counts as
/// not runnable, so detection errs on the side of reporting.
fn thread_is_runnable(tid: i32) -> bool {
    if tid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // "tid (name) S ...": the name may hold spaces and parentheses; the state follows the last ')'.
    stat.rfind(')')
        .and_then(|end| stat[end + 1..].trim_start().chars().next())
        .is_some_and(|state| state == 'R')
}

/// What a stall report says.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StallReport {
    /// The stalled worker thread's name.
    pub worker: String,
    /// The task whose poll blocked.
    pub task: TaskId,
    /// Its name, if it was spawned with one.
    pub task_name: Option<String>,
    /// Where it was spawned.
    pub spawned_at: Option<&'static std::panic::Location<'static>>,
    /// How long the poll had blocked when this report was made.
    pub blocked_for: Duration,
    /// `false` when the stall is detected (the worker is still stuck), `true` when it ended.
    pub ended: bool,
}

impl std::fmt::Display for StallReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self
            .task_name
            .as_deref()
            .map_or(String::new(), |n| format!(" {n:?}"));
        let location = self
            .spawned_at
            .map_or(String::new(), |l| format!(" spawned at {l}"));
        if self.ended {
            write!(
                f,
                "worker {} is back: task {}{name}{location} blocked one poll for {:?}",
                self.worker, self.task, self.blocked_for
            )
        } else {
            write!(
                f,
                "worker {} is stalled: task {}{name}{location} has blocked one poll for {:?}; \
                 a spare worker takes over its queue. Blocking code belongs in brigade::run \
                 (or brigade::blocking)",
                self.worker, self.task, self.blocked_for
            )
        }
    }
}

/// Wakes the monitor early (cooperative blocking, shutdown, work after a long idle).
#[derive(Default)]
pub(crate) struct MonitorSignal {
    woken: Mutex<bool>,
    condvar: Condvar,
    /// The monitor is in a long (idle) wait: the first worker to leave park wakes it.
    idle_wait: std::sync::atomic::AtomicBool,
}

impl MonitorSignal {
    /// A worker left park: if the monitor is in its idle wait, bring it back to full attention.
    pub(crate) fn worker_woke(&self) {
        if self.idle_wait.load(Ordering::Relaxed) && self.idle_wait.swap(false, Ordering::SeqCst) {
            self.wake();
        }
    }

    pub(crate) fn wake(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.condvar.notify_one();
    }

    fn wait(&self, timeout: Duration) {
        let guard = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        let (mut woken, _) = self
            .condvar
            .wait_timeout_while(guard, timeout, |woken| !*woken)
            .unwrap_or_else(|e| e.into_inner());
        *woken = false;
    }
}

/// What the monitor remembers about one worker between looks.
#[derive(Clone)]
struct Seen {
    sequence: u64,
    since: Instant,
    task: Option<TaskId>,
    /// Set once the stall was reported: the task's name and spawn location, for the end report.
    reported: Option<(
        Option<String>,
        Option<&'static std::panic::Location<'static>>,
    )>,
}

/// Starts the monitor thread for `shared`.
pub(crate) fn start(shared: &Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    crate::clock::tick_coarse_clock();
    let weak = Arc::downgrade(shared);
    let name = format!("{}-monitor", shared.config.thread_name_prefix);
    std::thread::Builder::new()
        .name(name)
        .stack_size(256 * 1024)
        .spawn(move || run(weak))
}

fn run(weak: Weak<Shared>) {
    let (base_interval, slots) = match weak.upgrade() {
        Some(shared) => (
            (shared.config.stall_threshold / 2)
                .clamp(Duration::from_millis(1), Duration::from_millis(50)),
            shared.remotes.len(),
        ),
        None => return,
    };
    let now = Instant::now();
    let mut seen = vec![
        Seen {
            sequence: 0,
            since: now,
            task: None,
            reported: None,
        };
        slots
    ];
    let mut last_spare: Option<Instant> = None;
    let mut interval = base_interval;
    loop {
        let signal = match weak.upgrade() {
            Some(shared) if !shared.is_shutdown() => shared.monitor.clone(),
            _ => return,
        };
        signal.wait(interval);
        let Some(shared) = weak.upgrade() else { return };
        if shared.is_shutdown() {
            return;
        }
        crate::clock::tick_coarse_clock();
        look(&shared, &mut seen, &mut last_spare);
        // Every worker blocked: nobody parks, so nobody drives timers and I/O. Do it here, and
        // look again at the next deadline if that comes before the next look.
        let next_deadline = shared.drive_if_no_worker_can();
        // Nothing can stall while every worker is parked: wait longer. Short waits (up to four
        // times the base) need no announcement — a stall then waits at most that much longer to
        // be seen. A longer wait is announced first and confirmed after, so a worker leaving
        // park after the confirmation sees the announcement and wakes us (`worker_woke`).
        let longer = (interval * 2).min(IDLE_INTERVAL);
        let announce = longer > base_interval * 4;
        if announce {
            shared.monitor.idle_wait.store(true, Ordering::SeqCst);
        }
        if shared.all_workers_parked() {
            interval = longer;
        } else {
            if announce {
                shared.monitor.idle_wait.store(false, Ordering::SeqCst);
            }
            interval = base_interval;
        }
        if let Some(until_deadline) = next_deadline {
            interval = interval.min(until_deadline.max(Duration::from_millis(1)));
        }
    }
}

/// One look at every worker: detect stalls, report their start and end, add spares.
fn look(shared: &Arc<Shared>, seen: &mut [Seen], last_spare: &mut Option<Instant>) {
    if shared.config.deterministic.is_some() {
        // Deterministic mode: flagging a worker would reroute its wake-ups by wall-clock time,
        // and a spare would be a second thread polling tasks.
        return;
    }
    let now = Instant::now();
    let threshold = shared.config.stall_threshold;
    for (index, memory) in seen.iter_mut().enumerate().take(shared.high_water()) {
        let remote = &shared.remotes[index];
        if !remote.is_active() {
            continue;
        }
        let sequence = remote.poll_seq.load(Ordering::Acquire);
        let in_poll = sequence % 2 == 1;
        if sequence != memory.sequence || !in_poll {
            if let Some((task_name, spawned_at)) = memory.reported.take() {
                // The stalled poll returned (a spare may now be surplus: `clear_stalled` wakes it).
                shared.clear_stalled(index, super::DETECTED);
                if let Some(task) = memory.task {
                    shared.report_stall(StallReport {
                        worker: (shared.config.thread_name)(index),
                        task,
                        task_name,
                        spawned_at,
                        blocked_for: now - memory.since,
                        ended: true,
                    });
                }
            }
            *memory = Seen {
                sequence,
                since: now,
                task: TaskId::from_raw(remote.polling_task.load(Ordering::Relaxed)),
                reported: None,
            };
            continue;
        }
        if remote.is_cooperative() {
            // Blocking on purpose (`brigade::blocking`, a spare has the queue): the rest of the
            // poll is judged from the block's end (as last seen), not from the poll's start.
            if memory.reported.is_none() {
                memory.since = now;
            }
            continue;
        }
        if memory.reported.is_some() || now - memory.since < threshold {
            continue;
        }
        // A worker the kernel says is runnable is computing — or merely preempted on a busy
        // machine, which looks the same from here for a while. Give it longer before calling
        // it a stall; a worker asleep in the kernel (sleep, blocking I/O, a lock) is one now.
        let tid = remote.os_thread.load(Ordering::Relaxed);
        if now - memory.since < threshold * RUNNABLE_GRACE && thread_is_runnable(tid) {
            continue;
        }
        // A stall: the same poll for longer than the threshold.
        shared.set_stalled(index, super::DETECTED);
        shared.count_stall(index);
        let task = memory
            .task
            .or_else(|| TaskId::from_raw(remote.polling_task.load(Ordering::Relaxed)));
        let (task_name, spawned_at) = match task {
            Some(task) => shared.describe_task(task),
            None => (None, None),
        };
        memory.task = task;
        memory.reported = Some((task_name.clone(), spawned_at));
        let Some(task) = task else { continue };
        shared.report_stall(StallReport {
            worker: (shared.config.thread_name)(index),
            task,
            task_name,
            spawned_at,
            blocked_for: now - memory.since,
            ended: false,
        });
    }
    // Keep the configured number of workers working: a spare per missing worker, within the
    // cap, at most one per `SPARE_INTERVAL` (or per threshold, if shorter).
    let spacing = threshold.min(SPARE_INTERVAL);
    let may_start = last_spare.is_none_or(|last| now - last >= spacing);
    if shared.working_workers() < shared.config.workers {
        if may_start && shared.start_spare() {
            *last_spare = Some(now);
        } else if shared.at_worker_cap() {
            shared.note_worker_cap_reached();
        }
    } else {
        shared.clear_worker_cap_episode();
    }
}
