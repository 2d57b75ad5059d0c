//! Awaitables that compose other awaitables (seed sections 10-11): `when_all`, `when_any`,
//! `yield_now`.

pub(crate) mod ready_set;
mod when_all;
mod when_any;
mod yield_now;

pub use when_all::{when_all, AggregatePanic, WhenAll};
pub use when_any::{when_any, WhenAny};
pub use yield_now::{yield_now, YieldNow};
