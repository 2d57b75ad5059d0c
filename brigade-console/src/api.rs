//! The JSON the page reads: `/api/metrics` (counters, workers, the history ring, timers and
//! sockets being waited on), `/api/tasks` (the task dump with each task's wait and wait
//! chain), `/api/stalls` (kept stall reports), and `/api/snapshot` (all three in one request,
//! which is what the page fetches each second).
//!
//! What is shown is what `Runtime::dump` and `Runtime::metrics` show: task names, spawn
//! locations, socket addresses. No environment, no arguments, no request contents.

use brigade::runtime::{RuntimeDump, RuntimeMetrics, TaskState, WaitDetail, WaitOn};
use brigade::task::WaitKind;
use serde_json::{json, Value};

use crate::history::{History, Sample};
use crate::stalls;

/// `/api/metrics`.
pub(crate) fn metrics(metrics: &RuntimeMetrics, dump: &RuntimeDump, history: &History) -> Value {
    let latest = history.latest();
    let workers: Vec<Value> = metrics
        .per_worker
        .iter()
        .enumerate()
        .map(|(index, w)| {
            let busy = latest
                .and_then(|s| s.worker_busy.get(index).copied())
                .unwrap_or(0.0);
            let state = if !w.active {
                "retired"
            } else if w.stalled {
                "stalled"
            } else if busy >= 0.05 {
                "busy"
            } else {
                "parked"
            };
            json!({
                "index": index,
                "spare": index >= metrics.workers,
                "state": state,
                "busy_fraction": busy,
                "polls": w.polls,
                "steals": w.steals,
                "parks": w.parks,
                "local_queue_depth": w.local_queue_depth,
                "stalls": w.stalls,
            })
        })
        .collect();
    json!({
        "workers_configured": metrics.workers,
        "workers_active": metrics.active_workers,
        "spare_workers": metrics.spare_workers,
        "spares_started": metrics.spares_started,
        "stalled_workers": metrics.stalled_workers,
        "stalls_detected": metrics.stalls_detected,
        "worker_cap_reached": metrics.worker_cap_reached,
        "tasks_spawned": metrics.tasks_spawned,
        "tasks_completed": metrics.tasks_completed,
        "alive_tasks": metrics.alive_tasks,
        "injection_queue_depth": metrics.injection_queue_depth,
        "blocking_threads": metrics.blocking_threads,
        "unhandled_panics": metrics.unhandled_panics,
        "total_polls": metrics.total_polls(),
        "timers_pending": metrics.timers_pending,
        "timers_fired": metrics.timers_fired,
        "io_registrations": metrics.io_registrations,
        "io_events": metrics.io_events,
        "workers": workers,
        "history_capacity_s": history.capacity(),
        "history": history.samples().iter().map(sample).collect::<Vec<_>>(),
        "timers": waits_of(dump, |kind| matches!(
            kind,
            WaitKind::Sleep | WaitKind::Timeout | WaitKind::Interval
        )),
        "sockets": waits_of(dump, |kind| matches!(kind, WaitKind::Readable | WaitKind::Writable)),
    })
}

fn sample(s: &Sample) -> Value {
    json!({
        "t": (s.t * 10.0).round() / 10.0,
        "polls_per_s": s.polls_per_s.round(),
        "completed_per_s": s.completed_per_s.round(),
        "spawned_per_s": s.spawned_per_s.round(),
        "queue_depth": s.queue_depth,
        "alive_tasks": s.alive_tasks,
        "stalled_workers": s.stalled_workers,
    })
}

/// The tasks waiting on a timer or a socket: the dashboard's "timers" and "sockets" lists.
fn waits_of(dump: &RuntimeDump, wanted: impl Fn(WaitKind) -> bool) -> Vec<Value> {
    dump.tasks
        .iter()
        .filter_map(|task| {
            let wait = task.wait.as_ref()?;
            wanted(wait.kind).then(|| {
                let mut entry = json!({
                    "task": task.id.as_u64(),
                    "task_name": task.name,
                    "kind": wait.kind.as_str(),
                    "text": wait.to_string(),
                });
                match &wait.detail {
                    WaitDetail::Timer {
                        duration,
                        remaining,
                    } => {
                        entry["duration_ms"] = json!(duration.map(|d| d.as_millis() as u64));
                        entry["remaining_ms"] = json!(remaining.as_millis() as u64);
                    }
                    WaitDetail::Socket { fd, local, peer } => {
                        entry["fd"] = json!(fd);
                        entry["local"] = json!(local);
                        entry["peer"] = json!(peer);
                    }
                    _ => {}
                }
                entry
            })
        })
        .collect()
}

/// `/api/tasks`.
pub(crate) fn tasks(dump: &RuntimeDump) -> Value {
    let tasks: Vec<Value> = dump
        .tasks
        .iter()
        .map(|task| {
            let chain: Vec<Value> = dump
                .wait_chain(task.id)
                .into_iter()
                .skip(1)
                .map(|(id, wait)| json!({ "task": id.as_u64(), "wait": wait.to_string() }))
                .collect();
            json!({
                "id": task.id.as_u64(),
                "name": task.name,
                "state": state(task.state),
                "age_ms": task.age.as_millis() as u64,
                "polls": task.polls,
                "busy_ms": task.busy.as_millis() as u64,
                "spawned_at": task.spawned_at.to_string(),
                "group": task.group.map(|g| g.as_u64()),
                "parent": task.parent.map(|p| p.as_u64()),
                "wait": task.wait.as_ref().map(wait),
                "chain": chain,
            })
        })
        .collect();
    json!({ "count": tasks.len(), "tasks": tasks })
}

fn wait(wait: &WaitOn) -> Value {
    json!({
        "kind": wait.kind.as_str(),
        "text": wait.to_string(),
        "location": wait.location.map(|l| format!("{}:{}", l.file(), l.line())),
        "others": wait.others,
    })
}

fn state(state: TaskState) -> &'static str {
    match state {
        TaskState::Scheduled => "scheduled",
        TaskState::Running => "running",
        TaskState::Idle => "idle",
        TaskState::Finished => "finished",
    }
}

/// `/api/stalls`.
pub(crate) fn stalls() -> Value {
    let (kept, dropped) = stalls::kept();
    let reports: Vec<Value> = kept
        .iter()
        .rev()
        .map(|kept| {
            let r = &kept.report;
            json!({
                "unix_ms": kept.unix_ms,
                "worker": r.worker,
                "task": r.task.as_u64(),
                "task_name": r.task_name,
                "spawned_at": r.spawned_at.map(|l| l.to_string()),
                "blocked_ms": r.blocked_for.as_millis() as u64,
                "ended": r.ended,
                "text": r.to_string(),
            })
        })
        .collect();
    json!({ "dropped": dropped, "reports": reports })
}
