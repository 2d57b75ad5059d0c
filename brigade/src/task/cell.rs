//! The task cell: the one heap allocation behind every spawned task, and the type-erased
//! pointers (`RawTask`, `Notified`) the scheduler passes around.
//!
//! This is what the seed's `AsyncMethodBuilder` does when a state machine "truly becomes
//! asynchronous" (section 6-7): box the state machine once, next to everything the task needs
//! (its state word, its scheduler, its result slot and the continuation to run on completion).
//!
//! Layout (`#[repr(C)]`, so a `*const Header` is also a pointer to the whole cell):
//!
//! ```text
//! Cell<F, S> ─┬─ Header     state word, vtable, injector link, owned-list links, id, name, spawn
//!             │             location, the task's ExecutionContext, the home it was moved to,
//!             │             poll counters and what the task waits on
//!             ├─ scheduler  S: the task's static home (where wake-ups post it unless it moved)
//!             ├─ stage      the future, then its output, then "consumed"
//!             └─ join_waker the continuation: the waker of whoever awaits the Task
//! ```
//!
//! # Invariants
//! - The cell lives until the reference count in the state word reaches zero.
//! - `stage` is touched only by the thread owning the future (state RUNNING) or, once COMPLETE,
//!   by the join handle; `join_waker` follows the JOIN_WAKER protocol in `state.rs`.
//! - `context` is touched only by the thread owning the future (through the running-task
//!   pointer, `current.rs`) and by the last reference's `dealloc`; `home` follows `home.rs`.
//! - A cell whose future is not `Send` (`spawn_local`) is only ever run, shut down and
//!   completed on its `MainLoop`'s thread; other threads only count references, wake it (push
//!   it to the loop's queue) and free a cell whose future and output are gone (see
//!   `new_local_task` in `mod.rs`).

use std::cell::RefCell;
use std::future::Future;
use std::ptr::NonNull;
use std::task::Waker;

use super::error::TaskError;
use super::harness;
use super::home::{HomeSlot, StaticHome};
use super::id::{TaskId, TaskMeta};
use super::owned::OwnedLinks;
use super::state::State;
use super::Schedule;
use crate::context::ExecutionContext;
use crate::loom::cell::UnsafeCell;

/// The part of the cell every task shares, whatever its future type.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    /// The next task in the global injection queue; read and written only under its lock.
    pub(crate) queue_next: std::cell::UnsafeCell<Option<NonNull<Header>>>,
    /// Links in the scheduler's list of live tasks (used at shutdown and for diagnostics).
    pub(crate) owned: OwnedLinks,
    pub(crate) id: TaskId,
    pub(crate) meta: TaskMeta,
    /// The task's ExecutionContext: captured at spawn, read and written by the code it runs.
    pub(crate) context: RefCell<ExecutionContext>,
    /// The context the task was moved to (`switch_to`, `configure_await`), if any.
    pub(crate) home: HomeSlot,
    /// Polls and time in polls, for the task dump.
    pub(crate) stats: TaskStats,
    /// What the task waits on (`wait.rs`): set by leaf futures on `Pending`, read by the dump.
    pub(crate) wait: super::wait::WaitSlot,
    /// (feature `console`) The id of the task's `runtime.spawn` span, for waker events.
    #[cfg(feature = "console")]
    pub(crate) console_span_id: u64,
}

/// What the task dump reports about a task's life. Written only by the thread polling the task
/// (load + store, no read-modify-write); read by anyone, racily, which is fine for diagnostics.
pub(crate) struct TaskStats {
    /// The coarse clock (ms) when the task was spawned.
    pub(crate) spawned_at_ms: u64,
    pub(crate) polls: std::sync::atomic::AtomicU32,
    /// Time inside polls, in coarse-clock milliseconds.
    pub(crate) busy_ms: std::sync::atomic::AtomicU32,
}

