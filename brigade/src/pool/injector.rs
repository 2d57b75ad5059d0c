//! The global injection queue: where tasks arrive from outside the pool (spawned or woken on a
//! thread that is not one of its workers) and where a full local queue spills half its tasks.
//!
//! This is the seed's `BlockingCollection<Action>` (section 2), minus the blocking: workers
//! never wait on it; they park and are unparked by whoever pushes.
//!
//! # Invariants
//! - `len` equals the deque's length whenever the lock is free; it is read without the lock as a
//!   hint (is there anything to pull?), never for correctness.
//! - Once closed (runtime shutdown), pushes are refused and the caller drops the task.

use std::collections::VecDeque;

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};
use crate::task::Notified;

use super::local_queue::Overflow;

pub(crate) struct Injector {
    queue: Mutex<Queue>,
    len: AtomicUsize,
}

struct Queue {
    tasks: VecDeque<Notified>,
    closed: bool,
}

impl Injector {
    pub(crate) fn new() -> Injector {
        Injector {
            queue: Mutex::new(Queue {
                tasks: VecDeque::new(),
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
        queue.tasks.push_back(task);
        self.len.store(queue.tasks.len(), Ordering::SeqCst);
        Ok(())
    }

    pub(crate) fn pop(&self) -> Option<Notified> {
        if self.is_empty() {
            return None;
        }
        let mut queue = self.lock();
        let task = queue.tasks.pop_front();
        self.len.store(queue.tasks.len(), Ordering::SeqCst);
        task
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
        let first = queue.tasks.pop_front()?;
        let more = (max - 1).min(queue.tasks.len());
        rest(&mut queue.tasks.drain(..more));
        self.len.store(queue.tasks.len(), Ordering::SeqCst);
        Some(first)
    }

    /// Refuses later pushes and gives back what was queued.
    pub(crate) fn close(&self) -> VecDeque<Notified> {
        let mut queue = self.lock();
        queue.closed = true;
        self.len.store(0, Ordering::SeqCst);
        std::mem::take(&mut queue.tasks)
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
        queue.tasks.extend(batch);
        self.len.store(queue.tasks.len(), Ordering::SeqCst);
    }
}
