//! Awaitables that compose other awaitables (seed sections 10-11): `when_all`, `when_any`,
//! `yield_now`.
//!
//! ```
//! use std::time::Duration;
//! use brigade::{when_all, when_any, yield_now};
//! # brigade::block_on(async {
//! // Task.WhenAll: every output, in input order.
//! let squares = when_all((1..=3).map(|i| brigade::spawn(async move { i * i }))).await;
//! assert_eq!(squares, vec![1, 4, 9]);
//!
//! // Task.WhenAny: the index and output of the first to finish.
//! let slow = brigade::spawn(async {
//!     brigade::time::sleep(Duration::from_secs(5)).await;
//!     "slow"
//! });
//! let fast = brigade::spawn(async { "fast" });
//! assert_eq!(when_any([slow, fast]).await, (1, "fast"));
//!
//! // Task.Yield: let the other tasks on this worker run.
//! yield_now().await;
//! # });
//! ```

pub(crate) mod ready_set;
mod when_all;
mod when_any;
mod yield_now;

pub use when_all::{when_all, AggregatePanic, WhenAll};
pub use when_any::{when_any, WhenAny};
pub use yield_now::{yield_now, YieldNow};
