//! `interval`: a ticker on a fixed period (.NET's `PeriodicTimer`).

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::sleep::{far_enough, Sleep, SleepSite};
use super::Instant;
use crate::task::WaitKind;

/// A ticker: the first [`tick`](Interval::tick) completes at once, then one per `period`.
///
/// When ticks are missed (the ticking task was busy past a deadline), the default is
/// [`MissedTicks::Skip`]: one tick completes at once, and the next ones stay on the original
/// grid. See [`MissedTicks`] for the alternatives (T4).
///
/// # Panics
/// If `period` is zero: such an interval would tick forever without ever waiting.
///
/// ```
/// use std::time::Duration;
/// # brigade::block_on(async {
/// let mut ticker = brigade::time::interval(Duration::from_millis(5));
/// for _ in 0..3 {
///     ticker.tick().await;
/// }
/// # });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// An [`interval`] whose first tick is at `start` (a [`brigade::time::Instant`](Instant) or a
/// std `Instant`).
///
/// # Panics
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: impl Into<Instant>, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "brigade::time::interval: the period must be greater than zero (a zero period would tick \
         forever without waiting; to give other tasks a turn in a loop, use brigade::yield_now())"
    );
    Interval {
        sleep: Box::pin(Sleep::new(
            start.into(),
            true,
            SleepSite::here(WaitKind::Interval, Some(period)),
        )),
        period,
        missed: MissedTicks::default(),
    }
}

/// What an [`Interval`] does after it missed ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTicks {
    /// Fire every missed tick at once, back to back, until caught up; the ticks stay on the
    /// original grid (`start + n × period`).
    Burst,
    /// Fire one tick at once, then wait a full period from *now*: the grid shifts.
    Delay,
    /// Fire one tick at once, then continue on the original grid, skipping the ticks missed
    /// (like .NET's `PeriodicTimer`). The default.
    #[default]
    Skip,
}

/// The ticker returned by [`interval`] and [`interval_at`]. It allocates once, when made.
///
/// ```
/// use std::time::{Duration, Instant};
/// # brigade::block_on(async {
/// let started = Instant::now();
/// let mut ticks = brigade::time::interval(Duration::from_millis(10));
/// for _ in 0..3 {
///     ticks.tick().await; // the first tick is due at once, then one every 10 ms
/// }
/// assert!(started.elapsed() >= Duration::from_millis(20));
/// # });
/// ```
pub struct Interval {
    /// Boxed so `tick(&mut self)` works on an `Interval` that is not pinned.
    sleep: Pin<Box<Sleep>>,
    period: Duration,
    missed: MissedTicks,
}

impl Interval {
    /// Waits for the next tick and returns when it was scheduled (not when it fired).
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// The polling form of [`tick`](Self::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        let on_grid = far_enough(scheduled, self.period);
        let next = if on_grid > now {
            on_grid
        } else {
            // At least one tick was missed.
            match self.missed {
                MissedTicks::Burst => on_grid,
                MissedTicks::Delay => far_enough(now, self.period),
                MissedTicks::Skip => {
                    // Land on the first grid point after now.
                    let behind = now.duration_since(scheduled).as_nanos();
                    let periods = behind / self.period.as_nanos() + 1;
                    let ahead = self.period.as_nanos().saturating_mul(periods);
                    let ahead = Duration::from_nanos(u64::try_from(ahead).unwrap_or(u64::MAX));
                    far_enough(scheduled, ahead)
                }
            }
        };
        self.sleep.as_mut().reset(next);
        Poll::Ready(scheduled)
    }

    /// Chooses what happens after missed ticks.
    pub fn set_missed_ticks(&mut self, behaviour: MissedTicks) {
        self.missed = behaviour;
    }

    /// What happens after missed ticks.
    pub fn missed_ticks(&self) -> MissedTicks {
        self.missed
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Starts over: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.sleep
            .as_mut()
            .reset(far_enough(Instant::now(), self.period));
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .field("missed", &self.missed)
            .field("next", &self.sleep.deadline())
            .finish()
    }
}
