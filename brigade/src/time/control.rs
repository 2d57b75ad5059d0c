//! Controlling virtual time from inside a runtime: [`pause`], [`resume`], [`advance`] (.NET's
//! `FakeTimeProvider.Advance`, tokio's `time::pause`).
//!
//! While the clock is paused it moves only by [`advance`] and by *auto-advance*: when every
//! worker is idle, nothing is queued, no `brigade::run` closure is in flight and every thread
//! in `block_on` on this runtime is asleep, the clock jumps to the next timer deadline and
//! fires it (V1, V2). See `Builder::start_paused` for the full rule and what it cannot see.

use std::sync::Arc;
use std::time::Duration;

use crate::timer::driver::TimeDriver;

#[track_caller]
fn current_driver(what: &str) -> Arc<TimeDriver> {
    crate::runtime::with_current_timers(|timers| timers.cloned()).unwrap_or_else(|| {
        panic!(
            "brigade::time::{what} called outside a brigade runtime: call it from a task or \
             inside block_on of the runtime whose clock it should change"
        )
    })
}

/// Pauses the current runtime's clock: from now on [`Instant::now`](super::Instant::now)
/// moves only by [`advance`] and auto-advance. Does nothing if it is already paused.
///
/// The clock freezes at the current time rounded up to a whole millisecond, so sleeps taken
/// afterwards complete exactly on their deadline.
///
/// # Panics
/// Outside a runtime (no task, no `block_on`).
#[track_caller]
pub fn pause() {
    current_driver("pause()").pause();
}

/// Lets the current runtime's clock run again, from where virtual time stood (it stays ahead
/// of, or behind, the system clock by what it was advanced or paused). Does nothing if it
/// runs.
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn resume() {
    current_driver("resume()").resume();
}

/// Whether the current runtime's clock is paused (`false` outside a runtime).
pub fn is_paused() -> bool {
    crate::runtime::with_current_timers(|timers| timers.is_some_and(|t| t.is_paused()))
}

/// Moves the paused clock forward by `duration`, fires every timer now due, and yields once
/// so the woken tasks run before the caller goes on. The clock moves when `advance` is
/// called; awaiting the returned future is the yield.
///
/// Timers due by `now + duration` all fire in this one step; to watch them fire one deadline
/// at a time, sleep instead (auto-advance jumps from deadline to deadline).
///
/// ```
/// use std::time::Duration;
/// use brigade::time::{advance, sleep, Instant};
/// let rt = brigade::Runtime::builder().start_paused(true).build()?;
/// rt.block_on(async {
///     let start = Instant::now();
///     advance(Duration::from_secs(90)).await;
///     assert_eq!(start.elapsed(), Duration::from_secs(90));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
/// Outside a runtime, or if the clock is not paused (call [`pause`] first).
#[track_caller]
pub fn advance(duration: Duration) -> impl std::future::Future<Output = ()> {
    let driver = current_driver("advance()");
    assert!(
        driver.advance(duration),
        "brigade::time::advance: the clock is not paused; call brigade::time::pause() first \
         (or build the runtime with Builder::start_paused(true))"
    );
    crate::future::yield_now()
}
