//! `Sleep`: the awaitable delay (.NET's `Task.Delay`, seed sections 5 and 10).
//!
//! A `Sleep` is a future with a [`TimerEntry`] inside it. On its first poll it links that entry
//! into the current runtime's timer wheel along with the task's waker; when the deadline comes
//! the driver unlinks it, marks it fired and wakes the task, whose next poll returns `Ready`.
//! Nothing is allocated: the entry lives in the future, which is why `Sleep` is `!Unpin` (the
//! wheel points at it) and unlinks itself when dropped (T2).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Instant;
use crate::task::{record_wait, WaitKind, WAIT_DETAIL_MAX};
use crate::timer::driver::{Registered, TimeDriver, NEVER};
use crate::timer::entry::{TimerEntry, FIRED, IDLE, REGISTERED, SHUTDOWN};

/// Waits until `duration` has passed. `sleep(Duration::ZERO)` is ready at once; durations too
/// large to add to now (`Duration::MAX`) sleep for ever, without overflowing.
///
/// The deadline is fixed when `sleep` is called; the timer is registered on the first poll, with
/// the runtime polling it (or the default runtime, outside any). A pending sleep allocates
/// nothing (T5), and dropping it removes its timer (T2).
///
/// ```
/// use std::time::Duration;
/// use brigade::time::Instant;
/// # brigade::block_on(async {
/// let start = Instant::now();
/// brigade::time::sleep(Duration::from_millis(20)).await;
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # });
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    // Whether a non-zero sleep has run out by its first poll is the wheel's business (its tick
    // says so under the lock), which saves a clock read per sleep.
    let site = SleepSite::here(WaitKind::Sleep, Some(duration));
    Sleep::new(
        far_enough(Instant::now(), duration),
        duration.is_zero(),
        site,
    )
}

/// Waits until `deadline`. A deadline in the past is ready at once.
///
/// `deadline` is a [`brigade::time::Instant`](Instant) or a std `Instant`; under virtual time
/// take it from `brigade::time::Instant::now()` (std's reads the system clock, which virtual
/// time does not follow).
#[track_caller]
pub fn sleep_until(deadline: impl Into<Instant>) -> Sleep {
    Sleep::new(
        deadline.into(),
        true,
        SleepSite::here(WaitKind::Sleep, None),
    )
}

/// What a pending sleep records as its task's wait (`task::wait`): why it sleeps (a sleep, a
/// timeout's deadline, an interval's tick), where it was made, and for how long.
#[derive(Clone, Copy)]
pub(crate) struct SleepSite {
    kind: WaitKind,
    location: &'static std::panic::Location<'static>,
    /// The requested duration in ms, or `WAIT_DETAIL_MAX` when only a deadline was given.
    duration_ms: u64,
}

impl SleepSite {
    #[track_caller]
    pub(crate) fn here(kind: WaitKind, duration: Option<Duration>) -> SleepSite {
        SleepSite {
            kind,
            location: std::panic::Location::caller(),
            duration_ms: duration.map_or(WAIT_DETAIL_MAX, |d| d.as_millis() as u64),
        }
    }
}

/// `now + duration`, or a point so far ahead (about 30 years) that it never comes, where the
/// sum would overflow.
pub(crate) fn far_enough(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365 * 30))
}

/// The future returned by [`sleep`] and [`sleep_until`].
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// Whether the first poll should read the clock to complete a deadline already passed
    /// without touching the wheel (`sleep(ZERO)`, `sleep_until` a past instant).
    may_be_due_at_first_poll: bool,
    /// The driver the entry is registered with; set on the first poll.
    driver: Option<Arc<TimeDriver>>,
    /// What the task dump shows while this sleep keeps its task waiting.
    site: SleepSite,
    /// (feature `console`) The timer's `runtime.resource` span, open while the sleep lives.
    #[cfg(feature = "console")]
    _resource: tracing::Span,
    entry: TimerEntry,
}

