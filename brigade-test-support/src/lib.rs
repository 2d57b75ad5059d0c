//! Helpers shared by brigade's test binaries and examples (a dev-only crate, never published).
//!
//! - [`alloc`]: a counting global allocator — allocations and net bytes per thread, live bytes
//!   and allocations for the whole process. A binary opts in with one line:
//!   `#[global_allocator] static ALLOCATOR: CountingAllocator = CountingAllocator;`
//!   (a process has one global allocator, so each binary decides for itself).
//! - [`poll`]: polling a future once by hand, a no-op and a counting waker.
//! - [`guard`]: watchdogs that turn a hang into a failure, drop flags, panic helpers.
//! - [`foreign_loop`](mod@foreign_loop): a foreign event loop hosting tasks through `SyncContext`.
//! - [`slow_poll`]: [`SlowFirstPoll`], a task whose first poll stalls its worker (the lost
//!   wake-up tests).
//! - [`rt`]: the runtime the behaviour tests build again and again.
#![deny(missing_docs)]

pub mod alloc;
pub mod foreign_loop;
pub mod guard;
pub mod poll;
pub mod slow_poll;

pub use alloc::{
    allocations_on_this_thread, count_allocations, large_allocations_on_this_thread, live_bytes,
    measure, CountingAllocator, LARGE_ALLOCATION,
};
pub use foreign_loop::{foreign_loop, ForeignLoop};
pub use guard::{
    panic_text, quiet_expected_panics, thread_name, wait_until, watchdog, Boom, DropCount, DropFlag,
};
pub use poll::{counting_waker, poll_once, poll_once_with, CountingWaker};
pub use slow_poll::SlowFirstPoll;

/// A runtime with `workers` worker threads and every other setting at its default.
///
/// # Panics
/// If the runtime cannot be built (zero workers, or the OS refuses threads).
pub fn rt(workers: usize) -> brigade::Runtime {
    brigade::Runtime::builder()
        .workers(workers)
        .build()
        .expect("runtime")
}
