//! The per-worker run queue of the work-stealing thread pool.
//!
//! Seed section 2 gave the thread pool a single "local queue" per worker. Here that queue grows
//! into the work-stealing kind: every kitchen station keeps its own order rail, the station's
//! cook clips new orders on at the back and takes them off the front, and a cook who runs out of
//! work walks over to a busy station and takes *half* of its orders in one go. When a rail is
//! full, the cook moves half of it to the pass (the scheduler's global injection queue, seen here
//! through the [`Overflow`] trait) so nothing waits behind a full rail.
//!
//! # Shape
//!
//! A fixed ring of [`LOCAL_QUEUE_CAPACITY`] slots shared between one [`Local`] (the owner) and
//! any number of [`Stealer`]s:
//!
//! * `tail` (`AtomicU32`) is the next index the owner writes. Only the owner stores it.
//! * `head` (`AtomicU64`) packs two `u32` indices, `(steal_head, real_head)`. `real_head` is the
//!   next item to hand out; `steal_head` trails it while a stealer is still copying the items it
//!   claimed. Slots in `[steal_head, tail)` are "owned by the queue"; the owner may only write
//!   slots outside that range.
//!
//! Indices grow forever with wrapping arithmetic; an index maps to slot `index & MASK`.
//!
//! # Invariants
//!
//! * Single producer/consumer: only the thread holding the `Local` (`&mut self`) pushes, pops,
//!   writes slots or stores `tail`.
//! * Many stealers, but at most one steal in flight: a stealer only claims items while
//!   `steal_head == real_head`, and sets `steal_head = real_head` only after it finished copying.
//! * `steal_head <= real_head <= tail` and `tail - steal_head <= CAPACITY` (modulo 2^32).
//! * Every item pushed is handed out exactly once: by `pop`, by a steal, or to the overflow. An
//!   index range is claimed by a successful CAS on `head` before any of its slots is read, so no
//!   item is ever read twice (duplicated) and none is skipped (lost).
//! * The capacity is a power of two, so `index & MASK` stays correct across `u32` wrap-around.

use std::fmt;
use std::iter;
use std::mem::MaybeUninit;
use std::ptr;

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::loom::sync::Arc;

/// Capacity of a local queue (a power of two).
///
/// 256 normally; 4 under `cfg(loom)` so models stay small and overflow is exercised.
#[cfg(not(loom))]
pub(crate) const LOCAL_QUEUE_CAPACITY: usize = 256;

/// Capacity of a local queue (a power of two).
///
/// 256 normally; 4 under `cfg(loom)` so models stay small and overflow is exercised.
#[cfg(loom)]
pub(crate) const LOCAL_QUEUE_CAPACITY: usize = 4;

// `index & MASK` is only a modulo for powers of two, the ring must hold at least one item per
// half, and the indices are `u32`s.
const _: () = assert!(
    LOCAL_QUEUE_CAPACITY.is_power_of_two()
        && LOCAL_QUEUE_CAPACITY >= 2
        && LOCAL_QUEUE_CAPACITY <= 1 << 31
);

/// `LOCAL_QUEUE_CAPACITY` as the index type.
const CAPACITY: u32 = LOCAL_QUEUE_CAPACITY as u32;

/// Maps an ever-growing index to its slot.
const MASK: u32 = CAPACITY - 1;

/// How many items one steal (or one overflow) moves at most.
const HALF: u32 = CAPACITY / 2;

/// Where a full local queue sends half its items.
///
/// The scheduler's global injection queue implements it.
pub(crate) trait Overflow<T> {
    /// Takes every item of `batch`.
    ///
    /// Items the implementation does not pull out of `batch` are dropped with it, never leaked.
    fn push_batch(&self, batch: impl Iterator<Item = T>);
}

/// Creates a local queue: the owner handle and a stealer handle (clone it for every thief).
pub(crate) fn local<T>() -> (Local<T>, Stealer<T>) {
    local_at(0)
}