impl Sleep {
    pub(crate) fn new(deadline: Instant, may_be_due_at_first_poll: bool, site: SleepSite) -> Sleep {
        Sleep {
            deadline,
            may_be_due_at_first_poll,
            driver: None,
            site,
            #[cfg(feature = "console")]
            _resource: crate::task::console::timer_span(
                site.location,
                (site.duration_ms != WAIT_DETAIL_MAX).then_some(site.duration_ms),
            ),
            entry: TimerEntry::new(),
        }
    }

    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has come and the sleep completed (or would complete on its next
    /// poll).
    pub fn is_elapsed(&self) -> bool {
        self.entry.state() == FIRED
    }

    /// Moves the deadline, re-arming a sleep that already completed. The timer stays in the
    /// wheel with the same waker, so a reset sleep need not be polled again to stay armed; no
    /// allocation happens (hyper resets its timers this way).
    pub fn reset(self: Pin<&mut Self>, deadline: impl Into<Instant>) {
        let deadline = deadline.into();
        // SAFETY: `reset` moves nothing out of the pinned future; the entry stays in place.
        let this = unsafe { self.get_unchecked_mut() };
        this.deadline = deadline;
        this.may_be_due_at_first_poll = true;
        let Some(driver) = &this.driver else {
            // Never registered (or completed on its first poll without the wheel): the entry
            // is ours alone; make it wait again.
            this.entry.set_state(IDLE);
            return;
        };
        let entry = NonNull::from(&this.entry);
        // SAFETY: the entry is pinned inside `self` and alive. Whatever the outcome, the next
        // poll reads it from the entry's state.
        let _ = unsafe { driver.reset(entry, driver.deadline_tick(deadline.into_std())) };
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: nothing is moved out; the entry keeps its address while pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let polled = this.poll_timer(cx);
        if polled.is_pending() {
            let site = this.site;
            let deadline_ms = crate::clock::ms_since_origin(this.deadline.into_std());
            record_wait(
                site.kind,
                Some(site.location),
                site.duration_ms,
                deadline_ms,
            );
        }
        polled
    }
}

impl Sleep {
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        let entry = NonNull::from(&this.entry);
        match this.entry.state() {
            FIRED => Poll::Ready(()),
            SHUTDOWN => shut_down(),
            REGISTERED => {
                let driver = this
                    .driver
                    .as_ref()
                    .expect("a registered sleep has a driver");
                // SAFETY: the entry is pinned inside `self` and alive.
                match unsafe { driver.update_waker(entry, cx.waker()) } {
                    FIRED => Poll::Ready(()),
                    SHUTDOWN => shut_down(),
                    _ => Poll::Pending,
                }
            }
            IDLE => {
                let driver = this
                    .driver
                    .get_or_insert_with(crate::runtime::current_timers);
                // A deadline already passed (sleep(ZERO) among them) needs no timer. "Now" is
                // the driver's clock, which may be virtual.
                if this.may_be_due_at_first_poll && this.deadline.into_std() <= driver.now() {
                    // Idle and unlinked: the entry is ours alone to mark.
                    this.entry.set_state(FIRED);
                    return Poll::Ready(());
                }
                let when = driver.deadline_tick(this.deadline.into_std());
                if when == NEVER {
                    // Beyond the end of time: nothing will ever wake it, so nothing to register.
                    return Poll::Pending;
                }
                // SAFETY: the entry is pinned inside `self`, idle, and unregisters on drop.
                match unsafe { driver.register(entry, when, cx.waker()) } {
                    Registered::Pending => Poll::Pending,
                    Registered::Fired => Poll::Ready(()),
                    Registered::Shutdown => shut_down(),
                }
            }
            state => unreachable!("timer entry in unknown state {state}"),
        }
    }
}

#[track_caller]
fn shut_down() -> ! {
    panic!(
        "brigade: this sleep's runtime has shut down, so its timer can never fire. A future \
         awaiting a brigade timer must finish before the runtime that drives it is dropped \
         (keep the Runtime alive, or await the future inside it)."
    )
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.entry.state() == REGISTERED {
            if let Some(driver) = &self.driver {
                // SAFETY: the entry is alive until this drop returns, which unlinks it.
                unsafe { driver.remove(NonNull::from(&self.entry)) };
            }
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("is_elapsed", &self.is_elapsed())
            .finish()
    }
}
