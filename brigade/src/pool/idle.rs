//! Who is asleep and who is looking for work: the throttle that wakes only the workers needed.
//!
//! Waking a parked thread costs microseconds, so the pool wakes one only when nobody is already
//! *searching* (a worker out of local work, looking in other queues). A worker that finds work
//! while searching wakes the next sleeper if it was the last searcher, so a burst of tasks fans
//! out one worker at a time; a worker may start searching only while fewer than half the
//! workers are (so about half at most, ⌈n/2⌉), and an idle pool does not burn every core
//! stealing from itself.
//!
//! # Invariants
//! - `num_unparked` counts workers not in `sleepers`; `num_searching <= num_unparked`.
//! - Every worker re-checks every queue right after joining the sleepers (see
//!   `Worker::park_until_work`), and a pusher checks the counts after pushing; both use
//!   `SeqCst`, so one of the two always sees the other: no task is left in a queue with every
//!   worker asleep. (tokio re-checks only for the last searcher; here a worker refused a search
//!   cannot rely on the searcher, which may be a spare that retires before this worker parks.)
//! - A worker counted awake (unparked) looks at the queues again before it sleeps or leaves:
//!   pushers wake nobody while they see enough workers awake. So a spare retires only from the
//!   sleepers, unchosen ([`Idle::retire_sleeper`]), never while counted awake (issue 10.1).

use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;

/// Low bits: searching workers; high bits: unparked workers.
const UNPARKED_SHIFT: usize = 16;
const SEARCHING_MASK: usize = (1 << UNPARKED_SHIFT) - 1;
const UNPARKED_ONE: usize = 1 << UNPARKED_SHIFT;

/// The most workers the packed counters can describe.
pub(crate) const MAX_WORKERS: usize = SEARCHING_MASK;

pub(crate) struct Idle {
    counts: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    /// Workers with a thread (spares come and go).
    num_workers: AtomicUsize,
}

fn searching(counts: usize) -> usize {
    counts & SEARCHING_MASK
}

fn unparked(counts: usize) -> usize {
    counts >> UNPARKED_SHIFT
}

