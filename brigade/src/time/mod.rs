//! Time: sleeps, timeouts and intervals on a hierarchical timer wheel (seed sections 5 and 10:
//! an awaitable delay, `Task.Delay`).
//!
//! The seed builds `Task.Delay` from a `System.Threading.Timer` whose callback completes a
//! `TaskCompletionSource`. brigade keeps the idea — a timer completes a future — without a
//! timer thread or an allocation per delay:
//!
//! - the timer driver (`crate::timer`, a layer below the pool) sorts pending timers into a
//!   six-level wheel of 64 slots per level (1 ms at the bottom), so registering, cancelling and
//!   firing are O(1), and lends the *driving role* to whichever worker parks first: it sleeps
//!   only until the next deadline, then fires what is due;
//! - each [`Sleep`] carries its timer node inside itself, so a pending sleep allocates nothing;
//! - this module is the face: the futures users await.
//!
//! Deadlines are [`Instant`]s: brigade's own, a thin wrapper around std's whose `now()` follows
//! the runtime's clock, which can be *virtual* — paused, moved only by [`advance`] and by
//! auto-advance (see [`pause`] and `Builder::start_paused`), so timer-heavy code is tested
//! without waiting. Functions taking a deadline accept std's `Instant` too. Timers have
//! millisecond resolution and never fire early: a deadline is rounded up to the next
//! millisecond tick (T1).
//!
//! ```
//! use std::time::Duration;
//! use brigade::time::{sleep, timeout};
//! # brigade::block_on(async {
//! sleep(Duration::from_millis(1)).await;
//! let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(10)));
//! assert!(slow.await.is_err());
//! # });
//! ```

mod control;
mod instant;
mod interval;
mod sleep;
mod timeout;

pub use control::{advance, is_paused, pause, resume};
pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTicks};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};
