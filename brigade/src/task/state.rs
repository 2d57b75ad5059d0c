//! The task state word: lifecycle bits and the reference count, packed into one atomic.
//!
//! This is the `<>1__state` field of the seed's state machine (section 6) grown up for a
//! multi-threaded pool: besides "running / suspended / completed" it records whether the task
//! has been woken, whether someone still waits on its result, and how many references to its
//! cell exist. One word means every transition is a single atomic read-modify-write, so there is
//! never a moment where two threads see the task half-updated.
//!
//! # Invariants
//! - At most one thread owns the future at a time: the one that set [`RUNNING`].
//! - [`COMPLETE`] is set once and never cleared; after it the future is gone and the output (if
//!   any) belongs to the join handle.
//! - [`NOTIFIED`] is set while the task sits in a run queue or is due to be re-queued by the thread
//!   that is running it. A task is never in two queues at once.
//! - Each reference (waker, queue entry, join handle, owned-list entry) counts [`REF_ONE`]; the
//!   cell is freed when the count reaches zero, never before.
//! - Whoever hands a task to its scheduler keeps a reference of its own until that call
//!   returns: the scheduler lives in the cell, and a queued task can be run to completion and
//!   freed by another worker at once. So a queue entry is always a *new* reference, never the
//!   caller's own passed along.

use std::fmt;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};

/// The future is being polled (or dropped) by the thread that set this bit; nobody else may
/// touch it. Can't be set together with [`COMPLETE`].
pub(crate) const RUNNING: usize = 1 << 0;

/// The future has finished (output stored) or was dropped by cancellation. Never cleared. Can't
/// be set together with [`RUNNING`].
pub(crate) const COMPLETE: usize = 1 << 1;

/// The task has been woken: it is in a run queue, or the thread running it will put it back in
/// one when the current poll ends. Never set once [`COMPLETE`] is.
pub(crate) const NOTIFIED: usize = 1 << 2;

/// A [`Task`](crate::Task) handle exists and may read the output. Cleared when the handle is
/// dropped (detach).
pub(crate) const JOIN_INTEREST: usize = 1 << 3;

/// The join waker slot holds a waker and belongs to the task side (which will wake it on
/// completion). While this is unset, the join handle owns the slot.
pub(crate) const JOIN_WAKER: usize = 1 << 4;

/// Cancellation was requested; the next thread to own the future drops it instead of polling.
pub(crate) const CANCELLED: usize = 1 << 5;

/// All the lifecycle bits; the rest of the word is the reference count.
const LIFECYCLE_MASK: usize = REF_ONE - 1;

/// One reference to the task cell.
pub(crate) const REF_ONE: usize = 1 << 6;

/// A new task: queued once (one `Notified` reference), registered in its scheduler's owned list
/// (one reference) and watched by its join handle (one reference).
const INITIAL_STATE: usize = NOTIFIED | JOIN_INTEREST | (REF_ONE * 3);

/// The packed state of a task, with one method per allowed transition.
pub(crate) struct State {
    word: AtomicUsize,
}

/// A copy of the state word taken at one instant, with readable predicates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

/// What the thread that dequeued a task should do with it.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToRunning {
    /// The caller owns the future now and should poll it.
    Poll,
    /// The caller owns the future now and should drop it: cancellation was requested.
    Cancel,
    /// Someone else owns the task or it is complete; the queue's reference was released.
    Skip,
    /// Like `Skip`, and that was the last reference: free the cell.
    Dealloc,
}

/// What the thread that just got `Pending` from the future should do next.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToIdle {
    /// Parked until a waker fires; the runner's reference was released.
    Idle,
    /// Woken during the poll: a new reference was counted for the queue entry; re-queue it,
    /// then drop the runner's reference (it keeps the cell alive while the scheduler runs).
    Requeue,
    /// Idle and that was the last reference: free the cell.
    Dealloc,
    /// Cancellation arrived during the poll: the caller still owns the future and must drop it.
    Cancel,
}

/// What a waker should do after marking the task notified.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToNotified {
    /// Nothing: the task is already queued, running, or complete.
    DoNothing,
    /// The task was idle: submit the new queue entry (already counted) to the scheduler.
    Submit,
    /// Nothing to schedule, and the waker held the last reference: free the cell.
    Dealloc,
}

