//! The time driver: the wheel behind a lock, the clock, and the *driving role* — which thread
//! sleeps with the next deadline as its timeout so timers fire on time.
//!
//! Nobody runs a timer thread. A worker with nothing to do parks anyway; the first one to park
//! takes the driving role and parks only until the next deadline, then fires what is due (the
//! woken tasks land in its own queues, so it runs them at once). Other parked workers sleep
//! without a timeout. Busy workers fire due timers on their periodic maintenance tick, and a
//! yielding task lets due timers go first (S9).
//!
//! Three events need the driving role to react:
//! - a timer registered *earlier* than the holder's park timeout wakes the holder, which parks
//!   again with the new deadline;
//! - a timer registered while nobody holds the role asks the [`DriverHost`] (the pool) to wake a
//!   parked worker, which then takes it;
//! - a holder leaving to run work while timers are pending hands the role on the same way.
//!
//! # Invariants
//! - Every entry field except `state` is touched only under `inner`'s lock.
//! - `next_due` is never later than the wheel's earliest deadline (it may be earlier: stale
//!   after a removal, which costs one spurious look).
//! - Ticks are milliseconds since `start`; deadlines round *up* to a tick and "now" rounds down,
//!   so a timer never fires before its deadline (T1).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::clock::Clock;
use super::entry::{TimerEntry, FIRED, IDLE, REGISTERED, SHUTDOWN};
use super::wheel::{Insert, Wheel};
use crate::park::Unparker;

/// A tick that never comes.
pub(crate) const NEVER: u64 = u64::MAX;

/// How many wakers are collected under the lock before it is released to wake them.
const WAKE_BATCH: usize = 32;

/// Whoever owns the threads that can take the driving role (the pool).
pub(crate) trait DriverHost: Send + Sync {
    /// Wake one parked thread so it takes the driving role (if one is parked).
    fn wake_one_to_drive(&self);
}

pub(crate) struct TimeDriver {
    /// Real or virtual time (`super::virtual_time`): what "now" means for this runtime.
    pub(super) clock: Clock,
    inner: Mutex<Inner>,
    /// A lower bound of the next deadline, readable without the lock ([`NEVER`] when empty).
    next_due: AtomicU64,
    /// Whether a thread holds the driving role.
    driving: AtomicBool,
    /// A thread about to park found the role taken (by a short hold: a busy worker's zero-wait
    /// I/O poll, or the monitor's) and sleeps without a timeout: whoever releases the role
    /// next must wake someone to take it, or pending timers would wait for nobody.
    missed: AtomicBool,
    host: OnceLock<Weak<dyn DriverHost>>,
    fired: AtomicU64,
}

pub(super) struct Inner {
    pub(super) wheel: Wheel,
    /// The tick the driving thread parked until ([`NEVER`]: parked without a timeout, or no
    /// thread is driving).
    parked_until: u64,
    /// How to wake the driving thread, while one is parked.
    holder: Option<Unparker>,
    /// The host was asked for a driver and nobody has taken the role since.
    driver_requested: bool,
    shutdown: bool,
}

/// What happened to a registration.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Registered {
    /// The timer waits; its waker will be woken.
    Pending,
    /// The deadline had already come.
    Fired,
    /// The runtime is gone; the timer can never fire.
    Shutdown,
}

impl TimeDriver {
    /// A driver whose clock starts running, or paused (virtual time) if `start_paused`.
    pub(crate) fn new(start_paused: bool) -> TimeDriver {
        TimeDriver {
            clock: Clock::new(start_paused),
            inner: Mutex::new(Inner {
                wheel: Wheel::new(),
                parked_until: NEVER,
                holder: None,
                driver_requested: false,
                shutdown: false,
            }),
            next_due: AtomicU64::new(NEVER),
            driving: AtomicBool::new(false),
            missed: AtomicBool::new(false),
            host: OnceLock::new(),
            fired: AtomicU64::new(0),
        }
    }

