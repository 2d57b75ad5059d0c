//! The registration list of one cancellation source: who to call when it is called off.
//!
//! A slab — a `Vec` of slots plus a free list threaded through the vacant ones — with a doubly
//! linked list threaded through the occupied ones, newest first. That shape gives every
//! operation the source needs in O(1) and without allocating once the slab is warm:
//!
//! - `insert` reuses a vacant slot when there is one, so storage never grows with churn: a
//!   long-lived source that sees a million short registrations come and go keeps only as many
//!   slots as were ever alive *at the same time* (K6).
//! - `remove(key)` unlinks one registration wherever it is (a dropped `Registration`).
//! - `pop_newest` hands `cancel()` the most recently registered callback first (K3: .NET runs
//!   them in reverse order of registration, like a stack of undo actions).
//!
//! # Invariants
//! - A [`SlotKey`] names one registration, not one slot: a slot's `generation` moves on every
//!   time it is vacated, so a stale key can never remove the registration that reuses the slot.
//! - This type is plain data with no lock and never calls a callback; its owner
//!   ([`super::state::SourceState`]) keeps it behind a mutex and runs callbacks outside it.

use std::fmt;
use std::sync::Weak;
use std::task::Waker;

use super::state::SourceState;

/// What to do when the source is cancelled.
pub(crate) enum Callback {
    /// A closure from `CancellationToken::register`.
    User(Box<dyn FnOnce() + Send>),
    /// A task awaiting `cancelled()` (or `with_cancellation`): wake it. Stored unboxed, so
    /// waiting for cancellation allocates nothing beyond the slot.
    Waker(Waker),
    /// A linked child source: cancel it too (K6). Weak, because a parent must never keep a
    /// dropped child alive; the child unregisters itself when it is dropped anyway.
    Linked(Weak<SourceState>),
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Callback::User(_) => "Callback::User",
            Callback::Waker(_) => "Callback::Waker",
            Callback::Linked(_) => "Callback::Linked",
        })
    }
}

/// Names one registration: its slot and the slot's generation when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotKey {
    index: u32,
    generation: u32,
}

/// A slot index, or none. `u32` keeps a slot small; four billion live registrations on one
/// source would exhaust memory long before the index.
type Link = Option<u32>;

struct Slot {
    /// Moves on each time the slot is vacated, so keys made before are stale.
    generation: u32,
    entry: Entry,
}

enum Entry {
    Occupied {
        callback: Callback,
        /// Registered just before this one (towards the tail, run later).
        older: Link,
        /// Registered just after this one (towards the head, run earlier).
        newer: Link,
    },
    Vacant {
        next_free: Link,
    },
}

/// The registrations of one source, newest first. See the module docs.
#[derive(Default)]
pub(crate) struct Registry {
    slots: Vec<Slot>,
    /// The most recently registered live callback: the head of the list, run first.
    newest: Link,
    /// The first vacant slot, reused before the `Vec` grows.
    free: Link,
    live: usize,
}

impl Registry {
    /// Adds `callback` as the newest registration.
    pub(crate) fn insert(&mut self, callback: Callback) -> SlotKey {
        let entry = Entry::Occupied {
            callback,
            older: self.newest,
            newer: None,
        };
        let index = match self.free {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                let Entry::Vacant { next_free } = slot.entry else {
                    unreachable!("the free list points at an occupied slot")
                };
                self.free = next_free;
                slot.entry = entry;
                index
            }
            None => {
                let index = u32::try_from(self.slots.len())
                    .expect("more than u32::MAX live registrations on one cancellation source");
                self.slots.push(Slot {
                    generation: 0,
                    entry,
                });
                index
            }
        };
        if let Some(previous_newest) = self.newest {
            self.set_newer(previous_newest, Some(index));
        }
        self.newest = Some(index);
        self.live += 1;
        SlotKey {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    /// Takes the registration `key` names out of the list, if it is still there (it is not
    /// once `pop_newest` took it, or the key is stale).
    pub(crate) fn remove(&mut self, key: SlotKey) -> Option<Callback> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation != key.generation || !matches!(slot.entry, Entry::Occupied { .. }) {
            return None;
        }
        Some(self.unlink(key.index))
    }

    /// Takes the most recently registered callback out of the list (K3: LIFO).
    pub(crate) fn pop_newest(&mut self) -> Option<(SlotKey, Callback)> {
        let index = self.newest?;
        let key = SlotKey {
            index,
            generation: self.slots[index as usize].generation,
        };
        Some((key, self.unlink(index)))
    }

