//! `configure_await(false)` and `switch_to`: moving a `Send` task's home at an await point
//! (seed section 8, "The Power of .ConfigureAwait(false)").
//!
//! In .NET, `await x.ConfigureAwait(false)` says "I don't need the captured context to
//! continue". A library's async method is full of such awaits, so its body runs on the thread
//! pool even when called from a UI thread, and only the UI code resumes on the UI thread. In
//! Rust the library's future runs *inside* the caller's task, so brigade gives the same
//! effect by moving the task:
//!
//! 1. the wrapped future is polled once where the task is; ready at once → done: no hop, no
//!    allocation (X3's fast path);
//! 2. otherwise the task's home moves to the pool, so every later poll of the future happens
//!    on pool threads;
//! 3. when it finishes, the home moves back and the task wakes itself: the code after the
//!    `.await` resumes on the task's own context.
//!
//! # Invariants
//! - Only the running task's own poll moves its home, and a move always comes with the task
//!   being woken or waiting on the moved future, so the next poll happens at the new home.
//! - A `configure_await(false)` future dropped while the task is at the pool (a `select` or
//!   timeout chose another branch) moves the task back; the code after the drop runs on the
//!   pool until the task's next suspension, and resumes at home after it.
//! - Where the task cannot move — a `spawn_local` task, or code that is not a task
//!   (`block_on`'s and `MainLoop::run`'s own futures) — the future simply runs where it is.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::SyncContext;
use crate::task::{self, RawTask};

/// `.configure_await(..)` on every future; in [`brigade::prelude`](crate::prelude).
pub trait ConfigureAwaitExt: IntoFuture + Sized {
    /// `configure_await(false)`: run this future's body on the thread pool, then resume the
    /// awaiting task on its own context (X3). `configure_await(true)` is a plain await.
    ///
    /// Use it in library code and for work that never touches the UI; never for code that
    /// must run on the UI thread — and the code after the `.await` is not that code: it is
    /// back on the task's context.
    ///
    /// ```
    /// use brigade::prelude::*;
    /// use brigade::sync_context::MainLoop;
    ///
    /// let main_loop = MainLoop::new();
    /// let ui_thread = std::thread::current().id();
    /// let task = main_loop.spawn(async move {
    ///     let body_ran_on = async {
    ///         brigade::yield_now().await; // suspends: the rest runs on the pool
    ///         std::thread::current().id()
    ///     }
    ///     .configure_await(false)
    ///     .await;
    ///     (body_ran_on, std::thread::current().id())
    /// });
    /// let (body, after) = main_loop.run(task);
    /// assert_ne!(body, ui_thread);
    /// assert_eq!(after, ui_thread);
    /// ```
    fn configure_await(
        self,
        continue_on_captured_context: bool,
    ) -> ConfigureAwait<Self::IntoFuture> {
        ConfigureAwait {
            future: self.into_future(),
            state: if continue_on_captured_context {
                State::Here
            } else {
                State::FirstPoll
            },
        }
    }
}

impl<F: IntoFuture> ConfigureAwaitExt for F {}

/// The future returned by [`ConfigureAwaitExt::configure_await`].
#[must_use = "futures do nothing unless awaited"]
pub struct ConfigureAwait<F: Future> {
    future: F,
    state: State<F::Output>,
}

enum State<T> {
    /// `configure_await(false)`, not polled yet.
    FirstPoll,
    /// Runs where the task runs: `configure_await(true)`, or the task cannot move.
    Here,
    /// The task was moved to the pool; `moved_from` is its previous moved-to slot.
    AtPool {
        task: RawTask,
        moved_from: Option<Arc<dyn SyncContext>>,
    },
    /// Finished at the pool; the task is on its way home to return the output there.
    GoingHome(T),
    /// The output was returned.
    Done,
}

