//! `oneshot` — one value, sent once, to one receiver: .NET's `TaskCompletionSource<T>` used for
//! a single hand-off (a request that carries its own reply slot).
//!
//! Why not [`Promise`](crate::Promise)? `Promise` is the TaskCompletionSource for many setters
//! (it is `Clone`, the first `set` wins) and takes a lock per operation; the sender cannot see
//! that the awaiter gave up. A oneshot has exactly one sender, so its whole protocol is one
//! atomic word, and `send` gives the value back when the receiver is gone.
//!
//! # States (one atomic word of flags)
//! - `VALUE`: the sender wrote the value (it owned the value cell until then).
//! - `RX_WAKER`: the receiver's waker is in its cell; while set, only the sender reads it.
//! - `TX_DROPPED` / `RX_DROPPED`: that end is gone.
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y2: no lost wake-up: whichever of "receiver stores its waker" and "sender writes" comes
//!   second in the word's order sees the other (the receiver re-checks after publishing its
//!   waker; the sender wakes only a waker it saw published). Loom-checked.
//! - Y4: the sender dropped unsent ends the wait with [`RecvError`]; the receiver dropped makes
//!   `send` return the value.
//! - One allocation per channel; none per wait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use crate::coop;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};

const VALUE: usize = 1;
const RX_WAKER: usize = 2;
const TX_DROPPED: usize = 4;
const RX_DROPPED: usize = 8;

struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are handed between the two ends by the state word's protocol (module docs);
// the value crosses threads, hence `T: Send`.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Inner<T> {}

/// A oneshot channel: [`Sender::send`] once, await the [`Receiver`].
///
/// ```
/// use brigade::sync::oneshot;
///
/// # brigade::block_on(async {
/// let (reply, answer) = oneshot::channel();
/// brigade::spawn(async move { reply.send(42).unwrap() });
/// assert_eq!(answer.await, Ok(42));
/// # });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver {
            inner,
            finished: false,
        },
    )
}

/// The sending end; consumed by [`send`](Sender::send).
pub struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
}

/// The receiving end, a future of the value. Resolves to [`RecvError`] if the sender is
/// dropped without sending.
#[must_use = "futures do nothing unless awaited"]
pub struct Receiver<T> {
    inner: Arc<Inner<T>>,
    /// The value was taken (or the end seen): later polls report `RecvError`.
    finished: bool,
}

/// The sender was dropped without sending (or the value was already received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(());

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Not sent yet.
    Empty,
    /// The sender is gone without sending, or the value was already received.
    Closed,
}

impl<T> Sender<T> {
    /// Sends the value, waking the receiver. Gives it back if the receiver is gone.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("a sender sends once");
        // SAFETY: until `VALUE` is set the sender owns the value cell; the receiver reads it
        // only after seeing `VALUE` (Acquire), which this fetch_or publishes (Release).
        inner.value.with_mut(|cell| unsafe { *cell = Some(value) });
        let previous = inner.state.fetch_or(VALUE, Ordering::AcqRel);
        if previous & RX_DROPPED != 0 {
            // SAFETY: the receiver is gone and never touches the value cell again.
            let value = inner.value.with_mut(|cell| unsafe { (*cell).take() });
            return Err(value.expect("written just above"));
        }
        if previous & RX_WAKER != 0 {
            // SAFETY: `RX_WAKER` was set before our `VALUE`: the receiver will see `VALUE` when
            // it next tries to replace the waker, so it does not write the cell; reads only.
            inner.rx_waker.with(|waker| unsafe {
                if let Some(waker) = &*waker {
                    waker.wake_by_ref();
                }
            });
        }
        Ok(())
    }

    /// Whether the receiver is gone (a `send` would give the value back).
    pub fn is_closed(&self) -> bool {
        let inner = self.inner.as_ref().expect("present until send");
        inner.state.load(Ordering::Acquire) & RX_DROPPED != 0
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let previous = inner.state.fetch_or(TX_DROPPED, Ordering::AcqRel);
        if previous & RX_WAKER != 0 && previous & RX_DROPPED == 0 {
            // SAFETY: as in `send`: a published waker is only read by us.
            inner.rx_waker.with(|waker| unsafe {
                if let Some(waker) = &*waker {
                    waker.wake_by_ref();
                }
            });
        }
    }
}

impl<T> Receiver<T> {
    /// The value if it was sent: `Empty` if not yet, `Closed` if it never will be.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        if self.finished {
            return Err(TryRecvError::Closed);
        }
        let state = self.inner.state.load(Ordering::Acquire);
        if state & VALUE != 0 {
            self.finished = true;
            return Ok(self.take_value());
        }
        if state & TX_DROPPED != 0 {
            self.finished = true;
            return Err(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    fn take_value(&self) -> T {
        // SAFETY: `VALUE` was seen with Acquire: the sender's write is complete and it never
        // touches the cell again; only this receiver takes it.
        let value = self.inner.value.with_mut(|cell| unsafe { (*cell).take() });
        value.expect("VALUE is set once the value is written")
    }

    /// Looks at the word; `Some` when the wait is over.
    fn check(&mut self, state: usize) -> Option<Result<T, RecvError>> {
        if state & VALUE != 0 {
            self.finished = true;
            return Some(Ok(self.take_value()));
        }
        if state & TX_DROPPED != 0 {
            self.finished = true;
            return Some(Err(RecvError(())));
        }
        None
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(Err(RecvError(())));
        }
        let spend = ready!(coop::poll_proceed(cx));
        let mut state = this.inner.state.load(Ordering::Acquire);
        if let Some(done) = this.check(state) {
            spend.made_progress();
            return Poll::Ready(done);
        }
        if state & RX_WAKER != 0 {
            // SAFETY: a published waker is only read, by either end.
            let same = this.inner.rx_waker.with(|waker| unsafe {
                (*waker).as_ref().is_some_and(|w| w.will_wake(cx.waker()))
            });
            if same {
                crate::task::record_wait(crate::task::WaitKind::Oneshot, None, 0, 0);
                return Poll::Pending;
            }
            // Take the waker back before replacing it; the sender may have written meanwhile.
            state = this.inner.state.fetch_and(!RX_WAKER, Ordering::AcqRel);
            if let Some(done) = this.check(state) {
                return Poll::Ready(done);
            }
        }
        // SAFETY: `RX_WAKER` is clear, so the sender will not read the cell: it is ours.
        this.inner
            .rx_waker
            .with_mut(|waker| unsafe { *waker = Some(cx.waker().clone()) });
        state = this.inner.state.fetch_or(RX_WAKER, Ordering::AcqRel);
        if let Some(done) = this.check(state) {
            return Poll::Ready(done);
        }
        crate::task::record_wait(crate::task::WaitKind::Oneshot, None, 0, 0);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.inner.state.fetch_or(RX_DROPPED, Ordering::AcqRel);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending")
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("nothing sent yet"),
            TryRecvError::Closed => f.write_str("the oneshot sender was dropped without sending"),
        }
    }
}

impl std::error::Error for TryRecvError {}
