//! Glue for the ecosystem's runtime traits (behind features).
//!
//! The I/O traits themselves (futures-io always; tokio's with `tokio-io`; hyper's `rt::Read` /
//! `rt::Write` with `hyper`) are implemented directly on [`crate::net`]'s sockets. Here is what
//! hyper needs besides I/O: somewhere to spawn its background work and a timer.

#[cfg(feature = "hyper")]
pub mod hyper;
