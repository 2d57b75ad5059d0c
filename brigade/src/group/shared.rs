//! What a group shares with its children: the list of children whose futures are gone (the
//! ready list), the children's handles (so a cancellation from any thread reaches every one),
//! and the wrapper each child's future runs in, which reports the child's stop.
//!
//! A child reports from a guard dropped with its future — whether it finished, panicked, was
//! cancelled or was swept by runtime shutdown — so the group hears of every child exactly
//! once, with no allocation per child beyond the task itself, and only stopped children are
//! looked at again (the growable counterpart of `future/ready_set.rs`).
//!
//! # Invariants
//! - A slot's index is pushed to the ready list exactly once, by its child's guard; the owner
//!   frees the slot only after taking that index from the list, so a reused slot never gets a
//!   stale report.
//! - The ready list wakes the owner on its first push after each drain; the owner drains
//!   every time it polls, so no report is left unread.
//! - Handles live in the slab under the lock until the owner takes them, so the group's
//!   cancellation callback sees every child that is not known to have stopped; a child
//!   inserted after the group was cancelled is cancelled at insertion (both under the lock).
//! - No user code runs under the lock: wakers are cloned under it and woken after.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use super::GroupId;
use crate::cancel::CancellationTokenSource;
use crate::task::{Task, TaskId};

/// One child as the slab holds it: its spawn sequence number and its handle.
pub(super) type Child<T> = (u64, Task<T>);

pub(super) struct Shared<T> {
    pub(super) id: GroupId,
    /// The task that created the group, if it was created inside one.
    pub(super) parent: Option<TaskId>,
    /// Cancelled by `cancel_all`, the first failure (fail-fast), the group's drop, or the
    /// parent token; its one callback cancels every child.
    pub(super) source: CancellationTokenSource,
    /// Fail-fast: which outputs are failures (a panic always is). `None`: not fail-fast.
    pub(super) failure: Option<fn(&T) -> bool>,
    state: Mutex<State<T>>,
}

pub(super) struct State<T> {
    /// Slot → the child still owned by the shared side.
    pub(super) children: Vec<Option<Child<T>>>,
    /// Slots whose futures are gone, in the order they went.
    pub(super) ready: Vec<u32>,
    /// Who to wake on the first report after a drain.
    pub(super) owner: Option<Waker>,
    /// The spawn sequence number of the first failing child (fail-fast).
    pub(super) first_failure: Option<u64>,
}

impl<T: Send + 'static> Shared<T> {
    pub(super) fn new(
        source: CancellationTokenSource,
        failure: Option<fn(&T) -> bool>,
    ) -> Arc<Shared<T>> {
        let shared = Arc::new(Shared {
            id: GroupId::next(),
            parent: crate::task::running().map(|task| task.id()),
            source,
            failure,
            state: Mutex::new(State {
                children: Vec::new(),
                ready: Vec::new(),
                owner: None,
                first_failure: None,
            }),
        });
        let weak: Weak<Shared<T>> = Arc::downgrade(&shared);
        // Detached: the callback lives as long as the source, which lives inside `shared`; it
        // holds a weak reference so the two do not keep each other alive. On a source that is
        // already cancelled (a cancelled parent) it runs here, with no child to cancel yet.
        shared
            .source
            .token()
            .register(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.cancel_children();
                }
            })
            .detach();
        shared
    }
}

impl<T> Shared<T> {
    pub(super) fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under the lock, so poisoning means an abort is under way.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a freshly spawned child in `slot`; cancels it at once if the group already is.
    pub(super) fn insert(&self, slot: u32, seq: u64, task: Task<T>) {
        let mut state = self.lock();
        if self.source.is_cancellation_requested() {
            request_cancel(&task);
        }
        let slot = slot as usize;
        if slot >= state.children.len() {
            // Usually `slot == len`; more only after a spawn that panicked left a slot unused.
            state.children.resize_with(slot + 1, || None);
        }
        state.children[slot] = Some((seq, task));
    }

    /// The cancellation callback: every child the shared side still holds is asked to stop.
    fn cancel_children(&self) {
        let state = self.lock();
        for (_, task) in state.children.iter().flatten() {
            request_cancel(task);
        }
    }

    /// A child's guard: its future is gone.
    fn child_stopped(&self, slot: u32) {
        let owner = {
            let mut state = self.lock();
            let first = state.ready.is_empty();
            state.ready.push(slot);
            // Only the first report after a drain wakes: the owner drains the whole list.
            first.then(|| state.owner.clone()).flatten()
        };
        if let Some(owner) = owner {
            owner.wake();
        }
    }

    /// Fail-fast: the child `seq` failed. The first failure cancels the group.
    fn child_failed(&self, seq: u64) {
        let first = {
            let mut state = self.lock();
            let first = state.first_failure.is_none();
            if first {
                state.first_failure = Some(seq);
            }
            first
        };
        if first {
            self.source.cancel();
        }
    }
}

/// Asks a child to stop without giving up its handle (`Task::cancel` by reference).
fn request_cancel<T>(task: &Task<T>) {
    let raw = task.raw();
    if raw.state().transition_to_cancel_requested() {
        // The task was idle: it now has a queue entry and must run to be cancelled. The handle
        // keeps our own reference across the call, as `schedule` requires.
        raw.schedule();
    }
}

/// A child's future inside its group: reports the stop when dropped, and (fail-fast) reports
/// a failing output or a panic before the task completes.
pub(super) struct ChildFuture<F: Future> {
    future: F,
    guard: StopGuard<F::Output>,
}

/// Reports the child's stop to its group when dropped, whatever the reason.
struct StopGuard<T> {
    shared: Arc<Shared<T>>,
    slot: u32,
    seq: u64,
}

impl<T> Drop for StopGuard<T> {
    fn drop(&mut self) {
        self.shared.child_stopped(self.slot);
    }
}

impl<F: Future> ChildFuture<F> {
    pub(super) fn new(
        future: F,
        shared: Arc<Shared<F::Output>>,
        slot: u32,
        seq: u64,
    ) -> ChildFuture<F> {
        ChildFuture {
            future,
            guard: StopGuard { shared, slot, seq },
        }
    }
}

impl<F: Future> Future for ChildFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`, and is
        // dropped in place with it. `guard` is not pinned (it is Unpin and only read).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        let Some(is_failure) = this.guard.shared.failure else {
            return future.poll(cx);
        };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                if is_failure(&output) {
                    this.guard.shared.child_failed(this.guard.seq);
                }
                Poll::Ready(output)
            }
            Err(payload) => {
                this.guard.shared.child_failed(this.guard.seq);
                resume_unwind(payload)
            }
        }
    }
}
