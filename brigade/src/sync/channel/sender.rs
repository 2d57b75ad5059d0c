//! The writing end: .NET's `ChannelWriter<T>` (`WriteAsync`, `TryWrite`, `Complete`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::chan::{Chan, Sent, Slot};
use super::error::{SendError, TrySendError};
use crate::coop;
use crate::sync::waiters::Waiter;
use crate::task::{record_wait, WaitKind};
use std::panic::Location;

/// The writing end of a channel. Clone it for more producers; the channel closes when the last
/// one is dropped (or on [`close`](Sender::close)).
pub struct Sender<T> {
    pub(super) chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Writes `value`, waiting for room while a bounded channel in
    /// [`FullMode::Wait`](super::FullMode::Wait) is full. Fails, giving the value back, once the
    /// channel is closed (also if it closes while this waits).
    ///
    /// Waiting senders are served in arrival order (Y1). Dropping the future (for instance
    /// through `with_cancellation`) while it waits withdraws the value: it was not sent.
    #[track_caller]
    pub fn send(&self, value: T) -> Sending<'_, T> {
        Sending {
            at: Location::caller(),
            chan: &self.chan,
            slot: Waiter::new(Some(value)),
            queued: false,
        }
    }

    /// Writes `value` if that needs no waiting: `Full` when a bounded `Wait`-mode channel has no
    /// room, `Closed` once closed. Drop modes never report `Full` (they drop a value instead).
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value)
    }

    /// Closes the channel for every sender and receiver (.NET's `Writer.Complete()`): no more
    /// writes; receivers get what is queued, then `None`. Returns `false` if it was already
    /// closed.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed (by `close`, or because every receiver is gone).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The values queued now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound given at creation; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

/// The future of [`Sender::send`]. It carries its waiter node (and the value) inside itself, so
/// waiting allocates nothing.
#[must_use = "futures do nothing unless awaited"]
pub struct Sending<'a, T> {
    chan: &'a Chan<T>,
    /// Where `send` was called: what the task dump shows while this waits.
    at: &'static Location<'static>,
    /// Holds the value until it is written; pinned while queued.
    slot: Slot<T>,
    /// The slot is (or was, until this future saw the outcome) queued on the channel.
    queued: bool,
}

impl<T> Future for Sending<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `slot` is structurally pinned: never moved out of `self`; the other fields
        // are plain data reached by `&mut`.
        let this = unsafe { self.get_unchecked_mut() };
        let slot = NonNull::from(&this.slot);
        if this.queued {
            // SAFETY: queued by `start_send` below; pinned since.
            return match unsafe { this.chan.poll_send(slot, cx.waker()) } {
                None => {
                    record_wait(WaitKind::ChannelSend, Some(this.at), 0, 0);
                    Poll::Pending
                }
                Some(outcome) => {
                    this.queued = false;
                    Poll::Ready(outcome.map_err(SendError))
                }
            };
        }
        let spend = ready!(coop::poll_proceed(cx));
        // SAFETY: the slot is `Idle` and pinned; `Drop` cancels it if it gets queued.
        match unsafe { this.chan.start_send(slot, cx.waker()) } {
            Sent::Done => {
                spend.made_progress();
                Poll::Ready(Ok(()))
            }
            Sent::Closed(value) => Poll::Ready(Err(SendError(value))),
            Sent::Waiting => {
                this.queued = true;
                record_wait(WaitKind::ChannelSend, Some(this.at), 0, 0);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Sending<'_, T> {
    fn drop(&mut self) {
        if self.queued {
            // SAFETY: queued on this channel and still in place (we are being dropped in place).
            unsafe { self.chan.cancel_send(NonNull::from(&self.slot)) };
        }
    }
}

impl<T> fmt::Debug for Sending<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sending")
            .field("waiting", &self.queued)
            .finish_non_exhaustive()
    }
}
