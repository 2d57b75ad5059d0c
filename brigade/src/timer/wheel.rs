//! The hierarchical timer wheel: where pending timers wait, sorted coarsely by deadline.
//!
//! Think of a clock with six hands. Level 0 has 64 slots of 1 ms each (it covers the next
//! 64 ms); level 1 has 64 slots of 64 ms (the next ~4 s); and so on up to level 5, whose slots
//! are 64⁵ ms ≈ 12.4 days wide. A timer goes into the slot of the *lowest* level whose range
//! still contains its deadline, so inserting and removing are O(1). When time reaches a slot of
//! level 1 or above, its timers *cascade*: each is placed again, now into a finer level, until
//! it reaches level 0, where a slot holds only timers due in that very millisecond.
//!
//! Timers are intrusive: the wheel links [`TimerEntry`] nodes that live inside the sleep
//! futures themselves, so a pending sleep costs no allocation (T5). Each slot is a doubly
//! linked list, and every level keeps a 64-bit map of its non-empty slots so the next deadline
//! is found with a few bit operations instead of a scan.
//!
//! # Invariants
//! - `elapsed` (the wheel's "now", in ms ticks) only moves forward, and never past an entry
//!   still in a slot: every entry's placement is later than `elapsed`.
//! - An entry placed at level `l` agrees with `elapsed` on every bit above level `l`'s range, so
//!   its slot index lies ahead of `elapsed`'s in that level (deadlines further than
//!   [`MAX_SPAN`] are placed at `elapsed + MAX_SPAN` and cascade again when reached).
//! - Level 0 placements are exact, so only level 0 hands out expired timers: nothing fires early.
//! - Every function takes `&mut Wheel`: the caller holds the driver's lock, which is what makes
//!   touching the entries' links sound.

use std::ptr::NonNull;

use super::entry::{Location, TimerEntry};

/// Slots per level.
const SLOTS: usize = 64;
/// log2(SLOTS): each level is 6 bits of the deadline.
const BITS_PER_LEVEL: u32 = 6;
/// Levels in the wheel: 64⁶ ms ≈ 2.2 years of range.
const LEVELS: usize = 6;
/// How far ahead an entry is placed at most (≈ 397 days); a later deadline waits there and
/// cascades again. Half the top level's range, so a clamped placement never lands in the slot
/// `elapsed` is in.
pub(super) const MAX_SPAN: u64 = 1 << 35;

/// An intrusive list of entries (one slot, or the expired-but-not-yet-fired list).
#[derive(Default)]
struct List {
    head: Option<NonNull<TimerEntry>>,
}

impl List {
    fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// # Safety
    /// `entry` is alive, pinned and in no list; the caller holds the driver lock.
    unsafe fn push_front(&mut self, entry: NonNull<TimerEntry>, location: Location) {
        // SAFETY: the caller holds the lock that guards every entry's links.
        unsafe {
            let links = entry.as_ref().links_mut();
            links.prev = None;
            links.next = self.head;
            links.location = location;
            if let Some(head) = self.head {
                head.as_ref().links_mut().prev = Some(entry);
            }
        }
        self.head = Some(entry);
    }

    /// # Safety
    /// `entry` is alive and in this list; the caller holds the driver lock.
    unsafe fn unlink(&mut self, entry: NonNull<TimerEntry>) {
        // SAFETY: as above; neighbours are alive because they are in the list too.
        unsafe {
            let links = entry.as_ref().links_mut();
            match links.prev {
                Some(prev) => prev.as_ref().links_mut().next = links.next,
                None => self.head = links.next,
            }
            if let Some(next) = links.next {
                next.as_ref().links_mut().prev = links.prev;
            }
            links.prev = None;
            links.next = None;
            links.location = Location::Unlinked;
        }
    }

    /// # Safety
    /// The caller holds the driver lock (every entry in a list is alive: owners unlink on drop).
    unsafe fn pop_front(&mut self) -> Option<NonNull<TimerEntry>> {
        let head = self.head?;
        // SAFETY: `head` is in this list; the caller's guarantees carry over.
        unsafe { self.unlink(head) };
        Some(head)
    }
}

/// One level: 64 slots and a bitmap of the occupied ones.
struct Level {
    occupied: u64,
    slots: [List; SLOTS],
}

impl Default for Level {
    fn default() -> Level {
        Level {
            occupied: 0,
            slots: std::array::from_fn(|_| List::default()),
        }
    }
}