impl State {
    /// The state of a freshly spawned task (see `INITIAL_STATE`).
    pub(crate) fn new() -> State {
        State {
            word: AtomicUsize::new(INITIAL_STATE),
        }
    }

    /// Reads the word. `Acquire` pairs with the `Release` half of every transition, so the
    /// caller also sees what the transitioning thread wrote before it (e.g. the output).
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Acquire))
    }

    /// Applies `f` in a compare-exchange loop. `f` returns `None` to leave the word unchanged.
    /// `AcqRel` on success: a transition both publishes this thread's writes to the cell and
    /// observes the previous owner's.
    fn fetch_update<R>(&self, mut f: impl FnMut(Snapshot) -> (R, Option<Snapshot>)) -> R {
        let mut current = self.word.load(Acquire);
        loop {
            let (result, next) = f(Snapshot(current));
            let Some(next) = next else { return result };
            match self
                .word
                .compare_exchange_weak(current, next.0, AcqRel, Acquire)
            {
                Ok(_) => return result,
                Err(actual) => current = actual,
            }
        }
    }

    /// A dequeued task is about to be polled: take ownership of the future.
    ///
    /// The caller holds the queue entry's reference; on success it becomes the runner's
    /// reference, otherwise it is released here.
    pub(crate) fn transition_to_running(&self) -> TransitionToRunning {
        self.fetch_update(|mut s| {
            debug_assert!(s.is_notified(), "a queued task must be NOTIFIED: {s:?}");
            if s.is_running() || s.is_complete() {
                // Another owner got there first (runtime shutdown claims idle tasks that may
                // still sit in a queue). Drop the queue entry's reference.
                s.ref_dec();
                let action = if s.ref_count() == 0 {
                    TransitionToRunning::Dealloc
                } else {
                    TransitionToRunning::Skip
                };
                return (action, Some(s));
            }
            s.unset(NOTIFIED);
            s.set(RUNNING);
            let action = if s.is_cancelled() {
                TransitionToRunning::Cancel
            } else {
                TransitionToRunning::Poll
            };
            (action, Some(s))
        })
    }

    /// The future returned `Pending`: give up ownership unless a cancel arrived meanwhile.
    pub(crate) fn transition_to_idle(&self) -> TransitionToIdle {
        self.fetch_update(|mut s| {
            debug_assert!(s.is_running(), "only the runner can go idle: {s:?}");
            if s.is_cancelled() {
                return (TransitionToIdle::Cancel, None);
            }
            s.unset(RUNNING);
            if s.is_notified() {
                // Woken while running: the waker did not enqueue (the task was RUNNING), so the
                // runner enqueues it, with a reference of the entry's own. The runner keeps its
                // reference until the scheduler call returns: once queued, another worker may
                // run the task to completion and free it while this thread is still inside the
                // scheduler, reading the scheduler out of the cell.
                s.ref_inc();
                return (TransitionToIdle::Requeue, Some(s));
            }
            s.ref_dec();
            let action = if s.ref_count() == 0 {
                TransitionToIdle::Dealloc
            } else {
                TransitionToIdle::Idle
            };
            (action, Some(s))
        })
    }

    /// The output (or the cancellation / panic) is stored: the task is complete. Returns the
    /// snapshot from just before, so the caller knows whether anyone waits for the output.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        // Flipping RUNNING off and COMPLETE on in one `fetch_xor`. AcqRel: the stored output
        // must be visible to whoever sees COMPLETE.
        let prev = Snapshot(self.word.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete(), "{prev:?}");
        prev
    }

    /// A waker that owns a reference fires (`Waker::wake`).
    pub(crate) fn transition_to_notified_by_val(&self) -> TransitionToNotified {
        self.fetch_update(|mut s| {
            if s.is_running() {
                // The runner will re-queue it; the waker's reference goes away. It cannot be the
                // last one: the runner holds one too.
                s.set(NOTIFIED);
                s.ref_dec();
                debug_assert!(s.ref_count() > 0);
                (TransitionToNotified::DoNothing, Some(s))
            } else if s.is_complete() || s.is_notified() {
                s.ref_dec();
                let action = if s.ref_count() == 0 {
                    TransitionToNotified::Dealloc
                } else {
                    TransitionToNotified::DoNothing
                };
                (action, Some(s))
            } else {
                // Idle: count a reference for the queue entry. The waker keeps its own until the
                // scheduler call returns (see `transition_to_idle` for why), then drops it.
                s.set(NOTIFIED);
                s.ref_inc();
                (TransitionToNotified::Submit, Some(s))
            }
        })
    }

    /// A waker fires by reference (`Waker::wake_by_ref`): a new reference is needed for the
    /// queue entry if the task must be submitted.
    pub(crate) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.fetch_update(|mut s| {
            if s.is_complete() || s.is_notified() {
                (TransitionToNotified::DoNothing, None)
            } else if s.is_running() {
                s.set(NOTIFIED);
                (TransitionToNotified::DoNothing, Some(s))
            } else {
                s.set(NOTIFIED);
                s.ref_inc();
                (TransitionToNotified::Submit, Some(s))
            }
        })
    }

    /// The join handle asks for cancellation. Returns `true` when the task was idle and a new
    /// queue entry was created: the caller must submit it so the task's own scheduler drops the
    /// future (on the right thread, never in the middle of a poll).
    pub(crate) fn transition_to_cancel_requested(&self) -> bool {
        self.fetch_update(|mut s| {
            if s.is_complete() || s.is_cancelled() {
                return (false, None);
            }
            s.set(CANCELLED);
            if s.is_running() || s.is_notified() {
                // The runner or the dequeuing thread will see CANCELLED.
                return (false, Some(s));
            }
            s.set(NOTIFIED);
            s.ref_inc();
            (true, Some(s))
        })
    }

    /// Runtime shutdown claims the task. Returns `true` when the caller now owns the future and
    /// must drop it; `false` when it is complete or another thread is running it (that thread
    /// will see CANCELLED when its poll ends).
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update(|mut s| {
            if s.is_complete() {
                return (false, None);
            }
            let idle = !s.is_running();
            s.set(CANCELLED);
            if idle {
                s.set(RUNNING);
            }
            (idle, Some(s))
        })
    }

    /// The join handle is dropped. Returns (before, after). When `after` lacks JOIN_WAKER the
    /// handle owns the waker slot and must clear it; when `before` has COMPLETE the handle owns
    /// the output and must drop it.
    pub(crate) fn transition_to_join_handle_dropped(&self) -> (Snapshot, Snapshot) {
        self.fetch_update(|s| {
            debug_assert!(s.is_join_interested());
            let mut next = s;
            next.unset(JOIN_INTEREST);
            if !s.is_complete() {
                // The task has not looked at the waker yet; take the slot back.
                next.unset(JOIN_WAKER);
            }
            ((s, next), Some(next))
        })
    }

    /// The join handle has written its waker into the slot and hands the slot to the task side.
    /// Fails (returning the snapshot) if the task completed meanwhile.
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|mut s| {
            debug_assert!(s.is_join_interested() && !s.is_join_waker_set());
            if s.is_complete() {
                return (Err(s), None);
            }
            s.set(JOIN_WAKER);
            (Ok(s), Some(s))
        })
    }

    /// The join handle takes the slot back to replace its waker. Fails if the task completed.
    pub(crate) fn unset_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|mut s| {
            debug_assert!(s.is_join_interested() && s.is_join_waker_set());
            if s.is_complete() {
                return (Err(s), None);
            }
            s.unset(JOIN_WAKER);
            (Ok(s), Some(s))
        })
    }

    /// After waking the join waker, the completing thread hands the slot back. Returns the
    /// snapshot after; if JOIN_INTEREST is gone the completing thread must drop the waker.
    pub(crate) fn unset_join_waker_after_complete(&self) -> Snapshot {
        let prev = Snapshot(self.word.fetch_and(!JOIN_WAKER, AcqRel));
        debug_assert!(prev.is_complete() && prev.is_join_waker_set());
        Snapshot(prev.0 & !JOIN_WAKER)
    }

    /// Adds a reference. `Relaxed` is enough: whoever clones already holds a reference, so the
    /// cell cannot be freed concurrently, and no data is published by counting (as with `Arc`).
    pub(crate) fn ref_inc(&self) {
        let prev = self.word.fetch_add(REF_ONE, Relaxed);
        if prev > isize::MAX as usize {
            // Same policy as `Arc`: an overflowing count means leaked wakers; stop before
            // the count wraps and frees a live task.
            std::process::abort();
        }
    }

    /// Drops `count` references; returns `true` when those were the last ones and the caller
    /// must free the cell. `AcqRel`: the freeing thread must see every other thread's use of
    /// the cell (Acquire), and our own uses must happen before the free (Release).
    pub(crate) fn ref_dec_by(&self, count: usize) -> bool {
        let prev = Snapshot(self.word.fetch_sub(count * REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= count, "refcount underflow: {prev:?}");
        prev.ref_count() == count
    }

    /// Drops one reference; see [`State::ref_dec_by`].
    pub(crate) fn ref_dec(&self) -> bool {
        self.ref_dec_by(1)
    }
}

