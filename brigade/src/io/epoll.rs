//! The epoll backend of the reactor (through mio): one `epoll_wait` per turn, edge-triggered
//! registrations whose token is the resource's `ScheduledIo` address, and an eventfd
//! (`mio::Waker`) to interrupt a waiting thread.
//!
//! # Invariants
//! - Only the holder of `poller`'s lock calls `epoll_wait` and dispatches.
//! - A released `ScheduledIo` waits in `pending_release` until the top of the next poll: events
//!   already fetched for it (in the batch being dispatched) still point at live memory.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Token};

use super::scheduled_io::{ScheduledIo, ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};

/// The token of the backend's own eventfd.
const WAKE_TOKEN: Token = Token(0);
/// Events fetched per `epoll_wait`.
const EVENTS_CAPACITY: usize = 1024;

pub(super) struct Epoll {
    poller: Mutex<Poller>,
    registry: mio::Registry,
    waker: mio::Waker,
    pending_release: Mutex<Vec<Arc<ScheduledIo>>>,
}

struct Poller {
    poll: mio::Poll,
    events: Events,
}

impl Epoll {
    pub(super) fn new() -> io::Result<Epoll> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(Epoll {
            poller: Mutex::new(Poller {
                poll,
                events: Events::with_capacity(EVENTS_CAPACITY),
            }),
            registry,
            waker,
            pending_release: Mutex::new(Vec::new()),
        })
    }

    /// Adds `source` to epoll, edge-triggered, its token `scheduled`'s address (never 0, so
    /// never `WAKE_TOKEN`).
    pub(super) fn register(
        &self,
        source: &mut impl Source,
        scheduled: &Arc<ScheduledIo>,
        interest: Interest,
    ) -> io::Result<()> {
        let token = Token(Arc::as_ptr(scheduled) as usize);
        self.registry.register(source, token, interest)
    }

    /// Takes `source` out of epoll; `scheduled` is freed before the next poll.
    pub(super) fn deregister(&self, source: &mut impl Source, scheduled: Arc<ScheduledIo>) {
        // An error here means the fd is already gone from epoll (closed): nothing to undo.
        let _ = self.registry.deregister(source);
        self.release(scheduled);
    }

    /// `scheduled` left the driver: keep it alive until no fetched event can point at it.
    pub(super) fn release(&self, scheduled: Arc<ScheduledIo>) {
        self.pending_release
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(scheduled);
    }

    /// One turn: waits up to `timeout` and hands each event's resource and flags to
    /// `dispatch`. Returns how many resource events there were, or `None` if another thread is
    /// polling.
    pub(super) fn poll(
        &self,
        timeout: Option<Duration>,
        mut dispatch: impl FnMut(&ScheduledIo, usize),
    ) -> Option<usize> {
        let mut poller = self.poller.try_lock().ok()?;
        // No event fetched from here on can name a resource released before this point.
        let released = self.take_released();
        drop(released);

        let Poller { poll, events } = &mut *poller;
        if let Err(error) = poll.poll(events, timeout) {
            // EINTR: a signal; the caller loops. Anything else is a broken epoll fd, which
            // nothing can repair; the next poll will report it again.
            if error.kind() != io::ErrorKind::Interrupted {
                crate::report::warn(
                    crate::report::Topic::Runtime,
                    &format!("epoll_wait failed: {error}"),
                );
            }
            return Some(0);
        }
        let mut dispatched = 0;
        for event in events.iter() {
            if event.token() == WAKE_TOKEN {
                continue;
            }
            let mut flags = 0;
            if event.is_readable() {
                flags |= READABLE;
            }
            if event.is_writable() {
                flags |= WRITABLE;
            }
            if event.is_read_closed() {
                flags |= READ_CLOSED;
            }
            if event.is_write_closed() {
                flags |= WRITE_CLOSED;
            }
            if event.is_error() {
                flags |= ERROR;
            }
            let scheduled = event.token().0 as *const ScheduledIo;
            // SAFETY: the token is the address of a ScheduledIo registered with this backend,
            // and it is alive: a released one is freed only at the top of a poll (see the
            // module docs).
            dispatch(unsafe { &*scheduled }, flags);
            dispatched += 1;
        }
        Some(dispatched)
    }

    /// Interrupts a thread blocked in [`poll`](Self::poll).
    pub(super) fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }

    /// The resources waiting to be freed, taken out of the list (the caller drops them).
    fn take_released(&self) -> Vec<Arc<ScheduledIo>> {
        std::mem::take(
            &mut *self
                .pending_release
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Nobody polls any more: free what waited for the next poll.
    pub(super) fn shutdown(&self) {
        let released = self.take_released();
        drop(released);
    }
}