    /// The waker stored for `key`, to refresh it on a re-poll; `None` if `key` is not live or
    /// not a waker registration.
    pub(crate) fn waker_mut(&mut self, key: SlotKey) -> Option<&mut Waker> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        match &mut slot.entry {
            Entry::Occupied {
                callback: Callback::Waker(waker),
                ..
            } => Some(waker),
            _ => None,
        }
    }

    /// How many registrations are live.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// How many slots the storage holds (live + vacant): the figure that must not grow with
    /// churn (K6).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Unlinks the occupied slot `index` from the list, vacates it and returns its callback.
    fn unlink(&mut self, index: u32) -> Callback {
        let slot = &mut self.slots[index as usize];
        let vacant = Entry::Vacant {
            next_free: self.free,
        };
        let Entry::Occupied {
            callback,
            older,
            newer,
        } = std::mem::replace(&mut slot.entry, vacant)
        else {
            unreachable!("unlink of a vacant slot")
        };
        // The key that named this registration is now stale.
        slot.generation = slot.generation.wrapping_add(1);
        self.free = Some(index);
        match newer {
            Some(newer) => self.set_older(newer, older),
            None => self.newest = older,
        }
        if let Some(older) = older {
            self.set_newer(older, newer);
        }
        self.live -= 1;
        callback
    }

    fn set_newer(&mut self, index: u32, link: Link) {
        match &mut self.slots[index as usize].entry {
            Entry::Occupied { newer, .. } => *newer = link,
            Entry::Vacant { .. } => unreachable!("a live registration links to a vacant slot"),
        }
    }

    fn set_older(&mut self, index: u32, link: Link) {
        match &mut self.slots[index as usize].entry {
            Entry::Occupied { older, .. } => *older = link,
            Entry::Vacant { .. } => unreachable!("a live registration links to a vacant slot"),
        }
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.live)
            .field("slots", &self.slots.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A callback that says which one it is when called.
    fn numbered(n: usize, log: &std::sync::Arc<std::sync::Mutex<Vec<usize>>>) -> Callback {
        let log = log.clone();
        Callback::User(Box::new(move || log.lock().unwrap().push(n)))
    }

    fn run_all(registry: &mut Registry) {
        while let Some((_, callback)) = registry.pop_newest() {
            let Callback::User(f) = callback else {
                panic!("not a user callback")
            };
            f();
        }
    }

    #[test]
    fn pops_newest_first() {
        let log = Default::default();
        let mut registry = Registry::default();
        for n in 0..5 {
            registry.insert(numbered(n, &log));
        }
        run_all(&mut registry);
        assert_eq!(*log.lock().unwrap(), vec![4, 3, 2, 1, 0]);
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn removing_from_the_middle_head_and_tail_keeps_the_order_of_the_rest() {
        let log = Default::default();
        let mut registry = Registry::default();
        let keys: Vec<SlotKey> = (0..6).map(|n| registry.insert(numbered(n, &log))).collect();
        assert!(registry.remove(keys[2]).is_some(), "middle");
        assert!(registry.remove(keys[5]).is_some(), "head (newest)");
        assert!(registry.remove(keys[0]).is_some(), "tail (oldest)");
        assert!(
            registry.remove(keys[2]).is_none(),
            "a second remove finds nothing"
        );
        assert_eq!(registry.len(), 3);
        run_all(&mut registry);
        assert_eq!(*log.lock().unwrap(), vec![4, 3, 1]);
    }

    #[test]
    fn a_stale_key_cannot_remove_the_registration_that_reuses_its_slot() {
        let log = Default::default();
        let mut registry = Registry::default();
        let old = registry.insert(numbered(0, &log));
        assert!(registry.remove(old).is_some());
        let new = registry.insert(numbered(1, &log));
        assert_eq!(new.index, old.index, "the vacant slot is reused");
        assert!(
            registry.remove(old).is_none(),
            "stale key removed a newer registration"
        );
        assert!(registry.remove(new).is_some());
    }

    #[test]
    fn storage_does_not_grow_with_churn() {
        let log = Default::default();
        let mut registry = Registry::default();
        let keep: Vec<SlotKey> = (0..3).map(|n| registry.insert(numbered(n, &log))).collect();
        for n in 0..100_000 {
            let key = registry.insert(numbered(n, &log));
            assert!(registry.remove(key).is_some());
        }
        assert_eq!(registry.slot_count(), 4, "3 kept + 1 reused");
        assert_eq!(registry.len(), keep.len());
    }

    #[test]
    fn waker_mut_finds_only_live_waker_registrations() {
        let log = Default::default();
        let mut registry = Registry::default();
        let user = registry.insert(numbered(0, &log));
        let waker = registry.insert(Callback::Waker(Waker::noop().clone()));
        assert!(registry.waker_mut(user).is_none());
        assert!(registry.waker_mut(waker).is_some());
        registry.remove(waker);
        assert!(registry.waker_mut(waker).is_none());
    }
}