impl Snapshot {
    fn set(&mut self, bits: usize) {
        self.0 |= bits;
    }
    fn unset(&mut self, bits: usize) {
        self.0 &= !bits;
    }
    fn ref_inc(&mut self) {
        self.0 += REF_ONE;
    }
    fn ref_dec(&mut self) {
        debug_assert!(self.ref_count() > 0);
        self.0 -= REF_ONE;
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 / REF_ONE
    }
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.0 & LIFECYCLE_MASK;
        let mut names = Vec::new();
        for (bit, name) in [
            (RUNNING, "RUNNING"),
            (COMPLETE, "COMPLETE"),
            (NOTIFIED, "NOTIFIED"),
            (JOIN_INTEREST, "JOIN_INTEREST"),
            (JOIN_WAKER, "JOIN_WAKER"),
            (CANCELLED, "CANCELLED"),
        ] {
            if bits & bit != 0 {
                names.push(name);
            }
        }
        write!(f, "Snapshot({} refs={})", names.join("|"), self.ref_count())
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_new_task_runs_then_goes_idle_and_releases_the_runner_reference() {
        let state = State::new();
        assert_eq!(state.transition_to_running(), TransitionToRunning::Poll);
        assert_eq!(state.transition_to_idle(), TransitionToIdle::Idle);
        let s = state.load();
        assert!(!s.is_running() && !s.is_notified());
        assert_eq!(s.ref_count(), 2, "owned list + join handle remain");
    }

