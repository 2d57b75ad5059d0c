//! The task dump: every live task with what it is doing, on demand, with no build flag — the
//! answer to "what is my program waiting on?" (.NET's `dotnet-dump` / parallel stacks view,
//! at the task level).
//!
//! The dump walks the runtime's list of live tasks under its shard locks, which hold a
//! reference to each task, so reading a task's header is always safe. Numbers come from the
//! task's own counters (polls, time in polls on a millisecond coarse clock) and its state word,
//! and what it waits on from its wait slot (`task::wait`, worded by `dump_wait.rs`). Waits on
//! other tasks are followed into chains: "task 9 waits on task 17, which waits on a socket".

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use super::dump_wait::{WaitDetail, WaitOn};
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
    /// What it waits on, when it is idle (or queued after a wait) and the wait was one of
    /// brigade's own futures; `None` while it runs, before its first poll, or when it went
    /// pending on something brigade cannot see (a future of another library's making).
    pub wait: Option<WaitOn>,
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
        // On the runtime's clock: under virtual time, "time left" is virtual time left.
        let precise_now = crate::clock::ms_since_origin(shared.timers.now());
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
            // Only a task that is not being polled has a settled wait slot (`task::wait`).
            let wait = match state {
                TaskState::Idle | TaskState::Scheduled if stats_polled(header) => header
                    .wait
                    .read()
                    .map(|site| WaitOn::from_site(site, precise_now)),
                _ => None,
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
                wait,
            });
        });
        tasks.sort_by_key(|task| task.id);
        let mut dump = RuntimeDump { tasks };
        dump.name_joined_tasks();
        dump
    }

    /// The task with this id, if it is in the dump.
    pub fn task(&self, id: TaskId) -> Option<&TaskDump> {
        self.tasks
            .binary_search_by_key(&id, |task| task.id)
            .ok()
            .map(|at| &self.tasks[at])
    }

    /// The chain of waits starting at task `id`: its wait, then — while that is a join of
    /// another live task — that task's wait, and so on ("task 9 waits on task 17, which waits
    /// on a socket"). Stops at a task that waits on anything else, at a cycle, or after 16
    /// links.
    pub fn wait_chain(&self, id: TaskId) -> Vec<(TaskId, &WaitOn)> {
        let mut chain = Vec::new();
        let mut next = Some(id);
        while let Some(id) = next.take() {
            if chain.len() == 16 || chain.iter().any(|(seen, _)| *seen == id) {
                break;
            }
            let Some(wait) = self.task(id).and_then(|task| task.wait.as_ref()) else {
                break;
            };
            chain.push((id, wait));
            next = wait.joined_task();
        }
        chain
    }

    /// Fills in the names of joined tasks (the slot only holds their ids).
    fn name_joined_tasks(&mut self) {
        let names: Vec<(TaskId, Option<String>)> = self
            .tasks
            .iter()
            .map(|task| (task.id, task.name.clone()))
            .collect();
        for task in &mut self.tasks {
            if let Some(WaitOn {
                detail: WaitDetail::Task { id, name },
                ..
            }) = &mut task.wait
            {
                if let Ok(at) = names.binary_search_by_key(id, |(id, _)| *id) {
                    name.clone_from(&names[at].1);
                }
            }
        }
    }
}

/// Whether the task was polled at least once (before that its slot is empty anyway).
fn stats_polled(header: &crate::task::Header) -> bool {
    header
        .stats
        .polls
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
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
            if let Some(wait) = &task.wait {
                write!(f, "{:>8}waits on: {wait}", "")?;
                // Follow joins: "→ task 17 waits on: read on 127.0.0.1:5432".
                for (id, wait) in self.wait_chain(task.id).into_iter().skip(1) {
                    write!(f, "\n{:>10}→ task {id} waits on: {wait}", "")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
