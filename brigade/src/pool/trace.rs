//! Deterministic mode's schedule: the seeded pick among runnable tasks, and the record of
//! every poll (what `Runtime::schedule_trace` returns).
//!
//! In deterministic mode the pool has one worker thread. Whatever becomes runnable — spawned,
//! woken by a task, by a timer, or yielding — goes into that worker's [`SeededQueue`], and the
//! next task to poll is drawn from it by a PRNG seeded from the runtime's seed. Since every
//! poll happens on that one thread and virtual time moves only when it is idle, the same
//! program with the same seed polls the same tasks in the same order, and different seeds
//! explore different orders (V4, V5).
//!
//! Tasks are named in the trace by their *ordinal*: the n-th distinct task this runtime polled
//! (0 is the first). Task ids are process-wide, so tests running side by side shift them;
//! ordinals only depend on the schedule.
//!
//! # Invariants
//! - A yielding task is drawn only when nothing else is runnable (S9 holds in this mode).
//! - The trace keeps at most [`TRACE_LIMIT`] polls and numbers at most [`TRACE_LIMIT`] tasks;
//!   past that it is marked truncated, while the fingerprint and the poll count go on.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::task::{Notified, TaskId};

/// The most polls a schedule trace keeps (and the most tasks it numbers): 100 000, a few MB.
/// Later polls still count in [`ScheduleTrace::total_polls`] and the fingerprint (a fixed
/// bound, not configurable: compare fingerprints to check longer runs).
pub const TRACE_LIMIT: usize = 100_000;

/// The runnable tasks of a deterministic worker, drawn from at random with a seeded PRNG.
pub(crate) struct SeededQueue {
    ready: Vec<Notified>,
    /// Tasks that yielded: drawn only when `ready` is empty.
    yielded: Vec<Notified>,
    rng: SplitMix,
}

impl SeededQueue {
    pub(crate) fn new(seed: u64) -> SeededQueue {
        SeededQueue {
            ready: Vec::new(),
            yielded: Vec::new(),
            rng: SplitMix(seed),
        }
    }

    pub(crate) fn push(&mut self, task: Notified, is_yield: bool) {
        if is_yield {
            self.yielded.push(task);
        } else {
            self.ready.push(task);
        }
    }

    pub(crate) fn extend(&mut self, tasks: impl IntoIterator<Item = Notified>) {
        self.ready.extend(tasks);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.yielded.is_empty()
    }

    /// The next task to poll, drawn at random among the ready ones (yielders only when none).
    pub(crate) fn draw(&mut self) -> Option<Notified> {
        if self.ready.is_empty() {
            std::mem::swap(&mut self.ready, &mut self.yielded);
        }
        if self.ready.is_empty() {
            return None;
        }
        let index = self.rng.below(self.ready.len());
        Some(self.ready.swap_remove(index))
    }

    /// Everything queued, for the worker's exit.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Notified> + '_ {
        self.ready.drain(..).chain(self.yielded.drain(..))
    }
}

/// SplitMix64: well mixed from the first output even for seeds 0, 1, 2, ...
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// One poll in a deterministic runtime's schedule.
#[derive(Clone, Debug)]
pub struct PollRecord {
    /// Which task: the n-th distinct task this runtime polled (0 first). Stable across runs of
    /// the same program with the same seed, unlike the process-wide [`TaskId`].
    pub task: usize,
    /// The task's process-wide id (differs between runs; not compared).
    pub id: TaskId,
    /// The task's name, if it was spawned with one.
    pub name: Option<Arc<str>>,
}

impl PartialEq for PollRecord {
    fn eq(&self, other: &PollRecord) -> bool {
        self.task == other.task && self.name == other.name
    }
}

impl Eq for PollRecord {}

/// The sequence of polls of a deterministic runtime (`Builder::deterministic`): print it, diff
/// it, compare it. Two traces are equal when they polled the same tasks (by ordinal and name)
/// in the same order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleTrace {
    /// The polls, in order (the first [`TRACE_LIMIT`]).
    pub polls: Vec<PollRecord>,
    /// Every poll, kept or not.
    pub total_polls: u64,
    /// A hash of the whole sequence of (ordinal, name): equal schedules, equal fingerprints.
    pub fingerprint: u64,
    /// Whether polls (or tasks) beyond [`TRACE_LIMIT`] were left out of `polls`.
    pub truncated: bool,
}

impl fmt::Display for ScheduleTrace {
    /// One line per poll: `<ordinal> <name>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for poll in &self.polls {
            writeln!(f, "{} {}", poll.task, poll.name.as_deref().unwrap_or("-"))?;
        }
        if self.truncated {
            writeln!(f, "... ({} polls in all)", self.total_polls)?;
        }
        Ok(())
    }
}

/// Builds the trace as the worker polls.
#[derive(Default)]
pub(crate) struct Recorder {
    tasks: HashMap<TaskId, (usize, Option<Arc<str>>)>,
    trace: ScheduleTrace,
}

impl Recorder {
    pub(crate) fn record(&mut self, task: &Notified) {
        let raw = task.raw();
        let header = raw.header();
        let next = self.tasks.len();
        let known = self.tasks.get(&header.id).cloned();
        let (ordinal, name) = match known {
            Some(entry) => entry,
            None => {
                let entry = (next, header.meta.name.as_deref().map(Arc::from));
                if next < TRACE_LIMIT {
                    self.tasks.insert(header.id, entry.clone());
                } else {
                    self.trace.truncated = true;
                }
                entry
            }
        };
        let trace = &mut self.trace;
        trace.total_polls += 1;
        // FNV-1a over the ordinal and the name.
        let mut hash = trace.fingerprint ^ 0xCBF2_9CE4_8422_2325;
        for byte in (ordinal as u64)
            .to_le_bytes()
            .iter()
            .chain(name.as_deref().unwrap_or("").as_bytes())
        {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01B3);
        }
        trace.fingerprint = hash;
        if trace.polls.len() < TRACE_LIMIT {
            trace.polls.push(PollRecord {
                task: ordinal,
                id: header.id,
                name,
            });
        } else {
            trace.truncated = true;
        }
    }

    pub(crate) fn snapshot(&self) -> ScheduleTrace {
        self.trace.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix;

    #[test]
    fn nearby_seeds_draw_differently() {
        let first: Vec<usize> = (0..8).map(|seed| SplitMix(seed).below(1000)).collect();
        let mut unique = first.clone();
        unique.sort_unstable();
        unique.dedup();
        assert!(unique.len() >= 7, "{first:?}");
    }
}
