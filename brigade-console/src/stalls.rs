//! Stall reports kept for the dashboard: the runtime hands each report to the hook set with
//! `Builder::on_stall`; [`stall_hook`] wraps the user's own hook so the console sees the
//! reports too.
//!
//! # Invariants
//! - The log keeps the newest [`STALL_LOG_CAPACITY`] reports; older ones are dropped (and
//!   counted), so a runtime that stalls all day uses fixed memory.
//! - The log is process-wide: a hook can be installed before any console is served, and every
//!   console shows the same reports.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use brigade::runtime::StallReport;

/// How many stall reports the console keeps (the newest). Fixed; older reports are counted in
/// `/api/stalls`'s `dropped` and forgotten.
pub const STALL_LOG_CAPACITY: usize = 200;

/// One kept report, with when it arrived.
#[derive(Debug, Clone)]
pub(crate) struct KeptStall {
    pub(crate) unix_ms: u64,
    pub(crate) report: StallReport,
}

struct Log {
    kept: VecDeque<KeptStall>,
    dropped: u64,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    kept: VecDeque::new(),
    dropped: 0,
});

/// Wraps your stall hook so the console also keeps each report. Pass the result to
/// `Builder::on_stall`; the reports then show on every console's page and at `/api/stalls`.
///
/// `Builder::on_stall` replaces brigade's own report (one line under target `brigade::stall`,
/// or stderr): print it yourself in `hook` if you still want it, as below.
///
/// ```
/// let rt = brigade::Runtime::builder()
///     .on_stall(brigade_console::stall_hook(|report| eprintln!("brigade: {report}")))
///     .build()?;
/// # drop(rt);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stall_hook(
    hook: impl Fn(&StallReport) + Send + Sync + 'static,
) -> impl Fn(&StallReport) + Send + Sync + 'static {
    move |report| {
        keep(report);
        hook(report);
    }
}

fn keep(report: &StallReport) {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    if log.kept.len() == STALL_LOG_CAPACITY {
        log.kept.pop_front();
        log.dropped += 1;
    }
    log.kept.push_back(KeptStall {
        unix_ms,
        report: report.clone(),
    });
}

/// The kept reports, oldest first, and how many older ones were dropped.
pub(crate) fn kept() -> (Vec<KeptStall>, u64) {
    let log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    (log.kept.iter().cloned().collect(), log.dropped)
}