/// The wheel. See the module docs.
pub(super) struct Wheel {
    elapsed: u64,
    levels: [Level; LEVELS],
    /// Entries whose level-0 slot has been reached, waiting to be handed out by `poll`.
    expired: List,
    /// How many entries are in the wheel (slots and `expired`), for metrics.
    len: usize,
}

// SAFETY: the wheel holds pointers to entries owned by futures on any thread; it is only ever
// used under the driver's lock, and the entries are `Sync`.
unsafe impl Send for Wheel {}

/// Where the next slot to process is.
struct Expiration {
    level: usize,
    slot: usize,
    /// When the slot's range begins, in ms ticks.
    deadline: u64,
}

/// What [`Wheel::insert`] did with a timer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Insert {
    /// The timer waits in the wheel.
    Pending,
    /// Its deadline is not after the wheel's now: it should fire at once.
    AlreadyExpired,
}

impl Wheel {
    pub(super) fn new() -> Wheel {
        Wheel {
            elapsed: 0,
            levels: Default::default(),
            expired: List::default(),
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Places `entry` by its deadline (`when`, ms ticks).
    ///
    /// # Safety
    /// `entry` is alive, pinned, in no list, and stays alive until it is removed or handed out
    /// by [`poll`](Self::poll); the caller holds the driver lock.
    pub(super) unsafe fn insert(&mut self, entry: NonNull<TimerEntry>, when: u64) -> Insert {
        if when <= self.elapsed {
            return Insert::AlreadyExpired;
        }
        let placement = when.min(self.elapsed + MAX_SPAN);
        let level = level_for(self.elapsed, placement);
        let slot = slot_for(placement, level);
        let location = Location::Slot {
            level: level as u8,
            slot: slot as u8,
        };
        // SAFETY: forwarded from the caller.
        unsafe { self.levels[level].slots[slot].push_front(entry, location) };
        self.levels[level].occupied |= 1 << slot;
        self.len += 1;
        Insert::Pending
    }

    /// Takes `entry` out of the wheel, wherever it is.
    ///
    /// # Safety
    /// `entry` is alive and either in this wheel or in no list; the caller holds the lock.
    pub(super) unsafe fn remove(&mut self, entry: NonNull<TimerEntry>) {
        // SAFETY: the lock guards the links.
        let location = unsafe { entry.as_ref().links_mut().location };
        match location {
            Location::Unlinked => return,
            Location::Expired => {
                // SAFETY: the location says which list holds it.
                unsafe { self.expired.unlink(entry) };
            }
            Location::Slot { level, slot } => {
                let level = &mut self.levels[level as usize];
                let list = &mut level.slots[slot as usize];
                // SAFETY: as above.
                unsafe { list.unlink(entry) };
                if list.is_empty() {
                    level.occupied &= !(1 << slot);
                }
            }
        }
        self.len -= 1;
    }

    /// The earliest tick at which `poll` may have something to hand out, if any timer waits.
    /// It can be earlier than any timer's deadline (a higher-level slot starts before the timers
    /// in it are due), never later.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        if !self.expired.is_empty() {
            return Some(self.elapsed);
        }
        self.next_expiration().map(|expiration| expiration.deadline)
    }

    /// Hands out one timer due at or before `now`, unlinked, or `None` when nothing more is due
    /// (the wheel's now is then `now`).
    ///
    /// # Safety
    /// The caller holds the driver lock.
    pub(super) unsafe fn poll(&mut self, now: u64) -> Option<NonNull<TimerEntry>> {
        loop {
            // SAFETY: the caller holds the lock.
            if let Some(entry) = unsafe { self.expired.pop_front() } {
                self.len -= 1;
                return Some(entry);
            }
            let Some(expiration) = self.next_expiration().filter(|e| e.deadline <= now) else {
                self.elapsed = self.elapsed.max(now);
                return None;
            };
            self.elapsed = expiration.deadline;
            let level = &mut self.levels[expiration.level];
            level.occupied &= !(1 << expiration.slot);
            let mut slot = std::mem::take(&mut level.slots[expiration.slot]);
            // SAFETY: the entries in the slot are alive (owners unlink before they go away).
            while let Some(entry) = unsafe { slot.pop_front() } {
                self.len -= 1;
                if expiration.level == 0 {
                    // Level 0 placements are exact: this timer is due.
                    // SAFETY: just unlinked; stays alive while linked into `expired`.
                    unsafe { self.expired.push_front(entry, Location::Expired) };
                    self.len += 1;
                } else {
                    // Cascade: place it again relative to the new now (a finer level).
                    // SAFETY: as above.
                    let when = unsafe { entry.as_ref().links_mut().when };
                    // SAFETY: `entry` is in no list now.
                    if unsafe { self.insert(entry, when) } == Insert::AlreadyExpired {
                        // SAFETY: as above.
                        unsafe { self.expired.push_front(entry, Location::Expired) };
                        self.len += 1;
                    }
                }
            }
        }
    }

