//! Joining a task group: `join_next` (the next child to stop), `join_all` / `try_join_all`
//! (every child, then one answer), `shutdown` (cancel, then wait).
//!
//! # Invariants
//! - Only children reported on the ready list are looked at; a child whose future is gone but
//!   whose task has not published its outcome yet waits in `publishing`, with the owner's
//!   waker as its join waker, so it wakes the owner when it does.
//! - `join_all` and friends answer only after every child has been reported (G2).

use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::resume_unwind;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{GroupError, TaskGroup};
use crate::future::AggregatePanic;
use crate::task::TaskError;

impl<T: Send + 'static> TaskGroup<T> {
    /// Waits for the next child to stop and gives its outcome, in the order children stop;
    /// `None` when no child is left. Only stopped children are looked at, so joining N
    /// children costs O(N) in all.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::new();
    /// group.spawn(async { brigade::time::sleep(Duration::from_millis(200)).await; "slow" });
    /// group.spawn(async { "fast" });
    /// assert_eq!(group.join_next().await.unwrap().unwrap(), "fast");
    /// assert_eq!(group.join_next().await.unwrap().unwrap(), "slow");
    /// assert!(group.join_next().await.is_none());
    /// # });
    /// ```
    pub fn join_next(&mut self) -> JoinNext<'_, T> {
        JoinNext { group: self }
    }

    /// Waits for every child and gives their outputs in spawn order.
    ///
    /// A panic is re-raised once every child has stopped, as [`when_all`](crate::when_all)
    /// does (several: an [`AggregatePanic`]). Otherwise, in a fail-fast group, the first
    /// failure's output is `Err(GroupError::Failed(output))`; if children were cancelled,
    /// `Err(GroupError::Cancelled)`.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::new();
    /// for i in 0..4 {
    ///     group.spawn(async move { i });
    /// }
    /// assert_eq!(group.join_all().await.unwrap(), vec![0, 1, 2, 3]);
    /// # });
    /// ```
    pub async fn join_all(mut self) -> Result<Vec<T>, GroupError<T>> {
        let (mut outputs, cancelled) = self.collect().await;
        let first_failure = self.shared.lock().first_failure;
        if let Some(failed) = first_failure {
            if let Some(at) = outputs.iter().position(|(seq, _)| *seq == failed) {
                return Err(GroupError::Failed(outputs.swap_remove(at).1));
            }
        }
        if cancelled {
            return Err(GroupError::Cancelled);
        }
        outputs.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(outputs.into_iter().map(|(_, output)| output).collect())
    }

    /// Every outcome, in stop order, after every child stopped; panics re-raised.
    async fn collect(&mut self) -> (Vec<(u64, T)>, bool) {
        let mut outputs = Vec::with_capacity(self.len);
        let mut panics = Vec::new();
        let mut cancelled = false;
        while let Some((seq, outcome)) = poll_fn(|cx| self.poll_join_next(cx)).await {
            match outcome {
                Ok(output) => outputs.push((seq, output)),
                Err(TaskError::Panicked(payload)) => panics.push(payload),
                Err(_) => cancelled = true,
            }
        }
        match panics.len() {
            0 => (outputs, cancelled),
            1 => resume_unwind(panics.pop().expect("one panic")),
            _ => resume_unwind(Box::new(AggregatePanic { payloads: panics })),
        }
    }

    /// Cancels every child and waits until all have stopped; their outcomes are dropped.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::new();
    /// group.spawn(std::future::pending::<()>());
    /// group.shutdown().await;
    /// assert!(group.is_empty());
    /// # });
    /// ```
    pub async fn shutdown(&mut self) {
        self.cancel_all();
        while self.join_next().await.is_some() {}
    }
}

