//! `Notify` — wake one waiting task, or all of them, with no data: the async auto-reset event
//! .NET programs build from `SemaphoreSlim(0, 1)` or a `TaskCompletionSource` swapped per
//! signal (Stephen Toub's `AsyncAutoResetEvent`).
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y1: `notify_one` wakes the oldest waiter; with nobody waiting it stores one permit (at
//!   most one), which the next `notified()` consumes at once: no lost wake-up (Y2).
//! - `notify_waiters` wakes every task waiting at that moment and stores nothing.
//! - Y3: a `notified()` dropped after `notify_one` chose it passes the notification on to the
//!   next waiter, or stores it as the permit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::PoisonError;
use std::task::{Context, Poll};

use super::waiters::{WaitList, WaitState, Waiter};
use crate::loom::sync::{Mutex, MutexGuard};

/// Notifies tasks with no data (see the module docs).
///
/// ```
/// use std::sync::Arc;
/// use brigade::sync::Notify;
///
/// # brigade::block_on(async {
/// let ready = Arc::new(Notify::new());
/// let waiter = {
///     let ready = ready.clone();
///     brigade::spawn(async move { ready.notified().await; "woken" })
/// };
/// ready.notify_one(); // before or after the wait starts: either way it is not lost
/// assert_eq!(waiter.await, "woken");
/// # });
/// ```
pub struct Notify {
    state: Mutex<State>,
}

struct State {
    permit: bool,
    /// Payload: whether `notify_one` chose this waiter (its notification must not be lost).
    waiters: WaitList<bool>,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Notify {
        Notify {
            state: Mutex::new(State {
                permit: false,
                waiters: WaitList::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a notification (consuming a stored permit at once if there is one).
    #[track_caller]
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            at: std::panic::Location::caller(),
            notify: self,
            waiter: Waiter::new(false),
            queued: false,
        }
    }

    /// Wakes the oldest waiter, or stores a permit for the next `notified()` if nobody waits.
    pub fn notify_one(&self) {
        let mut state = self.lock();
        let waker = Self::notify_one_locked(&mut state);
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn notify_one_locked(state: &mut State) -> Option<std::task::Waker> {
        // SAFETY: under the lock; a popped node stays alive until its owner looks, under it.
        match unsafe { state.waiters.pop_front() } {
            Some((waiter, waker)) => {
                // SAFETY: as above.
                unsafe { waiter.as_ref().with(|node| node.payload = true) };
                waker
            }
            None => {
                state.permit = true;
                None
            }
        }
    }

    /// Wakes every task waiting now; stores no permit.
    pub fn notify_waiters(&self) {
        // Only those waiting now: later arrivals queue behind them and are not counted.
        // SAFETY: the guard is the state lock, and `self.lock()` takes it again.
        unsafe { WaitList::wake_all(self.lock(), |state| &mut state.waiters, || self.lock()) }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Notify")
            .field("permit", &state.permit)
            .field("waiting", &state.waiters.len())
            .finish()
    }
}

/// The future of [`Notify::notified`]; its waiter node lives inside it.
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// Where `notified` was called: what the task dump shows while this waits.
    at: &'static std::panic::Location<'static>,
    waiter: Waiter<bool>,
    queued: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `waiter` is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let node = NonNull::from(&this.waiter);
        let mut state = this.notify.lock();
        if this.queued {
            // SAFETY: under the lock; the node is ours and pinned.
            let done = unsafe {
                node.as_ref().with(|node| match node.state {
                    WaitState::Queued => {
                        if !node.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            node.waker = Some(cx.waker().clone());
                        }
                        false
                    }
                    WaitState::Woken | WaitState::Idle => {
                        node.state = WaitState::Idle;
                        node.payload = false;
                        true
                    }
                })
            };
            if done {
                this.queued = false;
                return Poll::Ready(());
            }
            crate::task::record_wait(crate::task::WaitKind::Notify, Some(this.at), 0, 0);
            return Poll::Pending;
        }
        if std::mem::take(&mut state.permit) {
            return Poll::Ready(());
        }
        // SAFETY: under the lock; the node is `Idle`, pinned, and `Drop` removes it.
        unsafe { state.waiters.push_back(node, cx.waker()) };
        this.queued = true;
        crate::task::record_wait(crate::task::WaitKind::Notify, Some(this.at), 0, 0);
        Poll::Pending
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        if !self.queued {
            return;
        }
        let node = NonNull::from(&self.waiter);
        let mut state = self.notify.lock();
        // SAFETY: under the lock; the node is ours.
        let chosen = unsafe {
            state.waiters.remove(node);
            node.as_ref().with(|node| {
                node.state = WaitState::Idle;
                std::mem::take(&mut node.payload)
            })
        };
        let waker = if chosen {
            Notify::notify_one_locked(&mut state)
        } else {
            None
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("waiting", &self.queued)
            .finish()
    }
}