impl<F: Future> Future for ConfigureAwait<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned (never moved out, dropped in place with
        // `self`); `state` is not pinned and only ever replaced.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        match std::mem::replace(&mut this.state, State::Done) {
            State::Here => {
                this.state = State::Here;
                future.poll(cx)
            }
            State::FirstPoll => match future.poll(cx) {
                // The fast path: ready at once, no hop.
                Poll::Ready(output) => Poll::Ready(output),
                Poll::Pending => {
                    this.state = move_to_pool();
                    // The future holds the task's waker; its next wake-up goes to the pool.
                    Poll::Pending
                }
            },
            State::AtPool { task, moved_from } => {
                assert!(
                    task::running() == Some(task),
                    "a configure_await(false) future was moved to another task while it was \
                     pending; await it where it was first polled"
                );
                match future.poll(cx) {
                    Poll::Pending => {
                        this.state = State::AtPool { task, moved_from };
                        Poll::Pending
                    }
                    Poll::Ready(output) => {
                        // Home again, then resume there: the rest of the caller must not run
                        // on this pool thread.
                        task.restore_home(moved_from);
                        this.state = State::GoingHome(output);
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
            State::GoingHome(output) => Poll::Ready(output),
            State::Done => panic!("a ConfigureAwait future was polled after it completed"),
        }
    }
}

/// Moves the running task to its pool, if it can move and is not there already.
fn move_to_pool<T>() -> State<T> {
    let Some(task) = task::running() else {
        return State::Here;
    };
    if !task.is_movable() {
        return State::Here;
    }
    let (Some(home), Some(pool)) = (task.current_home(), task.pool_home()) else {
        return State::Here;
    };
    if Arc::ptr_eq(&home, &pool) {
        // Already on the pool: there is nothing to leave (and nowhere to come back to).
        return State::Here;
    }
    let moved_from = task.move_home(pool);
    State::AtPool { task, moved_from }
}

impl<F: Future> Drop for ConfigureAwait<F> {
    fn drop(&mut self) {
        if let State::AtPool { task, moved_from } = std::mem::replace(&mut self.state, State::Done)
        {
            // Dropped before finishing: take the task home, if this is still its poll.
            if task::running() == Some(task) {
                task.restore_home(moved_from);
            }
        }
    }
}

impl<F: Future> fmt::Debug for ConfigureAwait<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::FirstPoll => "first poll",
            State::Here => "here",
            State::AtPool { .. } => "at the pool",
            State::GoingHome(_) => "going home",
            State::Done => "done",
        };
        f.debug_struct("ConfigureAwait")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`switch_to`](super::switch_to).
#[must_use = "futures do nothing unless awaited"]
pub struct SwitchTo {
    target: Arc<dyn SyncContext>,
    switched: bool,
}

impl SwitchTo {
    pub(super) fn new(target: Arc<dyn SyncContext>) -> SwitchTo {
        SwitchTo {
            target,
            switched: false,
        }
    }
}

impl Future for SwitchTo {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.switched {
            return Poll::Ready(());
        }
        let Some(task) = task::running() else {
            panic!(
                "switch_to was awaited outside a task (in block_on's or MainLoop::run's own \
                 future, which runs on the calling thread and cannot move). Spawn the code \
                 that switches as a task: brigade::spawn, MainLoop::spawn or spawn_on"
            );
        };
        if task
            .current_home()
            .is_some_and(|home| Arc::ptr_eq(&home, &self.target))
        {
            return Poll::Ready(());
        }
        assert!(
            task.is_movable(),
            "switch_to in a spawn_local task: its future is not Send, so it can never leave \
             its MainLoop's thread. Spawn the part that must run elsewhere as a Send task"
        );
        let previous = task.move_home(self.target.clone());
        drop(previous);
        self.switched = true;
        // The wake re-queues the task at its new home when this poll ends.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl fmt::Debug for SwitchTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwitchTo")
            .field("switched", &self.switched)
            .finish_non_exhaustive()
    }
}
