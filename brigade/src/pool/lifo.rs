//! The LIFO slot: where a worker keeps the task the running task just spawned or woke, to run
//! it next while its data is still in cache.
//!
//! Normally only the owning worker touches it. But a worker stuck inside one long poll would
//! hold that task hostage, so the slot is an atomic pointer: the owner puts and takes with a
//! swap, and — only while the owner is flagged as stalled — another worker may take it too.
//!
//! # Invariants
//! - The slot holds at most one queue entry (one task reference), owned by the slot.
//! - A swap is the only access, so owner and thief never both get the same entry.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering::AcqRel};

use crate::task::{Header, Notified, RawTask};

pub(crate) struct LifoSlot {
    task: AtomicPtr<Header>,
}

impl LifoSlot {
    pub(crate) fn new() -> LifoSlot {
        LifoSlot {
            task: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Puts `task` in the slot; returns what was there.
    pub(crate) fn replace(&self, task: Notified) -> Option<Notified> {
        let raw = task.into_raw();
        let previous = self.task.swap(raw.header_ptr().as_ptr(), AcqRel);
        // SAFETY: every non-null pointer in the slot is a queue entry's reference, put there
        // by `replace`; the swap hands it to us alone.
        NonNull::new(previous).map(|ptr| unsafe { Notified::from_raw(RawTask::from_header(ptr)) })
    }

    /// Takes the task out, if any.
    pub(crate) fn take(&self) -> Option<Notified> {
        if self
            .task
            .load(std::sync::atomic::Ordering::Relaxed)
            .is_null()
        {
            return None;
        }
        let previous = self.task.swap(ptr::null_mut(), AcqRel);
        // SAFETY: as in `replace`.
        NonNull::new(previous).map(|ptr| unsafe { Notified::from_raw(RawTask::from_header(ptr)) })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.task
            .load(std::sync::atomic::Ordering::Acquire)
            .is_null()
    }
}

impl Drop for LifoSlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}