/// Like [`local`], with every index starting at `start`, so tests can cross `u32` wrap-around.
fn local_at<T>(start: u32) -> (Local<T>, Stealer<T>) {
    let buffer = (0..LOCAL_QUEUE_CAPACITY)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect::<Vec<_>>()
        .into_boxed_slice();
    let inner = Arc::new(Inner {
        head: AtomicU64::new(pack(start, start)),
        tail: AtomicU32::new(start),
        buffer,
    });
    let local = Local {
        inner: inner.clone(),
    };
    (local, Stealer(inner))
}

/// Owner side of a local queue: pushes at the tail and pops from the head (FIFO).
///
/// `Send`, so it can move into its worker thread, but not `Clone`: exactly one thread may push
/// and pop, which is what lets `push_back` write slots without claiming them first.
pub(crate) struct Local<T> {
    inner: Arc<Inner<T>>,
}

/// Thief side of a local queue: takes half of the queued items at once.
///
/// `Clone + Send + Sync`; any number of threads may steal concurrently.
pub(crate) struct Stealer<T>(Arc<Inner<T>>);

/// The state shared by the owner and the stealers.
struct Inner<T> {
    /// `(steal_head, real_head)` packed by [`pack`]; see the module docs.
    head: AtomicU64,
    /// Next index the owner writes. Stored only by the owner.
    tail: AtomicU32,
    /// The ring. A slot holds an initialized item iff its index is in `[steal_head, tail)` and
    /// nobody has claimed-and-read it yet.
    buffer: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: `Inner` hands each `T` to exactly one thread (the claim protocol above), so sharing or
// sending it only ever moves `T`s between threads: `T: Send` is all that is needed. The
// `UnsafeCell` slots are synchronized by `head` and `tail` as argued at each access.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above; no `&T` is ever handed out, so `T: Sync` is not required.
unsafe impl<T: Send> Sync for Inner<T> {}

/// Packs `(steal_head, real_head)` into one word so both move in a single CAS.
fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

/// Splits a `head` word into `(steal_head, real_head)`.
fn unpack(head: u64) -> (u32, u32) {
    // Truncating casts are the point: each half is one index.
    ((head >> 32) as u32, head as u32)
}

impl<T> Inner<T> {
    /// Moves the item out of the slot of `index`.
    ///
    /// # Safety
    ///
    /// The caller has claimed `index` (so nobody else reads it), the slot holds an initialized
    /// item whose write happens-before this call, and nobody writes the slot concurrently.
    unsafe fn read(&self, index: u32) -> T {
        self.buffer[(index & MASK) as usize].with(|slot| {
            // SAFETY: the caller guarantees exclusive, synchronized access to an initialized
            // slot; after the read the slot is logically uninitialized again, so the item is
            // moved, not duplicated.
            unsafe { ptr::read(slot).assume_init() }
        })
    }

    /// Moves `task` into the slot of `index`, overwriting (not dropping) what is there.
    ///
    /// # Safety
    ///
    /// The caller is the owner, the slot is outside `[steal_head, tail)` (so it holds no live
    /// item and any stealer's last read of it happens-before this call), and the index is not
    /// yet published through `tail`.
    unsafe fn write(&self, index: u32, task: T) {
        self.buffer[(index & MASK) as usize].with_mut(|slot| {
            // SAFETY: per the caller, nobody else touches this slot now and it holds no live
            // item, so overwriting it neither races nor leaks.
            unsafe { ptr::write(slot, MaybeUninit::new(task)) }
        })
    }