    /// Connects the driver to the pool that takes the driving role.
    pub(crate) fn set_host(&self, host: Weak<dyn DriverHost>) {
        let _ = self.host.set(host);
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // No user code runs under this lock, so a poisoned lock still holds a consistent wheel.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whole milliseconds since the driver started (rounded down).
    pub(crate) fn now_tick(&self) -> u64 {
        let elapsed = self.clock.elapsed();
        elapsed.as_secs() * 1000 + u64::from(elapsed.subsec_millis())
    }

    /// The first tick at or after `deadline` (rounded up), saturating at [`NEVER`].
    pub(crate) fn deadline_tick(&self, deadline: Instant) -> u64 {
        let since_start = deadline.saturating_duration_since(self.clock.start());
        // 64-bit arithmetic only: a 128-bit division here showed up in profiles.
        let sub_ms = u64::from(since_start.subsec_nanos().div_ceil(1_000_000));
        since_start
            .as_secs()
            .checked_mul(1000)
            .and_then(|ms| ms.checked_add(sub_ms))
            .map_or(NEVER, |ticks| ticks.min(NEVER - 1))
    }

    pub(super) fn tick_instant(&self, tick: u64) -> Option<Instant> {
        self.clock.start().checked_add(Duration::from_millis(tick))
    }

    /// How many timers wait (for metrics).
    pub(crate) fn pending(&self) -> usize {
        self.lock().wheel.len()
    }

    /// How many timers have fired since the start (for metrics).
    pub(crate) fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }

    /// Whether any timer waits, without the lock.
    pub(crate) fn has_pending(&self) -> bool {
        self.next_due.load(Ordering::Acquire) != NEVER
    }

    /// Puts `entry` in the wheel with `waker`, to fire at tick `when`.
    ///
    /// # Safety
    /// `entry` is pinned, idle, and stays alive until it is removed ([`remove`](Self::remove))
    /// or has fired.
    pub(crate) unsafe fn register(
        &self,
        entry: NonNull<TimerEntry>,
        when: u64,
        waker: &Waker,
    ) -> Registered {
        let mut inner = self.lock();
        if inner.shutdown {
            return Registered::Shutdown;
        }
        // SAFETY: we hold the lock and the entry is idle (unlinked).
        let outcome = unsafe { self.insert_locked(&mut inner, entry, when, waker.clone()) };
        drop(inner);
        outcome
    }

    /// Inserts under the lock; wakes the driving thread if this deadline comes before its
    /// timeout. Returns `Fired` (waker dropped) if the deadline already came.
    ///
    /// # Safety
    /// The lock is held (`inner`); `entry` is pinned, alive and unlinked.
    unsafe fn insert_locked(
        &self,
        inner: &mut Inner,
        entry: NonNull<TimerEntry>,
        when: u64,
        waker: Waker,
    ) -> Registered {
        // SAFETY: under the lock.
        let links = unsafe { entry.as_ref().links_mut() };
        links.when = when;
        // SAFETY: the caller's promises.
        match unsafe { inner.wheel.insert(entry, when) } {
            Insert::AlreadyExpired => {
                // SAFETY: the entry is not in the wheel; set_state is its last touch here.
                unsafe { entry.as_ref() }.set_state(FIRED);
                self.fired.fetch_add(1, Ordering::Relaxed);
                drop(waker);
                Registered::Fired
            }
            Insert::Pending => {
                links.waker = Some(waker);
                // SAFETY: alive (caller).
                unsafe { entry.as_ref() }.set_state(REGISTERED);
                // The wheel's next deadline, not `when`: an entry on a coarse level must be
                // cascaded at the start of its slot, before `when`. A `next_due` later than
                // that made the driving worker park until the slot start and then poll with a
                // zero timeout until `when` — a busy spin of up to a slot's width.
                let next = inner.wheel.next_deadline().unwrap_or(NEVER);
                if next < self.next_due.load(Ordering::Relaxed) {
                    self.next_due.store(next, Ordering::Release);
                }
                if when < inner.parked_until {
                    self.wake_driver(inner);
                }
                Registered::Pending
            }
        }
    }

    /// Someone must look at the wheel sooner than planned: the driving thread if one is
    /// parked, else (once) any parked thread through the host.
    pub(super) fn wake_driver(&self, inner: &mut Inner) {
        if let Some(holder) = &inner.holder {
            holder.unpark();
        } else if !inner.driver_requested {
            inner.driver_requested = true;
            if let Some(host) = self.host.get().and_then(Weak::upgrade) {
                host.wake_one_to_drive();
            }
        }
    }

    /// A registered entry was polled again: keep the newest waker. Returns the entry's state.
    ///
    /// # Safety
    /// `entry` is alive and pinned.
    pub(crate) unsafe fn update_waker(&self, entry: NonNull<TimerEntry>, waker: &Waker) -> u8 {
        let _inner = self.lock();
        // SAFETY: alive (caller).
        let entry = unsafe { entry.as_ref() };
        let state = entry.state();
        if state == REGISTERED {
            // SAFETY: under the lock.
            let slot = &mut unsafe { entry.links_mut() }.waker;
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }
        state
    }

