//! `TaskGroup<T>`: a set of tasks owned by one scope — Trio's nursery, a Kotlin
//! `coroutineScope`, .NET's `Task.WhenAll` over tasks that cannot be forgotten.
//!
//! # Invariants
//! - `len` counts the children spawned and not yet reported by a join; each child is
//!   reported once (its outcome), in the order the children stopped.
//! - Dropping the group cancels its source, whose callback cancels every child still held;
//!   children already taken by the owner have stopped (their futures are gone).

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::shared::{Child, ChildFuture, Shared};
use super::{GroupError, GroupId, Outcome};
use crate::cancel::{CancellationToken, CancellationTokenSource};
use crate::future::AggregatePanic;
use crate::task::{TaskError, TaskId};

/// A group of tasks that live no longer than the group: spawn children, join them as they
/// finish or all at once; dropping the group cancels the ones still running.
///
/// Children run as ordinary tasks on the current runtime (in parallel on its workers). Each is
/// shown in [`Runtime::dump`](crate::Runtime::dump) with the group's id and the task that
/// created the group.
///
/// ```
/// use brigade::TaskGroup;
///
/// # brigade::block_on(async {
/// let mut group = TaskGroup::new();
/// for i in 1..=3u64 {
///     group.spawn(async move { i * 10 });
/// }
/// let mut sum = 0;
/// while let Some(outcome) = group.join_next().await {
///     sum += outcome.expect("no child panicked or was cancelled");
/// }
/// assert_eq!(sum, 60);
/// # });
/// ```
///
/// Fail-fast, with the group's token handed to a child that waits on something else:
///
/// ```
/// use brigade::TaskGroup;
/// use brigade::prelude::*;
/// use std::time::Duration;
///
/// # brigade::block_on(async {
/// let mut group = TaskGroup::<Result<&str, &str>>::fail_fast();
/// let token = group.token();
/// group.spawn(async move {
///     // Stops when the sibling fails: its sleep is dropped through the token.
///     brigade::time::sleep(Duration::from_secs(60)).with_cancellation(&token).await.ok();
///     Ok("slow")
/// });
/// group.spawn(async { Err("the database is down") });
/// let outcome = group.try_join_all().await;
/// assert_eq!(outcome, Err(brigade::group::GroupError::Failed("the database is down")));
/// # });
/// ```
pub struct TaskGroup<T> {
    shared: Arc<Shared<T>>,
    /// Slots free for reuse (only the owner allocates and frees slots).
    free: Vec<u32>,
    slots: u32,
    next_seq: u64,
    len: usize,
    /// Children whose futures are gone, taken from the shared side, not yet reported.
    stopped: VecDeque<Child<T>>,
    /// Stopped children whose task had not published its outcome yet when polled (their join
    /// waker is the owner's: they wake it when they do).
    publishing: Vec<Child<T>>,
    /// The drained ready list's buffer, reused.
    spare: Vec<u32>,
}

/// Builds a [`TaskGroup`] with options: fail-fast, a parent token.
///
/// ```
/// use brigade::cancel::CancellationTokenSource;
/// use brigade::TaskGroup;
///
/// let server_shutdown = CancellationTokenSource::new();
/// let group = TaskGroup::<u32>::builder()
///     .fail_when(|n| *n == 0)
///     .cancelled_by(&server_shutdown.token())
///     .build();
/// server_shutdown.cancel();
/// assert!(group.token().is_cancellation_requested());
/// ```
pub struct GroupBuilder<T> {
    failure: Option<fn(&T) -> bool>,
    parent: Option<CancellationToken>,
}

impl<T: Send + 'static> GroupBuilder<T> {
    /// Fail-fast by [`Outcome`]: an `Err` output or a panic cancels the siblings.
    pub fn fail_fast(mut self) -> GroupBuilder<T>
    where
        T: Outcome,
    {
        self.failure = Some(<T as Outcome>::is_failure);
        self
    }

    /// Fail-fast with your own rule: an output for which `is_failure` is true, or a panic,
    /// cancels the siblings. `fail_when(|_| false)` fails fast on panics only.
    pub fn fail_when(mut self, is_failure: fn(&T) -> bool) -> GroupBuilder<T> {
        self.failure = Some(is_failure);
        self
    }

    /// The group is cancelled, with all its children, when `parent` is (a request's group
    /// under the server's shutdown token). A cancelled `parent` gives a cancelled group.
    pub fn cancelled_by(mut self, parent: &CancellationToken) -> GroupBuilder<T> {
        self.parent = Some(parent.clone());
        self
    }

    /// The group.
    pub fn build(self) -> TaskGroup<T> {
        let source = match &self.parent {
            Some(parent) => CancellationTokenSource::linked(std::slice::from_ref(parent)),
            None => CancellationTokenSource::new(),
        };
        TaskGroup {
            shared: Shared::new(source, self.failure),
            free: Vec::new(),
            slots: 0,
            next_seq: 0,
            len: 0,
            stopped: VecDeque::new(),
            publishing: Vec::new(),
            spare: Vec::new(),
        }
    }
}

