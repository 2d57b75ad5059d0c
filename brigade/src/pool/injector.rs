//! The global injection queue: where tasks arrive from outside the pool (spawned or woken on a
//! thread that is not one of its workers) and where a full local queue spills half its tasks.
//!
//! This is the seed's `BlockingCollection<Action>` (section 2), minus the blocking: workers
//! never wait on it; they park and are unparked by whoever pushes. It is an intrusive FIFO
//! linked through each task header's `queue_next`, so queueing a task never allocates.
//!
//! # Invariants
//! - Each linked task holds one queue-entry reference (a `Notified` turned into a raw pointer).
//! - `queue_next` of a linked task is touched only under the lock.
//! - `len` equals the list's length whenever the lock is free; it is read without the lock as a
//!   hint (is there anything to pull?), never for correctness.
//! - Once closed (runtime shutdown), pushes are refused and the caller drops the task.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};
use crate::task::{Notified, RawTask};

use super::local_queue::Overflow;

pub(crate) struct Injector {
    queue: Mutex<Queue>,
    len: AtomicUsize,
}

struct Queue {
    head: Option<RawTask>,
    tail: Option<RawTask>,
    len: usize,
    closed: bool,
}

impl Queue {
    fn push_back(&mut self, task: Notified) {
        let raw = task.into_raw();
        // SAFETY: under the lock; `raw` was just unlinked from every queue (it was a Notified).
        unsafe { *raw.header().queue_next.get() = None };
        match self.tail {
            // SAFETY: under the lock; the tail is linked here and alive (it holds a reference).
            Some(tail) => unsafe { *tail.header().queue_next.get() = Some(raw.header_ptr()) },
            None => self.head = Some(raw),
        }
        self.tail = Some(raw);
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<Notified> {
        let raw = self.head?;
        // SAFETY: under the lock; the head is linked here and alive.
        let next = unsafe { (*raw.header().queue_next.get()).take() };
        self.head = next.map(RawTask::from_header);
        if self.head.is_none() {
            self.tail = None;
        }
        self.len -= 1;
        // SAFETY: the list held this entry's reference, which now moves back into a Notified.
        Some(unsafe { Notified::from_raw(raw) })
    }
}

// SAFETY: the raw task pointers are queue entries (each owns a reference) and are only followed
// under the mutex.
unsafe impl Send for Queue {}

/// Up to `remaining` tasks popped one by one under the injector's lock.
struct Batch<'a> {
    queue: &'a mut Queue,
    remaining: usize,
}

impl Iterator for Batch<'_> {
    type Item = Notified;

    fn next(&mut self) -> Option<Notified> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        self.queue.pop_front()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Batch<'_> {}

impl Injector {
    pub(crate) fn new() -> Injector {
        Injector {
            queue: Mutex::new(Queue {
                head: None,
                tail: None,
                len: 0,
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // No user code runs under this lock, so poisoning cannot leave it inconsistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cheap hint, without the lock. `SeqCst` pairs with the idle protocol's fences: a worker
    /// that is about to park and reads 0 here is guaranteed that the pusher will see it parked.
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Queues a task; gives it back if the injector is closed (the runtime shut down).
    pub(crate) fn push(&self, task: Notified) -> Result<(), Notified> {
        let mut queue = self.lock();
        if queue.closed {
            return Err(task);
        }
        queue.push_back(task);
        self.len.store(queue.len, Ordering::SeqCst);
        Ok(())
    }

    /// Pops up to `max` tasks under one lock: the first is returned, the rest handed to `rest`.
    pub(crate) fn pop_batch(
        &self,
        max: usize,
        rest: impl FnOnce(&mut dyn ExactSizeIterator<Item = Notified>),
    ) -> Option<Notified> {
        if self.is_empty() || max == 0 {
            return None;
        }
        let mut queue = self.lock();
        let first = queue.pop_front()?;
        self.move_locked(&mut queue, max - 1, rest);
        Some(first)
    }

    /// Moves up to `max` tasks, in queue order, into `into` under one lock.
    pub(crate) fn move_batch(
        &self,
        max: usize,
        into: impl FnOnce(&mut dyn ExactSizeIterator<Item = Notified>),
    ) {
        if self.is_empty() || max == 0 {
            return;
        }
        self.move_locked(&mut self.lock(), max, into);
    }

    fn move_locked(
        &self,
        queue: &mut Queue,
        max: usize,
        into: impl FnOnce(&mut dyn ExactSizeIterator<Item = Notified>),
    ) {
        let remaining = max.min(queue.len);
        into(&mut Batch { queue, remaining });
        self.len.store(queue.len, Ordering::SeqCst);
    }

    /// Refuses later pushes and gives back what was queued.
    pub(crate) fn close(&self) -> Vec<Notified> {
        let mut queue = self.lock();
        queue.closed = true;
        let mut drained = Vec::with_capacity(queue.len);
        while let Some(task) = queue.pop_front() {
            drained.push(task);
        }
        self.len.store(0, Ordering::SeqCst);
        drained
    }
}

impl Overflow<Notified> for Injector {
    fn push_batch(&self, batch: impl Iterator<Item = Notified>) {
        let mut queue = self.lock();
        if queue.closed {
            drop(queue);
            // Shutting down: these tasks' futures are dropped by the owned-list sweep.
            batch.for_each(drop);
            return;
        }
        for task in batch {
            queue.push_back(task);
        }
        self.len.store(queue.len, Ordering::SeqCst);
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        // Release the references of anything still linked (normally nothing: shutdown drains).
        drop(self.close());
    }
}