    /// Unlinks every entry (the driver is shutting down), handing each to `f`.
    ///
    /// # Safety
    /// The caller holds the driver lock.
    pub(super) unsafe fn drain(&mut self, mut f: impl FnMut(NonNull<TimerEntry>)) {
        // SAFETY: forwarded.
        while let Some(entry) = unsafe { self.expired.pop_front() } {
            self.len -= 1;
            f(entry);
        }
        for level in &mut self.levels {
            for slot in &mut level.slots {
                // SAFETY: forwarded.
                while let Some(entry) = unsafe { slot.pop_front() } {
                    self.len -= 1;
                    f(entry);
                }
            }
            level.occupied = 0;
        }
    }

    /// The first occupied slot, lowest level first (a lower level's slots all come before any
    /// higher level's next slot, by the placement invariant).
    fn next_expiration(&self) -> Option<Expiration> {
        self.levels
            .iter()
            .enumerate()
            .find_map(|(index, level)| level_next_expiration(index, level, self.elapsed))
    }
}

/// The level whose range is the lowest to contain `when`, seen from `elapsed`: the highest bit
/// where the two differ, in units of levels.
fn level_for(elapsed: u64, when: u64) -> usize {
    let top_level_mask = (1u64 << (BITS_PER_LEVEL * LEVELS as u32)) - 1;
    // `| (SLOTS - 1)` makes same-millisecond-block deadlines land on level 0; the min keeps a
    // clamped placement that crossed the top level's range on the top level.
    let differing = ((elapsed ^ when) | (SLOTS as u64 - 1)).min(top_level_mask);
    let highest_bit = 63 - differing.leading_zeros();
    (highest_bit / BITS_PER_LEVEL) as usize
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (BITS_PER_LEVEL * level as u32)) as usize) & (SLOTS - 1)
}

