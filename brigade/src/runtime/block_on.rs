//! `block_on`: the bridge from synchronous code into async code — .NET's `.GetAwaiter().GetResult()`.
//!
//! The calling thread polls the future itself and sleeps between polls until its waker fires.
//! It refuses to run on a worker thread: a worker blocked waiting for a future that may need that
//! very worker to make progress is the classic sync-over-async deadlock (seed section 10,
//! "async all the way"). On a thread that owns a `MainLoop` it fails as soon as the loop has
//! work waiting, which cannot run while the thread blocks (X5, `sync_context/deadlock.rs`).
//!
//! The future runs in a copy of the caller's ExecutionContext: it sees the caller's values,
//! and what it sets stays inside it, as an async method's writes do not flow back to its caller.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::{context, Handle};
use crate::context::ExecutionContext;
use crate::pool;
use crate::sync_context::BlockingOnLoop;

/// Wakes the thread blocked in `block_on`.
struct ThreadNotify {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for ThreadNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release pairs with the Acquire swap in `wait`: whatever the waker's thread did before
        // waking is visible when the future is polled again.
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

impl ThreadNotify {
    /// Sleeps until woken, or until this thread's `MainLoop` gets work (its posts unpark this
    /// same thread).
    fn wait(&self, main_loop: &BlockingOnLoop) {
        // `park` can return spuriously; the flag tells a real wake-up.
        while !self.notified.swap(false, Ordering::Acquire) {
            if main_loop.has_work() {
                return;
            }
            thread::park();
        }
    }
}

/// Panics with an explanation when called on a worker thread.
#[track_caller]
fn assert_not_on_worker(what: &str) {
    if pool::is_worker_thread() {
        panic!(
            "{what} was called on a brigade worker thread. Blocking a worker until a future \
             completes can deadlock the pool (the future may need this very worker). Inside async \
             code, `.await` the future instead; to run blocking code, use `brigade::run(|| ...)`."
        );
    }
}

/// Runs `future` to completion on this thread with `handle` as the current runtime.
#[track_caller]
pub(crate) fn block_on<F: Future>(handle: &Handle, what: &str, future: F) -> F::Output {
    assert_not_on_worker(what);
    let _entered = context::enter(handle.clone());
    let notify = Arc::new(ThreadNotify {
        thread: thread::current(),
        notified: AtomicBool::new(false),
    });
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    let main_loop = BlockingOnLoop::start();
    let mut future = pin!(ExecutionContext::current_full().scope(future));
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        main_loop.refuse_if_loop_waits(what);
        notify.wait(&main_loop);
    }
}
