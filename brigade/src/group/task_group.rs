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
use std::future::Future;
use std::sync::Arc;

use super::builder::GroupBuilder;
use super::shared::{Child, ChildFuture, Shared};
use super::{GroupId, Outcome};
use crate::cancel::CancellationToken;
use crate::task::TaskId;

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
    pub(super) shared: Arc<Shared<T>>,
    /// Slots free for reuse (only the owner allocates and frees slots).
    pub(super) free: Vec<u32>,
    pub(super) slots: u32,
    pub(super) next_seq: u64,
    pub(super) len: usize,
    /// Children whose futures are gone, taken from the shared side, not yet reported.
    pub(super) stopped: VecDeque<Child<T>>,
    /// Stopped children whose task had not published its outcome yet when polled (their join
    /// waker is the owner's: they wake it when they do).
    pub(super) publishing: Vec<Child<T>>,
    /// The drained ready list's buffer, reused.
    pub(super) spare: Vec<u32>,
}

impl<T: Send + 'static> TaskGroup<T> {
    /// An empty group: children run to the end unless the group is cancelled or dropped.
    ///
    /// ```
    /// let group: brigade::TaskGroup<u32> = brigade::TaskGroup::new();
    /// assert_eq!(group.len(), 0);
    /// ```
    pub fn new() -> TaskGroup<T> {
        TaskGroup::builder().build()
    }

    /// An empty fail-fast group: the first child that fails ([`Outcome`]: an `Err` output) or
    /// panics cancels its siblings, and [`join_all`](TaskGroup::join_all) /
    /// [`try_join_all`](TaskGroup::try_join_all) report that failure once every child stopped.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::<Result<u8, String>>::fail_fast();
    /// group.spawn(async { Ok(1) });
    /// group.spawn(async { Err("bad input".to_string()) });
    /// assert!(group.try_join_all().await.is_err());
    /// # });
    /// ```
    pub fn fail_fast() -> TaskGroup<T>
    where
        T: Outcome,
    {
        TaskGroup::builder().fail_fast().build()
    }

    /// A [`GroupBuilder`] for fail-fast rules and a parent token.
    ///
    /// ```
    /// let group = brigade::TaskGroup::<Result<(), String>>::builder().fail_fast().build();
    /// # drop(group);
    /// ```
    pub fn builder() -> GroupBuilder<T> {
        GroupBuilder::new()
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

    pub(super) fn from_shared(shared: Arc<Shared<T>>) -> TaskGroup<T> {
        TaskGroup {
            shared,
            free: Vec::new(),
            slots: 0,
            next_seq: 0,
            len: 0,
            stopped: VecDeque::new(),
            publishing: Vec::new(),
            spare: Vec::new(),
        }
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