impl Idle {
    /// All workers start unparked and not searching.
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers <= MAX_WORKERS);
        Idle {
            counts: AtomicUsize::new(num_workers * UNPARKED_ONE),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers: AtomicUsize::new(num_workers),
        }
    }

    /// New work was queued: which sleeper, if any, should be woken to look for it. The chosen
    /// worker is counted as unparked and searching before it even wakes up.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.notify_should_wake_up() {
            return None;
        }
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        // Re-check under the lock: another pusher may have woken someone meanwhile.
        if !self.notify_should_wake_up() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.counts.fetch_add(UNPARKED_ONE + 1, SeqCst);
        Some(worker)
    }

    /// Nobody is searching and somebody sleeps. The fence orders the caller's push before this
    /// read, pairing with the parking worker's last look at the queues. The read is a
    /// read-modify-write (`fetch_add(0)`) so it sees the latest count in modification order,
    /// which a plain load is not guaranteed to (and loom checks exactly that).
    fn notify_should_wake_up(&self) -> bool {
        fence(SeqCst);
        let counts = self.counts.fetch_add(0, SeqCst);
        searching(counts) == 0 && unparked(counts) < self.num_workers.load(SeqCst)
    }

    /// A spare worker joins, awake (unparked, not searching).
    pub(crate) fn add_worker(&self) {
        self.num_workers.fetch_add(1, SeqCst);
        self.counts.fetch_add(UNPARKED_ONE, SeqCst);
    }

    /// A spare worker that never ran leaves (its thread could not start): it was counted
    /// awake and not searching.
    pub(crate) fn remove_worker(&self) {
        self.counts.fetch_sub(UNPARKED_ONE, SeqCst);
        self.num_workers.fetch_sub(1, SeqCst);
    }

    /// The worker may start searching unless half the workers already are.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let counts = self.counts.load(SeqCst);
        if 2 * searching(counts) >= self.num_workers.load(SeqCst) {
            return false;
        }
        // Racy by design: a few extra searchers for a moment are harmless.
        self.counts.fetch_add(1, SeqCst);
        true
    }

    /// A searching worker found work. Returns `true` if it was the last searcher, in which case
    /// it must wake another worker: there may be more work where it found its own.
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = self.counts.fetch_sub(1, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// The worker goes to sleep. Returns `true` if it was the last searcher. Either way the
    /// worker then looks at every queue once more (`Worker::park_until_work`): work may have
    /// arrived after its last look while the pushers, seeing it (or a searcher that has since
    /// retired) awake, woke nobody.
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        let dec = UNPARKED_ONE + usize::from(is_searching);
        let prev = self.counts.fetch_sub(dec, SeqCst);
        sleepers.push(worker);
        is_searching && searching(prev) == 1
    }

    /// Whether `worker` is still in the sleepers list (a wake-up that did not come from
    /// `worker_to_notify` was spurious).
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.sleepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&worker)
    }

    /// The worker woke on its own (the timer driver's timeout) and leaves the sleepers to fire
    /// timers. Returns `false` if a pusher had already chosen it (and counted it as unparked
    /// and searching).
    pub(crate) fn unpark_worker_by_id(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        let Some(position) = sleepers.iter().position(|&w| w == worker) else {
            return false;
        };
        sleepers.swap_remove(position);
        self.counts.fetch_add(UNPARKED_ONE, SeqCst);
        true
    }

    /// A parked spare leaves the pool for good: out of the sleepers and the worker count in
    /// one step, so it is never counted as awake while it no longer looks at the queues.
    /// Returns `false` if a pusher chose it meanwhile: it is then counted unparked and
    /// searching, and must look for that work (and park again) before it may retire.
    pub(crate) fn retire_sleeper(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        let Some(position) = sleepers.iter().position(|&w| w == worker) else {
            return false;
        };
        sleepers.swap_remove(position);
        self.num_workers.fetch_sub(1, SeqCst);
        true
    }

    /// Some sleeping worker, left asleep in the list (to be woken for the timer driver).
    pub(crate) fn any_sleeper(&self) -> Option<usize> {
        self.sleepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .copied()
    }

    /// Whether every worker is asleep (the lock orders this look against a worker leaving).
    pub(crate) fn all_parked(&self) -> bool {
        let sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        sleepers.len() >= self.num_workers.load(SeqCst)
    }

    /// How many workers are searching right now (for metrics).
    pub(crate) fn num_searching(&self) -> usize {
        searching(self.counts.load(SeqCst))
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::Idle;
    use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use crate::loom::sync::Arc;
    use crate::park;

    /// Takes one queued item, if any (the stand-in for a worker's look at the queues).
    fn take(queued: &AtomicUsize) -> bool {
        queued
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// `Shared::notify_parked`.
    fn notify(idle: &Idle, unparkers: &[park::Unparker]) {
        if let Some(worker) = idle.worker_to_notify() {
            unparkers[worker].unpark();
        }
    }

    /// A spare (worker 1) with a surplus to retire for, as `Worker::park_until_work` runs it:
    /// it leaves only as an unchosen sleeper; chosen, it looks for the work and parks again.
    fn spare_retiring_as_a_sleeper(
        idle: &Idle,
        queued: &AtomicUsize,
        unparkers: &[park::Unparker],
    ) {
        while !idle.retire_sleeper(1) {
            // A pusher chose it (counted searching): look, as the worker loop does.
            let mut searching = true;
            if take(queued) {
                searching = false;
                if idle.transition_worker_from_searching() {
                    notify(idle, unparkers);
                }
            }
            if idle.transition_worker_to_parked(1, searching) && queued.load(SeqCst) > 0 {
                notify(idle, unparkers);
            }
        }
    }

    /// Issue 10.1: worker 0 has just made its last look at the queues (empty), while a spare
    /// with a surplus to retire for sleeps and a pusher queues a task. If the pusher chooses
    /// the spare, worker 0 is refused a search (the spare is searching) and parks without a
    /// last look, counting on the spare. A spare that then retired without looking left the
    /// task stranded with every worker asleep; it must look (or never have been counted).
    #[test]
    fn a_push_racing_a_retiring_spare_and_a_parking_worker_is_never_lost() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            let queued = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let (parker, unparker0) = park::pair(None);
            let (_spare_parker, unparker1) = park::pair(None);
            let unparkers = Arc::new(vec![unparker0, unparker1]);
            // The spare sleeps (it parked before the surplus appeared).
            assert!(!idle.transition_worker_to_parked(1, false));

            let pusher = {
                let (idle, queued, unparkers) = (idle.clone(), queued.clone(), unparkers.clone());
                loom::thread::spawn(move || {
                    queued.fetch_add(1, SeqCst);
                    notify(&idle, &unparkers);
                })
            };
            let spare = {
                let (idle, queued, unparkers) = (idle.clone(), queued.clone(), unparkers.clone());
                loom::thread::spawn(move || spare_retiring_as_a_sleeper(&idle, &queued, &unparkers))
            };
            let worker = {
                let (idle, queued, unparkers, stop) = (
                    idle.clone(),
                    queued.clone(),
                    unparkers.clone(),
                    stop.clone(),
                );
                loom::thread::spawn(move || {
                    // After its last look: search if allowed (one more look), then park.
                    let searching = idle.transition_worker_to_searching();
                    if searching && take(&queued) {
                        return;
                    }
                    if idle.transition_worker_to_parked(0, searching) && queued.load(SeqCst) > 0 {
                        notify(&idle, &unparkers);
                    }
                    loop {
                        parker.park();
                        if !idle.is_parked(0) {
                            // Chosen for work: look for it.
                            take(&queued);
                            return;
                        }
                        if stop.load(SeqCst) {
                            return;
                        }
                    }
                })
            };
            pusher.join().unwrap();
            spare.join().unwrap();
            // Everyone else is done: a worker still asleep and unchosen now sleeps for good.
            stop.store(true, SeqCst);
            unparkers[0].unpark();
            worker.join().unwrap();
            assert_eq!(
                queued.load(SeqCst),
                0,
                "a queued task was left with every worker asleep"
            );
        });
    }

    /// The parking protocol of `Worker::park` against a pusher, with an atomic counter standing
    /// in for the queues: the worker either sees the pushed work or is woken for it. A lost
    /// wake-up would leave the worker parked forever, which loom reports as a deadlock.
    #[test]
    fn a_push_racing_the_last_searcher_going_to_sleep_is_never_lost() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(1));
            let queued = Arc::new(AtomicUsize::new(0));
            let (parker, unparker) = park::pair(None);

            let pusher = {
                let (idle, queued, unparker) = (idle.clone(), queued.clone(), unparker.clone());
                loom::thread::spawn(move || {
                    queued.fetch_add(1, SeqCst);
                    if idle.worker_to_notify().is_some() {
                        unparker.unpark();
                    }
                })
            };

            // The worker, as `Worker::park` does it: searching, finds nothing, goes to sleep.
            assert!(idle.transition_worker_to_searching());
            if queued.load(SeqCst) == 0 {
                let was_last_searcher = idle.transition_worker_to_parked(0, true);
                if was_last_searcher && queued.load(SeqCst) > 0 && idle.worker_to_notify().is_some()
                {
                    unparker.unpark();
                }
                loop {
                    parker.park();
                    if !idle.is_parked(0) {
                        break;
                    }
                }
            }
            pusher.join().unwrap();
            assert_eq!(queued.load(SeqCst), 1);
        });
    }
}
