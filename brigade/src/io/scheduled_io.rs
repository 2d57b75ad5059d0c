//! The readiness of one registered I/O resource, and the tasks waiting for it.
//!
//! The reactor is *readiness based*: epoll says "this socket became readable", the task then
//! performs the read itself. Registrations are edge-triggered, so the reactor reports each
//! *change*; between reports a task learns the socket ran dry only from a `WouldBlock`, and must
//! then clear the readiness it consumed before waiting again.
//!
//! The readiness word packs the flags with a sequence number that every event bumps. Clearing
//! is a compare-and-swap against the sequence the task saw, so an edge that arrived after the
//! task's look (and before its `WouldBlock`) is never erased: that would be a lost wake-up.
//!
//! # Invariants
//! - A waiter is registered (under `waiters`) *before* the readiness is read again; the reactor
//!   sets the readiness *before* taking `waiters` to wake. One of the two always sees the other.
//! - Closed and shutdown flags are never cleared. The error flag is cleared like readiness when
//!   an operation says `WouldBlock`: the kernel reported (and reset) the error on an earlier
//!   call, and a stale flag would make every wait end at once — a spin.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// Readable data (or a pending accept).
pub(crate) const READABLE: usize = 1 << 0;
/// Room to write (or a finished connect).
pub(crate) const WRITABLE: usize = 1 << 1;
/// The peer closed its write side: reads return EOF.
pub(crate) const READ_CLOSED: usize = 1 << 2;
/// Our write side is closed or the peer reset: writes fail.
pub(crate) const WRITE_CLOSED: usize = 1 << 3;
/// The socket has a pending error.
pub(crate) const ERROR: usize = 1 << 4;
/// The runtime that drives this resource is gone.
pub(crate) const SHUTDOWN: usize = 1 << 5;

const FLAGS_MASK: usize = (1 << 16) - 1;
const SEQUENCE_ONE: usize = 1 << 16;

/// Which way a task waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    /// The flags that end a wait in this direction.
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR | SHUTDOWN,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR | SHUTDOWN,
        }
    }
}

/// What a task saw when it found the resource ready: which flags, at which sequence.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    flags: usize,
    sequence: usize,
}

impl ReadyEvent {
    pub(crate) fn is_shutdown(&self) -> bool {
        self.flags & SHUTDOWN != 0
    }
}

/// The tasks waiting, per direction. The common case — one task reading, one writing — uses
/// the slots and allocates nothing; further distinct waiters in the same direction (several
/// tasks calling `accept` on one listener) go to the overflow lists, and all are woken.
#[derive(Default)]
struct Waiters {
    reader: Option<Waker>,
    writer: Option<Waker>,
    more_readers: Vec<Waker>,
    more_writers: Vec<Waker>,
}

/// Records `waker` in `slot` (or `more`) unless it is already there.
fn add_waiter(slot: &mut Option<Waker>, more: &mut Vec<Waker>, waker: &Waker) {
    match slot {
        None => *slot = Some(waker.clone()),
        Some(existing) if existing.will_wake(waker) => {}
        Some(_) => {
            if !more.iter().any(|w| w.will_wake(waker)) {
                more.push(waker.clone());
            }
        }
    }
}

