//! Task identity: a process-unique id, an optional name and the spawn location, kept for
//! diagnostics (panic reports, stall reports, task dumps).

use std::fmt;
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A task's process-unique id. Ids are never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    /// The next unused id. `Relaxed`: uniqueness only needs the atomicity of the add.
    pub(crate) fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Relaxed);
        TaskId(NonZeroU64::new(id).expect("task ids exhausted"))
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }

    /// The id with this number (0 is no task).
    pub(crate) fn from_raw(raw: u64) -> Option<TaskId> {
        NonZeroU64::new(raw).map(TaskId)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a task carries for the people debugging it.
pub(crate) struct TaskMeta {
    pub(crate) name: Option<Box<str>>,
    pub(crate) location: &'static Location<'static>,
    /// The task group the task was spawned into and the task owning that group, for the dump.
    pub(crate) lineage: Lineage,
}

/// Which group a task belongs to (`TaskGroup`), and which task owns that group; 0 is none.
/// Written once by the group right after the spawn, read racily by the task dump.
#[derive(Default)]
pub(crate) struct Lineage {
    group: AtomicU64,
    parent: AtomicU64,
}

impl Lineage {
    pub(crate) fn set(&self, group: u64, parent: Option<TaskId>) {
        self.group.store(group, Relaxed);
        self.parent.store(parent.map_or(0, TaskId::as_u64), Relaxed);
    }

    /// The group's id (0 when the task is in no group) and the owning task.
    pub(crate) fn get(&self) -> (u64, Option<TaskId>) {
        (
            self.group.load(Relaxed),
            TaskId::from_raw(self.parent.load(Relaxed)),
        )
    }
}

/// A readable description of one task, e.g. `task 17 "fetch-user" spawned at src/main.rs:10:5`.
pub(crate) fn describe(id: TaskId, meta: &TaskMeta) -> String {
    match &meta.name {
        Some(name) => format!("task {id} {name:?} spawned at {}", meta.location),
        None => format!("task {id} spawned at {}", meta.location),
    }
}

/// A task group's process-unique id, shown in [`Runtime::dump`](crate::Runtime::dump).
///
/// ```
/// let group = brigade::TaskGroup::<()>::new();
/// assert!(group.id().as_u64() > 0);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct GroupId(u64);

impl GroupId {
    pub(crate) fn next() -> GroupId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        GroupId(NEXT.fetch_add(1, Relaxed))
    }

    /// The id as a number (never 0).
    ///
    /// ```
    /// let group = brigade::TaskGroup::<()>::new();
    /// assert_eq!(group.id().to_string(), group.id().as_u64().to_string());
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }

    pub(crate) fn from_raw(raw: u64) -> Option<GroupId> {
        (raw != 0).then_some(GroupId(raw))
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
