//! Deadlock detection for blocking a loop's thread (X5): .NET's `.Result` on a UI thread.
//!
//! The classic: a UI event handler blocks on a task (`.Result`, `.Wait()`), and the task's
//! continuation was posted to the UI thread's SynchronizationContext. The UI thread waits for
//! the task; the task waits for the UI thread. Nothing moves, forever.
//!
//! brigade's `block_on` can see it happen. While a thread that owns a [`MainLoop`] blocks, its
//! loop cannot run anything; so the moment the loop has work waiting — queued before the block
//! or posted during it — whoever waits for that work waits on the blocked thread. Instead of
//! hanging, `block_on` fails at once, naming the loop's thread and the waiting task.
//!
//! # Invariants
//! - Checked after each poll of the blocked-on future: one that can finish does, first.
//! - A post to the loop unparks its thread, so a blocked `block_on` notices at once.
//!
//! [`MainLoop`]: super::MainLoop

use std::sync::Arc;

use super::main_loop::{loop_of_this_thread, LoopShared};

/// A `block_on` on this thread, which may own a `MainLoop`.
pub(crate) struct BlockingOnLoop {
    main_loop: Option<Arc<LoopShared>>,
}

impl BlockingOnLoop {
    /// Looks up this thread's loop (if any) for a blocking call about to start.
    pub(crate) fn start() -> BlockingOnLoop {
        BlockingOnLoop {
            main_loop: loop_of_this_thread(),
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
