//! `yield_now`: .NET's `Task.Yield()` (seed section 11) — "become asynchronous here".
//!
//! The first poll wakes the task and returns `Pending`, so the task goes to the *back* of its
//! worker's queue (a wake during one's own poll is treated as a yield, never as a LIFO
//! hand-off), and everything already queued runs before it resumes (S9).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Suspends the current task once, letting other ready tasks run before it continues.
///
/// ```
/// # brigade::block_on(async {
/// brigade::yield_now().await;
/// # });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
