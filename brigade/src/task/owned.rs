//! The owned-task list: every live task of a scheduler, so shutdown can drop the futures that
//! no queue holds (tasks idle until a waker fires) and diagnostics can list them.
//!
//! An intrusive doubly-linked list through the task headers, split into shards (by task id) so
//! that spawning and completing on different workers rarely meet on a lock.
//!
//! # Invariants
//! - A task is in the list from a successful `bind` until `remove` or `pop_for_shutdown`,
//!   and holds one reference for the list meanwhile.
//! - Links are read and written only under the owning shard's lock.
//! - Once closed, `bind` fails: nothing joins a list that shutdown is emptying.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::Mutex;

use super::cell::{Header, RawTask};
use super::id::{TaskId, TaskMeta};

/// The links a task header carries for the owned list.
pub(crate) struct OwnedLinks {
    prev: UnsafeCell<Option<NonNull<Header>>>,
    next: UnsafeCell<Option<NonNull<Header>>>,
    linked: UnsafeCell<bool>,
}

impl OwnedLinks {
    pub(crate) fn new() -> OwnedLinks {
        OwnedLinks {
            prev: UnsafeCell::new(None),
            next: UnsafeCell::new(None),
            linked: UnsafeCell::new(false),
        }
    }
}

struct Shard {
    head: Option<NonNull<Header>>,
    len: usize,
    closed: bool,
}

// SAFETY: the raw pointers are only followed under the shard's lock.
unsafe impl Send for Shard {}

/// The list of live tasks of one scheduler.
pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
}

/// The list is closed: the runtime is shutting down.
#[derive(Debug)]
pub(crate) struct Closed;

impl OwnedTasks {
    pub(crate) fn new(shard_count: usize) -> OwnedTasks {
        let shards = (0..shard_count.next_power_of_two())
            .map(|_| {
                Mutex::new(Shard {
                    head: None,
                    len: 0,
                    closed: false,
                })
            })
            .collect();
        OwnedTasks { shards }
    }

    fn shard(&self, task: RawTask) -> std::sync::MutexGuard<'_, Shard> {
        let index = task.id().as_u64() as usize & (self.shards.len() - 1);
        // A panic never happens while a shard is locked (no user code runs under it), so a
        // poisoned lock can only come from an abort in progress; keep going regardless.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a new task. The caller gives the list one of the task's references.
    pub(crate) fn bind(&self, task: RawTask) -> Result<(), Closed> {
        let mut shard = self.shard(task);
        if shard.closed {
            return Err(Closed);
        }
        let header = task.header();
        // SAFETY: under the shard lock; the task is new, so it is linked nowhere.
        unsafe {
            *header.owned.prev.get() = None;
            *header.owned.next.get() = shard.head;
            *header.owned.linked.get() = true;
            if let Some(old_head) = shard.head {
                *old_head.as_ref().owned.prev.get() = Some(task.header_ptr());
            }
        }
        shard.head = Some(task.header_ptr());
        shard.len += 1;
        Ok(())
    }

    /// Unlinks a completed task. Returns `true` if it was in the list (the caller then drops
    /// the list's reference); `false` if shutdown already took it out.
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        let mut shard = self.shard(task);
        // SAFETY: under the shard lock.
        unsafe { unlink(&mut shard, task.header_ptr()) }
    }

    /// Closes the list (later `bind`s fail) and hands every task still in it to `each`, one at
    /// a time with no lock held, since dropping a future may complete or spawn other tasks.
    pub(crate) fn close_and_drain(&self, mut each: impl FnMut(RawTask)) {
        for shard in self.shards.iter() {
            shard.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        }
        for shard in self.shards.iter() {
            loop {
                let task = {
                    let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(head) = shard.head else { break };
                    // SAFETY: under the shard lock; `head` is linked in this shard.
                    unsafe { unlink(&mut shard, head) };
                    RawTask::from_header(head)
                };
                each(task);
            }
        }
    }

    /// Calls `f` on every live task's header, under its shard's lock (so `f` must be quick
    /// and must not touch the list): the task dump and stall reports read tasks this way,
    /// which is safe because the list holds a reference to each.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let mut next = shard.head;
            while let Some(task) = next {
                // SAFETY: under the shard lock, every linked header is alive (the list holds a
                // reference) and its links are stable.
                let header = unsafe { task.as_ref() };
                f(header);
                // SAFETY: as above.
                next = unsafe { *header.owned.next.get() };
            }
        }
    }

    /// Reads the meta of the live task `id`, if it is still in the list.
    pub(crate) fn find<R>(&self, id: TaskId, f: impl FnOnce(&TaskMeta) -> R) -> Option<R> {
        let index = id.as_u64() as usize & (self.shards.len() - 1);
        let shard = self.shards[index].lock().unwrap_or_else(|e| e.into_inner());
        let mut next = shard.head;
        while let Some(task) = next {
            // SAFETY: as in `for_each`.
            let header = unsafe { task.as_ref() };
            if header.id == id {
                return Some(f(&header.meta));
            }
            // SAFETY: as above.
            next = unsafe { *header.owned.next.get() };
        }
        None
    }

    /// How many tasks are alive.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len)
            .sum()
    }
}

/// # Safety
/// The caller holds `shard`'s lock, and `task` belongs to this shard if it is linked at all.
unsafe fn unlink(shard: &mut Shard, task: NonNull<Header>) -> bool {
    // SAFETY: the caller holds the lock guarding every link of this shard.
    unsafe {
        let links = &task.as_ref().owned;
        if !*links.linked.get() {
            return false;
        }
        let prev = *links.prev.get();
        let next = *links.next.get();
        match prev {
            Some(prev) => *prev.as_ref().owned.next.get() = next,
            None => shard.head = next,
        }
        if let Some(next) = next {
            *next.as_ref().owned.prev.get() = prev;
        }
        *links.prev.get() = None;
        *links.next.get() = None;
        *links.linked.get() = false;
    }
    shard.len -= 1;
    true
}
