//! The reactor: one per runtime, polled by the thread that holds the driving role (see
//! `timer::driver`): a worker with nothing to do waits in the kernel with the next timer
//! deadline as its timeout, and is interrupted early only when someone needs it — new work for
//! it, or an earlier timer.
//!
//! Two backends deliver the same readiness edges to the same [`ScheduledIo`]s: epoll (through
//! mio) and io_uring (multishot polls on the ring). Which one a runtime uses is its
//! [`IoDriver`](super::IoDriver) choice; sockets, their tests and every I/O trait behave the
//! same on either.
//!
//! # Invariants
//! - A registered resource is in `slots` until deregistered; the backend keeps its
//!   `ScheduledIo` alive for as long as an event naming it can still arrive.
//! - After shutdown, every resource has `SHUTDOWN` set and its waiters woken; new registrations
//!   fail with an error that says the runtime is gone.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mio::event::Source;
use mio::Interest;

use super::epoll::Epoll;
use super::scheduled_io::{ScheduledIo, SHUTDOWN};
#[cfg(target_os = "linux")]
use super::uring::Uring;
use super::IoDriver;

pub(crate) struct Reactor {
    backend: Backend,
    resources: Mutex<Resources>,
    /// Live registrations, readable without a lock (metrics, and skipping idle polls).
    registrations: AtomicUsize,
    /// Readiness events dispatched since the start (metrics).
    events: AtomicU64,
}

// One per runtime, so its size does not matter; boxing would add a pointer hop to every poll.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Epoll(Epoll),
    #[cfg(target_os = "linux")]
    Uring(Uring),
}

/// Every live resource, so shutdown can reach them.
#[derive(Default)]
struct Resources {
    slots: Vec<Option<Arc<ScheduledIo>>>,
    free: Vec<usize>,
    shutdown: bool,
}

/// A resource's place in the reactor, returned by [`Reactor::register`].
pub(crate) struct Registered {
    pub(crate) scheduled: Arc<ScheduledIo>,
    slot: usize,
}