    /// Takes `entry` out of the wheel if it is there (its owner is going away or resetting).
    ///
    /// # Safety
    /// `entry` is alive and pinned.
    pub(crate) unsafe fn remove(&self, entry: NonNull<TimerEntry>) {
        let mut inner = self.lock();
        // SAFETY: alive (caller); under the lock.
        let waker = unsafe { Self::remove_locked(&mut inner, entry) };
        drop(inner);
        // Dropped outside the lock: dropping a waker can run arbitrary code.
        drop(waker);
    }

    /// # Safety
    /// The lock is held; `entry` is alive.
    unsafe fn remove_locked(inner: &mut Inner, entry: NonNull<TimerEntry>) -> Option<Waker> {
        // SAFETY: alive (caller).
        let node = unsafe { entry.as_ref() };
        if node.state() != REGISTERED {
            return None;
        }
        // SAFETY: under the lock; the entry is in this wheel.
        unsafe { inner.wheel.remove(entry) };
        node.set_state(IDLE);
        // SAFETY: under the lock.
        unsafe { node.links_mut() }.waker.take()
    }

    /// Moves a registered entry to a new deadline, keeping its waker (a reset does not need a
    /// new poll to stay armed). An idle or fired entry just becomes idle; its next poll
    /// registers it. Returns whether the new deadline has already come.
    ///
    /// # Safety
    /// `entry` is alive and pinned.
    pub(crate) unsafe fn reset(&self, entry: NonNull<TimerEntry>, when: u64) -> Registered {
        let mut inner = self.lock();
        // SAFETY: alive and pinned (caller); under the lock.
        let node = unsafe { entry.as_ref() };
        match node.state() {
            REGISTERED => {
                // SAFETY: under the lock; alive.
                if unsafe { node.links_mut() }.when == when {
                    return Registered::Pending;
                }
                // SAFETY: as above.
                let waker = unsafe { Self::remove_locked(&mut inner, entry) }
                    .expect("a registered timer holds a waker");
                // SAFETY: the entry is now idle and unlinked.
                match unsafe { self.insert_locked(&mut inner, entry, when, waker.clone()) } {
                    Registered::Fired => {
                        drop(inner);
                        waker.wake();
                        Registered::Fired
                    }
                    other => other,
                }
            }
            SHUTDOWN => Registered::Shutdown,
            _ => {
                node.set_state(IDLE);
                Registered::Pending
            }
        }
    }

    /// Fires every timer whose deadline has come, if the cached bound says one may have.
    /// Cheap when nothing is due: one atomic load (and a clock read if a timer is pending).
    pub(crate) fn fire_if_due(&self) -> usize {
        let due = self.next_due.load(Ordering::Acquire);
        if due == NEVER || self.now_tick() < due {
            return 0;
        }
        self.fire_due()
    }

    /// Fires every timer whose deadline has come: unlink, mark fired, wake — the wakes happen
    /// outside the lock, in batches.
    pub(crate) fn fire_due(&self) -> usize {
        let now = self.now_tick();
        let mut wakers: Vec<Waker> = Vec::new();
        let mut fired = 0;
        let mut inner = self.lock();
        loop {
            // SAFETY: under the lock; entries in the wheel are alive.
            while let Some(entry) = unsafe { inner.wheel.poll(now) } {
                // SAFETY: just handed out, so alive; under the lock.
                let node = unsafe { entry.as_ref() };
                // SAFETY: as above.
                let waker = unsafe { node.links_mut() }.waker.take();
                // The last touch: from here the owner may free the entry.
                node.set_state(FIRED);
                fired += 1;
                wakers.extend(waker);
                if wakers.len() == WAKE_BATCH {
                    break;
                }
            }
            let more = wakers.len() == WAKE_BATCH;
            if !more {
                let next = inner.wheel.next_deadline().unwrap_or(NEVER);
                self.next_due.store(next, Ordering::Release);
            }
            drop(inner);
            for waker in wakers.drain(..) {
                waker.wake();
            }
            if !more {
                break;
            }
            inner = self.lock();
        }
        self.fired.fetch_add(fired as u64, Ordering::Relaxed);
        fired
    }

    /// How long until the earliest timer deadline (zero if it has passed), or `None` when no
    /// timer waits.
    pub(crate) fn time_to_next_deadline(&self) -> Option<Duration> {
        let due = self.next_due.load(Ordering::Acquire);
        if due == NEVER {
            return None;
        }
        let now = self.now_tick();
        Some(Duration::from_millis(due.saturating_sub(now)))
    }

