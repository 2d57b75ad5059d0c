//! The timer driver (a layer below the pool): the hierarchical wheel, the timer node a sleep
//! carries inside itself, and the driver that owns both with the clock and lends the *driving
//! role* to whichever thread parks first.
//!
//! - `wheel` sorts pending timers into a six-level wheel of 64 slots per level (1 ms at the
//!   bottom), so registering, cancelling and firing are O(1);
//! - `entry` is the node each `brigade::time::Sleep` carries inside itself, so a pending sleep
//!   allocates nothing;
//! - `driver` owns the wheel and the clock: the thread holding the driving role sleeps only
//!   until the next deadline, then fires what is due;
//! - `clock` is real time or virtual time (paused: it moves only when told to), and
//!   `virtual_time` the driver's side of pausing, advancing and auto-advancing it.
//!
//! The futures users await (`sleep`, `timeout`, `interval`) are the public face in
//! `crate::time`, one layer up; this module knows nothing of runtimes: whoever can take the
//! driving role is reached through the [`driver::DriverHost`] trait the pool implements.

mod clock;
pub(crate) mod driver;
pub(crate) mod entry;
mod virtual_time;
mod wheel;