impl<T: Send + 'static> TaskGroup<T> {
    /// An empty group: children run to the end unless the group is cancelled or dropped.
    pub fn new() -> TaskGroup<T> {
        TaskGroup::builder().build()
    }

    /// An empty fail-fast group: the first child that fails ([`Outcome`]: an `Err` output) or
    /// panics cancels its siblings, and [`join_all`](TaskGroup::join_all) /
    /// [`try_join_all`](TaskGroup::try_join_all) report that failure once every child stopped.
    pub fn fail_fast() -> TaskGroup<T>
    where
        T: Outcome,
    {
        TaskGroup::builder().fail_fast().build()
    }

    /// A [`GroupBuilder`] for fail-fast rules and a parent token.
    pub fn builder() -> GroupBuilder<T> {
        GroupBuilder {
            failure: None,
            parent: None,
        }
    }

    /// Spawns `future` as a child task on the current runtime; returns its id. In a group that
    /// is already cancelled, the child is cancelled at once (it reports
    /// `Err(TaskError::Cancelled)` unless it finishes first).
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::new();
    /// let id = group.spawn(async { "hello" });
    /// assert!(id.as_u64() > 0);
    /// assert_eq!(group.join_next().await.unwrap().unwrap(), "hello");
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> TaskId
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (slot, seq) = self.next_slot();
        let task = crate::spawn(ChildFuture::new(future, self.shared.clone(), slot, seq));
        self.adopt(slot, seq, task)
    }

    /// [`spawn`](TaskGroup::spawn) with a task name, shown in diagnostics and dumps.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::new();
    /// group.spawn_named("fetch-user", async { 7 });
    /// assert_eq!(group.join_all().await.unwrap(), vec![7]);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&mut self, name: impl Into<String>, future: F) -> TaskId
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (slot, seq) = self.next_slot();
        let child = ChildFuture::new(future, self.shared.clone(), slot, seq);
        let task = crate::spawn_named(name, child);
        self.adopt(slot, seq, task)
    }

    fn next_slot(&mut self) -> (u32, u64) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots += 1;
            self.slots - 1
        });
        self.next_seq += 1;
        (slot, self.next_seq)
    }

    fn adopt(&mut self, slot: u32, seq: u64, task: crate::Task<T>) -> TaskId {
        let id = task.id();
        let shared = &self.shared;
        let header = task.raw();
        header
            .header()
            .meta
            .lineage
            .set(shared.id.as_u64(), shared.parent);
        shared.insert(slot, seq, task);
        self.len += 1;
        id
    }

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

    /// Requests cancellation of every child still running, and cancels the group's token. A
    /// cancelled group stays cancelled: later children are cancelled as they are spawned.
    /// Join (or [`shutdown`](TaskGroup::shutdown)) to wait until they have stopped.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::new();
    /// group.spawn(std::future::pending::<()>());
    /// group.cancel_all();
    /// assert!(group.join_next().await.unwrap().unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn cancel_all(&self) {
        self.shared.source.cancel();
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
    /// How many children have not been reported by a join yet (running, or stopped and not
    /// joined).
    ///
    /// ```
    /// let mut group = brigade::TaskGroup::new();
    /// # brigade::block_on(async move {
    /// group.spawn(async {});
    /// assert_eq!(group.len(), 1);
    /// # });
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether every child has been joined (or none was spawned).
    ///
    /// ```
    /// assert!(brigade::TaskGroup::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The group's id, as the task dump shows it beside each child.
    ///
    /// ```
    /// let a = brigade::TaskGroup::<()>::new();
    /// let b = brigade::TaskGroup::<()>::new();
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> GroupId {
        self.shared.id
    }

    /// A token cancelled when the group is: [`cancel_all`](TaskGroup::cancel_all), a
    /// fail-fast failure, its parent token, or the group's drop. Hand it to the children's
    /// sockets, sleeps and queries so they stop cleanly at their own await points.
    ///
    /// ```
    /// let group = brigade::TaskGroup::<()>::new();
    /// let token = group.token();
    /// drop(group);
    /// assert!(token.is_cancellation_requested());
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.shared.source.token()
    }

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
                let child = state.children[slot as usize]
                    .take()
                    .expect("a child reports its stop once, after it was adopted");
                self.stopped.push_back(child);
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

impl<T: Send + 'static> Default for TaskGroup<T> {
    fn default() -> TaskGroup<T> {
        TaskGroup::new()
    }
}

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        // Every child still held by the shared side is cancelled by the source's callback;
        // the ones in `stopped` / `publishing` have already lost their futures.
        self.shared.source.cancel();
        // Children still stopping must not keep the owner's task alive through its waker.
        self.shared.lock().owner = None;
    }
}

impl<T> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("id", &self.shared.id)
            .field("len", &self.len)
            .field("fail_fast", &self.shared.failure.is_some())
            .field("cancelled", &self.shared.source.is_cancellation_requested())
            .finish()
    }
}

/// The future returned by [`TaskGroup::join_next`]: the next child's outcome, or `None`.
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