    /// Takes the driving role if nobody holds it.
    pub(crate) fn try_drive(&self) -> Option<Driving<'_>> {
        self.driving
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| Driving { driver: self })
    }

    /// [`try_drive`](Self::try_drive) for a thread about to park: if the role is taken, that
    /// is noted, so its holder wakes someone to take it when it lets go (a parker that missed
    /// the role sleeps without a timeout). `SeqCst` on both sides: either this retry sees the
    /// role free, or the releaser sees the note.
    pub(crate) fn try_drive_before_parking(&self) -> Option<Driving<'_>> {
        if let Some(driving) = self.try_drive() {
            return Some(driving);
        }
        self.missed.store(true, Ordering::SeqCst);
        let retry = self.try_drive();
        if retry.is_some() {
            self.missed.store(false, Ordering::SeqCst);
        }
        retry
    }

    /// Whether some thread holds the driving role right now.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_driven(&self) -> bool {
        self.driving.load(Ordering::Acquire)
    }

    /// The runtime is gone: every waiting timer learns it can never fire.
    pub(crate) fn shutdown(&self) {
        let mut wakers = Vec::new();
        let mut inner = self.lock();
        inner.shutdown = true;
        // SAFETY: under the lock; entries in the wheel are alive.
        unsafe {
            inner.wheel.drain(|entry| {
                let node = entry.as_ref();
                wakers.extend(node.links_mut().waker.take());
                node.set_state(SHUTDOWN);
            });
        }
        self.next_due.store(NEVER, Ordering::Release);
        drop(inner);
        for waker in wakers {
            waker.wake();
        }
    }
}

/// The driving role, held by one parking thread at a time.
pub(crate) struct Driving<'a> {
    driver: &'a TimeDriver,
}

impl Driving<'_> {
    /// About to park: records `unparker` as the way to reach this thread and returns how long
    /// it may sleep (`None`: no timer pending, until woken).
    ///
    /// While the clock is paused the answer is always `None`: virtual time does not pass by
    /// itself, so waiting for a deadline would wait forever; the pool auto-advances instead.
    pub(crate) fn begin_park(&self, unparker: &Unparker) -> Option<Duration> {
        let driver = self.driver;
        let deadline = {
            let mut inner = driver.lock();
            let next = inner.wheel.next_deadline().unwrap_or(NEVER);
            inner.parked_until = next;
            inner.holder = Some(unparker.clone());
            inner.driver_requested = false;
            next
        };
        (deadline != NEVER)
            .then(|| driver.tick_instant(deadline))
            .flatten()
            .filter(|_| !driver.clock.is_paused())
            .map(|until| until.saturating_duration_since(driver.clock.now()))
    }

    /// Back from parking. Returns whether timers are due now.
    pub(crate) fn end_park(&self) -> bool {
        let driver = self.driver;
        let mut inner = driver.lock();
        inner.parked_until = NEVER;
        inner.holder = None;
        drop(inner);
        let due = driver.next_due.load(Ordering::Acquire);
        due != NEVER && driver.now_tick() >= due
    }
}

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        let driver = self.driver;
        driver.driving.store(false, Ordering::SeqCst);
        if driver.missed.load(Ordering::SeqCst) && driver.missed.swap(false, Ordering::SeqCst) {
            // Someone parked while we held the role: it sleeps without a timeout. Wake a
            // parked thread to take the role (the host picks one; it tries the role first).
            if let Some(host) = driver.host.get().and_then(Weak::upgrade) {
                host.wake_one_to_drive();
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[derive(Default)]
    struct CountingHost(AtomicUsize);

    impl DriverHost for CountingHost {
        fn wake_one_to_drive(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_parker_that_missed_the_role_is_handed_it_when_a_short_hold_ends() {
        let driver = TimeDriver::new(false);
        let host = Arc::new(CountingHost::default());
        let weak: Weak<dyn DriverHost> = Arc::downgrade(&host) as Weak<CountingHost>;
        driver.set_host(weak);

        // A busy worker's zero-wait I/O poll holds the role for a moment...
        let short_hold = driver.try_drive().expect("the role is free");
        // ...while a worker about to park finds it taken: it will sleep without a timeout.
        assert!(driver.try_drive_before_parking().is_none());
        drop(short_hold);
        assert_eq!(
            host.0.load(Ordering::SeqCst),
            1,
            "someone was woken to drive"
        );

        // Without a miss, letting go wakes nobody.
        drop(driver.try_drive().expect("free again"));
        assert_eq!(host.0.load(Ordering::SeqCst), 1);
    }
}
