//! The I/O driver: one `mio::Poll` (epoll on Linux) per runtime, polled by the thread that holds
//! the driving role (see `timer::driver`): a worker with nothing to do waits in `epoll_wait` with
//! the next timer deadline as its timeout, and is woken early through an eventfd (`mio::Waker`)
//! only when someone needs it — new work for it, or an earlier timer.
//!
//! Each registered resource has a [`ScheduledIo`] behind an `Arc`; its address is the epoll
//! token, so dispatching an event is a pointer dereference, no lookup. That is sound because a
//! resource's `ScheduledIo` is released only by the driver itself, between two polls: a
//! deregistered resource parks its `Arc` in `pending_release`, and events already fetched for
//! it (in the batch being dispatched) still point at live memory.
//!
//! # Invariants
//! - Only the holder of `poller`'s lock calls `epoll_wait` and dispatches.
//! - A `ScheduledIo` in `registered` or `pending_release` is alive; one that left both was
//!   dropped by the driver before a poll, when no event for it can be in flight.
//! - After shutdown, every resource has `SHUTDOWN` set and its waiters woken; new registrations
//!   fail with an error that says the runtime is gone.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Token};

use super::scheduled_io::{
    ScheduledIo, ERROR, READABLE, READ_CLOSED, SHUTDOWN, WRITABLE, WRITE_CLOSED,
};

/// The token of the driver's own eventfd.
const WAKE_TOKEN: Token = Token(0);
/// Events fetched per `epoll_wait`.
const EVENTS_CAPACITY: usize = 1024;

pub(crate) struct IoDriver {
    poller: Mutex<Poller>,
    registry: mio::Registry,
    waker: mio::Waker,
    resources: Mutex<Resources>,
    /// Live registrations, readable without a lock (metrics, and skipping idle polls).
    registrations: AtomicUsize,
    /// Readiness events dispatched since the start (metrics).
    events: AtomicU64,
}

struct Poller {
    poll: mio::Poll,
    events: Events,
}

/// Every live resource (so shutdown can reach them) and the ones waiting to be freed.
#[derive(Default)]
struct Resources {
    slots: Vec<Option<Arc<ScheduledIo>>>,
    free: Vec<usize>,
    pending_release: Vec<Arc<ScheduledIo>>,
    shutdown: bool,
}

/// A resource's place in the driver, returned by [`IoDriver::register`].
pub(crate) struct Registered {
    pub(crate) scheduled: Arc<ScheduledIo>,
    slot: usize,
}

impl IoDriver {
    pub(crate) fn new() -> io::Result<IoDriver> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(IoDriver {
            poller: Mutex::new(Poller {
                poll,
                events: Events::with_capacity(EVENTS_CAPACITY),
            }),
            registry,
            waker,
            resources: Mutex::new(Resources::default()),
            registrations: AtomicUsize::new(0),
            events: AtomicU64::new(0),
        })
    }

    fn resources(&self) -> MutexGuard<'_, Resources> {
        // No user code runs under this lock.
        self.resources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `source` for `interest`, edge-triggered.
    pub(crate) fn register(
        &self,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<Registered> {
        let scheduled = Arc::new(ScheduledIo::default());
        let slot = {
            let mut resources = self.resources();
            if resources.shutdown {
                return Err(shut_down_error());
            }
            let slot = match resources.free.pop() {
                Some(slot) => slot,
                None => {
                    resources.slots.push(None);
                    resources.slots.len() - 1
                }
            };
            resources.slots[slot] = Some(scheduled.clone());
            slot
        };
        // The token is the ScheduledIo's address (never 0, so never WAKE_TOKEN).
        let token = Token(Arc::as_ptr(&scheduled) as usize);
        if let Err(error) = self.registry.register(source, token, interest) {
            self.release_slot(slot);
            return Err(error);
        }
        self.registrations.fetch_add(1, Ordering::Relaxed);
        Ok(Registered { scheduled, slot })
    }

    /// Takes `source` out of epoll; its `ScheduledIo` is freed by the driver before its next
    /// poll.
    pub(crate) fn deregister(&self, source: &mut impl Source, registered: &Registered) {
        // An error here means the fd is already gone from epoll (closed): nothing to undo.
        let _ = self.registry.deregister(source);
        self.release_slot(registered.slot);
        self.registrations.fetch_sub(1, Ordering::Relaxed);
    }

    fn release_slot(&self, slot: usize) {
        let mut resources = self.resources();
        if let Some(scheduled) = resources.slots[slot].take() {
            resources.free.push(slot);
            let waiters_to_drop = scheduled.clone();
            resources.pending_release.push(scheduled);
            drop(resources);
            // Outside the lock: dropping a waker can run arbitrary code.
            waiters_to_drop.clear_waiters();
        }
    }

    /// Live registrations (for metrics).
    pub(crate) fn registrations(&self) -> usize {
        self.registrations.load(Ordering::Relaxed)
    }

    /// Events dispatched since the start (for metrics).
    pub(crate) fn events_dispatched(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` (`None`: until woken) for readiness events and dispatches them:
    /// each sets its resource's readiness and wakes the tasks waiting on it. Returns how many
    /// resource events were dispatched, or `None` if another thread is polling.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> Option<usize> {
        let mut poller = self.poller.try_lock().ok()?;
        // No event fetched from here on can name a resource released before this point.
        let released = std::mem::take(&mut self.resources().pending_release);
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
        // Counted before dispatching: a woken task reading the metrics sees its own event.
        let dispatched = events.iter().filter(|e| e.token() != WAKE_TOKEN).count();
        self.events.fetch_add(dispatched as u64, Ordering::Relaxed);
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
            // SAFETY: the token is the address of a ScheduledIo registered with this driver,
            // and it is alive: it is freed only at the top of a poll (see the module docs).
            unsafe { &*scheduled }.set_readiness(flags);
        }
        Some(dispatched)
    }

    /// Interrupts a thread blocked in [`poll`](Self::poll).
    pub(crate) fn wake(&self) {
        if let Err(error) = self.waker.wake() {
            crate::report::warn(
                crate::report::Topic::Runtime,
                &format!("could not wake the I/O driver: {error}"),
            );
        }
    }

    /// The runtime is gone: mark every resource shut down and wake its waiters.
    pub(crate) fn shutdown(&self) {
        let (live, released) = {
            let mut resources = self.resources();
            resources.shutdown = true;
            let live: Vec<Arc<ScheduledIo>> = resources.slots.iter().flatten().cloned().collect();
            (live, std::mem::take(&mut resources.pending_release))
        };
        // Nobody polls any more, so nothing can still point at the released ones.
        drop(released);
        for scheduled in live {
            scheduled.set_readiness(SHUTDOWN);
        }
    }
}

/// The error I/O on a resource gets once its runtime is gone.
pub(crate) fn shut_down_error() -> io::Error {
    io::Error::other(
        "brigade: the runtime driving this socket has shut down; sockets must be used while \
         their runtime is alive",
    )
}
