//! Structured concurrency: a group that owns its children — Trio's nursery, Kotlin's coroutine
//! scope, and .NET's `Task.WhenAll` / `Task.WhenEach` / `Parallel.ForEachAsync` with
//! ownership added.
//!
//! A plain [`Task`](crate::Task) detaches when its handle is dropped (S5), as a .NET task does:
//! a request handler that fails half-way leaves the calls it started running. A [`TaskGroup`]
//! holds its children instead. Dropping the group cancels every child still running; failing
//! fast cancels the siblings of the first child that fails and waits for them; the group's
//! [`token`](TaskGroup::token) tells the children's sockets, sleeps and queries to stop.
//!
//! | here | .NET | Trio |
//! |---|---|---|
//! | [`TaskGroup::spawn`] | `Task.Run`, remembered | `nursery.start_soon` |
//! | [`TaskGroup::join_next`] | `Task.WhenAny` in a loop / `Task.WhenEach` | — |
//! | [`TaskGroup::join_all`] | `Task.WhenAll` | the end of `async with open_nursery()` |
//! | [`TaskGroup::fail_fast`] | a linked CTS cancelled in a `catch` | a nursery (always fail-fast) |
//! | [`TaskGroup::cancel_all`], [`token`](TaskGroup::token) | `CancellationTokenSource.Cancel` | `nursery.cancel_scope.cancel()` |
//! | [`for_each_concurrent`] | `Parallel.ForEachAsync` | — |
//! | [`when_each`] | `Task.WhenEach` (.NET 9) | — |
//! | [`race`] | `Task.WhenAny` over different types | — |
//!
//! # Invariants (docs/SEMANTICS.md, G1-G9)
//! - No child outlives its group: dropping the group (or [`cancel_all`](TaskGroup::cancel_all))
//!   requests cancellation of every child still running, and each child's future is dropped at
//!   its next opportunity — at once if it is waiting, right after the poll in progress if it is
//!   running (G1). [`shutdown`](TaskGroup::shutdown) waits for that.
//! - A child's output is reported exactly once, after its future has been dropped (its
//!   drop guards have run), in the order the futures finished (G3).
//! - A fail-fast group cancels the siblings of the first failure as soon as it happens, on the
//!   failing child's own thread, and `join_all` answers only once every child has stopped (G2).
//! - The group's token is cancelled when the group is cancelled, fails fast, is dropped, or its
//!   parent token is cancelled; cancelling it cancels every child (G5).
//!
//! # Layout
//! - `shared.rs` — the state children share with their group: the ready list, the handles (so
//!   a cancel from any thread reaches them), the child wrapper that reports a stop.
//! - `task_group.rs` — `TaskGroup`: spawning, cancelling, the token; `builder.rs` — its options;
//!   `join.rs` — `join_next`, `join_all`, `try_join_all`, `shutdown`.
//! - `for_each.rs` — `for_each_concurrent`; `when_each.rs` — `when_each`; `race.rs` — `race`.
//!
//! ```
//! use brigade::TaskGroup;
//! # brigade::block_on(async {
//! let mut group = TaskGroup::new();
//! for table in 1..=3 {
//!     group.spawn(async move { table * 2 });
//! }
//! let mut dishes = group.join_all().await.unwrap();
//! dishes.sort();
//! assert_eq!(dishes, [2, 4, 6]);
//! // Dropping a group instead would have cancelled every child still running.
//! # });
//! ```

mod builder;
mod for_each;
mod join;
mod race;
mod shared;
mod task_group;
mod when_each;

use std::fmt;

pub use builder::GroupBuilder;
pub use for_each::{for_each_concurrent, for_each_concurrent_with_token};
pub use join::JoinNext;
pub use race::{
    race, race_biased, IntoRace, Race2, Race3, Race4, Race5, Race6, Racing2, Racing3, Racing4,
    Racing5, Racing6,
};
pub use task_group::TaskGroup;
pub use when_each::{when_each, WhenEach};

pub use crate::task::GroupId;

/// Why a group's join gave no full set of outputs. Panics are not here: they are re-raised,
/// as [`when_all`](crate::when_all) re-raises them.
///
/// ```
/// use brigade::group::GroupError;
///
/// # brigade::block_on(async {
/// let mut group = brigade::TaskGroup::<Result<u32, String>>::fail_fast();
/// group.spawn(async { Err("no such user".to_string()) });
/// group.spawn(std::future::pending()); // cancelled by its sibling's failure
/// assert_eq!(group.try_join_all().await, Err(GroupError::Failed("no such user".to_string())));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError<F> {
    /// The first failure, in a fail-fast group (in a plain group's `try_join_all`: the first
    /// `Err` to finish). Every other child has stopped.
    Failed(F),
    /// Some children were cancelled — [`TaskGroup::cancel_all`], the group's parent token, or
    /// runtime shutdown — so they have no output.
    Cancelled,
}

impl<F: fmt::Display> fmt::Display for GroupError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Failed(failure) => write!(f, "a child of the task group failed: {failure}"),
            GroupError::Cancelled => f.write_str(
                "the task group was cancelled before every child finished (cancel_all, its \
                 parent token, or runtime shutdown)",
            ),
        }
    }
}

impl<F: fmt::Debug + fmt::Display> std::error::Error for GroupError<F> {}

/// What counts as a child *failing* in a fail-fast group ([`TaskGroup::fail_fast`]).
///
/// A panic always counts. Besides that, `Result` outputs fail when they are `Err`; `()` never
/// fails. Implement it for your own output types, or give any predicate to
/// [`GroupBuilder::fail_when`].
///
/// ```
/// use brigade::group::Outcome;
///
/// struct Status(u16);
/// impl Outcome for Status {
///     fn is_failure(&self) -> bool {
///         self.0 >= 500
///     }
/// }
/// assert!(Status(503).is_failure());
/// assert!(Err::<(), ()>(()).is_failure());
/// ```
pub trait Outcome {
    /// Whether this output is a failure that should cancel the siblings.
    fn is_failure(&self) -> bool;
}

impl<U, E> Outcome for Result<U, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

impl Outcome for () {
    fn is_failure(&self) -> bool {
        false
    }
}
