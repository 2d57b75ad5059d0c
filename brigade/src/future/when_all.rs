//! `when_all`: .NET's `Task.WhenAll` (seed section 10) — start everything, then wait for all.
//!
//! Every input is polled concurrently inside the one awaiting task; outputs come back in input
//! order. A panicking input does not cut the others short: all inputs run to the end, then the
//! panics are raised together (S6), as `WhenAll` gathers exceptions into one
//! `AggregateException`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ready_set::ReadySet;
use crate::task::panic_message;

/// Waits for every future in `futures` and returns their outputs in input order.
///
/// Ready at once for empty input. If inputs panic, the panic is raised after every input has
/// finished: with one panic, its original payload; with several, an [`AggregatePanic`] holding
/// all of them.
///
/// ```
/// # brigade::block_on(async {
/// let tasks = (1..=3).map(|i| brigade::spawn(async move { i * 10 }));
/// assert_eq!(brigade::when_all(tasks).await, vec![10, 20, 30]);
/// # });
/// ```
pub fn when_all<I>(futures: I) -> WhenAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let slots: Box<[Slot<I::Item>]> = futures.into_iter().map(Slot::Pending).collect();
    let ready = ReadySet::new(slots.len());
    WhenAll {
        remaining: slots.len(),
        slots,
        ready,
        panics: Vec::new(),
    }
}

enum Slot<F: Future> {
    Pending(F),
    Done(F::Output),
    Panicked,
    Taken,
}

/// The future returned by [`when_all`].
#[must_use = "futures do nothing unless awaited"]
pub struct WhenAll<F: Future> {
    slots: Box<[Slot<F>]>,
    ready: ReadySet,
    remaining: usize,
    panics: Vec<Box<dyn Any + Send>>,
}

/// Several inputs of [`when_all`] panicked; every payload is here, in input order.
pub struct AggregatePanic {
    /// The panic payloads.
    pub payloads: Vec<Box<dyn Any + Send>>,
}

impl fmt::Debug for AggregatePanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<&str> = self
            .payloads
            .iter()
            .map(|p| panic_message(p.as_ref()))
            .collect();
        f.debug_struct("AggregatePanic")
            .field("messages", &messages)
            .finish()
    }
}

impl fmt::Display for AggregatePanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} futures panicked:", self.payloads.len())?;
        for payload in &self.payloads {
            write!(f, " [{}]", panic_message(payload.as_ref()))?;
        }
        Ok(())
    }
}

impl<F: Future> Future for WhenAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: we never move out of `slots` while a future in it is pending (the boxed
        // slice is never reallocated and `Slot::Pending` values are only dropped in place),
        // so pinning each input in place is sound. Other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let ready = this.ready.take_ready(cx);
        for &index in &ready {
            let slot = &mut this.slots[index];
            if !matches!(slot, Slot::Pending(_)) {
                continue;
            }
            let child_waker = this.ready.waker(index);
            let mut child_cx = Context::from_waker(&child_waker);
            // The poll and, when it is ready, the drop of the finished future both happen
            // inside the catch: a panic in either is this input's panic, and never unwinds
            // past the other inputs.
            let finished = catch_unwind(AssertUnwindSafe(|| {
                let Slot::Pending(future) = &mut *slot else {
                    unreachable!()
                };
                // SAFETY: see above; the future stays where it is until dropped in place.
                let future = unsafe { Pin::new_unchecked(future) };
                match future.poll(&mut child_cx) {
                    Poll::Pending => false,
                    Poll::Ready(output) => {
                        *slot = Slot::Done(output);
                        true
                    }
                }
            }));
            match finished {
                Ok(false) => continue,
                Ok(true) => {}
                Err(payload) => {
                    *slot = Slot::Panicked;
                    this.panics.push(payload);
                }
            }
            this.remaining -= 1;
        }
        this.ready.recycle(ready);
        if this.remaining > 0 {
            return Poll::Pending;
        }
        match this.panics.len() {
            0 => {}
            1 => resume_unwind(this.panics.pop().expect("one panic")),
            _ => resume_unwind(Box::new(AggregatePanic {
                payloads: std::mem::take(&mut this.panics),
            })),
        }
        let outputs = this
            .slots
            .iter_mut()
            .map(|slot| match std::mem::replace(slot, Slot::Taken) {
                Slot::Done(output) => output,
                _ => panic!("WhenAll polled again after it completed"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}

impl<F: Future> fmt::Debug for WhenAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenAll")
            .field("inputs", &self.slots.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}
