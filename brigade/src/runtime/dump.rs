//! The task dump: every live task with what it is doing, on demand, with no build flag — the
//! answer to "what is my program waiting on?" (.NET's `dotnet-dump` / parallel stacks view,
//! at the task level).
//!
//! The dump walks the runtime's list of live tasks under its shard locks, which hold a
//! reference to each task, so reading a task's header is always safe. Numbers come from the
//! task's own counters (polls, time in polls on a millisecond coarse clock) and its state word.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::clock::coarse_now_ms;
use crate::pool::Shared;
use crate::task::GroupId;
use crate::task::TaskId;

/// What a task is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Queued, waiting for a worker.
    Scheduled,
    /// Being polled by a worker right now.
    Running,
    /// Waiting to be woken (on a timer, a socket, another task...).
    Idle,
    /// Finished; about to leave the list.
    Finished,
}

/// One task in a [`RuntimeDump`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskDump {
    /// The task's id.
    pub id: TaskId,
    /// Its name, if it was spawned with one.
    pub name: Option<String>,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// What it is doing.
    pub state: TaskState,
    /// How long ago it was spawned (millisecond resolution).
    pub age: Duration,
    /// How many times it has been polled.
    pub polls: u64,
    /// Time spent inside its polls (millisecond resolution: short polls count as zero).
    pub busy: Duration,
    /// The [`TaskGroup`](crate::TaskGroup) it was spawned into, if any.
    pub group: Option<GroupId>,
    /// The task that created that group (none when it was created outside a task).
    pub parent: Option<TaskId>,
}

/// Every live task of a runtime, from [`Runtime::dump`](super::Runtime::dump).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeDump {
    /// The tasks, oldest first.
    pub tasks: Vec<TaskDump>,
}

impl RuntimeDump {
    pub(crate) fn collect(shared: &Shared) -> RuntimeDump {
        let now = coarse_now_ms();
        let mut tasks = Vec::new();
        shared.owned_tasks().for_each(|header| {
            let state = header.state.load();
            let state = if state.is_complete() {
                TaskState::Finished
            } else if state.is_running() {
                TaskState::Running
            } else if state.is_notified() {
                TaskState::Scheduled
            } else {
                TaskState::Idle
            };
            let stats = &header.stats;
            let (group, parent) = header.meta.lineage.get();
            tasks.push(TaskDump {
                id: header.id,
                name: header.meta.name.as_deref().map(str::to_owned),
                spawned_at: header.meta.location,
                state,
                age: Duration::from_millis(now.saturating_sub(stats.spawned_at_ms)),
                polls: u64::from(stats.polls.load(std::sync::atomic::Ordering::Relaxed)),
                busy: Duration::from_millis(u64::from(
                    stats.busy_ms.load(std::sync::atomic::Ordering::Relaxed),
                )),
                group: GroupId::from_raw(group),
                parent,
            });
        });
        tasks.sort_by_key(|task| task.id);
        RuntimeDump { tasks }
    }
}

impl fmt::Display for RuntimeDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} live task(s)", self.tasks.len())?;
        writeln!(
            f,
            "{:>6}  {:<9}  {:>9}  {:>7}  {:>9}  {:<12}  {:<20}  spawned at",
            "id", "state", "age", "polls", "in polls", "group<parent", "name"
        )?;
        for task in &self.tasks {
            // "g3<17": in group 3, created by task 17; "g3": a group made outside any task.
            let lineage = match (task.group, task.parent) {
                (Some(group), Some(parent)) => format!("g{group}<{parent}"),
                (Some(group), None) => format!("g{group}"),
                (None, _) => "-".to_owned(),
            };
            writeln!(
                f,
                "{:>6}  {:<9}  {:>9}  {:>7}  {:>9}  {:<12}  {:<20}  {}",
                task.id,
                format!("{:?}", task.state),
                format!("{:.1?}", task.age),
                task.polls,
                format!("{:.1?}", task.busy),
                lineage,
                task.name.as_deref().unwrap_or("-"),
                task.spawned_at
            )?;
        }
        Ok(())
    }
}
