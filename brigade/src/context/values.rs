//! The immutable map behind an [`ExecutionContext`](super::ExecutionContext): which
//! `AsyncLocal` holds which value, whether flow is suppressed, and what part of it flows.
//!
//! A map is never changed after it is built. Setting a value builds a new map with the change
//! (copy-on-write) and leaves the old one to whoever still holds it: a snapshot captured at a
//! spawn stays exactly as it was, whatever either side writes afterwards (C2).
//!
//! # Invariants
//! - `entries` is sorted by key and holds at most one entry per key.
//! - `flowing` is the map a spawn captures: the same map when nothing in it is task-only,
//!   else a second map built once, here, without the task-only entries. So capturing twice
//!   gives the same pointer and allocates nothing (C4), whatever the map holds.
//! - A flowing map never has `flow_suppressed` set.

use std::any::Any;
use std::sync::Arc;

/// A value in the map: shared between all the maps that carry it.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// One `AsyncLocal`'s value.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) key: u64,
    /// `false` for a task-only local (C6): the value stays in the task that set it.
    pub(crate) flows: bool,
    pub(crate) value: Value,
}

/// What a spawn captures from a map.
pub(crate) enum Flowing {
    /// Everything: the map has no task-only entries.
    Itself,
    /// Nothing: every entry is task-only.
    Nothing,
    /// The map without its task-only entries.
    Part(Arc<Values>),
}

/// An immutable context map.
pub(crate) struct Values {
    pub(crate) entries: Vec<Entry>,
    /// Set while an `ExecutionContext::suppress_flow` guard lives in this flow (C5).
    pub(crate) flow_suppressed: bool,
    pub(crate) flowing: Flowing,
}

impl Values {
    /// Builds a map, or `None` when it would be empty (the empty context is a null pointer).
    pub(crate) fn build(entries: Vec<Entry>, flow_suppressed: bool) -> Option<Arc<Values>> {
        if entries.is_empty() && !flow_suppressed {
            return None;
        }
        let task_only = entries.iter().filter(|entry| !entry.flows).count();
        let flowing = if task_only == 0 {
            Flowing::Itself
        } else if task_only == entries.len() {
            Flowing::Nothing
        } else {
            let part = entries
                .iter()
                .filter(|entry| entry.flows)
                .cloned()
                .collect();
            Flowing::Part(Arc::new(Values {
                entries: part,
                flow_suppressed: false,
                flowing: Flowing::Itself,
            }))
        };
        Some(Arc::new(Values {
            entries,
            flow_suppressed,
            flowing,
        }))
    }

    /// The value stored for `key`, if any.
    pub(crate) fn get(&self, key: u64) -> Option<&Value> {
        self.entries
            .binary_search_by_key(&key, |entry| entry.key)
            .ok()
            .map(|index| &self.entries[index].value)
    }
}

/// A copy of `map`'s entries with `key` set to `value` (or removed, for `None`).
pub(crate) fn with_entry(
    map: Option<&Values>,
    key: u64,
    flows: bool,
    value: Option<Value>,
) -> Vec<Entry> {
    let mut entries = map.map(|map| map.entries.clone()).unwrap_or_default();
    match (entries.binary_search_by_key(&key, |entry| entry.key), value) {
        (Ok(index), Some(value)) => entries[index] = Entry { key, flows, value },
        (Ok(index), None) => {
            entries.remove(index);
        }
        (Err(index), Some(value)) => entries.insert(index, Entry { key, flows, value }),
        (Err(_), None) => {}
    }
    entries
}