    #[test]
    fn a_wake_during_the_poll_requeues_instead_of_submitting() {
        let state = State::new();
        let _ = state.transition_to_running();
        assert_eq!(
            state.transition_to_notified_by_ref(),
            TransitionToNotified::DoNothing
        );
        assert_eq!(state.transition_to_idle(), TransitionToIdle::Requeue);
        assert_eq!(
            state.load().ref_count(),
            4,
            "a new entry; the runner still holds its own"
        );
        assert!(!state.ref_dec(), "the runner lets go after queueing");
    }

    #[test]
    fn waking_an_idle_task_submits_once() {
        let state = State::new();
        let _ = state.transition_to_running();
        let _ = state.transition_to_idle();
        assert_eq!(
            state.transition_to_notified_by_ref(),
            TransitionToNotified::Submit
        );
        assert_eq!(
            state.transition_to_notified_by_ref(),
            TransitionToNotified::DoNothing
        );
        assert_eq!(state.load().ref_count(), 3);
    }

    #[test]
    fn cancel_of_an_idle_task_creates_a_queue_entry_and_running_it_cancels() {
        let state = State::new();
        let _ = state.transition_to_running();
        let _ = state.transition_to_idle();
        assert!(state.transition_to_cancel_requested());
        assert!(
            !state.transition_to_cancel_requested(),
            "second cancel does nothing"
        );
        assert_eq!(state.transition_to_running(), TransitionToRunning::Cancel);
    }

    #[test]
    fn cancel_during_a_poll_is_seen_when_the_poll_ends() {
        let state = State::new();
        let _ = state.transition_to_running();
        assert!(!state.transition_to_cancel_requested());
        assert_eq!(state.transition_to_idle(), TransitionToIdle::Cancel);
        assert!(
            state.load().is_running(),
            "the runner still owns the future"
        );
    }

    #[test]
    fn completion_reports_join_interest_and_dropping_the_handle_takes_the_waker_back() {
        let state = State::new();
        let _ = state.transition_to_running();
        assert!(state.set_join_waker().is_ok());
        let (_, after) = state.transition_to_join_handle_dropped();
        assert!(!after.is_join_waker_set());
        let before = state.transition_to_complete();
        assert!(!before.is_join_interested());
        assert!(state.load().is_complete());
    }

    #[test]
    fn the_last_reference_reports_dealloc() {
        let state = State::new();
        assert!(!state.ref_dec());
        assert!(!state.ref_dec());
        assert!(state.ref_dec());
    }
}
