//! `MainLoop`: a single-threaded loop that the calling thread runs — a UI thread's
//! `SynchronizationContext` (seed sections 8 and 13C).
//!
//! A UI framework runs one thread that waits for messages and handles them one at a time; the
//! window may only be touched from that thread. `MainLoop` is that loop for brigade: tasks
//! homed on it are polled only on its thread, so the code after every `.await` in them runs
//! there too (X2) — the seed's upload-button handler, which awaits `Task.Run(...)` on the pool
//! and then sets a label. Because they never leave the thread, even `!Send` futures can be
//! spawned on it ([`spawn_local`], X6).
//!
//! [`MainLoop::run`] drives the loop until a future completes; each turn it polls that future
//! if it was woken, then runs the tasks that were queued when the turn began (so a task that
//! keeps yielding cannot starve the rest), and sleeps when there is nothing to do.
//!
//! # Invariants
//! - A `MainLoop` belongs to the thread that made it (it is not `Send`), one per thread; only
//!   that thread pops its queue, so only that thread polls its tasks.
//! - Its queue and the handle are `Send`: any thread may wake a task or spawn a `Send` one.
//! - Dropping the `MainLoop` closes the queue and, on its thread, drops every future still
//!   alive on it: their tasks end with `TaskError::RuntimeShutdown`. A `Send` task woken for a
//!   closed loop is ended at once; a `spawn_local` task's wake-up is dropped (its loop's
//!   thread already ended it, or is about to).
//! - The queue and the park flag use `std` directly: plain mutex-protected bookkeeping and
//!   `Thread::park`'s token, not a lock-free protocol.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::{Runnable, SyncContext};
use crate::context::ExecutionContext;
use crate::pool::{self, Shared};
use crate::runtime::thread_loop::{self, ThreadLoop};
use crate::runtime::{self, Handle};
use crate::task::{
    self, describe, Notified, OwnedTasks, RawTask, Schedule, Task, TaskId, TaskMeta,
};

/// The `MainLoop` of this thread, if it has one.
pub(crate) fn loop_of_this_thread() -> Option<Arc<LoopShared>> {
    thread_loop::current()?
        .into_any()
        .downcast::<LoopShared>()
        .ok()
}

/// A single-threaded event loop run by the thread that created it: the UI thread's
/// `SynchronizationContext`.
///
/// ```
/// use brigade::sync_context::MainLoop;
///
/// let main_loop = MainLoop::new();
/// let ui_thread = std::thread::current().id();
/// // The seed's upload-button handler: heavy work on the pool, the label on the UI thread.
/// let handler = main_loop.spawn(async move {
///     let checksum = brigade::run(|| (1..=1000u64).sum::<u64>()).await; // ProcessLargeFile()
///     assert_eq!(std::thread::current().id(), ui_thread); // resumed on the UI thread
///     format!("Upload complete! ({checksum})")
/// });
/// assert_eq!(main_loop.run(handler), "Upload complete! (500500)");
/// ```
pub struct MainLoop {
    shared: Arc<LoopShared>,
    running: Cell<bool>,
    /// Bound to its thread.
    _not_send: PhantomData<*const ()>,
}

/// A `Send` handle to a [`MainLoop`], for spawning onto it from other threads.
#[derive(Clone)]
pub struct MainLoopHandle {
    shared: Arc<LoopShared>,
}

/// What the loop's thread and every other thread share.
pub(crate) struct LoopShared {
    queue: Mutex<LoopQueue>,
    /// The loop's thread, unparked when work arrives.
    thread: Thread,
    /// Every live task homed here, so dropping the loop drops their futures (on its thread).
    owned: OwnedTasks,
    /// The runtime the loop's tasks spawn onto, `brigade::run` uses, and `configure_await`
    /// sends work to.
    pool: Arc<Shared>,
}

struct LoopQueue {
    tasks: VecDeque<Notified>,
    closed: bool,
}