    /// Number of items not yet claimed by anyone (`tail - real_head`).
    fn len(&self) -> usize {
        // Acquire on both loads, head first: whoever set this `real_head` had seen a `tail` at
        // least that large, and the acquire chain makes us see it too, so the difference never
        // goes "negative" (huge after wrapping).
        let (_, real) = unpack(self.head.load(Ordering::Acquire));
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(real) as usize
    }
}

impl<T> Local<T> {
    /// Pushes `task` at the back of the queue.
    ///
    /// If the queue is full, half of it plus `task` go to `overflow` in one `push_batch` call
    /// (or just `task`, when a steal in flight holds the slots and will free them shortly).
    pub(crate) fn push_back(&mut self, mut task: T, overflow: &impl Overflow<T>) {
        loop {
            // Acquire pairs with the Release of a stealer's final CAS (`steal_head = real_head`):
            // if we see slots freed, the stealer's reads of them happen-before our writes.
            let head = self.inner.head.load(Ordering::Acquire);
            let (steal, real) = unpack(head);
            // Relaxed: only this thread stores `tail`, so we read our own latest value.
            let tail = self.inner.tail.load(Ordering::Relaxed);

            if tail.wrapping_sub(steal) < CAPACITY {
                // SAFETY: we are the owner; `tail - steal_head < CAPACITY` puts the slot of
                // `tail` outside `[steal_head, tail)`, and the Acquire load above ordered any
                // stealer's earlier read of it before this write. `tail` is not published yet.
                unsafe { self.inner.write(tail, task) };
                // Release publishes the slot write to stealers that Acquire-load `tail`.
                self.inner
                    .tail
                    .store(tail.wrapping_add(1), Ordering::Release);
                return;
            }

            if steal != real {
                // Full, and a stealer is copying items out. Its slots free up soon, but we do
                // not wait for another thread: send just this task to the global queue.
                overflow.push_batch(iter::once(task));
                return;
            }

            // Full and no steal in flight: move half of the queue out with the task.
            match self.push_overflow(task, real, tail, overflow) {
                Ok(()) => return,
                // A stealer claimed items meanwhile; re-read `head` and decide again.
                Err(returned) => task = returned,
            }
        }
    }

    /// Claims the oldest `HALF` items and sends them, then `task`, to `overflow` in one batch.
    ///
    /// Fails (giving `task` back) if `head` moved since the caller read it as `(real, real)`.
    fn push_overflow(
        &mut self,
        task: T,
        real: u32,
        tail: u32,
        overflow: &impl Overflow<T>,
    ) -> Result<(), T> {
        debug_assert_eq!(tail.wrapping_sub(real), CAPACITY, "only called when full");
        let end = real.wrapping_add(HALF);
        // Moving both halves of `head` claims `[real, end)` for us and keeps "no steal in
        // flight" true for stealers, who will only ever claim from `end` on.
        // AcqRel/Acquire: the slots we read are our own writes (program order), so this CAS
        // needs no synchronization for them; the orderings match every other `head` RMW so the
        // word stays a single acquire/release chain (what `Inner::len` relies on).
        if let Err(_moved) = self.inner.head.compare_exchange(
            pack(real, real),
            pack(end, end),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            return Err(task);
        }

        let claimed = Claimed {
            inner: &self.inner,
            next: real,
            end,
        };
        overflow.push_batch(claimed.chain(iter::once(task)));
        Ok(())
    }

    /// Pushes every item of `tasks` at the back of the queue, publishing them at once.
    ///
    /// # Panics
    ///
    /// If `tasks.len() > self.remaining_slots()` (the caller must check), or if the iterator
    /// yields more items than free slots.
    pub(crate) fn push_back_batch(&mut self, tasks: impl ExactSizeIterator<Item = T>) {
        let free = self.remaining_slots();
        assert!(
            tasks.len() <= free,
            "push_back_batch: {} tasks but only {free} free slots",
            tasks.len(),
        );
        let free = free as u32;
        // Relaxed: only this thread stores `tail`.
        let tail = self.inner.tail.load(Ordering::Relaxed);

        let mut written = 0u32;
        for task in tasks {
            if written == free {
                // A lying `ExactSizeIterator`: publish what we wrote (nothing leaks), then fail.
                self.inner
                    .tail
                    .store(tail.wrapping_add(written), Ordering::Release);
                panic!("push_back_batch: iterator yielded more than its len()");
            }
            // SAFETY: we are the owner and `remaining_slots` (which Acquire-loaded `head`) said
            // `free` slots after `tail` are outside `[steal_head, tail)` with their stealers'
            // reads ordered before us; `written < free`, and `tail` is published only below.
            unsafe { self.inner.write(tail.wrapping_add(written), task) };
            written += 1;
        }
        // Release publishes all the slot writes to stealers that Acquire-load `tail`.
        self.inner
            .tail
            .store(tail.wrapping_add(written), Ordering::Release);
    }

