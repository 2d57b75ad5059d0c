//! `timeout`: race a future against a deadline (.NET's `task.WaitAsync(timeout)`).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::sleep::{far_enough, Sleep, SleepSite};
use super::Instant;
use crate::task::WaitKind;

/// Runs `future` for at most `duration`: `Ok(output)` if it finishes first, `Err(Elapsed)` once
/// the time is up — and then `future` is dropped, cancelling whatever it was doing (T3).
///
/// ```
/// use std::time::Duration;
/// use brigade::time::{sleep, timeout};
/// # brigade::block_on(async {
/// assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
/// let late = timeout(Duration::from_millis(10), sleep(Duration::from_secs(60))).await;
/// assert!(late.is_err());
/// # });
/// ```
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    let site = SleepSite::here(WaitKind::Timeout, Some(duration));
    Timeout {
        future: Some(future),
        sleep: Sleep::new(far_enough(Instant::now(), duration), true, site),
    }
}

/// [`timeout`] with a deadline instead of a duration (a [`brigade::time::Instant`](Instant) or a
/// std `Instant`).
#[track_caller]
pub fn timeout_at<F: Future>(deadline: impl Into<Instant>, future: F) -> Timeout<F> {
    let site = SleepSite::here(WaitKind::Timeout, None);
    Timeout {
        future: Some(future),
        sleep: Sleep::new(deadline.into(), true, site),
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`].
    #[must_use = "a Timeout does nothing unless awaited"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        // `None` once the time ran out and the future was dropped.
        #[pin]
        future: Option<F>,
        #[pin]
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future, unless the time already ran out.
    pub fn get_ref(&self) -> Option<&F> {
        self.future.as_ref()
    }

    /// Takes the wrapped future back out (it was never pinned if this is callable).
    pub fn into_inner(self) -> Option<F>
    where
        F: Unpin,
    {
        let mut this = self;
        this.future.take()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `future` is dropped in place when time runs out (`Option::take` on a pinned field
        // would move it, so it is set to `None` through `Pin::set`).
        let this = self.project();
        let mut future = this.future;
        if let Some(inner) = future.as_mut().as_pin_mut() {
            if let Poll::Ready(output) = inner.poll(cx) {
                return Poll::Ready(Ok(output));
            }
        } else {
            return Poll::Ready(Err(Elapsed { _private: () }));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => {
                // Time is up: drop the future now, not when the Timeout goes.
                future.set(None);
                Poll::Ready(Err(Elapsed { _private: () }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of a [`timeout`] whose time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    _private: (),
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed before the operation completed")
    }
}

impl Error for Elapsed {}
