//! `block_on`: the bridge from synchronous code into async code — .NET's `.GetAwaiter().GetResult()`.
//!
//! The calling thread polls the future itself and sleeps between polls until its waker fires.
//! On a worker thread it is a *cooperative block*: a worker blocked waiting for a future that
//! may need that very worker is the classic sync-over-async deadlock (seed section 10, "async
//! all the way"), so the worker is taken out of service and a spare takes its queue (P6); if
//! the pool can add no spare, the blocked thread runs queued tasks itself while it waits. On a
//! thread that owns a `MainLoop` it fails as soon as the loop has work waiting, which cannot
//! run while the thread blocks (X5, `thread_loop.rs`).
//!
//! The future runs in a copy of the caller's ExecutionContext: it sees the caller's values,
//! and what it sets stays inside it, as an async method's writes do not flow back to its caller.

use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use super::thread_loop::BlockingOnLoop;
use super::Handle;
use crate::context::ExecutionContext;
use crate::pool;

/// How often a thread blocked on a worker of a starved pool looks for queued tasks to run:
/// while every worker is blocked nobody is woken for new work.
const STARVED_LOOK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(2);

/// How long a thread blocked on a starved pool, too deep to run queued tasks itself, waits
/// for a block to end before it fails with a message instead of hanging. A blocked future
/// that waits on something else (a timer, a socket) finishes meanwhile if it can.
const STUCK_GIVE_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Wakes the thread blocked in `block_on`.
struct ThreadNotify {
    thread: Thread,
    /// `NOTIFIED` (a wake-up is pending) and `SLEEPING` bits, one word so auto-advance reads a
    /// consistent picture ("asleep with nothing pending").
    state: Arc<AtomicU8>,
}

impl Wake for ThreadNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release pairs with the Acquire swap in `wait`: whatever the waker's thread did before
        // waking is visible when the future is polled again.
        if self
            .state
            .fetch_or(pool::auto_advance::NOTIFIED, Ordering::Release)
            & pool::auto_advance::NOTIFIED
            == 0
        {
            self.thread.unpark();
        }
    }
}

impl ThreadNotify {
    /// Sleeps until woken, or until this thread's `MainLoop` gets work (its posts unpark this
    /// same thread). On a worker of a starved pool (every worker blocked, no spare allowed)
    /// it runs queued tasks meanwhile (`pool::help_while_blocked`).
    ///
    /// Going to sleep is announced to the pool (`waiter`), whose paused clock may auto-advance
    /// once every thread waiting on it sleeps.
    fn wait(&self, main_loop: &BlockingOnLoop, waiter: &pool::BlockOnWaiter, what: &str) {
        let mut stuck_since: Option<Instant> = None;
        // `park` can return spuriously; the flag tells a real wake-up.
        let notified = pool::auto_advance::NOTIFIED;
        while self.state.fetch_and(!notified, Ordering::Acquire) & notified == 0 {
            if main_loop.has_work() {
                return;
            }
            match pool::help_while_blocked() {
                pool::WhileBlocked::Sleep => waiter.sleep(thread::park),
                pool::WhileBlocked::RanATask => stuck_since = None,
                pool::WhileBlocked::SleepBriefly => {
                    stuck_since = None;
                    waiter.sleep(|| thread::park_timeout(STARVED_LOOK_INTERVAL));
                }
                pool::WhileBlocked::Stuck => {
                    let since = *stuck_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= STUCK_GIVE_UP {
                        panic!(
                            "deadlock: {what} is blocking a brigade worker {} blocks deep while \
                             every worker thread the runtime may have (Builder::max_workers) is \
                             blocked too, and queued tasks have waited {STUCK_GIVE_UP:?} for a \
                             thread to run them. Nothing can run them until a block ends. Raise \
                             Builder::max_workers, or `.await` instead of blocking",
                            pool::MAX_HELP_DEPTH
                        );
                    }
                    waiter.sleep(|| thread::park_timeout(STARVED_LOOK_INTERVAL));
                }
            }
        }
    }
}

/// Warns, once per call site, that `block_on` is blocking a worker thread.
fn warn_block_on_worker(what: &str, location: &'static Location<'static>) {
    static WARNED: Mutex<Vec<&'static Location<'static>>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(&location) {
        return;
    }
    warned.push(location);
    drop(warned);
    let message = format!(
        "{what} at {location} blocks a brigade worker thread until its future completes (the \
         `.Result` of .NET). It works — the worker's queue goes to a spare worker meanwhile — \
         but inside async code `.await` the future instead; this warning is shown once per call \
         site"
    );
    crate::report::warn(crate::report::Topic::BlockOn, &message);
}

/// Runs `future` to completion on this thread with `handle` as the current runtime. On a
/// worker thread this is a cooperative block: the worker is flagged out of service and a spare
/// takes over its queue until the future completes.
#[track_caller]
pub(crate) fn block_on<F: Future>(handle: &Handle, what: &str, future: F) -> F::Output {
    if pool::is_worker_thread() {
        warn_block_on_worker(what, Location::caller());
        return pool::block_in_place(|| block_on_here(handle, what, future));
    }
    block_on_here(handle, what, future)
}

#[track_caller]
fn block_on_here<F: Future>(handle: &Handle, what: &str, future: F) -> F::Output {
    let _entered = pool::current::enter(handle.shared.clone());
    let notify = Arc::new(ThreadNotify {
        thread: thread::current(),
        state: Arc::new(AtomicU8::new(0)),
    });
    let waiter = pool::BlockOnWaiter::register(handle.shared.clone(), notify.state.clone());
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    let main_loop = BlockingOnLoop::start();
    let mut future = pin!(ExecutionContext::current_full().scope(future));
    loop {
        crate::coop::reset(); // a fresh cooperative budget per poll (Y9)
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        main_loop.refuse_if_loop_waits(what);
        notify.wait(&main_loop, &waiter, what);
    }
}
