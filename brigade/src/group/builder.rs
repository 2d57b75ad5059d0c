//! `GroupBuilder`: a task group's options — fail-fast and its rule, a parent token.

use super::shared::Shared;
use super::{Outcome, TaskGroup};
use crate::cancel::{CancellationToken, CancellationTokenSource};

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
    pub(super) fn new() -> GroupBuilder<T> {
        GroupBuilder {
            failure: None,
            parent: None,
        }
    }

    /// Fail-fast by [`Outcome`]: an `Err` output or a panic cancels the siblings.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::<Result<(), &str>>::builder().fail_fast().build();
    /// group.spawn(async { Err("broken") });
    /// group.spawn(std::future::pending());
    /// assert!(group.try_join_all().await.is_err());
    /// # });
    /// ```
    pub fn fail_fast(mut self) -> GroupBuilder<T>
    where
        T: Outcome,
    {
        self.failure = Some(<T as Outcome>::is_failure);
        self
    }

    /// Fail-fast with your own rule: an output for which `is_failure` is true, or a panic,
    /// cancels the siblings. `fail_when(|_| false)` fails fast on panics only.
    ///
    /// ```
    /// use brigade::group::GroupError;
    ///
    /// # brigade::block_on(async {
    /// let mut group = brigade::TaskGroup::<u16>::builder().fail_when(|status| *status >= 500).build();
    /// group.spawn(async { 503 });
    /// group.spawn(std::future::pending());
    /// assert_eq!(group.join_all().await, Err(GroupError::Failed(503)));
    /// # });
    /// ```
    pub fn fail_when(mut self, is_failure: fn(&T) -> bool) -> GroupBuilder<T> {
        self.failure = Some(is_failure);
        self
    }

    /// The group is cancelled, with all its children, when `parent` is (a request's group
    /// under the server's shutdown token). A cancelled `parent` gives a cancelled group.
    ///
    /// ```
    /// use brigade::cancel::CancellationTokenSource;
    ///
    /// # brigade::block_on(async {
    /// let shutdown = CancellationTokenSource::new();
    /// let mut group = brigade::TaskGroup::<()>::builder().cancelled_by(&shutdown.token()).build();
    /// group.spawn(std::future::pending());
    /// shutdown.cancel();
    /// assert!(group.join_next().await.unwrap().unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn cancelled_by(mut self, parent: &CancellationToken) -> GroupBuilder<T> {
        self.parent = Some(parent.clone());
        self
    }

    /// The group.
    ///
    /// ```
    /// let group = brigade::TaskGroup::<()>::builder().build();
    /// assert!(group.is_empty());
    /// ```
    pub fn build(self) -> TaskGroup<T> {
        let source = match &self.parent {
            Some(parent) => CancellationTokenSource::linked(std::slice::from_ref(parent)),
            None => CancellationTokenSource::new(),
        };
        TaskGroup::from_shared(Shared::new(source, self.failure))
    }
}
