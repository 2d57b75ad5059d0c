//! `brigade::run`: .NET's `Task.Run` for closures that block or compute for a long time.
//!
//! A closure that sleeps, reads a file or crunches numbers would hold a worker hostage and every
//! task queued behind it would wait (the seed's "thread pool starvation", section 13D). So such
//! closures run on a separate, elastic set of threads: one is started whenever a closure arrives
//! and none is idle, up to `max_blocking_threads`; idle ones exit after `blocking_keep_alive`.
//! The closure still becomes a task cell, so its `Task<R>` is awaited, joined and cancelled like
//! any other (cancelling works only until the closure starts; a running closure is never
//! interrupted).
//!
//! # Invariants
//! - Every queued closure either runs, or — at shutdown — completes with
//!   `TaskError::RuntimeShutdown`; none is silently lost.
//! - `threads` counts live blocking threads; `idle` those waiting on the condvar; `notified`
//!   wake-ups sent but not yet consumed (so a burst does not wake the same sleeper twice).

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use super::config::Config;
use super::Shared;
use crate::task::SyncContext;
use crate::task::{self, Notified, RawTask, Schedule, Task, TaskId, TaskMeta};

pub(crate) struct BlockingPool {
    state: Mutex<State>,
    condvar: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

struct State {
    queue: VecDeque<Notified>,
    /// Closures running right now (auto-advance waits for them: their result may wake a task).
    running: usize,
    threads: usize,
    idle: usize,
    notified: usize,
    shutdown: bool,
    next_thread_id: usize,
}

/// The home of a blocking task: the blocking queue of one pool.
struct BlockingSchedule(Arc<Shared>);

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: Notified) {
        // Only reached if a queued closure is re-queued; closures finish in one poll.
        self.0.push_blocking(task);
    }

    fn release(&self, _task: RawTask) -> bool {
        // Blocking tasks are not in the owned list: shutdown finds them in the queue instead.
        false
    }

    fn unhandled_panic(&self, id: TaskId, meta: &TaskMeta, payload: Box<dyn Any + Send>) {
        self.0.unhandled_panic(id, meta, payload);
    }

    fn sync_context(&self) -> Option<Arc<dyn SyncContext>> {
        // A `brigade::run` closure runs on the pool's blocking threads: Task.Run's pool.
        Some(self.0.clone())
    }
}

/// The closure as a future that is ready on its first (and only) poll.
struct BlockingTask<F>(Option<F>);

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let closure = self.0.take().expect("a blocking task is polled once");
        Poll::Ready(closure())
    }
}

impl BlockingPool {
    pub(crate) fn new(config: &Config) -> BlockingPool {
        BlockingPool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                running: 0,
                threads: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
                next_thread_id: 0,
            }),
            condvar: Condvar::new(),
            max_threads: config.max_blocking_threads,
            keep_alive: config.blocking_keep_alive,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Closures run outside the lock, so it is never poisoned by user code.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses new closures and completes the queued ones with `RuntimeShutdown`. Closures
    /// already running finish on their own; their threads then exit.
    pub(crate) fn shutdown(&self) {
        let queued = {
            let mut state = self.lock();
            state.shutdown = true;
            std::mem::take(&mut state.queue)
        };
        self.condvar.notify_all();
        for task in queued {
            task.shutdown();
        }
    }

    /// Closures queued or running.
    pub(crate) fn in_flight(&self) -> usize {
        let state = self.lock();
        state.queue.len() + state.running
    }

    /// How many blocking threads exist right now.
    pub(crate) fn num_threads(&self) -> usize {
        self.lock().threads
    }
}

impl Shared {
    /// Runs `closure` on a blocking thread; the returned task resolves to its result.
    pub(crate) fn spawn_blocking<F, R>(
        self: &Arc<Self>,
        closure: F,
        location: &'static Location<'static>,
    ) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let scheduler = BlockingSchedule(self.clone());
        let (task, notified, list_reference) =
            task::new_task(BlockingTask(Some(closure)), scheduler, None, location);
        // Not in the owned list: give that reference back right away.
        list_reference.drop_reference();
        self.push_blocking(notified);
        task
    }

    fn push_blocking(self: &Arc<Self>, task: Notified) {
        let pool = &self.blocking;
        let mut state = pool.lock();
        if state.shutdown {
            drop(state);
            task.shutdown();
            return;
        }
        state.queue.push_back(task);
        if state.idle > state.notified {
            state.notified += 1;
            drop(state);
            pool.condvar.notify_one();
        } else if state.threads < pool.max_threads {
            state.threads += 1;
            let id = state.next_thread_id;
            state.next_thread_id += 1;
            drop(state);
            self.start_blocking_thread(id);
        }
        // Else every thread is busy and the limit is reached: the closure waits its turn.
    }

    fn start_blocking_thread(self: &Arc<Self>, id: usize) {
        let mut builder = std::thread::Builder::new()
            .name(format!("{}-blocking-{id}", self.config.thread_name_prefix));
        if let Some(stack_size) = self.config.stack_size {
            builder = builder.stack_size(stack_size);
        }
        let shared = self.clone();
        if let Err(error) = builder.spawn(move || shared.run_blocking_thread()) {
            let mut state = self.blocking.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody can run the queued closures: fail them rather than let them hang.
                let queued = std::mem::take(&mut state.queue);
                drop(state);
                crate::report::warn(
                    crate::report::Topic::Runtime,
                    &format!("could not start a blocking thread for brigade::run: {error}"),
                );
                for task in queued {
                    task.shutdown();
                }
            }
        }
    }

    fn run_blocking_thread(self: Arc<Self>) {
        // Inside `run` (and the hooks), `brigade::spawn` reaches this runtime.
        let _entered = super::current::enter(self.clone());
        self.config
            .run_hook(self.config.on_thread_start.as_ref(), "on_thread_start");
        let pool = &self.blocking;
        let mut state = pool.lock();
        loop {
            if let Some(task) = state.queue.pop_front() {
                state.running += 1;
                drop(state);
                task.run();
                pool.lock().running -= 1;
                // The closure's end may leave the pool quiescent (a paused clock may jump).
                self.note_idle();
                state = pool.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (guard, wait) = pool
                .condvar
                .wait_timeout(state, pool.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
            state.idle -= 1;
            if state.notified > 0 {
                state.notified -= 1;
                continue;
            }
            if wait.timed_out() && state.queue.is_empty() {
                break;
            }
        }
        state.threads -= 1;
        drop(state);
        self.config
            .run_hook(self.config.on_thread_stop.as_ref(), "on_thread_stop");
    }
}
