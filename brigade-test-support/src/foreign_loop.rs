//! A foreign event loop for the SyncContext tests: how a toolkit's own loop hosts brigade
//! tasks (X4).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

/// A foreign event loop for the SyncContext tests: one named thread draining a channel of
/// `Runnable`s, counting every post. The thread ends when every clone of the context is gone.
pub struct ForeignLoop {
    sender: std::sync::Mutex<mpsc::Sender<brigade::sync_context::Runnable>>,
    /// How many wake-ups were posted to the loop so far.
    pub posts: AtomicUsize,
    /// The loop's thread.
    pub thread: std::thread::ThreadId,
}

impl brigade::sync_context::SyncContext for ForeignLoop {
    fn post(&self, task: brigade::sync_context::Runnable) {
        self.posts.fetch_add(1, Ordering::SeqCst);
        let _ = self.sender.lock().unwrap().send(task);
    }
}

/// Starts a [`ForeignLoop`] thread named `name`.
pub fn foreign_loop(name: &str) -> Arc<ForeignLoop> {
    let (sender, receiver) = mpsc::channel::<brigade::sync_context::Runnable>();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            for task in receiver {
                task.run();
            }
        })
        .expect("start the foreign loop thread");
    Arc::new(ForeignLoop {
        sender: std::sync::Mutex::new(sender),
        posts: AtomicUsize::new(0),
        thread: thread.thread().id(),
    })
}
