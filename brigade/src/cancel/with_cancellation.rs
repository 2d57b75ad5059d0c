//! `fut.with_cancellation(&token)`: make any future stop when a token is cancelled — .NET's
//! `Task.WaitAsync(CancellationToken)`, except that Rust can do better than stop *waiting*:
//! the inner future is dropped, so the work itself stops (drop is Rust's cancellation).
//!
//! # Invariants (K8)
//! - Once cancellation is requested, the next poll returns `Err(Cancelled)` and drops the inner
//!   future right then; the cancel wakes the task, so that poll comes promptly.
//! - If the inner future finishes first, its value comes back as `Ok`.
//! - An already-cancelled token never polls the inner future at all.
//! - No allocation per poll: the waker lives in the source's registration storage and is
//!   refreshed in place.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::token::WhenCancelled;
use super::{CancellationToken, Cancelled};

/// Adds [`with_cancellation`](CancellationExt::with_cancellation) to every future. In
/// [`brigade::prelude`](crate::prelude).
pub trait CancellationExt: Future + Sized {
    /// Runs this future until it finishes (`Ok(output)`) or `token` is cancelled
    /// (`Err(Cancelled)`, and the future is dropped at that moment) (K8).
    ///
    /// ```
    /// use std::time::Duration;
    /// use brigade::cancel::CancellationTokenSource;
    /// use brigade::prelude::*;
    ///
    /// # brigade::block_on(async {
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    ///
    /// assert_eq!(async { 42 }.with_cancellation(&token).await, Ok(42));
    ///
    /// let forever = brigade::spawn(async move {
    ///     std::future::pending::<u32>().with_cancellation(&token).await
    /// });
    /// source.cancel();
    /// let error = forever.await.unwrap_err();
    /// assert_eq!(error.token(), &source.token());
    /// # });
    /// ```
    fn with_cancellation(self, token: &CancellationToken) -> WithCancellation<Self> {
        WithCancellation {
            future: Some(self),
            cancelled: token.cancelled(),
        }
    }
}

impl<F: Future> CancellationExt for F {}

pin_project_lite::pin_project! {
    /// The future returned by [`CancellationExt::with_cancellation`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithCancellation<F> {
        // The inner future; `None` once it finished or was dropped by a cancellation.
        #[pin]
        future: Option<F>,
        cancelled: WhenCancelled,
    }
}

impl<F: Future> Future for WithCancellation<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut future = this.future;
        assert!(
            future.is_some(),
            "WithCancellation polled after it completed; a future must not be polled again \
             once it returned Ready"
        );
        // The token first: once cancelled, the work is not resumed even once more. This poll
        // also registers (or refreshes) our waker, before the inner future can go to sleep.
        if this.cancelled.poll_cancelled(cx).is_ready() {
            future.set(None); // drop the work now, not when the caller drops us
            return Poll::Ready(Err(Cancelled::new(this.cancelled.token().clone())));
        }
        let output = match future.as_mut().as_pin_mut() {
            Some(inner) => std::task::ready!(inner.poll(cx)),
            None => unreachable!("checked above"),
        };
        future.set(None);
        Poll::Ready(Ok(output))
    }
}

impl<F> fmt::Debug for WithCancellation<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithCancellation")
            .field("finished", &self.future.is_none())
            .field("token", self.cancelled.token())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::cancel::CancellationTokenSource;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_already_cancelled_token_never_polls_the_inner_future() {
        let source = CancellationTokenSource::new();
        source.cancel();
        let polled = Arc::new(AtomicBool::new(false));
        let flag = polled.clone();
        let mut fut = std::pin::pin!(std::future::poll_fn(move |_| {
            flag.store(true, Ordering::SeqCst);
            Poll::Ready(1)
        })
        .with_cancellation(&source.token()));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
        assert!(!polled.load(Ordering::SeqCst));
    }

    #[test]
    fn cancellation_drops_the_inner_future_before_returning() {
        let source = CancellationTokenSource::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(dropped.clone());
        let mut fut = Box::pin(
            async move {
                let _guard = guard;
                std::future::pending::<()>().await
            }
            .with_cancellation(&source.token()),
        );
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        source.cancel();
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
        assert!(dropped.load(Ordering::SeqCst), "inner future still alive");
    }

    #[test]
    #[should_panic(expected = "polled after it completed")]
    fn polling_after_completion_says_so() {
        let token = CancellationToken::none();
        let mut fut = std::pin::pin!(async { 1 }.with_cancellation(&token));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
        let _ = fut.as_mut().poll(&mut cx);
    }
}
