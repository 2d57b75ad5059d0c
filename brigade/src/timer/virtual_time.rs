//! Virtual time on the driver: pausing, resuming and advancing its clock, and the one step of
//! *auto-advance* — jumping a paused clock to the next deadline — that the pool takes when it
//! has decided nothing else can happen (the rule lives in `pool::auto_advance`).
//!
//! The driver does not decide when to auto-advance: only the pool knows whether every worker
//! is idle. It offers the step ([`TimeDriver::advance_to_next_deadline`]) and a way to make the
//! driving thread look again ([`TimeDriver::nudge_driver`]).
//!
//! # Invariants
//! - A paused clock moves only through `advance`, `advance_to_next_deadline` or `resume`.
//! - `advance_to_next_deadline` moves the clock to the wheel's earliest deadline and no
//!   further, so timers fire in deadline order, one deadline per step.

use std::time::{Duration, Instant};

use super::driver::{TimeDriver, NEVER};

impl TimeDriver {
    /// Whether the clock is paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.clock.is_paused()
    }

    /// Whether the clock differs from real time (paused, or paused once and resumed).
    pub(crate) fn is_virtual(&self) -> bool {
        self.clock.is_virtual()
    }

    /// "Now" on this driver's clock.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Pauses the clock. Returns `false` if it was already paused.
    pub(crate) fn pause(&self) -> bool {
        self.clock.pause()
    }

    /// Resumes the clock and wakes the driving thread, which parks again with a real timeout.
    /// Returns `false` if it was running.
    pub(crate) fn resume(&self) -> bool {
        let resumed = self.clock.resume();
        if resumed {
            self.nudge_driver();
        }
        resumed
    }

    /// Moves a paused clock forward by `by` and fires every timer now due (the wakes run on
    /// the calling thread). Returns `false` if the clock is running.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        if !self.clock.advance(by) {
            return false;
        }
        self.fire_due();
        true
    }

    /// Auto-advance's step: moves a paused clock to the earliest deadline in the wheel (if it
    /// is ahead). Returns `false` when no timer waits or the clock runs. The caller fires.
    pub(crate) fn advance_to_next_deadline(&self) -> bool {
        let inner = self.lock();
        let next = inner.wheel.next_deadline().unwrap_or(NEVER);
        drop(inner);
        if next == NEVER || !self.is_paused() {
            return false;
        }
        self.clock.advance_to(Duration::from_millis(next));
        true
    }

    /// Makes the thread holding the driving role look again (or, if nobody holds it, asks the
    /// host for one): something it waits for may have changed.
    pub(crate) fn nudge_driver(&self) {
        let mut inner = self.lock();
        self.wake_driver(&mut inner);
    }
}
