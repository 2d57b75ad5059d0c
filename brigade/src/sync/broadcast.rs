//! `broadcast` — every receiver sees every value (a multicast channel; in .NET, one
//! `Channel<T>` per subscriber fed by a loop, or Rx's `Subject<T>`), with a bounded ring: a
//! receiver that falls more than `capacity` values behind skips ahead and is told how many it
//! missed ([`RecvError::Lagged`]) instead of holding memory without bound.
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y12: each receiver gets the values sent after it subscribed, in order, each once, unless
//!   it lags by more than `capacity`; then its next `recv` reports `Lagged(n)` (`n` values
//!   skipped) and it continues from the oldest value still held.
//! - Y2: a send wakes every receiver waiting at that moment.
//! - Y4: once every sender is gone, receivers get what they have not read, then `Closed`.
//! - A send with no receiver alive fails and gives the value back.
//! - Memory: the ring holds at most `capacity` values (the limit you pass).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{ready, Context, Poll};

use super::waiters::{WaitList, WakeOnlyWait};
use crate::coop;
use crate::loom::sync::{Mutex, MutexGuard};

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

struct State<T> {
    /// The last `capacity` values; `ring[i]` has sequence number `next_seq - ring.len() + i`.
    ring: VecDeque<T>,
    next_seq: u64,
    senders: usize,
    receivers: usize,
    waiters: WaitList<()>,
}

impl<T> State<T> {
    fn oldest_seq(&self) -> u64 {
        self.next_seq - self.ring.len() as u64
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under the lock (values are cloned by the receiver: `T::clone` is
        // user code, but it cannot reach this lock except by misuse, and a panic there leaves
        // the state consistent).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_all<'a>(&'a self, state: MutexGuard<'a, State<T>>) {
        // SAFETY: `state` is the lock guarding `waiters`; `self.lock()` takes it again.
        unsafe { WaitList::wake_all(state, |state| &mut state.waiters, || self.lock()) }
    }
}

/// A broadcast channel keeping the last `capacity` values for slow receivers.
///
/// ```
/// use brigade::sync::broadcast;
///
/// # brigade::block_on(async {
/// let (tx, mut a) = broadcast::channel(16);
/// let mut b = tx.subscribe();
/// tx.send("tick").unwrap();
/// assert_eq!(a.recv().await, Ok("tick"));
/// assert_eq!(b.recv().await, Ok("tick")); // both see it
/// # });
/// ```
///
/// # Panics
/// If `capacity` is 0.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "brigade::sync::broadcast::channel: capacity must be at least 1 (got 0)"
    );
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            ring: VecDeque::with_capacity(capacity.min(1024)),
            next_seq: 0,
            senders: 1,
            receivers: 1,
            waiters: WaitList::default(),
        }),
        capacity,
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, next: 0 },
    )
}

/// The sending end; clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving end with its own position.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    next: u64,
}

/// No receiver is alive; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

/// Why [`Receiver::recv`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// This receiver fell behind and this many values were overwritten before it read them;
    /// the next `recv` returns the oldest value still held.
    Lagged(u64),
    /// Every sender is gone and everything was read.
    Closed,
}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing new yet.
    Empty,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
    /// As [`RecvError::Closed`].
    Closed,
}

impl<T: Clone> Sender<T> {
    /// Sends to every receiver; returns how many receivers there are. Fails if none is alive.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut state = self.shared.lock();
        if state.receivers == 0 {
            return Err(SendError(value));
        }
        let overwritten = if state.ring.len() == self.shared.capacity {
            state.ring.pop_front()
        } else {
            None
        };
        state.ring.push_back(value);
        state.next_seq += 1;
        let receivers = state.receivers;
        self.shared.wake_all(state);
        drop(overwritten);
        Ok(receivers)
    }

    /// A new receiver that gets the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut state = self.shared.lock();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: state.next_seq,
        }
    }

    /// Receivers alive now.
    pub fn receiver_count(&self) -> usize {
        self.shared.lock().receivers
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        if state.senders == 0 {
            self.shared.wake_all(state);
        }
    }
}

impl<T: Clone> Receiver<T> {
    /// The next value for this receiver, waiting for one; see [`RecvError`].
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            receiver: self,
            wait: WakeOnlyWait::new(),
        }
    }

    /// The next value if there is one now.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let state = self.shared.lock();
        match take_locked(&mut self.next, &state) {
            Some(Ok(value)) => Ok(value),
            Some(Err(RecvError::Lagged(n))) => Err(TryRecvError::Lagged(n)),
            Some(Err(RecvError::Closed)) => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }
}

/// A new value for the receiver at `next`, a lag report, the end, or `None` (wait).
fn take_locked<T: Clone>(next: &mut u64, state: &State<T>) -> Option<Result<T, RecvError>> {
    let oldest = state.oldest_seq();
    if *next < oldest {
        let missed = oldest - *next;
        *next = oldest;
        return Some(Err(RecvError::Lagged(missed)));
    }
    if *next < state.next_seq {
        let value = state.ring[(*next - oldest) as usize].clone();
        *next += 1;
        return Some(Ok(value));
    }
    (state.senders == 0).then_some(Err(RecvError::Closed))
}

impl<T: Clone> Clone for Receiver<T> {
    /// A receiver at the same position (it will see the same values from here).
    fn clone(&self) -> Self {
        self.shared.lock().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: self.next,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.lock().receivers -= 1;
    }
}

/// The future of [`Receiver::recv`]; its waiter node lives inside it.
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
    wait: WakeOnlyWait,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `wait` is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let spend = ready!(coop::poll_proceed(cx));
        let receiver = &mut *this.receiver;
        let mut state = receiver.shared.lock();
        // SAFETY: under the lock of the list the wait queues on.
        if unsafe { this.wait.still_queued(cx.waker()) } {
            crate::task::record_wait(crate::task::WaitKind::Broadcast, None, 0, 0);
            return Poll::Pending;
        }
        if let Some(outcome) = take_locked(&mut receiver.next, &state) {
            drop(state);
            spend.made_progress();
            return Poll::Ready(outcome);
        }
        // SAFETY: under the lock; not queued, pinned, cancelled by `Drop`.
        unsafe { this.wait.enqueue(&mut state.waiters, cx.waker()) };
        crate::task::record_wait(crate::task::WaitKind::Broadcast, None, 0, 0);
        Poll::Pending
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if self.wait.is_queued() {
            let mut state = self.receiver.shared.lock();
            // SAFETY: under the lock, the list it queued on (a wake hands nothing over: the
            // values stay in the ring for this receiver's next `recv`).
            unsafe { self.wait.cancel(&mut state.waiters) };
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Recv")
            .field("waiting", &self.wait.is_queued())
            .finish()
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no broadcast receiver is alive; the value was not sent")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Lagged(n) => write!(f, "the receiver lagged behind and missed {n} values"),
            RecvError::Closed => f.write_str("every broadcast sender is gone"),
        }
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no new value yet"),
            TryRecvError::Lagged(n) => {
                write!(f, "the receiver lagged behind and missed {n} values")
            }
            TryRecvError::Closed => f.write_str("every broadcast sender is gone"),
        }
    }
}

impl std::error::Error for TryRecvError {}
