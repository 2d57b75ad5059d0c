//! When a paused clock may jump: the pool's side of auto-advance (V1, V2).
//!
//! Virtual time must never move while anything could still happen without it, or a task
//! would see a timeout that real code would not. The pool is the one place that knows, so
//! the rule lives here; the timer driver only offers the jump, and the thread holding the
//! driving role takes it (`worker::auto_advance`). The pool is **quiescent** when
//!
//! 1. the clock is paused;
//! 2. every worker thread is parked, and no queue (LIFO slots, local queues, injector) holds
//!    a task;
//! 3. no `brigade::run` closure is queued or running (its result may wake a task);
//! 4. at least one thread waits in `block_on` on this runtime, and every such thread is
//!    asleep with no wake-up pending. Time moves only while someone waits for the runtime;
//!    once the last `block_on` returns, a background `interval` does not spin virtual time.
//!
//! Then the driving thread collects I/O events already there (a zero-timeout poll), and if
//! there are none, moves the clock to the next deadline and fires it. What this cannot see:
//! threads outside the runtime (a `std::thread` about to send on a channel), and sockets whose
//! peer has not answered yet — a real server taking 5 ms does not stop a virtual 30 s timeout
//! from elapsing. Tokio's paused clock has the same blind spots.
//!
//! Whoever makes the pool quiescent nudges the driving thread to look: a worker parking
//! without the driving role, a `block_on` thread going to sleep, a `brigade::run` closure
//! finishing.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::Shared;

/// A `block_on` thread's state word: [`NOTIFIED`] and [`SLEEPING`] bits.
pub(crate) const NOTIFIED: u8 = 1;
/// The thread is asleep (or about to be); quiescent only without [`NOTIFIED`].
pub(crate) const SLEEPING: u8 = 2;

/// A thread inside `block_on` on a pool, registered for as long as the guard lives.
pub(crate) struct BlockOnWaiter {
    shared: Arc<Shared>,
    state: Arc<AtomicU8>,
}

impl BlockOnWaiter {
    pub(crate) fn register(shared: Arc<Shared>, state: Arc<AtomicU8>) -> BlockOnWaiter {
        shared
            .block_on_waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(state.clone());
        BlockOnWaiter { shared, state }
    }

    /// The thread goes to sleep: auto-advance may now be possible, so the driving thread
    /// looks. `park` runs unless a wake-up is already pending.
    pub(crate) fn sleep(&self, park: impl FnOnce()) {
        self.state.fetch_or(SLEEPING, Ordering::SeqCst);
        self.shared.note_idle();
        if self.state.load(Ordering::SeqCst) & NOTIFIED == 0 {
            park();
        }
        self.state.fetch_and(!SLEEPING, Ordering::SeqCst);
    }
}

impl Drop for BlockOnWaiter {
    fn drop(&mut self) {
        let mut waiters = self
            .shared
            .block_on_waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(position) = waiters.iter().position(|w| Arc::ptr_eq(w, &self.state)) {
            waiters.swap_remove(position);
        }
    }
}

impl Shared {
    /// Something that may complete quiescence happened: if the clock is paused, have the
    /// driving thread look.
    pub(crate) fn note_idle(&self) {
        if self.timers.is_paused() {
            self.timers.nudge_driver();
        }
    }

    /// Whether the pool is quiescent (see the module docs): a paused clock may jump.
    pub(crate) fn is_quiescent(&self) -> bool {
        if !self.timers.is_paused() || self.is_shutdown() {
            return false;
        }
        {
            let waiters = self
                .block_on_waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if waiters.is_empty() || waiters.iter().any(|w| w.load(Ordering::SeqCst) != SLEEPING) {
                return false;
            }
        }
        if self.blocking.in_flight() > 0 || !self.idle.all_parked() {
            return false;
        }
        let queued = self.remotes[..self.high_water()]
            .iter()
            .any(|r| !r.stealer.is_empty() || !r.lifo.is_empty())
            || !self.injector.is_empty();
        !queued
    }
}
