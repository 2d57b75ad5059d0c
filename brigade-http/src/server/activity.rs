//! What a connection is doing, for its idle timeout: how many requests are in flight on it, and
//! since when none has been (Kestrel's keep-alive timeout, which it applies to HTTP/1 and
//! HTTP/2 alike).
//!
//! Each request holds an [`InFlight`] from the moment hyper hands it to the service until its
//! response body has been sent (or dropped); the connection's task waits in
//! [`ConnectionActivity::idle_expired`] for the moment the connection has had no request in
//! flight for too long.
//!
//! # Invariants
//! - `in_flight` counts live [`InFlight`] guards exactly (a guard is counted once, when made,
//!   and uncounted once, when dropped), so a connection is idle only when no handler runs and
//!   no response is being sent.
//! - Every change wakes the waiting task, which then recomputes its deadline: a request that
//!   starts just before the deadline keeps the connection open.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// The in-flight count of one connection, shared by its requests and its task.
pub(crate) struct ConnectionActivity {
    state: Mutex<ActivityState>,
}

struct ActivityState {
    in_flight: usize,
    /// When `in_flight` last dropped to 0 (or the connection opened).
    idle_since: Instant,
    /// Whether any request has started on this connection yet.
    served_any: bool,
    /// Bumped at every change, so the waiting task can tell it missed nothing.
    generation: u64,
    waiter: Option<Waker>,
}

/// When a connection with no request in flight is closed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdleLimits {
    /// The first request must start within this long of the connection opening (the
    /// header-read timeout): a connection that never sends a request is closed after it.
    pub(crate) first_request: Option<Duration>,
    /// After a request, a connection with none in flight is closed after this long.
    pub(crate) idle: Option<Duration>,
}

impl ConnectionActivity {
    pub(crate) fn new() -> Arc<ConnectionActivity> {
        Arc::new(ConnectionActivity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                served_any: false,
                generation: 0,
                waiter: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        // Counters only: a panic cannot leave them torn.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A request has started; it is in flight until the guard drops.
    pub(crate) fn request_started(self: &Arc<Self>) -> InFlight {
        let waiter = {
            let mut state = self.lock();
            state.in_flight += 1;
            state.served_any = true;
            state.generation += 1;
            state.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
        InFlight {
            activity: Arc::clone(self),
        }
    }

    /// When the connection turns idle-expired, given what it is doing now; `None` while a
    /// request is in flight (or no limit applies).
    fn deadline(state: &ActivityState, limits: IdleLimits) -> Option<Instant> {
        if state.in_flight > 0 {
            return None;
        }
        let limit = if state.served_any {
            limits.idle
        } else {
            match (limits.first_request, limits.idle) {
                (Some(first), Some(idle)) => Some(first.min(idle)),
                (first, idle) => first.or(idle),
            }
        };
        limit.map(|limit| state.idle_since + limit)
    }

    /// Resolves once the connection has had no request in flight for longer than `limits`
    /// allow; never, if neither limit is set.
    pub(crate) async fn idle_expired(&self, limits: IdleLimits) {
        loop {
            let (deadline, seen) = {
                let state = self.lock();
                (Self::deadline(&state, limits), state.generation)
            };
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return;
            }
            let changed = poll_fn(|cx| {
                let mut state = self.lock();
                if state.generation != seen {
                    return Poll::Ready(());
                }
                state.waiter = Some(cx.waker().clone());
                Poll::Pending
            });
            match deadline {
                // Woken by the deadline or by a change: either way, look again.
                Some(deadline) => {
                    let _ = brigade::time::timeout_at(deadline, changed).await;
                }
                None => changed.await,
            }
        }
    }
}

/// A request in flight on its connection; dropped when its response has been sent.
pub(crate) struct InFlight {
    activity: Arc<ConnectionActivity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let waiter = {
            let mut state = self.activity.lock();
            state.in_flight -= 1;
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
            }
            state.generation += 1;
            state.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}
