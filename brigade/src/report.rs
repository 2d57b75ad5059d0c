//! The one way the library tells a person something went wrong: a `tracing` event when a
//! subscriber listens for it, else a line on stderr, so a warning is never lost because no
//! subscriber was installed.
//!
//! Every diagnostic the runtime prints (stalls, blocking on a worker, unhandled panics, broken
//! hooks, a pool at its thread cap) goes through here; nothing else in the library writes to
//! stderr. Writing is cheap and never blocks on anything but stderr itself: no backtrace is
//! captured here.
//!
//! # Invariants
//! - A topic's `tracing` target is fixed (`brigade::stall`, `brigade::block_on`,
//!   `brigade::panic`, `brigade::runtime`), so users can filter on it.

/// What a report is about; each topic is a `tracing` target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Topic {
    /// Stalled workers, spares, the worker cap (`brigade::stall`).
    Stall,
    /// `block_on` used on a worker thread (`brigade::block_on`).
    BlockOn,
    /// Panics nobody observed (`brigade::panic`).
    Panic,
    /// Everything else the runtime itself hits: hooks that panicked, threads that would not
    /// start (`brigade::runtime`).
    Runtime,
}

/// Reports `message` at WARN level under `topic`.
pub(crate) fn warn(topic: Topic, message: &str) {
    // `tracing`'s macros need the target as a constant, hence one arm per topic.
    let listened = match topic {
        Topic::Stall => tracing::event_enabled!(target: "brigade::stall", tracing::Level::WARN),
        Topic::BlockOn => {
            tracing::event_enabled!(target: "brigade::block_on", tracing::Level::WARN)
        }
        Topic::Panic => tracing::event_enabled!(target: "brigade::panic", tracing::Level::WARN),
        Topic::Runtime => {
            tracing::event_enabled!(target: "brigade::runtime", tracing::Level::WARN)
        }
    };
    if !listened {
        eprintln!("brigade: {message}");
        return;
    }
    match topic {
        Topic::Stall => tracing::warn!(target: "brigade::stall", "{message}"),
        Topic::BlockOn => tracing::warn!(target: "brigade::block_on", "{message}"),
        Topic::Panic => tracing::warn!(target: "brigade::panic", "{message}"),
        Topic::Runtime => tracing::warn!(target: "brigade::runtime", "{message}"),
    }
}

/// Reports `message` at INFO level under `topic` (nothing on stderr when nobody listens: an
/// INFO line is never something a person must act on).
pub(crate) fn info(topic: Topic, message: &str) {
    match topic {
        Topic::Stall => tracing::info!(target: "brigade::stall", "{message}"),
        Topic::BlockOn => tracing::info!(target: "brigade::block_on", "{message}"),
        Topic::Panic => tracing::info!(target: "brigade::panic", "{message}"),
        Topic::Runtime => tracing::info!(target: "brigade::runtime", "{message}"),
    }
}