fn level_next_expiration(index: usize, level: &Level, elapsed: u64) -> Option<Expiration> {
    if level.occupied == 0 {
        return None;
    }
    let slot_range = 1u64 << (BITS_PER_LEVEL * index as u32);
    let level_range = slot_range << BITS_PER_LEVEL;
    let now_slot = slot_for(elapsed, index);
    // Rotate so the current slot is bit 0; the first set bit is the next occupied slot.
    let distance = level
        .occupied
        .rotate_right(now_slot as u32)
        .trailing_zeros() as usize;
    let slot = (now_slot + distance) % SLOTS;
    let level_start = elapsed & !(level_range - 1);
    let mut deadline = level_start + slot as u64 * slot_range;
    if deadline <= elapsed && index > 0 && slot != now_slot {
        // Only a clamped top-level placement wraps around: it belongs to the next turn.
        deadline += level_range;
    }
    Some(Expiration {
        level: index,
        slot,
        deadline,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::pin::Pin;

    fn entries(n: usize) -> Vec<Pin<Box<TimerEntry>>> {
        (0..n).map(|_| Box::pin(TimerEntry::new())).collect()
    }

    fn ptr(entry: &Pin<Box<TimerEntry>>) -> NonNull<TimerEntry> {
        NonNull::from(&**entry)
    }

    fn insert(wheel: &mut Wheel, entry: &Pin<Box<TimerEntry>>, when: u64) -> Insert {
        // SAFETY: test entries are boxed, pinned and outlive the wheel's use of them.
        unsafe {
            entry.links_mut().when = when;
            wheel.insert(ptr(entry), when)
        }
    }

    /// Everything due at `now`, as indices into `all`.
    fn poll_all(wheel: &mut Wheel, all: &[Pin<Box<TimerEntry>>], now: u64) -> Vec<usize> {
        let mut fired = Vec::new();
        // SAFETY: single-threaded test; entries alive.
        while let Some(entry) = unsafe { wheel.poll(now) } {
            fired.push(all.iter().position(|e| ptr(e) == entry).unwrap());
        }
        fired.sort();
        fired
    }

    #[test]
    fn a_timer_fires_exactly_at_its_tick_and_not_before() {
        for when in [1, 5, 63, 64, 65, 100, 4095, 4096, 4097, 300_000, 1 << 30] {
            let all = entries(1);
            let mut wheel = Wheel::new();
            assert_eq!(insert(&mut wheel, &all[0], when), Insert::Pending);
            assert_eq!(poll_all(&mut wheel, &all, when - 1), Vec::<usize>::new());
            assert!(wheel.next_deadline().unwrap() <= when);
            assert_eq!(poll_all(&mut wheel, &all, when), vec![0], "when = {when}");
            assert_eq!(wheel.len(), 0);
            assert_eq!(wheel.next_deadline(), None);
        }
    }

    #[test]
    fn a_deadline_not_after_now_is_refused_as_expired() {
        let all = entries(1);
        let mut wheel = Wheel::new();
        // SAFETY: nothing is linked.
        assert!(unsafe { wheel.poll(10) }.is_none());
        assert_eq!(insert(&mut wheel, &all[0], 10), Insert::AlreadyExpired);
        assert_eq!(insert(&mut wheel, &all[0], 11), Insert::Pending);
    }

    #[test]
    fn removed_timers_never_fire() {
        let all = entries(3);
        let mut wheel = Wheel::new();
        insert(&mut wheel, &all[0], 70);
        insert(&mut wheel, &all[1], 70);
        insert(&mut wheel, &all[2], 5000);
        // SAFETY: entry 1 is in the wheel.
        unsafe { wheel.remove(ptr(&all[1])) };
        assert_eq!(poll_all(&mut wheel, &all, 10_000), vec![0, 2]);
    }

    #[test]
    fn far_deadlines_wait_and_cascade_without_firing_early() {
        let all = entries(2);
        let mut wheel = Wheel::new();
        let far = 3 * MAX_SPAN + 12_345;
        insert(&mut wheel, &all[0], far);
        insert(&mut wheel, &all[1], u64::MAX / 2);
        let mut now = 0;
        while now < far - 1 {
            now = (now + MAX_SPAN / 3).min(far - 1);
            assert_eq!(poll_all(&mut wheel, &all, now), Vec::<usize>::new());
        }
        assert_eq!(poll_all(&mut wheel, &all, far), vec![0]);
        assert_eq!(wheel.len(), 1);
    }

    /// Random inserts, removes and clock jumps against a sorted map: the wheel fires exactly
    /// the timers whose deadline has come, never one early.
    #[test]
    fn matches_a_sorted_reference_under_random_operations() {
        let all = entries(400);
        let mut wheel = Wheel::new();
        let mut reference: BTreeMap<(u64, usize), ()> = BTreeMap::new();
        let mut in_wheel = vec![None; all.len()];
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut now = 0u64;
        for _ in 0..20_000 {
            let index = (next() % all.len() as u64) as usize;
            match next() % 4 {
                0 | 1 => {
                    if in_wheel[index].is_none() {
                        let spread = [70u64, 5_000, 300_000, 1 << 31][(next() % 4) as usize];
                        let when = now + 1 + next() % spread;
                        assert_eq!(insert(&mut wheel, &all[index], when), Insert::Pending);
                        in_wheel[index] = Some(when);
                        reference.insert((when, index), ());
                    }
                }
                2 => {
                    if let Some(when) = in_wheel[index].take() {
                        // SAFETY: it is in the wheel.
                        unsafe { wheel.remove(ptr(&all[index])) };
                        reference.remove(&(when, index));
                    }
                }
                _ => {
                    now += [1u64, 17, 900, 70_000][(next() % 4) as usize];
                    let fired = poll_all(&mut wheel, &all, now);
                    let mut expected: Vec<usize> = reference
                        .range(..=(now, usize::MAX))
                        .map(|(&(_, index), _)| index)
                        .collect();
                    expected.sort();
                    assert_eq!(fired, expected, "at now = {now}");
                    for index in fired {
                        let when = in_wheel[index].take().unwrap();
                        reference.remove(&(when, index));
                    }
                    assert_eq!(wheel.len(), reference.len());
                    if let (Some(deadline), Some((&(earliest, _), _))) =
                        (wheel.next_deadline(), reference.iter().next())
                    {
                        assert!(deadline <= earliest);
                    }
                }
            }
        }
    }
}