impl TaskStats {
    fn new() -> TaskStats {
        TaskStats {
            spawned_at_ms: crate::clock::coarse_now_ms(),
            polls: std::sync::atomic::AtomicU32::new(0),
            busy_ms: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Records one poll that began at coarse time `started_ms`.
    pub(crate) fn record_poll(&self, started_ms: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.polls
            .store(self.polls.load(Relaxed).wrapping_add(1), Relaxed);
        let spent = crate::clock::coarse_now_ms().saturating_sub(started_ms);
        if spent > 0 {
            let total = u64::from(self.busy_ms.load(Relaxed)) + spent;
            self.busy_ms
                .store(total.min(u64::from(u32::MAX)) as u32, Relaxed);
        }
    }
}

/// Where the future is in its life.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

/// The whole allocation.
#[repr(C)]
pub(crate) struct Cell<F: Future, S> {
    pub(crate) header: Header,
    pub(crate) scheduler: S,
    pub(crate) stage: UnsafeCell<Stage<F>>,
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
}

/// The functions that know the concrete future and scheduler types, reached through the header.
///
/// # Safety (all entries)
/// The pointer must be the header of a live cell built with this very vtable. `run`,
/// `schedule`, `drop_join_handle` and `shutdown` consume one reference the caller owns (a queue
/// entry, the handle's, or the owned list's). `schedule` additionally needs the caller to hold
/// a second reference until it returns: the scheduler it calls lives inside the cell, and once
/// the entry is queued another thread may run the task to completion and free it.
/// `dealloc` requires that no reference is left;
/// `try_read_output` requires the join handle's reference and a `dst` of the cell's output type.
pub(crate) struct Vtable {
    /// Polls (or cancels) a task whose queue entry the caller hands over.
    pub(crate) run: unsafe fn(NonNull<Header>),
    /// Hands a queue entry to the task's own scheduler.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Frees the cell (refcount reached zero).
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst` (a `Poll<Result<T, TaskError>>`) if complete, else
    /// registers the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The join handle goes away.
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
    /// Runtime shutdown: drop the future if idle.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
    /// The task's static home, type-erased (for `SyncContext::current` and switching).
    pub(crate) static_home: unsafe fn(NonNull<Header>) -> StaticHome,
}

/// What a new cell starts with besides its future and scheduler.
pub(crate) struct Birth {
    pub(crate) id: TaskId,
    #[cfg(feature = "console")]
    pub(crate) console_span_id: u64,
    pub(crate) meta: TaskMeta,
    pub(crate) context: ExecutionContext,
    /// Whether the future is `Send`, so the task may move between contexts.
    pub(crate) movable: bool,
}

impl<F, S> Cell<F, S>
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    /// Allocates a new task cell in its initial state (see `state.rs`).
    pub(crate) fn allocate(future: F, scheduler: S, birth: Birth) -> NonNull<Header> {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: harness::vtable::<F, S>(),
                queue_next: std::cell::UnsafeCell::new(None),
                owned: OwnedLinks::new(),
                id: birth.id,
                meta: birth.meta,
                context: RefCell::new(birth.context),
                home: HomeSlot::new(birth.movable),
                stats: TaskStats::new(),
                wait: super::wait::WaitSlot::new(),
                #[cfg(feature = "console")]
                console_span_id: birth.console_span_id,
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: UnsafeCell::new(None),
        });
        // `repr(C)` puts the header first, so the cell pointer is the header pointer.
        NonNull::from(Box::leak(cell)).cast()
    }
}

/// An untyped, uncounted pointer to a task cell. Whoever copies it must own a reference some
/// other way (a `Notified`, a waker, a `Task` handle, the owned list).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: the cell's shared fields are atomics or guarded by the state-word protocol; futures
// and outputs in it are `Send` (enforced where cells are created), except in local cells,
// whose futures are only touched on their loop's thread (see `new_local_task`).
unsafe impl Send for RawTask {}
// SAFETY: as above; `&RawTask` only reads through the protocol.
unsafe impl Sync for RawTask {}

impl RawTask {
    pub(crate) fn from_header(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: whoever holds a RawTask holds a reference to the cell, so it is alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn state(&self) -> &State {
        &self.header().state
    }

    pub(crate) fn id(&self) -> TaskId {
        self.header().id
    }

    /// Drops one reference, freeing the cell if it was the last.
    pub(crate) fn drop_reference(self) {
        if self.state().ref_dec() {
            // SAFETY: that was the last reference; nobody else can reach the cell.
            unsafe { (self.header().vtable.dealloc)(self.ptr) }
        }
    }

    /// Hands a fresh queue entry (already counted in the state word) to the task's scheduler.
    /// The caller must hold a reference of its own across the call (see [`Vtable`]).
    pub(crate) fn schedule(self) {
        // SAFETY: the caller created the queue entry's reference; `schedule` consumes it.
        unsafe { (self.header().vtable.schedule)(self.ptr) }
    }

    pub(crate) fn shutdown(self) {
        // SAFETY: the caller holds a reference (it popped the task from the owned list).
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }
}

/// A task in a run queue: owns one reference, which running the task consumes.
pub(crate) struct Notified(RawTask);

impl Notified {
    /// Wraps a pointer whose reference the caller transfers to the new queue entry.
    ///
    /// # Safety
    /// The caller must own one reference counted in the state word and NOTIFIED must be set.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Notified {
        Notified(raw)
    }

    /// The task, for reading its header (the entry keeps it alive while borrowed).
    pub(crate) fn raw(&self) -> RawTask {
        self.0
    }

    /// Gives up the wrapper without releasing the reference (it now lives in an intrusive
    /// queue, which will rebuild the `Notified` with `from_raw`).
    pub(crate) fn into_raw(self) -> RawTask {
        let raw = self.0;
        std::mem::forget(self);
        raw
    }

    /// Polls the task (or cancels it if that was requested), consuming the queue entry.
    pub(crate) fn run(self) {
        let raw = self.into_raw();
        // SAFETY: the queue entry's reference moves into `run`.
        unsafe { (raw.header().vtable.run)(raw.ptr) }
    }
}

impl Notified {
    /// Completes the task with `TaskError::RuntimeShutdown` without polling it (if nobody else
    /// owns it), consuming the queue entry.
    pub(crate) fn shutdown(self) {
        self.into_raw().shutdown();
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        // A queue entry dropped without running (runtime shutdown): release its reference.
        self.0.drop_reference();
    }
}