impl<T> TaskGroup<T> {
    /// The next stopped child's outcome with its spawn sequence number.
    fn poll_join_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(u64, Result<T, TaskError>)>> {
        loop {
            for at in 0..self.publishing.len() {
                if let Poll::Ready(outcome) = self.publishing[at].1.poll_result(cx) {
                    let (seq, _) = self.publishing.swap_remove(at);
                    self.len -= 1;
                    return Poll::Ready(Some((seq, outcome)));
                }
            }
            while let Some((seq, mut task)) = self.stopped.pop_front() {
                match task.poll_result(cx) {
                    Poll::Ready(outcome) => {
                        self.len -= 1;
                        return Poll::Ready(Some((seq, outcome)));
                    }
                    // Its future is gone but the task has not published the outcome yet; it
                    // will wake us (the poll registered our waker as its join waker).
                    Poll::Pending => self.publishing.push((seq, task)),
                }
            }
            if self.len == 0 {
                return Poll::Ready(None);
            }
            if !self.drain(cx) {
                let (group, children) = (self.id().as_u64(), self.len as u64);
                crate::task::record_wait(crate::task::WaitKind::Group, None, group, children);
                return Poll::Pending;
            }
        }
    }

    /// Takes every reported child from the shared side; records `cx`'s waker for the next
    /// report. Returns whether anything was taken.
    fn drain(&mut self, cx: &Context<'_>) -> bool {
        let mut ready = std::mem::take(&mut self.spare);
        {
            let mut state = self.shared.lock();
            match &state.owner {
                Some(owner) if owner.will_wake(cx.waker()) => {}
                _ => state.owner = Some(cx.waker().clone()),
            }
            std::mem::swap(&mut ready, &mut state.ready);
            for &slot in &ready {
                // Empty only for a child whose spawn panicked before it was adopted (its
                // future was dropped inside the spawn): nothing to report, the slot is free.
                if let Some(child) = state.children.get_mut(slot as usize).and_then(Option::take) {
                    self.stopped.push_back(child);
                }
            }
        }
        let took = !ready.is_empty();
        self.free.extend_from_slice(&ready);
        ready.clear();
        self.spare = ready;
        took
    }
}

impl<U: Send + 'static, E: Send + 'static> TaskGroup<Result<U, E>> {
    /// [`join_all`](TaskGroup::join_all) for children that return `Result`: every `Ok` value
    /// in spawn order, or the first failure's error — in a fail-fast group the one that
    /// cancelled its siblings, otherwise the first `Err` to finish (after every child
    /// finished). Panics are re-raised; cancelled children give `Err(GroupError::Cancelled)`.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::<Result<u32, String>>::new();
    /// group.spawn(async { Ok(1) });
    /// group.spawn(async { Ok(2) });
    /// assert_eq!(group.try_join_all().await, Ok(vec![1, 2]));
    /// # });
    /// ```
    pub async fn try_join_all(mut self) -> Result<Vec<U>, GroupError<E>> {
        let (outputs, cancelled) = self.collect().await;
        let first_failure = self.shared.lock().first_failure;
        let mut values = Vec::with_capacity(outputs.len());
        let mut error = None;
        for (seq, output) in outputs {
            match output {
                Ok(value) => values.push((seq, value)),
                // The fail-fast failure wins; else the first `Err` in stop order.
                Err(e) if first_failure == Some(seq) || error.is_none() => error = Some(e),
                Err(_) => {}
            }
        }
        if let Some(e) = error {
            return Err(GroupError::Failed(e));
        }
        if cancelled {
            return Err(GroupError::Cancelled);
        }
        values.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(values.into_iter().map(|(_, value)| value).collect())
    }
}

/// The future returned by [`TaskGroup::join_next`]: the next child's outcome, or `None`.
///
/// ```
/// # brigade::block_on(async {
/// let mut group = brigade::TaskGroup::<()>::new();
/// let next: brigade::group::JoinNext<'_, ()> = group.join_next();
/// assert!(next.await.is_none(), "an empty group has nothing to join");
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct JoinNext<'a, T> {
    group: &'a mut TaskGroup<T>,
}

impl<T> Future for JoinNext<'_, T> {
    type Output = Option<Result<T, TaskError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.group
            .poll_join_next(cx)
            .map(|next| next.map(|(_, outcome)| outcome))
    }
}

impl<T> fmt::Debug for JoinNext<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinNext")
            .field("group", &self.group)
            .finish()
    }
}
