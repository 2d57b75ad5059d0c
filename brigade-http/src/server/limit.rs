//! The connection limit and the drain: how many connections are live, who waits for a free
//! slot (the accept loop) and who waits for none to be left (a shutting-down server).
//!
//! ASP.NET Core's Kestrel has the same knob (`MaxConcurrentConnections`). Beyond the limit the
//! accept loop simply stops accepting: new connections wait in the kernel's listen backlog
//! until a slot frees up — backpressure instead of a crash or a refusal.
//!
//! # Invariants
//! - `live` counts [`ConnectionSlot`]s in existence; a slot is taken before its connection's
//!   task is spawned and given back when that task ends (or is dropped), so `live` never
//!   drifts, whatever way a connection ends.
//! - There is one accept loop and one drain per server, so one parked waker of each kind is
//!   enough. Both are registered and woken under the same lock as the count, so a slot freed
//!   between "no room" and "park" cannot be missed.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The live-connection count of one server, shared by its accept loop and connection tasks.
#[derive(Debug)]
pub(crate) struct ConnectionLimit {
    state: Mutex<LimitState>,
}

#[derive(Debug)]
struct LimitState {
    live: usize,
    max: usize,
    /// The accept loop, parked because `live == max`.
    waiting_for_room: Option<Waker>,
    /// The shutdown drain, parked because `live > 0`.
    waiting_for_drain: Option<Waker>,
}

impl ConnectionLimit {
    pub(crate) fn new(max: usize) -> Arc<ConnectionLimit> {
        assert!(max > 0, "a server needs room for at least one connection");
        Arc::new(ConnectionLimit {
            state: Mutex::new(LimitState {
                live: 0,
                max,
                waiting_for_room: None,
                waiting_for_drain: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LimitState> {
        // The lock guards plain counters; a panic elsewhere cannot leave them half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ready when another connection may be accepted.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.live < state.max {
            return Poll::Ready(());
        }
        state.waiting_for_room = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ready when no connection is live any more.
    pub(crate) fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.live == 0 {
            return Poll::Ready(());
        }
        state.waiting_for_drain = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Counts one more connection; the slot gives it back when dropped. May go past `max`
    /// only if the caller skipped [`poll_room`](Self::poll_room) (the accept loop never does).
    pub(crate) fn take_slot(self: &Arc<Self>) -> ConnectionSlot {
        self.lock().live += 1;
        ConnectionSlot {
            limit: Arc::clone(self),
        }
    }

    /// How many connections are live now.
    pub(crate) fn live(&self) -> usize {
        self.lock().live
    }
}

/// One live connection's place under the limit; held by its task, given back on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    limit: Arc<ConnectionLimit>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut state = self.limit.lock();
        state.live -= 1;
        let room = state.waiting_for_room.take();
        let drained = if state.live == 0 {
            state.waiting_for_drain.take()
        } else {
            None
        };
        drop(state); // wake outside the lock: the woken task may run at once on another worker
        if let Some(waker) = room {
            waker.wake();
        }
        if let Some(waker) = drained {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_full_limit_parks_the_acceptor_until_a_slot_is_given_back() {
        let limit = ConnectionLimit::new(2);
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);

        let first = limit.take_slot();
        assert!(limit.poll_room(&mut cx).is_ready());
        let _second = limit.take_slot();
        assert!(limit.poll_room(&mut cx).is_pending());
        assert!(limit.poll_drained(&mut cx).is_pending());

        drop(first);
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "the acceptor was woken"
        );
        assert!(limit.poll_room(&mut cx).is_ready());
        assert_eq!(limit.live(), 1);
    }

    #[test]
    fn the_last_slot_wakes_the_drain() {
        let limit = ConnectionLimit::new(10);
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let slots: Vec<_> = (0..3).map(|_| limit.take_slot()).collect();
        assert!(limit.poll_drained(&mut cx).is_pending());
        drop(slots);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(limit.poll_drained(&mut cx).is_ready());
    }
}