impl Reactor {
    /// A reactor on the backend `choice` names (`Auto`: io_uring where the kernel allows it).
    pub(crate) fn new(choice: IoDriver) -> io::Result<Reactor> {
        let backend = match choice {
            IoDriver::Epoll => Backend::Epoll(Epoll::new()?),
            #[cfg(target_os = "linux")]
            IoDriver::Uring => Backend::Uring(Uring::new().map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!(
                        "io_uring is not available here ({error}); use IoDriver::Epoll, or \
                         IoDriver::Auto to fall back on its own"
                    ),
                )
            })?),
            #[cfg(target_os = "linux")]
            IoDriver::Auto => match Uring::new() {
                Ok(uring) => Backend::Uring(uring),
                // Seccomp, `io_uring_disabled`, an old kernel: epoll always works.
                Err(_) => Backend::Epoll(Epoll::new()?),
            },
            #[cfg(not(target_os = "linux"))]
            IoDriver::Uring => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "io_uring exists on Linux only; use IoDriver::Epoll or IoDriver::Auto",
                ))
            }
            #[cfg(not(target_os = "linux"))]
            IoDriver::Auto => Backend::Epoll(Epoll::new()?),
        };
        Ok(Reactor {
            backend,
            resources: Mutex::new(Resources::default()),
            registrations: AtomicUsize::new(0),
            events: AtomicU64::new(0),
        })
    }

    /// The backend in use: `Epoll` or `Uring` (never `Auto`).
    pub(crate) fn kind(&self) -> IoDriver {
        match self.backend {
            Backend::Epoll(_) => IoDriver::Epoll,
            #[cfg(target_os = "linux")]
            Backend::Uring(_) => IoDriver::Uring,
        }
    }

    /// Marks the calling thread as one of the pool's own, the threads that may hand the kernel
    /// work it completes on their behalf (io_uring's polls: see `uring`'s "Who submits").
    /// Called by each worker thread as it starts.
    pub(crate) fn adopt_this_thread(&self) {
        #[cfg(target_os = "linux")]
        if let Backend::Uring(uring) = &self.backend {
            uring.adopt_this_thread();
        }
    }

    fn resources(&self) -> MutexGuard<'_, Resources> {
        // No user code runs under this lock.
        self.resources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `source` for `interest`, edge-triggered.
    pub(crate) fn register(
        &self,
        source: &mut (impl Source + AsRawFd),
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
        let added = match &self.backend {
            Backend::Epoll(epoll) => epoll.register(source, &scheduled, interest),
            #[cfg(target_os = "linux")]
            Backend::Uring(uring) => uring.register(source.as_raw_fd(), &scheduled, interest),
        };
        if let Err(error) = added {
            self.free_slot(slot);
            return Err(error);
        }
        self.registrations.fetch_add(1, Ordering::Relaxed);
        Ok(Registered { scheduled, slot })
    }

    /// Takes `source` out of the reactor. Returns once the source may be closed; its
    /// `ScheduledIo` lives on in the backend until no event can name it any more.
    pub(crate) fn deregister(&self, source: &mut impl Source, registered: &Registered) {
        let Some(scheduled) = self.free_slot(registered.slot) else {
            return;
        };
        match &self.backend {
            Backend::Epoll(epoll) => epoll.deregister(source, scheduled.clone()),
            #[cfg(target_os = "linux")]
            Backend::Uring(uring) => uring.deregister(&scheduled),
        }
        self.registrations.fetch_sub(1, Ordering::Relaxed);
        // Dropping a waker can run arbitrary code: not under any lock.
        scheduled.clear_waiters();
    }

    fn free_slot(&self, slot: usize) -> Option<Arc<ScheduledIo>> {
        let mut resources = self.resources();
        let scheduled = resources.slots[slot].take()?;
        resources.free.push(slot);
        Some(scheduled)
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
        let dispatch = |scheduled: &ScheduledIo, flags: usize| {
            // Counted before the wake: a woken task reading the metrics sees its own event.
            self.events.fetch_add(1, Ordering::Relaxed);
            scheduled.set_readiness(flags);
        };
        match &self.backend {
            Backend::Epoll(epoll) => epoll.poll(timeout, dispatch),
            #[cfg(target_os = "linux")]
            Backend::Uring(uring) => uring.poll(timeout, dispatch),
        }
    }

    /// Starts a read or write of the regular file `fd` through the ring, at the file's
    /// position, with `buffer` lent to the kernel until it is done. Gives the buffer back
    /// (`Err`) when this reactor is not io_uring or has shut down: the caller uses the blocking
    /// pool then (which reports the shutdown).
    #[cfg(target_os = "linux")]
    pub(crate) fn start_file_op(
        &self,
        fd: std::os::fd::RawFd,
        op: super::uring_op::FileOp,
        buffer: Vec<u8>,
    ) -> Result<super::uring_op::RingOp, Vec<u8>> {
        if self.resources().shutdown {
            // The blocking pool gives the caller the shut-down error.
            return Err(buffer);
        }
        match &self.backend {
            Backend::Uring(uring) => {
                let started = uring.start_file_op(fd, op, buffer);
                // Data in the page cache is copied during the submission, so the completion is
                // often there already: a look now hands it over without a trip through a wait.
                self.poll(Some(Duration::ZERO));
                Ok(started)
            }
            Backend::Epoll(_) => Err(buffer),
        }
    }

    /// Interrupts a thread blocked in [`poll`](Self::poll).
    pub(crate) fn wake(&self) {
        let woken = match &self.backend {
            Backend::Epoll(epoll) => epoll.wake(),
            #[cfg(target_os = "linux")]
            Backend::Uring(uring) => uring.wake(),
        };
        if let Err(error) = woken {
            crate::report::warn(
                crate::report::Topic::Runtime,
                &format!("could not wake the I/O driver: {error}"),
            );
        }
    }

    /// The runtime is gone: mark every resource shut down and wake its waiters.
    pub(crate) fn shutdown(&self) {
        let live: Vec<Arc<ScheduledIo>> = {
            let mut resources = self.resources();
            resources.shutdown = true;
            resources.slots.iter().flatten().cloned().collect()
        };
        match &self.backend {
            Backend::Epoll(epoll) => epoll.shutdown(),
            #[cfg(target_os = "linux")]
            Backend::Uring(uring) => uring.shutdown(),
        }
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
