//! The pool's validated configuration, and the policies it applies: what happens to a panic
//! nobody observes (`UnhandledPanic`, .NET's `UnobservedTaskException`), where stall reports go,
//! how thread hooks run.
//!
//! The runtime layer's `Builder` checks every knob and produces a [`Config`]; the pool only
//! reads it. Keeping the type here lets the pool look down at its own settings instead of up
//! at the runtime that built them.
//!
//! # Invariants
//! - A `Config` is valid: the builder refused anything else (at least one worker,
//!   `max_workers >= workers`, a non-zero stall threshold, ...).

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::monitor::StallReport;
use crate::task::{describe, panic_message, TaskId, TaskMeta};

/// How many spare workers the pool adds at most, beyond the configured ones, for workers the
/// stall monitor caught stuck in a poll (blocking on purpose may go up to `max_workers`).
pub const DEFAULT_SPARE_WORKERS: usize = 32;

pub(crate) type Hook = Arc<dyn Fn() + Send + Sync + 'static>;

/// What happens when a detached task panics and nobody will ever await it (S3) — the
/// counterpart of .NET's `UnobservedTaskException` and of an exception escaping `async void`.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum UnhandledPanic {
    /// Print one report to stderr naming the task (id, name, spawn location) and the panic
    /// message; the runtime keeps running. The default.
    #[default]
    Report,
    /// Report, then abort the process: for services that prefer to crash than run on in an
    /// unknown state.
    Abort,
    /// Hand the report to a function of yours (to log it, count it, forward it ...).
    Call(Arc<dyn Fn(&UnhandledPanicReport<'_>) + Send + Sync + 'static>),
}

/// A detached task's panic, as given to [`UnhandledPanic::Call`].
pub struct UnhandledPanicReport<'a> {
    id: TaskId,
    meta: &'a TaskMeta,
    payload: &'a (dyn Any + Send),
}

impl UnhandledPanicReport<'_> {
    /// The task that panicked.
    pub fn task_id(&self) -> TaskId {
        self.id
    }

    /// Its name, if it was spawned with one.
    pub fn task_name(&self) -> Option<&str> {
        self.meta.name.as_deref()
    }

    /// Where it was spawned.
    pub fn spawn_location(&self) -> &'static std::panic::Location<'static> {
        self.meta.location
    }

    /// The panic's payload.
    pub fn payload(&self) -> &(dyn Any + Send) {
        self.payload
    }

    /// The panic message, if the payload is a string.
    pub fn message(&self) -> &str {
        panic_message(self.payload)
    }
}

impl fmt::Display for UnhandledPanicReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "brigade: {} panicked and nobody awaited it (the task was detached): {}",
            describe(self.id, self.meta),
            self.message()
        )
    }
}

impl UnhandledPanic {
    pub(crate) fn handle(&self, id: TaskId, meta: &TaskMeta, payload: Box<dyn Any + Send>) {
        let report = UnhandledPanicReport {
            id,
            meta,
            payload: payload.as_ref(),
        };
        match self {
            UnhandledPanic::Report => {
                crate::report::warn(crate::report::Topic::Panic, &report.to_string())
            }
            UnhandledPanic::Abort => {
                crate::report::warn(
                    crate::report::Topic::Panic,
                    &format!("{report}\naborting (UnhandledPanic::Abort)"),
                );
                std::process::abort();
            }
            UnhandledPanic::Call(callback) => callback(&report),
        }
    }
}

impl fmt::Debug for UnhandledPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnhandledPanic::Report => f.write_str("Report"),
            UnhandledPanic::Abort => f.write_str("Abort"),
            UnhandledPanic::Call(_) => f.write_str("Call(..)"),
        }
    }
}

/// The validated configuration the pool runs with.
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) thread_name_prefix: String,
    pub(crate) thread_name: Arc<dyn Fn(usize) -> String + Send + Sync>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
    pub(crate) unhandled_panic: UnhandledPanic,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    /// How long one poll may block before its worker counts as stalled and a spare starts.
    pub(crate) stall_threshold: Duration,
    /// The most worker threads at once, spares included.
    pub(crate) max_workers: usize,
    /// Where stall reports go.
    pub(crate) on_stall: StallHook,
    /// The timer clock starts paused (virtual time).
    pub(crate) start_paused: bool,
    /// Deterministic mode's seed: one worker, a seeded pick among runnable tasks, no stall
    /// detection or spares, every poll recorded.
    pub(crate) deterministic: Option<u64>,
    /// The reactor's backend (`Auto` resolved when the reactor is built).
    pub(crate) io_driver: crate::io::IoDriver,
}

/// A stall report's destination.
pub(crate) type StallHook = Arc<dyn Fn(&StallReport) + Send + Sync>;

/// The default stall hook: a `tracing` warning (and, with no subscriber listening, a line on
/// stderr, so a stall never goes unnoticed).
pub(crate) fn default_on_stall() -> StallHook {
    Arc::new(|report: &StallReport| {
        if report.ended {
            crate::report::info(crate::report::Topic::Stall, &report.to_string());
        } else {
            crate::report::warn(crate::report::Topic::Stall, &report.to_string());
        }
    })
}

impl Config {
    /// Runs a thread hook, catching its panic: a broken hook is reported, and the thread goes
    /// on with its work (a worker that died here would leave the pool short, and shutdown
    /// waiting for it forever).
    pub(crate) fn run_hook(&self, hook: Option<&Hook>, which: &str) {
        let Some(hook) = hook else { return };
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook())) {
            let thread = std::thread::current();
            crate::report::warn(
                crate::report::Topic::Runtime,
                &format!(
                    "the {which} hook panicked on thread {:?}: {}; the thread carries on",
                    thread.name().unwrap_or("<unnamed>"),
                    panic_message(payload.as_ref())
                ),
            );
        }
    }
}
