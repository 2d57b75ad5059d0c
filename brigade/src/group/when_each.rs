//! `when_each`: .NET 9's `Task.WhenEach` — the outputs of several futures as a stream, in the
//! order they finish.
//!
//! The inputs are polled inside the task that consumes the stream, and only the ones woken
//! since the last poll are polled again (`future/ready_set.rs`), so draining N inputs costs
//! O(N) polls in all.
//!
//! # Invariants
//! - Each input's output is yielded exactly once, with its input index, in the order the
//!   inputs finished (several finishing between two polls: in the order they were seen).
//! - A panicking input is re-raised, in its place in that order, by the `poll_next` that would
//!   have yielded it; the other inputs are unaffected.
//! - Dropping the stream drops the inputs not finished yet (a [`Task`](crate::Task) input
//!   then detaches, as with `when_any`; put the tasks in a [`TaskGroup`](super::TaskGroup) to
//!   have them cancelled instead).

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::future::ready_set::ReadySet;

/// A stream of `(index, output)` for every future in `futures`, in the order they finish.
///
/// Read it with [`WhenEach::next`], or as a [`futures_core::Stream`].
///
/// ```
/// use std::time::Duration;
///
/// # brigade::block_on(async {
/// let slow = brigade::spawn(async {
///     brigade::time::sleep(Duration::from_millis(200)).await;
///     "slow"
/// });
/// let fast = brigade::spawn(async { "fast" });
/// let mut each = brigade::when_each([slow, fast]);
/// assert_eq!(each.next().await, Some((1, "fast")));
/// assert_eq!(each.next().await, Some((0, "slow")));
/// assert_eq!(each.next().await, None);
/// # });
/// ```
pub fn when_each<I>(futures: I) -> WhenEach<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let inputs: Box<[Option<I::Item>]> = futures.into_iter().map(Some).collect();
    WhenEach {
        ready: ReadySet::new(inputs.len()),
        remaining: inputs.len(),
        inputs,
        finished: VecDeque::new(),
    }
}

type Finished<T> = (usize, std::thread::Result<T>);

/// The stream returned by [`when_each`].
///
/// ```
/// use brigade::group::WhenEach;
///
/// # brigade::block_on(async {
/// let mut each: WhenEach<_> = brigade::when_each([std::future::ready(3)]);
/// assert_eq!(each.next().await, Some((0, 3)));
/// # });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct WhenEach<F: Future> {
    /// The inputs, pinned in place on the heap; `None` once finished.
    inputs: Box<[Option<F>]>,
    ready: ReadySet,
    /// Inputs not finished yet.
    remaining: usize,
    /// Finished inputs not yielded yet (several can finish between two polls).
    finished: VecDeque<Finished<F::Output>>,
}

// The inputs live in a boxed slice that never moves or reallocates, so moving the stream does
// not move them; outputs are never pinned.
impl<F: Future> Unpin for WhenEach<F> {}

impl<F: Future> WhenEach<F> {
    /// The next `(index, output)` in finishing order, or `None` when every input has been
    /// yielded.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut each = brigade::when_each([1, 2].map(std::future::ready));
    /// let mut sum = 0;
    /// while let Some((_, n)) = each.next().await {
    ///     sum += n;
    /// }
    /// assert_eq!(sum, 3);
    /// # });
    /// ```
    pub async fn next(&mut self) -> Option<(usize, F::Output)> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// How many outputs are still to come.
    ///
    /// ```
    /// let each = brigade::when_each([1, 2].map(std::future::ready));
    /// assert_eq!(each.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.remaining + self.finished.len()
    }

    /// Whether every output has been yielded.
    ///
    /// ```
    /// let each = brigade::when_each(Vec::<std::future::Ready<()>>::new());
    /// assert!(each.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Polls the woken inputs, queueing the ones that finish.
    fn poll_inputs(&mut self, cx: &mut Context<'_>) {
        let woken = self.ready.take_ready(cx);
        for &index in &woken {
            let Some(future) = &mut self.inputs[index] else {
                continue;
            };
            // SAFETY: the input is never moved out of the boxed slice; it is dropped in place
            // when it finishes or when the stream is dropped.
            let future = unsafe { Pin::new_unchecked(future) };
            let waker = self.ready.waker(index);
            let mut child_cx = Context::from_waker(&waker);
            let outcome = match catch_unwind(AssertUnwindSafe(|| future.poll(&mut child_cx))) {
                Ok(Poll::Pending) => continue,
                Ok(Poll::Ready(output)) => Ok(output),
                Err(payload) => Err(payload),
            };
            self.inputs[index] = None;
            self.remaining -= 1;
            self.finished.push_back((index, outcome));
        }
        self.ready.recycle(woken);
    }
}

impl<F: Future> Stream for WhenEach<F> {
    type Item = (usize, F::Output);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished.is_empty() && this.remaining > 0 {
            this.poll_inputs(cx);
        }
        match this.finished.pop_front() {
            Some((index, Ok(output))) => Poll::Ready(Some((index, output))),
            Some((_, Err(payload))) => resume_unwind(payload),
            None if this.remaining == 0 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<F: Future> fmt::Debug for WhenEach<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenEach")
            .field("inputs", &self.inputs.len())
            .field("to_come", &self.len())
            .finish()
    }
}
