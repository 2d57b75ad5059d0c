//! The harness: what happens to a task cell when it is run, completed, joined or shut down.
//!
//! This is the seed's `MoveNext` driver and `SetResult` / `SetException` (sections 6-7): poll
//! the state machine once; if it finished, store the result (or the caught panic — the
//! builder's "catching exceptions from MoveNext") and run the continuation, which here is the
//! join waker. Every function is monomorphised for one future type `F` and scheduler `S` and
//! reached through the cell's [`Vtable`].
//!
//! Around every poll (and every drop of the future) the task is marked as this thread's
//! running task (`current.rs`): the seed section 4's "restore the captured ExecutionContext,
//! run, clear", at the cost of one thread-local pointer. Wake-ups go to the task's home
//! (`home.rs`): its scheduler `S`, or the context it was moved to.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::cell::{Cell, Header, Notified, RawTask, Stage, Vtable};
use super::current;
use super::error::TaskError;
use super::home::StaticHome;
use super::state::{TransitionToIdle, TransitionToRunning};
use super::waker::waker_ref;
use super::Runnable;
use super::Schedule;

/// The vtable for cells holding an `F` homed on an `S`.
pub(crate) fn vtable<F, S>() -> &'static Vtable
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    &Vtable {
        run: run::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_join_handle: drop_join_handle::<F, S>,
        shutdown: shutdown::<F, S>,
        static_home: static_home::<F, S>,
    }
}

/// # Safety
/// `ptr` must point at a live `Cell<F, S>` (vtables are only built for matching cells).
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: the header is the first field of the `repr(C)` cell; liveness is the caller's.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

unsafe fn run<F, S>(ptr: NonNull<Header>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // SAFETY: the caller hands over a queue entry, so the cell is alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.transition_to_running() {
        TransitionToRunning::Poll => poll_future(cell, ptr),
        TransitionToRunning::Cancel => {
            cancel_future(cell, TaskError::Cancelled);
            complete(cell, ptr);
        }
        TransitionToRunning::Skip => {}
        // SAFETY: the state word says that was the last reference.
        TransitionToRunning::Dealloc => unsafe { dealloc::<F, S>(ptr) },
    }
}

/// One `MoveNext`: poll the future with a waker that points back at this cell.
fn poll_future<F, S>(cell: &Cell<F, S>, ptr: NonNull<Header>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // The runner's reference keeps the cell alive during the poll, so the waker handed to the
    // future can borrow it without counting; `Waker::clone` counts.
    let waker = ManuallyDrop::new(waker_ref(ptr));
    let mut cx = Context::from_waker(&waker);
    // AsyncLocal reads and writes in the poll go to this task's context (C1, C7).
    let running = current::enter(ptr);
    let poll_started_ms = crate::clock::coarse_now_ms();
    // This poll records its own wait, if it ends in one (`wait.rs`).
    cell.header.wait.clear();
    // A fresh cooperative budget for this poll (Y9).
    crate::coop::reset();
    let polled = catch_unwind(AssertUnwindSafe(|| {
        #[cfg(feature = "tracing")]
        let _span = crate::context::enter_task_span();
        cell.stage.with_mut(|stage| {
            // SAFETY: RUNNING is set by this thread, so it owns the stage; the future is never
            // moved out of the cell while it is `Running`, so pinning it in place is sound.
            match unsafe { &mut *stage } {
                // SAFETY: as above — the future stays in the cell until it is dropped there.
                Stage::Running(future) => unsafe { Pin::new_unchecked(future) }.poll(&mut cx),
                _ => unreachable!("a task is polled only while its future is alive"),
            }
        })
    }));
    drop(running);
    cell.header.stats.record_poll(poll_started_ms);
    match polled {
        Ok(Poll::Pending) => match cell.header.state.transition_to_idle() {
            TransitionToIdle::Idle => {}
            TransitionToIdle::Requeue => {
                // SAFETY: the transition counted a reference for the new queue entry.
                let task = unsafe { Notified::from_raw(RawTask::from_header(ptr)) };
                post_home(cell, task, true);
                // Only now may the runner let go: until `yield_now` returned, this thread was
                // reading `cell.scheduler` while another worker could be running the task.
                RawTask::from_header(ptr).drop_reference();
            }
            // SAFETY: the state word says that was the last reference.
            TransitionToIdle::Dealloc => unsafe { dealloc::<F, S>(ptr) },
            TransitionToIdle::Cancel => {
                cancel_future(cell, TaskError::Cancelled);
                complete(cell, ptr);
            }
        },
        Ok(Poll::Ready(output)) => {
            let result = match drop_future(cell) {
                None => Ok(output),
                Some(payload) => Err(TaskError::Panicked(payload)),
            };
            set_stage(cell, Stage::Finished(result));
            complete(cell, ptr);
        }
        Err(payload) => {
            // The future panicked; drop it (its own drop may panic too: the first panic wins).
            let _ = drop_future(cell);
            set_stage(cell, Stage::Finished(Err(TaskError::Panicked(payload))));
            complete(cell, ptr);
        }
    }
}

