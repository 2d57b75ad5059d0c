//! `when_any`: .NET's `Task.WhenAny` — wait for the first of several futures to finish.
//!
//! Yields the index and output of the first input to finish (S7). A panic counts as finishing
//! and is re-raised. The other inputs are dropped with the `WhenAny`: plain futures stop there;
//! [`Task`](crate::Task)s are detached and keep running, as .NET tasks do.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ready_set::ReadySet;

/// Waits for the first future in `futures` to finish; returns its index and output.
///
/// # Panics
/// At once if `futures` is empty (there would be nothing to wait for, forever); and when the
/// first input to finish panicked, with its payload.
///
/// ```
/// # brigade::block_on(async {
/// let never = brigade::spawn(std::future::pending::<u32>());
/// let soon = brigade::spawn(async { 7 });
/// assert_eq!(brigade::when_any([never, soon]).await, (1, 7));
/// # });
/// ```
#[track_caller]
pub fn when_any<I>(futures: I) -> WhenAny<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let inputs: Box<[Option<I::Item>]> = futures.into_iter().map(Some).collect();
    assert!(
        !inputs.is_empty(),
        "when_any needs at least one future: with none it would never finish"
    );
    let ready = ReadySet::new(inputs.len());
    WhenAny { inputs, ready }
}

/// The future returned by [`when_any`].
#[must_use = "futures do nothing unless awaited"]
pub struct WhenAny<F> {
    inputs: Box<[Option<F>]>,
    ready: ReadySet,
}

impl<F: Future> Future for WhenAny<F> {
    type Output = (usize, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: inputs are never moved out of the boxed slice while pending; they are only
        // dropped in place (when this future is dropped or finishes).
        let this = unsafe { self.get_unchecked_mut() };
        let ready = this.ready.take_ready(cx);
        let mut finished = None;
        for &index in &ready {
            let Some(future) = &mut this.inputs[index] else {
                continue;
            };
            // SAFETY: see above.
            let future = unsafe { Pin::new_unchecked(future) };
            let child_waker = this.ready.waker(index);
            let mut child_cx = Context::from_waker(&child_waker);
            match catch_unwind(AssertUnwindSafe(|| future.poll(&mut child_cx))) {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(output)) => {
                    finished = Some(Ok((index, output)));
                    break;
                }
                // The first input to finish did so by panicking.
                Err(payload) => {
                    finished = Some(Err(payload));
                    break;
                }
            }
        }
        this.ready.recycle(ready);
        let Some(finished) = finished else {
            return Poll::Pending;
        };
        // Finished either way: drop every input now (losers and the panicked one), so a poll
        // after this finds nothing to run.
        for input in this.inputs.iter_mut() {
            *input = None;
        }
        match finished {
            Ok(result) => Poll::Ready(result),
            Err(payload) => resume_unwind(payload),
        }
    }
}

impl<F> fmt::Debug for WhenAny<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenAny")
            .field("inputs", &self.inputs.len())
            .finish()
    }
}