    /// Pops the item at the front of the queue, if any.
    pub(crate) fn pop(&mut self) -> Option<T> {
        // Acquire: see `Inner::len`; keeps `real_head <= tail` in what we read.
        let mut head = self.inner.head.load(Ordering::Acquire);
        let index = loop {
            let (steal, real) = unpack(head);
            // Relaxed: only this thread stores `tail`.
            let tail = self.inner.tail.load(Ordering::Relaxed);
            if real == tail {
                return None;
            }

            let next_real = real.wrapping_add(1);
            let next = if steal == real {
                // No steal in flight: both halves advance together.
                pack(next_real, next_real)
            } else {
                // A stealer is copying `[steal, real)`: leave `steal_head` for it to release.
                debug_assert_ne!(steal, next_real);
                pack(steal, next_real)
            };

            // The slot we claim holds our own write (program order), so the CAS needs no
            // ordering for it; AcqRel keeps `head` one acquire/release chain (see `Inner::len`).
            match self
                .inner
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };

        // SAFETY: the successful CAS claimed `index` for us alone; we wrote the slot ourselves
        // before publishing `tail > index`; only we write slots, and not during this call.
        Some(unsafe { self.inner.read(index) })
    }

    /// Number of items in the queue (not counting items a stealer is still copying out).
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the queue holds no items.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many items `push_back_batch` can take right now (`CAPACITY - (tail - steal_head)`).
    ///
    /// Slots a stealer is still copying out count as taken. Only grows until the owner pushes.
    pub(crate) fn remaining_slots(&self) -> usize {
        // Acquire pairs with a stealer's final Release CAS, so slots reported free here have
        // had their last read completed before the owner writes them.
        let (steal, _) = unpack(self.inner.head.load(Ordering::Acquire));
        // Relaxed: only the owner stores `tail`, and only the owner calls this meaningfully.
        let tail = self.inner.tail.load(Ordering::Relaxed);
        LOCAL_QUEUE_CAPACITY - tail.wrapping_sub(steal) as usize
    }
}

impl<T> Drop for Local<T> {
    /// Pops and drops every item left; stealers keep only an empty ring alive.
    fn drop(&mut self) {
        while let Some(task) = self.pop() {
            drop(task);
        }
    }
}

impl<T> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local").field("len", &self.len()).finish()
    }
}

impl<T> Stealer<T> {
    /// Steals half (rounded up) of the items of this queue into `dst`, returning one of them to
    /// run now; the rest land in `dst`.
    ///
    /// Returns `None` if there is nothing to steal, another steal is in flight, or `dst` has
    /// fewer than `CAPACITY / 2` free slots.
    pub(crate) fn steal_half_into(&self, dst: &mut Local<T>) -> Option<T> {
        // Acquire pairs with the final Release CAS of stealers of `dst`: slots they were copying
        // out are read before we overwrite them.
        let (dst_steal, _) = unpack(dst.inner.head.load(Ordering::Acquire));
        // Relaxed: `&mut dst` makes us `dst`'s owner, the only thread storing its `tail`.
        let dst_tail = dst.inner.tail.load(Ordering::Relaxed);
        if dst_tail.wrapping_sub(dst_steal) > CAPACITY - HALF {
            // Fewer than HALF free slots: a full steal might not fit.
            return None;
        }

        let stolen = self.steal_into(dst, dst_tail);
        if stolen == 0 {
            return None;
        }

        // Hand the newest stolen item to the caller; publish the others.
        let kept = stolen - 1;
        // SAFETY: `steal_into` wrote `[dst_tail, dst_tail + stolen)` of `dst` on this thread and
        // `dst.tail` is still `dst_tail`, so no stealer of `dst` can claim this index.
        let task = unsafe { dst.inner.read(dst_tail.wrapping_add(kept)) };
        if kept > 0 {
            // Release publishes the copied slots to stealers of `dst`.
            dst.inner
                .tail
                .store(dst_tail.wrapping_add(kept), Ordering::Release);
        }
        Some(task)
    }

