//! The loop that owns this thread, if any (a UI thread's `MainLoop`), as the runtime layer
//! sees it: through the small [`ThreadLoop`] trait, so `block_on` can detect the UI-thread
//! deadlock (X5) without reaching up into `sync_context`, which implements the trait.
//!
//! Deadlock detection for blocking a loop's thread is .NET's `.Result` on a UI thread: a UI
//! event handler blocks on a task (`.Result`, `.Wait()`), and the task's continuation was
//! posted to the UI thread's SynchronizationContext. The UI thread waits for the task; the
//! task waits for the UI thread. Nothing moves, forever.
//!
//! brigade's `block_on` can see it happen. While a thread that owns a loop blocks, its loop
//! cannot run anything; so the moment the loop has work waiting — queued before the block or
//! posted during it — whoever waits for that work waits on the blocked thread. Instead of
//! hanging, `block_on` fails at once, naming the loop's thread and the waiting task.
//!
//! # Invariants
//! - One slot per thread: set when a loop is created on it, emptied when the loop is dropped.
//!   If it is still full when the thread exits, the loop was leaked (`mem::forget`) and is shut
//!   down then (X7), so nothing waits on a loop nobody will ever run.
//! - Checked after each poll of the blocked-on future: one that can finish does, first.
//! - A post to the loop unparks its thread, so a blocked `block_on` notices at once.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;

/// A loop that owns its thread, as `block_on` and the thread's exit need to see it.
pub(crate) trait ThreadLoop: Any + Send + Sync {
    /// Whether the loop has work the blocked thread should look at.
    fn has_work(&self) -> bool;
    /// The first task waiting to run on the loop, described for a diagnostic.
    fn first_waiting(&self) -> Option<String>;
    /// The loop thread's name.
    fn thread_name(&self) -> String;
    /// The thread is exiting with the loop leaked: close it and drop its futures here.
    fn shut_down_on_this_thread(&self);
    /// The loop as `Any`, for its own layer to get its concrete type back.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

std::thread_local! {
    /// The loop living on this thread, if any.
    static THIS_THREAD_LOOP: RefCell<Slot> = const { RefCell::new(Slot(None)) };
}

/// The thread's slot; see the module invariants for its drop.
struct Slot(Option<Arc<dyn ThreadLoop>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(thread_loop) = self.0.take() {
            thread_loop.shut_down_on_this_thread();
        }
    }
}

/// The loop of this thread, if it has one.
pub(crate) fn current() -> Option<Arc<dyn ThreadLoop>> {
    THIS_THREAD_LOOP
        .try_with(|slot| slot.borrow().0.clone())
        .ok()
        .flatten()
}

/// Makes `thread_loop` this thread's loop. Returns `false` (and changes nothing) if the thread
/// already has one.
pub(crate) fn set(thread_loop: Arc<dyn ThreadLoop>) -> bool {
    THIS_THREAD_LOOP.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.0.is_some() {
            return false;
        }
        slot.0 = Some(thread_loop);
        true
    })
}

/// Empties this thread's slot (its loop was dropped properly).
pub(crate) fn clear() {
    let _ = THIS_THREAD_LOOP.try_with(|slot| slot.borrow_mut().0.take());
}

/// A `block_on` on this thread, which may own a loop.
pub(crate) struct BlockingOnLoop {
    main_loop: Option<Arc<dyn ThreadLoop>>,
}

impl BlockingOnLoop {
    /// Looks up this thread's loop (if any) for a blocking call about to start.
    pub(crate) fn start() -> BlockingOnLoop {
        BlockingOnLoop {
            main_loop: current(),
        }
    }

    /// Whether the loop has work the blocked thread should look at.
    pub(crate) fn has_work(&self) -> bool {
        self.main_loop.as_ref().is_some_and(|l| l.has_work())
    }

    /// Fails if the loop has work waiting that cannot run while this thread blocks.
    #[track_caller]
    pub(crate) fn refuse_if_loop_waits(&self, what: &str) {
        let Some(main_loop) = &self.main_loop else {
            return;
        };
        if let Some(waiting) = main_loop.first_waiting() {
            panic!(
                "deadlock: {what} is blocking thread {:?}, which runs a MainLoop, while {waiting} \
                 waits to run on that loop. The loop cannot run it until {what} returns, and \
                 {what} may be waiting for it (the UI-thread `.Result` deadlock). Do not block \
                 a loop's thread: `.await` the future in a loop task instead (MainLoop::spawn), \
                 or use configure_await(false) in the code that must not come back to the loop",
                main_loop.thread_name()
            );
        }
    }
}