/// One resource's readiness and waiters; shared by the resource and the reactor.
#[derive(Default)]
pub(crate) struct ScheduledIo {
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

impl ScheduledIo {
    /// Ready in `direction`, or registers `cx`'s waker and returns `Pending`.
    pub(crate) fn poll_ready(
        &self,
        direction: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<ReadyEvent> {
        if let Some(event) = self.ready_in(direction) {
            return Poll::Ready(event);
        }
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let waiters = &mut *waiters;
        match direction {
            Direction::Read => {
                add_waiter(&mut waiters.reader, &mut waiters.more_readers, cx.waker())
            }
            Direction::Write => {
                add_waiter(&mut waiters.writer, &mut waiters.more_writers, cx.waker())
            }
        }
        // Look again: an event that landed between the first look and the registration found
        // no waiter to wake.
        match self.ready_in(direction) {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }

    /// The readiness in `direction` right now, without registering a waiter.
    pub(crate) fn ready_in(&self, direction: Direction) -> Option<ReadyEvent> {
        let current = self.readiness.load(Ordering::Acquire);
        let flags = current & FLAGS_MASK & direction.mask();
        (flags != 0).then_some(ReadyEvent {
            flags,
            sequence: current & !FLAGS_MASK,
        })
    }

    /// The task hit `WouldBlock`: forget the readiness it saw, unless a newer event came since.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        let consumed = event.flags & (READABLE | WRITABLE | ERROR);
        let mut current = self.readiness.load(Ordering::Acquire);
        while current & !FLAGS_MASK == event.sequence {
            let cleared = current & !consumed;
            match self.readiness.compare_exchange_weak(
                current,
                cleared,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The reactor saw an event: add `flags`, bump the sequence, wake whoever waits for them.
    pub(crate) fn set_readiness(&self, flags: usize) {
        let mut current = self.readiness.load(Ordering::Acquire);
        loop {
            let sequence = (current & !FLAGS_MASK).wrapping_add(SEQUENCE_ONE);
            let next = sequence | (current & FLAGS_MASK) | flags;
            match self.readiness.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        self.wake(flags);
    }

    /// The resource is gone: forget every waiter. A waker is a reference to its task, and the
    /// task may own the runtime; kept here it would make a cycle that never drops.
    pub(crate) fn clear_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        drop(waiters);
    }

    /// Wakes the waiters whose direction `flags` concern.
    fn wake(&self, flags: usize) {
        let wakes_readers = flags & Direction::Read.mask() != 0;
        let wakes_writers = flags & Direction::Write.mask() != 0;
        let (reader, writer, more) = {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            let reader = wakes_readers.then(|| waiters.reader.take()).flatten();
            let writer = wakes_writers.then(|| waiters.writer.take()).flatten();
            let mut more = Vec::new();
            if wakes_readers && !waiters.more_readers.is_empty() {
                more = std::mem::take(&mut waiters.more_readers);
            }
            if wakes_writers && !waiters.more_writers.is_empty() {
                more.append(&mut waiters.more_writers);
            }
            (reader, writer, more)
        };
        // Woken outside the lock: a waker may run arbitrary code.
        reader
            .into_iter()
            .chain(writer)
            .chain(more)
            .for_each(Waker::wake);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wait_ends_with_the_event_and_clearing_respects_newer_events() {
        let io = ScheduledIo::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(io.poll_ready(Direction::Read, &mut cx).is_pending());
        io.set_readiness(WRITABLE);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "a write event must not wake a reader"
        );
        io.set_readiness(READABLE);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let seen = match io.poll_ready(Direction::Read, &mut cx) {
            Poll::Ready(event) => event,
            Poll::Pending => panic!("readable after an event"),
        };
        // A new edge arrives before the reader's WouldBlock: its clear must not erase it.
        io.set_readiness(READABLE);
        io.clear_readiness(seen);
        assert!(io.poll_ready(Direction::Read, &mut cx).is_ready());
        // Without a newer edge the clear takes effect; the writer's flag is untouched.
        let seen = match io.poll_ready(Direction::Read, &mut cx) {
            Poll::Ready(event) => event,
            Poll::Pending => unreachable!(),
        };
        io.clear_readiness(seen);
        assert!(io.poll_ready(Direction::Read, &mut cx).is_pending());
        assert!(io.poll_ready(Direction::Write, &mut cx).is_ready());
    }

    #[test]
    fn an_error_flag_is_cleared_by_a_would_block_so_waits_do_not_spin() {
        let io = ScheduledIo::default();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        io.set_readiness(ERROR);
        let Poll::Ready(seen) = io.poll_ready(Direction::Read, &mut cx) else {
            panic!("an error ends the wait")
        };
        io.clear_readiness(seen);
        assert!(io.poll_ready(Direction::Read, &mut cx).is_pending());
    }

    #[test]
    fn closed_and_shutdown_flags_survive_a_clear() {
        let io = ScheduledIo::default();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        io.set_readiness(READABLE | READ_CLOSED);
        let Poll::Ready(seen) = io.poll_ready(Direction::Read, &mut cx) else {
            panic!("ready")
        };
        io.clear_readiness(seen);
        assert!(
            io.poll_ready(Direction::Read, &mut cx).is_ready(),
            "EOF stays visible"
        );
        io.set_readiness(SHUTDOWN);
        let Poll::Ready(event) = io.poll_ready(Direction::Write, &mut cx) else {
            panic!("shutdown ends every wait")
        };
        assert!(event.is_shutdown());
    }
}