    /// Claims half (rounded up) of this queue, moves it to `dst`'s slots from `dst_tail` on
    /// without publishing them, then ends the steal. Returns how many items moved.
    fn steal_into(&self, dst: &mut Local<T>, dst_tail: u32) -> u32 {
        let src = &*self.0;

        // Step 1: claim `[first, first + n)` by advancing `real_head` only.
        // Acquire: see `Inner::len`; the `tail` we read next is at least this `real_head`.
        let mut prev = src.head.load(Ordering::Acquire);
        let (first, n) = loop {
            let (steal, real) = unpack(prev);
            if steal != real {
                // Another steal is in flight; let that thief finish (one at a time).
                return 0;
            }
            // Acquire pairs with the owner's Release store: the slots below `tail` are written.
            let tail = src.tail.load(Ordering::Acquire);
            let available = tail.wrapping_sub(real);
            let n = available - available / 2;
            if n == 0 {
                return 0;
            }

            // `steal_head` stays at `real`: the claimed slots stay reserved until step 3.
            // AcqRel/Acquire: the slots themselves are ordered by the `tail` Acquire above; this
            // keeps `head` one acquire/release chain (see `Inner::len`).
            match src.head.compare_exchange(
                prev,
                pack(steal, real.wrapping_add(n)),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break (real, n),
                Err(actual) => prev = actual,
            }
        };
        // A successful CAS means `head` did not change since we read `tail`, so the owner could
        // only push meanwhile, which keeps `tail - real <= CAPACITY`.
        assert!(
            n <= HALF,
            "stole {n} items from a queue of capacity {CAPACITY}"
        );

        // Step 2: move the items.
        for i in 0..n {
            // SAFETY: (read) `first + i` is in the range our CAS claimed, so no one else reads
            // it; the owner wrote it before its Release store of a `tail` we Acquire-loaded; and
            // the owner will not overwrite it while `steal_head` (still `first`) is at or before
            // it.
            let task = unsafe { src.read(first.wrapping_add(i)) };
            // SAFETY: (write) `&mut dst` makes us `dst`'s owner. `dst_tail - dst_steal <=
            // CAPACITY - HALF` and `n <= HALF`, so these slots lie outside `dst`'s
            // `[steal_head, tail)`, with earlier reads ordered by the Acquire load of `dst.head`
            // in `steal_half_into`; `dst.tail` is published only after this.
            unsafe { dst.inner.write(dst_tail.wrapping_add(i), task) };
        }

        // Step 3: end the steal by catching `steal_head` up with `real_head`. The owner may have
        // popped meanwhile (moving `real_head` only), so loop until the CAS sticks.
        let mut prev = src.head.load(Ordering::Acquire);
        loop {
            let (steal, real) = unpack(prev);
            assert_eq!(steal, first, "only the thief in flight moves steal_head");
            // Release (in AcqRel) makes our slot reads happen-before the owner's next writes,
            // which Acquire-load `head` before reusing these slots.
            match src.head.compare_exchange(
                prev,
                pack(real, real),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return n,
                Err(actual) => prev = actual,
            }
        }
    }

    /// Number of items that could be stolen or popped right now (a racy snapshot).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the queue looks empty right now (a racy snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Stealer(self.0.clone())
    }
}

impl<T> fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stealer").field("len", &self.len()).finish()
    }
}

/// The items `push_overflow` claimed, read out of their slots one at a time.
///
/// Reading lazily avoids a temporary buffer; dropping the iterator early drops the items it did
/// not yield, so a partial consumer (or a panic in `push_batch`) loses nothing silently.
struct Claimed<'a, T> {
    inner: &'a Inner<T>,
    /// Next index to yield.
    next: u32,
    /// One past the last claimed index.
    end: u32,
}

impl<T> Iterator for Claimed<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.next == self.end {
            return None;
        }
        let index = self.next;
        self.next = index.wrapping_add(1);
        // SAFETY: `push_overflow`'s CAS claimed `[next, end)` for the owner, who wrote these
        // slots itself; stealers only claim past `end`; the owner cannot push (and so rewrite
        // them) while this iterator borrows its queue; each index is yielded once.
        Some(unsafe { self.inner.read(index) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = self.end.wrapping_sub(self.next) as usize;
        (len, Some(len))
    }
}

impl<T> ExactSizeIterator for Claimed<'_, T> {}

impl<T> Drop for Claimed<'_, T> {
    fn drop(&mut self) {
        self.for_each(drop);
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;
