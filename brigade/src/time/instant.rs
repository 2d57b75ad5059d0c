//! `brigade::time::Instant`: a point in time on the *runtime's* clock, which may be virtual.
//!
//! std's `Instant::now()` always reads the system clock, so it cannot be paused. This newtype
//! wraps one and differs only in [`Instant::now`]: inside a runtime whose clock is virtual
//! (paused with `Builder::start_paused`, `brigade::time::pause`, or a deterministic runtime) it
//! reads that clock, which moves only by `advance` and auto-advance; everywhere else it is
//! std's `Instant::now()`. Everything else — arithmetic, comparisons, `From`/`Into` std's
//! `Instant` — is std's, so existing code that passes std instants keeps compiling.
//!
//! Under virtual time an instant is `clock start + virtual time elapsed`: it can be compared
//! with other instants of the same runtime, and converted to std's for APIs that want one, but
//! std's `Instant::now()` is *real* time and will drift away from it.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A measurement of the runtime's clock: std's [`Instant`](std::time::Instant), except that
/// [`now`](Instant::now) follows virtual time inside a runtime whose clock is paused.
///
/// ```
/// use std::time::Duration;
/// use brigade::time::Instant;
/// let rt = brigade::Runtime::builder().start_paused(true).build()?;
/// rt.block_on(async {
///     let start = Instant::now();
///     brigade::time::sleep(Duration::from_secs(3600)).await; // returns at once
///     assert_eq!(start.elapsed(), Duration::from_secs(3600)); // exactly one virtual hour
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

impl Instant {
    /// The current instant: the current runtime's clock when it is virtual (paused, or
    /// resumed after a pause), else the system clock.
    pub fn now() -> Instant {
        crate::runtime::with_current_timers(|timers| match timers {
            Some(timers) if timers.is_virtual() => Instant(timers.now()),
            _ => Instant(std::time::Instant::now()),
        })
    }

    /// Wraps a std instant.
    pub fn from_std(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }

    /// The std instant inside.
    pub fn into_std(self) -> std::time::Instant {
        self.0
    }

    /// How long from `earlier` to `self`; zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// How long from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// How long from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// How long since `self`, on the current runtime's clock ([`Instant::now`]).
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self + duration`, or `None` on overflow.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }

    /// `self - duration`, or `None` on overflow.
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(duration).map(Instant)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    /// On overflow, like std's; use [`Instant::checked_add`] to get an `Option`.
    fn add(self, duration: Duration) -> Instant {
        Instant(self.0 + duration)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, duration: Duration) {
        self.0 += duration;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    fn sub(self, duration: Duration) -> Instant {
        Instant(self.0 - duration)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, duration: Duration) {
        self.0 -= duration;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates at zero, like std's.
    fn sub(self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }
}

impl Sub<std::time::Instant> for Instant {
    type Output = Duration;

    /// Mixing with a std instant (code written before brigade had its own `Instant`).
    fn sub(self, earlier: std::time::Instant) -> Duration {
        self.0.saturating_duration_since(earlier)
    }
}

impl Sub<Instant> for std::time::Instant {
    type Output = Duration;

    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier.0)
    }
}

impl PartialEq<Instant> for std::time::Instant {
    fn eq(&self, other: &Instant) -> bool {
        *self == other.0
    }
}

impl PartialOrd<Instant> for std::time::Instant {
    fn partial_cmp(&self, other: &Instant) -> Option<std::cmp::Ordering> {
        self.partial_cmp(&other.0)
    }
}

impl PartialEq<std::time::Instant> for Instant {
    fn eq(&self, other: &std::time::Instant) -> bool {
        self.0 == *other
    }
}

impl PartialOrd<std::time::Instant> for Instant {
    fn partial_cmp(&self, other: &std::time::Instant) -> Option<std::cmp::Ordering> {
        self.0.partial_cmp(other)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