impl MainLoop {
    /// A loop for this thread, working with the current runtime (the default one outside any).
    ///
    /// # Panics
    /// If this thread already has a `MainLoop`, or is a brigade worker (a worker must not
    /// block in a loop).
    #[track_caller]
    pub fn new() -> MainLoop {
        let handle = Handle::try_current();
        match handle {
            Some(handle) => MainLoop::with_runtime(&handle),
            None => runtime::with_current_or_default_pool(|shared| {
                MainLoop::with_runtime(&Handle::from_shared(shared.clone()))
            }),
        }
    }

    /// A loop for this thread whose tasks spawn onto `runtime`.
    ///
    /// # Panics
    /// As [`MainLoop::new`].
    #[track_caller]
    pub fn with_runtime(runtime: &Handle) -> MainLoop {
        assert!(
            !pool::is_worker_thread(),
            "MainLoop::new on a brigade worker thread: a worker cannot also run a loop. Create \
             the MainLoop on the thread that should be the UI thread (often main)"
        );
        let shared = Arc::new(LoopShared {
            queue: Mutex::new(LoopQueue {
                tasks: VecDeque::new(),
                closed: false,
            }),
            thread: thread::current(),
            owned: OwnedTasks::new(1),
            pool: runtime.shared.clone(),
        });
        assert!(
            thread_loop::set(shared.clone()),
            "this thread already has a MainLoop; a thread runs at most one (drop the first, or \
             use its handle)"
        );
        MainLoop {
            shared,
            running: Cell::new(false),
            _not_send: PhantomData,
        }
    }

    /// Runs the loop on this thread until `future` completes, and returns its output.
    ///
    /// `future` is polled here, on the loop's thread, between the loop's tasks. Tasks still
    /// queued when it completes stay queued for the next `run`.
    ///
    /// # Panics
    /// If the loop is already running (a nested `run` from inside one of its tasks: await
    /// instead), and if `future` panics.
    #[track_caller]
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        assert!(
            !self.running.replace(true),
            "MainLoop::run called while this loop is already running on this thread (from \
             inside one of its tasks or its run future). Nested loops are not supported: \
             `.await` the future instead"
        );
        let _not_running = ResetOnDrop(&self.running);
        // Inside the loop, `brigade::spawn` and `brigade::run` reach the loop's runtime.
        let _entered = pool::current::enter(self.shared.pool.clone());
        let main = Arc::new(MainWake {
            woken: AtomicBool::new(true),
            thread: thread::current(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        // The run future's AsyncLocal writes stay inside it, as an async method's do.
        let mut future = pin!(ExecutionContext::current_full().scope(future));
        loop {
            if main.woken.swap(false, Ordering::Acquire) {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            let ran = self.shared.run_queued();
            if ran == 0 {
                self.shared
                    .park_until(|| main.woken.load(Ordering::Acquire));
            }
        }
    }

    /// Spawns a `Send` future as a task homed on this loop: polled only on this thread.
    /// (It may move away with `switch_to` or `configure_await(false)`.)
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, Location::caller())
    }

    /// Spawns a future that need not be `Send` (it may hold `Rc`s, `RefCell`s, UI handles) as
    /// a task homed on this loop, for good (X6).
    ///
    /// The [`Task`] is `Send` when the output is; a `!Send` output can only be awaited on this
    /// thread.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use brigade::sync_context::MainLoop;
    ///
    /// let main_loop = MainLoop::new();
    /// let label = Rc::new(RefCell::new("Uploading..."));
    /// let ui_label = label.clone();
    /// let handler = main_loop.spawn_local(async move {
    ///     brigade::run(|| std::thread::sleep(std::time::Duration::from_millis(5))).await;
    ///     *ui_label.borrow_mut() = "Upload complete!"; // an Rc held across an await
    /// });
    /// main_loop.run(handler);
    /// assert_eq!(*label.borrow(), "Upload complete!");
    /// ```
    ///
    /// The thread pool refuses such a future at compile time (X6):
    ///
    /// ```compile_fail
    /// let label = std::rc::Rc::new("Uploading...");
    /// brigade::spawn(async move {
    ///     brigade::yield_now().await;
    ///     drop(label); // `Rc` is not `Send`: error[E0277]
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.shared.spawn_local(future, Location::caller())
    }

