//! The reading end: .NET's `ChannelReader<T>` (`ReadAsync`, `TryRead`, `ReadAllAsync`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::chan::{Chan, Slot};
use super::error::TryRecvError;
use crate::coop;
use crate::sync::waiters::Waiter;
use crate::task::{record_wait, WaitKind};
use std::panic::Location;

/// The reading end of a channel. Clone it for more consumers (each value goes to one of them);
/// it is also a [`Stream`](futures_core::Stream) of the values (.NET's `ReadAllAsync`).
pub struct Receiver<T> {
    pub(super) chan: Arc<Chan<T>>,
    /// The `Stream` impl's waiter: allocated on the first `poll_next` that has to wait, reused
    /// by every later one (one allocation per receiver, none per wait).
    stream_slot: Option<Pin<Box<Slot<T>>>>,
    stream_queued: bool,
}

impl<T> Receiver<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Receiver<T> {
        Receiver {
            chan,
            stream_slot: None,
            stream_queued: false,
        }
    }

    /// The next value, waiting while the channel is empty; `None` once it is closed and
    /// drained. Waiting receivers are served in arrival order (Y1); a receive dropped after a
    /// value was handed to it passes the value on (Y3).
    #[track_caller]
    pub fn recv(&self) -> Receiving<'_, T> {
        Receiving {
            at: Location::caller(),
            chan: &self.chan,
            slot: Waiter::new(None),
            queued: false,
        }
    }

    /// The next value if one is queued: `Empty` if none is yet, `Closed` once closed and
    /// drained. Not budgeted (see the coop notes in the module docs).
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Closes the channel for everyone; what is queued can still be read. Returns `false` if it
    /// was already closed.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed (it may still hold values).
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
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.add_receiver();
        Receiver::new(self.chan.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let (true, Some(slot)) = (self.stream_queued, &self.stream_slot) {
            // SAFETY: the boxed slot was queued on this channel and has not moved.
            unsafe { self.chan.cancel_recv(NonNull::from(&**slot)) };
        }
        self.chan.drop_receiver();
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let slot = this
            .stream_slot
            .get_or_insert_with(|| Box::pin(Waiter::new(None)));
        let slot = NonNull::from(&**slot);
        // SAFETY: the slot lives in a pinned box owned by this receiver, which cancels it on drop.
        let polled = unsafe { poll_receive(&this.chan, slot, &mut this.stream_queued, cx) };
        if polled.is_pending() && this.stream_queued {
            record_wait(WaitKind::ChannelRecv, None, 0, 0);
        }
        polled
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// The future of [`Receiver::recv`]; its waiter node lives inside it.
#[must_use = "futures do nothing unless awaited"]
pub struct Receiving<'a, T> {
    chan: &'a Chan<T>,
    /// Where `recv` was called: what the task dump shows while this waits.
    at: &'static Location<'static>,
    slot: Slot<T>,
    queued: bool,
}

impl<T> Future for Receiving<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: `slot` is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let slot = NonNull::from(&this.slot);
        // SAFETY: the slot is pinned inside this future, whose `Drop` cancels it.
        let polled = unsafe { poll_receive(this.chan, slot, &mut this.queued, cx) };
        if polled.is_pending() && this.queued {
            record_wait(WaitKind::ChannelRecv, Some(this.at), 0, 0);
        }
        polled
    }
}

impl<T> Drop for Receiving<'_, T> {
    fn drop(&mut self) {
        if self.queued {
            // SAFETY: queued on this channel and still in place.
            unsafe { self.chan.cancel_recv(NonNull::from(&self.slot)) };
        }
    }
}

impl<T> fmt::Debug for Receiving<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiving")
            .field("waiting", &self.queued)
            .finish_non_exhaustive()
    }
}

/// One poll of a receive through `slot` (shared by the future and the stream).
///
/// # Safety
/// `slot` stays pinned and alive while `queued` is true, and its owner calls
/// `Chan::cancel_recv` before dropping it queued.
unsafe fn poll_receive<T>(
    chan: &Chan<T>,
    slot: NonNull<Slot<T>>,
    queued: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    if *queued {
        // SAFETY: forwarded from the caller.
        return match unsafe { chan.poll_recv(slot, cx.waker()) } {
            None => Poll::Pending,
            Some(value) => {
                *queued = false;
                Poll::Ready(value)
            }
        };
    }
    let spend = ready!(coop::poll_proceed(cx));
    // SAFETY: the slot is `Idle` (not queued) and pinned.
    match unsafe { chan.start_recv(slot, cx.waker()) } {
        Ok(Some(value)) => {
            spend.made_progress();
            Poll::Ready(Some(value))
        }
        Ok(None) => Poll::Ready(None),
        Err(()) => {
            *queued = true;
            Poll::Pending
        }
    }
}
