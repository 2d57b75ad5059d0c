//! The timer driver's clock: real time, or *virtual* time that moves only when told to (.NET's
//! `TimeProvider` / `FakeTimeProvider`, tokio's paused clock).
//!
//! Every reading is "time elapsed since `start`". Running, that is the real elapsed time plus a
//! *skew* (zero until the clock was first paused; afterwards whatever virtual time jumped ahead
//! of, or fell behind, real time). Paused, it is a frozen value that only [`Clock::advance`]
//! moves. `brigade::time::Instant`s of a runtime are `start + elapsed`, so a deadline taken
//! from the clock can be compared with the wheel's ticks whichever mode produced it.
//!
//! # Invariants
//! - Readings never go backwards: pausing freezes at the current reading rounded *up* to a
//!   whole millisecond (so virtual time starts on a tick and sleeps stay exact), resuming sets
//!   the skew so real time continues from the frozen value, and `advance` only adds.
//! - Unpaused, a reading costs what it did before virtual time existed plus two relaxed loads
//!   of words that are written only by pause/resume (they stay in every core's cache).
//! - Transitions (pause, resume, advance) are serialised by `transitions`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct Clock {
    start: Instant,
    paused: AtomicBool,
    /// The reading while paused, in nanoseconds since `start`.
    frozen_ns: AtomicU64,
    /// Added to the real elapsed time while running (nanoseconds; may be negative).
    skew_ns: AtomicI64,
    transitions: Mutex<()>,
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Clock {
    pub(crate) fn new(start_paused: bool) -> Clock {
        Clock {
            start: Instant::now(),
            paused: AtomicBool::new(start_paused),
            frozen_ns: AtomicU64::new(0),
            skew_ns: AtomicI64::new(0),
            transitions: Mutex::new(()),
        }
    }

    /// The instant elapsed readings count from.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Whether the clock is paused (virtual).
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Whether readings differ from real time (paused now, or paused once and skewed).
    pub(crate) fn is_virtual(&self) -> bool {
        self.is_paused() || self.skew_ns.load(Ordering::Relaxed) != 0
    }

    /// Time elapsed since `start`, as this clock sees it.
    pub(crate) fn elapsed(&self) -> Duration {
        if self.paused.load(Ordering::Acquire) {
            return Duration::from_nanos(self.frozen_ns.load(Ordering::Acquire));
        }
        let real = self.start.elapsed();
        match self.skew_ns.load(Ordering::Relaxed) {
            0 => real,
            skew if skew > 0 => real.saturating_add(Duration::from_nanos(skew as u64)),
            skew => real.saturating_sub(Duration::from_nanos(skew.unsigned_abs())),
        }
    }

    /// The current instant on this clock.
    pub(crate) fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.transitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Freezes the clock (at the current reading rounded up to a whole millisecond). Returns
    /// `false` if it was already paused.
    pub(crate) fn pause(&self) -> bool {
        let _serial = self.lock();
        if self.is_paused() {
            return false;
        }
        let now = nanos(self.elapsed());
        let on_tick = now.div_ceil(1_000_000).saturating_mul(1_000_000);
        self.frozen_ns.store(on_tick, Ordering::Release);
        self.paused.store(true, Ordering::Release);
        true
    }

    /// Lets real time flow again from the frozen reading. Returns `false` if it was running.
    pub(crate) fn resume(&self) -> bool {
        let _serial = self.lock();
        if !self.is_paused() {
            return false;
        }
        let frozen = i128::from(self.frozen_ns.load(Ordering::Acquire));
        let real = self.start.elapsed().as_nanos() as i128;
        let skew = (frozen - real).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        self.skew_ns.store(skew, Ordering::Relaxed);
        self.paused.store(false, Ordering::Release);
        true
    }

    /// Moves a paused clock forward by `by`. Returns `false` (and does nothing) if the clock
    /// is running.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        let _serial = self.lock();
        if !self.is_paused() {
            return false;
        }
        let now = self.frozen_ns.load(Ordering::Acquire);
        self.frozen_ns
            .store(now.saturating_add(nanos(by)), Ordering::Release);
        true
    }

    /// Moves a paused clock forward to `elapsed` since the start, if that is ahead of it.
    pub(crate) fn advance_to(&self, elapsed: Duration) {
        let _serial = self.lock();
        if self.is_paused() {
            self.frozen_ns.fetch_max(nanos(elapsed), Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_clock_stands_still_and_moves_only_by_advance() {
        let clock = Clock::new(true);
        assert_eq!(clock.elapsed(), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.elapsed(), Duration::ZERO);
        assert!(clock.advance(Duration::from_secs(3600)));
        assert_eq!(clock.elapsed(), Duration::from_secs(3600));
    }

    #[test]
    fn resuming_continues_from_the_frozen_reading_and_never_goes_back() {
        let clock = Clock::new(false);
        assert!(clock.pause());
        let frozen = clock.elapsed();
        assert_eq!(
            frozen.subsec_nanos() % 1_000_000,
            0,
            "frozen on a whole millisecond"
        );
        clock.advance(Duration::from_secs(10));
        assert!(clock.resume());
        let after = clock.elapsed();
        assert!(after >= frozen + Duration::from_secs(10));
        assert!(
            !clock.advance(Duration::from_secs(1)),
            "a running clock is not advanced"
        );
        assert!(clock.is_virtual());
    }
}
