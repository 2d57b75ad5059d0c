//! A counting global allocator: every call is forwarded to the system allocator unchanged, and
//! counted on the way.
//!
//! Two views, both always on:
//! - **per thread** ([`measure`], [`count_allocations`], [`allocations_on_this_thread`]): what
//!   the calling thread allocated. Tests running in parallel on other threads do not disturb
//!   the figures, so allocation promises (S11, C4, X3, T5, I1, K10) can be measured inside an
//!   ordinary test binary — run the measured code on the measuring thread (a one-worker
//!   runtime, measuring inside the task).
//! - **process-wide** ([`live_bytes`]): bytes allocated and not yet freed by any thread, for
//!   leak hunts (a binary with a single test, so nothing else runs beside it).
//!
//! The figures only move when the binary installs the allocator:
//! `#[global_allocator] static ALLOCATOR: CountingAllocator = CountingAllocator;`. Without it,
//! [`measure`] panics with that advice instead of reporting zero allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// The counting allocator; install it with `#[global_allocator]` in the binary that measures.
pub struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    // Const-initialised Cells without destructors: reading them never allocates, so the
    // allocator may touch them from inside an allocation.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static THREAD_BYTES: Cell<i64> = const { Cell::new(0) };
    static THREAD_LARGE_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// What counts as a large allocation: a buffer, not a task cell or a thread's bookkeeping.
pub const LARGE_ALLOCATION: usize = 16 * 1024;

fn note_large(size: usize) {
    if size >= LARGE_ALLOCATION {
        let _ = THREAD_LARGE_ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    }
}

fn note(allocations: u64, bytes: isize) {
    LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
    // try_with: during thread exit the slots may be gone; those allocations go uncounted here
    // (the process-wide total above still sees them).
    let _ = THREAD_ALLOCATIONS.try_with(|count| count.set(count.get() + allocations));
    let _ = THREAD_BYTES.try_with(|total| total.set(total.get() + bytes as i64));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; counting touches only an atomic and thread-local Cells,
// neither of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as isize);
        note_large(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as isize);
        note_large(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, new_size as isize - layout.size() as isize);
        note_large(new_size);
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, -(layout.size() as isize));
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// How many allocations (including reallocations) this thread has made so far.
pub fn allocations_on_this_thread() -> u64 {
    THREAD_ALLOCATIONS.with(Cell::get)
}

/// How many allocations of at least [`LARGE_ALLOCATION`] bytes this thread has made so far.
pub fn large_allocations_on_this_thread() -> u64 {
    THREAD_LARGE_ALLOCATIONS.with(Cell::get)
}

/// Bytes allocated and not yet freed, by every thread of the process, since it started.
pub fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::SeqCst)
}

/// Runs `f` and returns its output with what this thread allocated meanwhile: the number of
/// allocations, and the net bytes still live (allocated minus freed, on this thread).
///
/// # Panics
/// If the binary did not install [`CountingAllocator`] (nothing would ever be counted).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, u64, i64) {
    assert_installed();
    let allocations = allocations_on_this_thread();
    let bytes = THREAD_BYTES.with(Cell::get);
    let output = f();
    (
        output,
        allocations_on_this_thread() - allocations,
        THREAD_BYTES.with(Cell::get) - bytes,
    )
}

/// Runs `f` and returns its output with the number of allocations this thread made in it.
///
/// # Panics
/// If the binary did not install [`CountingAllocator`].
pub fn count_allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let (output, allocations, _) = measure(f);
    (output, allocations)
}

fn assert_installed() {
    let before = allocations_on_this_thread();
    drop(std::hint::black_box(Box::new(0u64)));
    assert!(
        allocations_on_this_thread() > before,
        "allocations are not being counted: install the allocator in this binary with \
         `#[global_allocator] static ALLOCATOR: CountingAllocator = CountingAllocator;`"
    );
}
