//! A coarse clock: milliseconds since the process's first runtime started, advanced by every
//! runtime's stall monitor a few times per stall threshold, read with one atomic load.
//!
//! Task bookkeeping (age, time in polls) reads this instead of the system clock, so a poll
//! costs no clock read. It lives at the bottom of the layers because both the task cells
//! (which read it) and the pool's monitor (which advances it) need it.
//!
//! # Invariants
//! - The value never goes backwards (`fetch_max`), and lags the real clock by at most one
//!   monitor interval while a runtime runs; with no runtime running it stands still.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Milliseconds since [`clock_origin`], advanced by every runtime's monitor.
static COARSE_NOW_MS: AtomicU64 = AtomicU64::new(0);

fn clock_origin() -> Instant {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// A cheap, coarse "now" in milliseconds (one atomic load). Advances while a runtime runs.
pub(crate) fn coarse_now_ms() -> u64 {
    COARSE_NOW_MS.load(Ordering::Relaxed)
}

pub(crate) fn tick_coarse_clock() {
    let now = clock_origin().elapsed().as_millis() as u64;
    COARSE_NOW_MS.fetch_max(now, Ordering::Relaxed);
}

/// `at` as milliseconds since [`clock_origin`] (0 for an instant before it): how waits record
/// deadlines in one word, with no clock read.
pub(crate) fn ms_since_origin(at: Instant) -> u64 {
    let since = at.saturating_duration_since(clock_origin());
    // 64-bit arithmetic: this runs on every pending sleep (`task::wait`).
    since.as_secs() * 1000 + u64::from(since.subsec_millis())
}
