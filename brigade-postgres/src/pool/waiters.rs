//! The queue of callers waiting for a connection, and the hand-off that serves them in order.
//!
//! A returned connection is not put back on the shelf for whoever asks next: it is *handed* to
//! the oldest waiter directly. That keeps the pool fair (first come, first served — a burst of
//! new callers cannot starve one that has waited long) and makes the handover a state change
//! of one waiter, which cannot be lost:
//!
//! ```text
//!   Waiting ──hand_to_first──▶ Granted(slot) ──poll──▶ Taken
//!      │                          │
//!      └─────── waiter dropped ───┴──▶ Gone   (a Granted slot goes back to the pool)
//! ```
//!
//! # Invariants
//! - A slot is in exactly one place: the pool, one waiter's grant, or one caller's hands. A
//!   waiter that gives up (its `get` timed out or was dropped) after being granted returns the
//!   slot, so timeouts never leak connections.
//! - Lock order: the pool's state lock, then a waiter's grant lock — never the reverse. A
//!   waiter gives up by marking itself `Gone` under its own lock *first*; a hand-off that
//!   comes later skips it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::{Shared, Slot};

/// What a waiter has been given so far.
enum Grant {
    /// Nothing yet; the waker of the task waiting, once it has polled.
    Waiting(Option<Waker>),
    /// A slot handed over, not yet picked up.
    Granted(Slot),
    /// The waiter picked its slot up.
    Taken,
    /// The waiter gave up; hand-offs skip it.
    Gone,
}

/// One caller waiting in [`Pool::get`](super::Pool::get).
pub(super) struct Waiter {
    grant: Mutex<Grant>,
}

impl Waiter {
    fn lock(&self) -> MutexGuard<'_, Grant> {
        // No user code runs under this lock; recover from poisoning rather than spread a panic.
        self.grant.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Waiters, oldest first.
#[derive(Default)]
pub(super) struct WaiterQueue {
    queue: VecDeque<Arc<Waiter>>,
}

impl WaiterQueue {
    /// Enqueues a new waiter at the back.
    pub(super) fn push(&mut self) -> Arc<Waiter> {
        let waiter = Arc::new(Waiter {
            grant: Mutex::new(Grant::Waiting(None)),
        });
        self.queue.push_back(Arc::clone(&waiter));
        waiter
    }

    /// Hands `slot` to the oldest waiter still waiting and returns its waker, to be woken once
    /// the pool lock is released; gives `slot` back if nobody waits. Called under the pool lock.
    pub(super) fn hand_to_first(&mut self, slot: Slot) -> Result<Option<Waker>, Slot> {
        while let Some(waiter) = self.queue.pop_front() {
            let mut grant = waiter.lock();
            if let Grant::Waiting(waker) = &mut *grant {
                let waker = waker.take();
                *grant = Grant::Granted(slot);
                return Ok(waker);
            }
            // Gone: it gave up between enqueueing and now; try the next one.
        }
        Err(slot)
    }

    /// Forgets `waiter` (it gave up). Called under the pool lock.
    pub(super) fn remove(&mut self, waiter: &Arc<Waiter>) {
        self.queue.retain(|queued| !Arc::ptr_eq(queued, waiter));
    }

    /// How many callers wait (those that gave up may be counted until the next hand-off).
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}

/// The future of one waiter: ready with the slot handed to it.
pub(super) struct WaitForSlot {
    waiter: Arc<Waiter>,
    shared: Arc<Shared>,
}

impl WaitForSlot {
    pub(super) fn new(waiter: Arc<Waiter>, shared: Arc<Shared>) -> WaitForSlot {
        WaitForSlot { waiter, shared }
    }
}

impl Future for WaitForSlot {
    type Output = Slot;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Slot> {
        let mut grant = self.waiter.lock();
        match std::mem::replace(&mut *grant, Grant::Taken) {
            Grant::Granted(slot) => Poll::Ready(slot),
            Grant::Waiting(mut waker) => {
                // Keep the newest waker: the task may have moved to another worker.
                match &mut waker {
                    Some(known) => known.clone_from(cx.waker()),
                    None => waker = Some(cx.waker().clone()),
                }
                *grant = Grant::Waiting(waker);
                Poll::Pending
            }
            Grant::Taken | Grant::Gone => {
                panic!("brigade-postgres: WaitForSlot polled after it completed")
            }
        }
    }
}

impl Drop for WaitForSlot {
    fn drop(&mut self) {
        // Mark ourselves Gone first, under our own lock: from here on no hand-off picks us.
        let previous = std::mem::replace(&mut *self.waiter.lock(), Grant::Gone);
        match previous {
            // Granted while we were giving up (a timeout racing a release): pass the slot on.
            Grant::Granted(slot) => self.shared.release(slot),
            // Still queued: leave the queue now rather than at the next hand-off.
            Grant::Waiting(_) => self.shared.lock().waiters.remove(&self.waiter),
            Grant::Taken | Grant::Gone => {}
        }
    }
}