/// Drops the future in place, then the task's context and moved-to home (the task is over),
/// catching a panic from their destructors.
fn drop_future<F: Future, S>(cell: &Cell<F, S>) -> Option<Box<dyn std::any::Any + Send>> {
    let ptr = NonNull::from(&cell.header);
    // The future's destructors run inside the task's context, as its polls did.
    let _running = current::enter(ptr);
    let dropped = catch_unwind(AssertUnwindSafe(|| set_stage(cell, Stage::Consumed))).err();
    let released = catch_unwind(AssertUnwindSafe(|| {
        let context = cell.header.context.take();
        drop(context);
        RawTask::from_header(ptr).clear_home();
    }))
    .err();
    dropped.or(released)
}

/// Drops the future because of `reason`, and records why there is no output.
fn cancel_future<F: Future, S>(cell: &Cell<F, S>, reason: TaskError) {
    let result = match drop_future(cell) {
        None => reason,
        Some(payload) => TaskError::Panicked(payload),
    };
    set_stage(cell, Stage::Finished(Err(result)));
}

fn set_stage<F: Future, S>(cell: &Cell<F, S>, stage: Stage<F>) {
    // SAFETY: only the owner of the future (RUNNING) calls this.
    cell.stage.with_mut(|slot| unsafe { *slot = stage });
}

fn take_stage<F: Future, S>(cell: &Cell<F, S>) -> Stage<F> {
    // SAFETY: only the current owner of the stage calls this: the completing thread while no
    // join handle exists, or the join handle once COMPLETE is set.
    cell.stage
        .with_mut(|slot| unsafe { std::mem::replace(&mut *slot, Stage::Consumed) })
}

/// `SetResult`: publish completion, leave the owned list, run the continuation (wake the
/// joiner) and drop the runner's (and the list's) reference.
fn complete<F, S>(cell: &Cell<F, S>, ptr: NonNull<Header>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    let before = cell.header.state.transition_to_complete();
    // Leave the owned list before anyone hears of the completion, so a joiner that has the
    // output never sees the task still counted alive.
    let raw = RawTask::from_header(ptr);
    let references = if cell.scheduler.release(raw) { 2 } else { 1 };
    // Nothing below may unwind past us: the references must be released whatever happens.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !before.is_join_interested() {
            // Detached: nobody will read the output, so it is dropped here, and a panic in it
            // goes to the runtime's unhandled-panic policy (seed section 10: async void).
            report_if_unobserved_panic(cell, take_stage(cell));
        } else if before.is_join_waker_set() {
            // SAFETY: JOIN_WAKER is set, so the task side may read the slot; the join handle
            // will not touch it until we unset the bit below.
            cell.join_waker.with(|waker| match unsafe { &*waker } {
                Some(waker) => waker.wake_by_ref(),
                None => unreachable!("JOIN_WAKER set with an empty slot"),
            });
            let after = cell.header.state.unset_join_waker_after_complete();
            if !after.is_join_interested() {
                // The handle was dropped while we held the slot: the waker is ours to drop.
                // SAFETY: JOIN_WAKER and JOIN_INTEREST are both clear; nobody else reads it.
                cell.join_waker.with_mut(|waker| unsafe { *waker = None });
            }
        }
    }));
    if cell.header.state.ref_dec_by(references) {
        // SAFETY: that was the last reference.
        unsafe { dealloc::<F, S>(ptr) }
    }
}

fn report_if_unobserved_panic<F: Future, S: Schedule>(cell: &Cell<F, S>, stage: Stage<F>) {
    if let Stage::Finished(Err(TaskError::Panicked(payload))) = stage {
        cell.scheduler
            .unhandled_panic(cell.header.id, &cell.header.meta, payload);
    }
}

