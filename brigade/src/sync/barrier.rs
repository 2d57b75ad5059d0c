//! `Barrier` — .NET's `Barrier(participantCount).SignalAndWait()`, awaited: `n` tasks wait
//! until all `n` have arrived, then all go on together, and the barrier is ready for the next
//! round (phase).
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y10: the `n`-th arrival releases exactly the `n - 1` waiting with it (the arrivals of the
//!   next phase wait for their own round); exactly one of each round is the leader.
//! - Y3: a wait dropped (cancelled) before its round completes takes back its arrival, so the
//!   round still needs `n` tasks that are actually waiting.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::PoisonError;
use std::task::{Context, Poll};

use super::waiters::{WaitList, WaitState, Waiter};
use crate::loom::sync::{Mutex, MutexGuard};

/// A reusable rendezvous for a fixed number of tasks.
///
/// ```
/// use std::sync::Arc;
/// use brigade::sync::Barrier;
///
/// # brigade::block_on(async {
/// let barrier = Arc::new(Barrier::new(3));
/// let tasks: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = barrier.clone();
///         brigade::spawn(async move { barrier.wait().await.is_leader() })
///     })
///     .collect();
/// let leaders = brigade::when_all(tasks).await.into_iter().filter(|l| *l).count();
/// assert_eq!(leaders, 1);
/// # });
/// ```
pub struct Barrier {
    participants: usize,
    state: Mutex<State>,
}

struct State {
    arrived: usize,
    waiters: WaitList<()>,
}

/// What [`Barrier::wait`] returns: whether this task was the round's leader (the last to
/// arrive, which released the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this task was the one that completed the round.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `participants` tasks. With 0 or 1, `wait` never waits (each caller leads).
    pub fn new(participants: usize) -> Barrier {
        Barrier {
            participants,
            state: Mutex::new(State {
                arrived: 0,
                waiters: WaitList::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arrives and waits for the rest of this round.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            waiter: Waiter::new(()),
            queued: false,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("participants", &self.participants)
            .field("arrived", &self.lock().arrived)
            .finish()
    }
}

/// The future of [`Barrier::wait`]; its waiter node lives inside it.
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    waiter: Waiter<()>,
    queued: bool,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        // SAFETY: `waiter` is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let node = NonNull::from(&this.waiter);
        let barrier = this.barrier;
        let mut state = barrier.lock();
        if this.queued {
            // SAFETY: under the lock; the node is ours.
            let released = unsafe {
                node.as_ref().with(|node| match node.state {
                    WaitState::Queued => {
                        if !node.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            node.waker = Some(cx.waker().clone());
                        }
                        false
                    }
                    WaitState::Woken | WaitState::Idle => {
                        node.state = WaitState::Idle;
                        true
                    }
                })
            };
            if !released {
                crate::task::record_wait(crate::task::WaitKind::Barrier, None, 0, 0);
                return Poll::Pending;
            }
            this.queued = false;
            return Poll::Ready(BarrierWaitResult(false));
        }
        state.arrived += 1;
        if state.arrived < barrier.participants {
            // SAFETY: under the lock; the node is `Idle`, pinned, and `Drop` removes it.
            unsafe { state.waiters.push_back(node, cx.waker()) };
            this.queued = true;
            crate::task::record_wait(crate::task::WaitKind::Barrier, None, 0, 0);
            return Poll::Pending;
        }
        // The leader: release exactly this round's waiters (all queued now are of this round).
        state.arrived = 0;
        // SAFETY: the guard is the barrier's lock, and `barrier.lock()` takes it again.
        unsafe { WaitList::wake_all(state, |state| &mut state.waiters, || barrier.lock()) }
        Poll::Ready(BarrierWaitResult(true))
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if !self.queued {
            return;
        }
        let mut state = self.barrier.lock();
        // SAFETY: under the lock; the node is ours.
        let was_waiting = unsafe { state.waiters.remove(NonNull::from(&self.waiter)) };
        if was_waiting {
            state.arrived -= 1; // its round has not completed: take the arrival back
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("waiting", &self.queued)
            .finish()
    }
}
