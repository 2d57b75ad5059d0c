//! Which children of a combinator were woken: lets `when_all` / `when_any` re-poll only those,
//! so awaiting N futures costs O(N) polls in total instead of O(N) per wake-up.
//!
//! Each child gets its own waker that records its index and wakes the parent. All the child
//! wakers point into one shared allocation (a slot per child), so a set of N children costs a
//! constant number of allocations, not N.
//!
//! # Invariants
//! - An index is in the ready list at most once (each slot's `queued` flag dedupes wakes).
//! - A wake that arrives while the parent polls is never lost: the index stays listed and the
//!   parent's waker is woken again.
//! - A child waker holds one strong count of the shared allocation; a borrowed one (lent
//!   during a poll) holds none and lives no longer than the `ReadySet` that lends it.

use std::mem::ManuallyDrop;
use std::ops::Deref;
// The flags and the list come from the loom facade so the wake protocol can be model-checked;
// the allocation itself is a std `Arc` (loom's lacks `new_cyclic` and raw strong counts).
use std::sync::Arc;

use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

pub(crate) struct ReadySet {
    shared: Arc<Shared>,
    /// A spare buffer swapped with the shared list, so draining does not allocate.
    spare: Vec<usize>,
}

struct Shared {
    state: Mutex<ReadyState>,
    children: Box<[ChildSlot]>,
}

struct ReadyState {
    ready: Vec<usize>,
    parent: Option<Waker>,
}

/// What a child's waker points at.
struct ChildSlot {
    index: usize,
    queued: AtomicBool,
    /// The allocation this slot lives in (set once, right after it is created).
    shared: *const Shared,
}

// SAFETY: `shared` points at the `Shared` that owns this slot, which is Sync; the pointer is
// only dereferenced while a strong count (or the lending ReadySet) keeps it alive.
unsafe impl Send for ChildSlot {}
// SAFETY: as above.
unsafe impl Sync for ChildSlot {}

static CHILD_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_child, wake_child, wake_child_by_ref, drop_child);

/// # Safety
/// `data` must be a `ChildSlot` inside a live `Shared`.
unsafe fn slot<'a>(data: *const ()) -> &'a ChildSlot {
    // SAFETY: every child waker's data pointer is a slot (see `ReadySet::waker`).
    unsafe { &*(data as *const ChildSlot) }
}

unsafe fn clone_child(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned keeps `Shared` alive; the clone takes its own count.
    unsafe { Arc::increment_strong_count(slot(data).shared) };
    RawWaker::new(data, &CHILD_VTABLE)
}

unsafe fn wake_child(data: *const ()) {
    // SAFETY: this waker owns a count, released right after.
    unsafe {
        wake_child_by_ref(data);
        drop_child(data);
    }
}

unsafe fn wake_child_by_ref(data: *const ()) {
    // SAFETY: the waker keeps `Shared` alive for the duration of the call.
    let child = unsafe { slot(data) };
    // AcqRel, pairing with the parent's swap in `take_ready`: one of the two sees the other.
    if child.queued.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: as above.
    let shared = unsafe { &*child.shared };
    let parent = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ready.push(child.index);
        state.parent.clone()
    };
    if let Some(parent) = parent {
        parent.wake();
    }
}

unsafe fn drop_child(data: *const ()) {
    // SAFETY: this waker owned one strong count.
    unsafe { Arc::decrement_strong_count(slot(data).shared) };
}

/// A child waker lent for one poll: not counted, never dropped.
pub(crate) struct BorrowedWaker<'a> {
    waker: ManuallyDrop<Waker>,
    _set: std::marker::PhantomData<&'a ReadySet>,
}

impl Deref for BorrowedWaker<'_> {
    type Target = Waker;
    fn deref(&self) -> &Waker {
        &self.waker
    }
}

impl ReadySet {
    /// A set of `len` children, all initially ready (each must be polled once).
    pub(crate) fn new(len: usize) -> ReadySet {
        let shared = Arc::new_cyclic(|weak| Shared {
            state: Mutex::new(ReadyState {
                ready: (0..len).collect(),
                parent: None,
            }),
            children: (0..len)
                .map(|index| ChildSlot {
                    index,
                    queued: AtomicBool::new(true),
                    shared: weak.as_ptr(),
                })
                .collect(),
        });
        ReadySet {
            shared,
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
            // A swap, not a store: the child's waker also swaps this flag, so the two are
            // totally ordered. Either its swap comes first — and this AcqRel swap acquires
            // everything the waking side did, so the coming poll sees it — or ours does, and
            // the waker sees `false` and lists the child again. With a plain store, a wake
            // during the poll could read the stale `true`, be taken for a duplicate, and be
            // lost while the poll missed its cause (a reviewer's stress test lost 804 in 3M).
            self.shared.children[index]
                .queued
                .swap(false, Ordering::AcqRel);
        }
        taken
    }

    /// Gives back the buffer returned by `take_ready`, to reuse its allocation.
    pub(crate) fn recycle(&mut self, mut buffer: Vec<usize>) {
        buffer.clear();
        self.spare = buffer;
    }

    /// The waker for child `index`, lent for one poll of that child.
    pub(crate) fn waker(&self, index: usize) -> BorrowedWaker<'_> {
        let data = &self.shared.children[index] as *const ChildSlot as *const ();
        // SAFETY: the vtable upholds the RawWaker contract for slot pointers; this waker holds
        // no count and is never dropped (ManuallyDrop), and `self` keeps `Shared` alive for
        // as long as it is borrowed. Clones take their own count.
        let waker = unsafe { Waker::from_raw(RawWaker::new(data, &CHILD_VTABLE)) };
        BorrowedWaker {
            waker: ManuallyDrop::new(waker),
            _set: std::marker::PhantomData,
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use std::task::{Context, Wake, Waker};

    use super::ReadySet;
    use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

    struct ParentFlag(AtomicBool);

    impl Wake for ParentFlag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, SeqCst);
        }
    }

    /// A child is woken from another thread while the parent is polling it: either the poll
    /// sees the cause of the wake, or the parent is woken with the child listed again.
    #[test]
    fn a_wake_racing_the_childs_poll_is_never_lost() {
        loom::model(|| {
            let mut set = ReadySet::new(1);
            let parent = std::sync::Arc::new(ParentFlag(AtomicBool::new(false)));
            let parent_waker = Waker::from(parent.clone());
            let cx = Context::from_waker(&parent_waker);
            let first = set.take_ready(&cx);
            assert_eq!(first, vec![0]);
            set.recycle(first);
            // The child has been woken once more and is listed.
            let child_waker: Waker = (*set.waker(0)).clone();
            child_waker.wake_by_ref();
            parent.0.store(false, SeqCst);

            let source = std::sync::Arc::new(AtomicUsize::new(0));
            let waking = {
                let (source, waker) = (source.clone(), child_waker.clone());
                loom::thread::spawn(move || {
                    source.store(1, SeqCst);
                    waker.wake_by_ref();
                })
            };
            // The parent's poll: take the list, then "poll" the child, which only loads.
            let listed = set.take_ready(&cx);
            assert_eq!(listed, vec![0]);
            let seen = source.load(SeqCst);
            waking.join().unwrap();
            let relisted = set.take_ready(&cx);
            if seen == 0 {
                assert!(parent.0.load(SeqCst), "the parent was never woken");
                assert_eq!(relisted, vec![0], "the child was not listed again");
            }
        });
    }
}