unsafe fn schedule<F, S>(ptr: NonNull<Header>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // SAFETY: the caller owns the new queue entry's reference and the cell is alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: the caller set NOTIFIED and counted the entry's reference.
    let task = unsafe { Notified::from_raw(RawTask::from_header(ptr)) };
    post_home(cell, task, false);
}

/// Hands a queue entry to the task's home: the context it moved to, else its scheduler.
/// `is_yield`: the task woke itself during its own poll.
///
/// The caller holds the task's one pending entry (the runner re-queueing, or the waker or
/// canceller that made the entry) and a reference of its own across the call.
fn post_home<F: Future, S: Schedule>(cell: &Cell<F, S>, task: Notified, is_yield: bool) {
    // SAFETY: the caller holds the pending entry: nobody can be moving the task meanwhile.
    match unsafe { cell.header.home.moved_to() } {
        None if is_yield => cell.scheduler.yield_now(task),
        None => cell.scheduler.schedule(task),
        // `moved_to` gave us our own `Arc`: the task may run and move on before `post`
        // returns, dropping the slot's.
        Some(home) => home.post(Runnable::new(task, is_yield)),
    }
}

unsafe fn static_home<F, S>(ptr: NonNull<Header>) -> StaticHome
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // SAFETY: the caller holds a reference, so the cell is alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    StaticHome {
        context: cell.scheduler.sync_context(),
        pool: cell.scheduler.pool(),
    }
}

unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: the refcount reached zero, so this is the only pointer left to a cell that was
    // created by `Box::new` in `Cell::allocate`.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

unsafe fn try_read_output<F, S>(ptr: NonNull<Header>, dst: *mut (), waker: &Waker)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // SAFETY: the join handle holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    if !output_ready_or_waker_registered(cell, waker) {
        return;
    }
    let result = match take_stage(cell) {
        Stage::Finished(result) => result,
        _ => panic!("a brigade Task was polled again after it returned its output"),
    };
    // SAFETY: the typed handle passes a `Poll<Result<F::Output, TaskError>>` as `dst`.
    unsafe { *(dst as *mut Poll<Result<F::Output, TaskError>>) = Poll::Ready(result) };
}

/// The join side of the continuation protocol: `true` if the output is ready to take; else the
/// waker is left in the slot for the completing thread to wake.
fn output_ready_or_waker_registered<F: Future, S>(cell: &Cell<F, S>, waker: &Waker) -> bool {
    let state = &cell.header.state;
    let snapshot = state.load();
    if snapshot.is_complete() {
        return true;
    }
    if snapshot.is_join_waker_set() {
        let same = cell.join_waker.with(|slot| {
            // SAFETY: the task side only reads the slot while JOIN_WAKER is set; reading it
            // here too is a shared read.
            unsafe { &*slot }
                .as_ref()
                .is_some_and(|w| w.will_wake(waker))
        });
        if same {
            return false;
        }
        // Take the slot back to swap the waker; fails only if the task completed meanwhile.
        if state.unset_join_waker().is_err() {
            return true;
        }
    }
    // SAFETY: JOIN_WAKER is clear, so the join handle owns the slot.
    cell.join_waker
        .with_mut(|slot| unsafe { *slot = Some(waker.clone()) });
    if state.set_join_waker().is_err() {
        // Completed before we could hand the slot over; the slot is still ours.
        // SAFETY: as above.
        cell.join_waker.with_mut(|slot| unsafe { *slot = None });
        return true;
    }
    false
}

unsafe fn drop_join_handle<F, S>(ptr: NonNull<Header>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // SAFETY: the join handle's reference keeps the cell alive until the end of this function.
    let cell = unsafe { cell::<F, S>(ptr) };
    let (before, after) = cell.header.state.transition_to_join_handle_dropped();
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if before.is_complete() {
            // The output is ours and nobody read it.
            report_if_unobserved_panic(cell, take_stage(cell));
        }
        if !after.is_join_waker_set() {
            // SAFETY: JOIN_WAKER is clear, so the handle owns the slot.
            cell.join_waker.with_mut(|slot| unsafe { *slot = None });
        }
    }));
    RawTask::from_header(ptr).drop_reference();
}

unsafe fn shutdown<F, S>(ptr: NonNull<Header>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // SAFETY: the caller took over the owned list's reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.state.transition_to_shutdown() {
        // The owned list's reference now plays the runner's part in `complete`.
        cancel_future(cell, TaskError::RuntimeShutdown);
        complete(cell, ptr);
    } else {
        RawTask::from_header(ptr).drop_reference();
    }
}