    /// A `Send` handle for spawning onto this loop from other threads.
    pub fn handle(&self) -> MainLoopHandle {
        MainLoopHandle {
            shared: self.shared.clone(),
        }
    }

    /// This loop as a [`SyncContext`] (to [`switch_to`](super::switch_to) it, or to compare
    /// with [`current`](super::current)).
    pub fn sync_context(&self) -> Arc<dyn SyncContext> {
        self.shared.clone()
    }
}

impl Default for MainLoop {
    fn default() -> MainLoop {
        MainLoop::new()
    }
}

impl Drop for MainLoop {
    fn drop(&mut self) {
        self.shared.shut_down_on_this_thread();
        thread_loop::clear();
    }
}

impl fmt::Debug for MainLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MainLoop")
            .field("thread", &self.shared.thread.name())
            .field("running", &self.running.get())
            .field("queued", &self.shared.lock().tasks.len())
            .finish()
    }
}

impl MainLoopHandle {
    /// Spawns a `Send` future as a task homed on the loop; see [`MainLoop::spawn`]. If the
    /// loop is gone, the future is dropped and the task reports `TaskError::RuntimeShutdown`.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, Location::caller())
    }

    /// The loop as a [`SyncContext`].
    pub fn sync_context(&self) -> Arc<dyn SyncContext> {
        self.shared.clone()
    }

    /// Whether the loop has been dropped, or its thread has exited with the loop leaked
    /// (`mem::forget`): either way nothing will run what is spawned through this handle.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl fmt::Debug for MainLoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MainLoopHandle")
            .field("thread", &self.shared.thread.name())
            .finish_non_exhaustive()
    }
}

/// Spawns a future that need not be `Send` on this thread's [`MainLoop`]; see
/// [`MainLoop::spawn_local`]. Usable from the loop's tasks, which do not hold the `MainLoop`.
///
/// # Panics
/// If this thread has no `MainLoop`.
#[track_caller]
pub fn spawn_local<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let Some(shared) = loop_of_this_thread() else {
        panic!(
            "spawn_local called on thread {:?}, which has no MainLoop. A !Send future can only \
             run on a MainLoop: create one on this thread with MainLoop::new() and run it, or \
             use brigade::spawn for a Send future",
            thread::current().name().unwrap_or("<unnamed>")
        );
    };
    shared.spawn_local(future, Location::caller())
}

