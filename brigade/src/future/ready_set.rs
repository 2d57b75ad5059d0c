//! Which children of a combinator were woken: lets `when_all` / `when_any` re-poll only those,
//! so awaiting N futures costs O(N) polls in total instead of O(N) per wake-up.
//!
//! Each child gets its own waker that records its index and wakes the parent.
//!
//! # Invariants
//! - An index is in the ready list at most once (`queued` flags dedupe repeated wakes).
//! - A wake that arrives while the parent polls is never lost: the index stays listed and the
//!   parent's waker is woken again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

pub(crate) struct ReadySet {
    shared: Arc<Shared>,
    child_wakers: Box<[Waker]>,
    /// A spare buffer swapped with the shared list, so draining does not allocate.
    spare: Vec<usize>,
}

struct Shared {
    state: Mutex<ReadyState>,
    queued: Box<[AtomicBool]>,
}

struct ReadyState {
    ready: Vec<usize>,
    parent: Option<Waker>,
}

struct ChildWaker {
    index: usize,
    shared: Arc<Shared>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // AcqRel: the flag orders this wake after the parent's reset of it.
        if self.shared.queued[self.index].swap(true, Ordering::AcqRel) {
            return;
        }
        let parent = {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            state.ready.push(self.index);
            state.parent.clone()
        };
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

impl ReadySet {
    /// A set of `len` children, all initially ready (each must be polled once).
    pub(crate) fn new(len: usize) -> ReadySet {
        let shared = Arc::new(Shared {
            state: Mutex::new(ReadyState {
                ready: (0..len).collect(),
                parent: None,
            }),
            queued: (0..len).map(|_| AtomicBool::new(true)).collect(),
        });
        let child_wakers = (0..len)
            .map(|index| {
                Waker::from(Arc::new(ChildWaker {
                    index,
                    shared: shared.clone(),
                }))
            })
            .collect();
        ReadySet {
            shared,
            child_wakers,
            spare: Vec::with_capacity(len),
        }
    }

    /// Records the parent's waker and returns the children woken since the last call.
    /// Each returned child's flag is reset before it is polled, so a wake during its poll
    /// lists it again.
    pub(crate) fn take_ready(&mut self, cx: &Context<'_>) -> Vec<usize> {
        let mut taken = std::mem::take(&mut self.spare);
        {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            match &state.parent {
                Some(parent) if parent.will_wake(cx.waker()) => {}
                _ => state.parent = Some(cx.waker().clone()),
            }
            std::mem::swap(&mut taken, &mut state.ready);
        }
        for &index in &taken {
            self.shared.queued[index].store(false, Ordering::Release);
        }
        taken
    }

    /// Gives back the buffer returned by `take_ready`, to reuse its allocation.
    pub(crate) fn recycle(&mut self, mut buffer: Vec<usize>) {
        buffer.clear();
        self.spare = buffer;
    }

    pub(crate) fn waker(&self, index: usize) -> &Waker {
        &self.child_wakers[index]
    }
}