impl LoopShared {
    fn lock(&self) -> MutexGuard<'_, LoopQueue> {
        // No user code runs under the lock; recover from poisoning anyway.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn<F>(
        self: &Arc<Self>,
        future: F,
        location: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified, raw) = task::new_task(future, self.clone(), None, location);
        self.bind_and_queue(task, notified, raw)
    }

    fn spawn_local<F>(
        self: &Arc<Self>,
        future: F,
        location: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        assert_eq!(
            thread::current().id(),
            self.thread.id(),
            "spawn_local must be called on the MainLoop's own thread"
        );
        // SAFETY: (the contract of `new_local_task`) we are on the loop's thread; only it pops
        // the queue (`run_queued`, reached from `MainLoop::run`, which is not `Send`); a closed
        // queue drops a local task's entry instead of shutting it down elsewhere (`push`); the
        // loop's drop, on this thread, shuts every owned task down, holding the owned list's
        // reference until then; the `Task` is `Send` only when the output is.
        let (task, notified, raw) = unsafe { task::new_local_task(future, self.clone(), location) };
        self.bind_and_queue(task, notified, raw)
    }

    fn bind_and_queue<T>(&self, task: Task<T>, notified: Notified, raw: RawTask) -> Task<T> {
        match self.owned.bind(raw) {
            Ok(()) => self.push(notified),
            Err(_closed) => {
                // The loop is gone: the task never runs and reports RuntimeShutdown. It never
                // ran, so even a local future can be dropped here (this is its thread, or the
                // future is Send).
                drop(notified);
                raw.shutdown();
            }
        }
        task
    }

    /// Queues a runnable task and wakes the loop's thread.
    fn push(&self, task: Notified) {
        let mut queue = self.lock();
        if queue.closed {
            drop(queue);
            if task.raw().is_movable() {
                // A Send task cannot run where it asked to: end it rather than hang.
                task.shutdown();
            }
            // A local task's entry is just dropped: its loop's thread ends it.
            return;
        }
        queue.tasks.push_back(task);
        drop(queue);
        self.thread.unpark();
    }

    /// One turn: runs the tasks queued now (not the ones they queue). Returns how many ran.
    fn run_queued(&self) -> usize {
        let count = self.lock().tasks.len();
        for _ in 0..count {
            let Some(task) = self.lock().tasks.pop_front() else {
                break;
            };
            task.run();
        }
        count
    }

    /// Sleeps until a task is queued or `woken()` holds. `Thread::park` keeps an unpark that
    /// arrives before it as a token, so a wake-up between the check and the park is not lost.
    fn park_until(&self, woken: impl Fn() -> bool) {
        while !woken() && !self.has_work() {
            thread::park();
        }
    }

    pub(crate) fn has_work(&self) -> bool {
        !self.lock().tasks.is_empty()
    }

    /// The first task waiting in the queue, described for a diagnostic.
    pub(crate) fn first_waiting(&self) -> Option<String> {
        let queue = self.lock();
        let task = queue.tasks.front()?.raw();
        Some(describe(task.id(), &task.header().meta))
    }

    pub(crate) fn thread_name(&self) -> String {
        self.thread.name().unwrap_or("<unnamed>").to_string()
    }

    /// Ends the loop, on its own thread (its `!Send` futures may only be dropped there): no
    /// new work, every future still alive dropped.
    fn shut_down_on_this_thread(&self) {
        let queued = self.close();
        self.owned.close_and_drain(RawTask::shutdown);
        // What was queued is complete by now, or a task from elsewhere that moved here: it
        // cannot run where it asked to, so it ends.
        for task in queued {
            task.shutdown();
        }
    }

    /// Refuses new work; returns what was queued.
    fn close(&self) -> VecDeque<Notified> {
        let mut queue = self.lock();
        queue.closed = true;
        std::mem::take(&mut queue.tasks)
    }
}

/// What `block_on` and the thread's exit see of the loop (`runtime::thread_loop`).
impl ThreadLoop for LoopShared {
    fn has_work(&self) -> bool {
        LoopShared::has_work(self)
    }

    fn first_waiting(&self) -> Option<String> {
        LoopShared::first_waiting(self)
    }

    fn thread_name(&self) -> String {
        LoopShared::thread_name(self)
    }

    fn shut_down_on_this_thread(&self) {
        LoopShared::shut_down_on_this_thread(self)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

impl Schedule for Arc<LoopShared> {
    fn schedule(&self, task: Notified) {
        self.push(task);
    }

    fn release(&self, task: RawTask) -> bool {
        self.owned.remove(task)
    }

    fn unhandled_panic(&self, id: TaskId, meta: &TaskMeta, payload: Box<dyn std::any::Any + Send>) {
        self.pool.unhandled_panic(id, meta, payload);
    }

    fn sync_context(&self) -> Option<Arc<dyn SyncContext>> {
        Some(self.clone())
    }

    fn pool(&self) -> Option<Arc<dyn SyncContext>> {
        Some(self.pool.clone())
    }
}

/// The loop as a context for tasks that moved here (`switch_to`, or coming home from
/// `configure_await`).
impl SyncContext for LoopShared {
    fn post(&self, task: Runnable) {
        self.push(task.into_notified());
    }
}

/// Wakes the loop for its `run` future.
struct MainWake {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for MainWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release pairs with the loop's Acquire swap: what the waker did is visible to the poll.
        if !self.woken.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

struct ResetOnDrop<'a>(&'a Cell<bool>);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}
