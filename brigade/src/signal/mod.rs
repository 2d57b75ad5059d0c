//! Unix signals as awaitable events — .NET's `PosixSignalRegistration` and
//! `Console.CancelKeyPress`, on brigade's own reactor.
//!
//! ```no_run
//! # brigade::block_on(async {
//! brigade::signal::ctrl_c().await?; // the first Ctrl-C (SIGINT)
//! println!("shutting down");
//! # Ok::<(), std::io::Error>(())
//! # });
//! ```
//!
//! # How it works
//! The first listener of a signal installs a handler (through `signal-hook-registry`, which
//! chains with handlers other libraries installed) that does two async-signal-safe things: it
//! sets the signal's *pending* flag and writes one byte to a process-wide self-pipe. Every
//! listener reads the pipe through its own registration with the current runtime's reactor;
//! whoever drains it turns each pending flag into one more *delivery* of that signal and wakes
//! every listener of it. No thread is started: the reactor's epoll wakes the listening task.
//!
//! # Invariants (O1-O3)
//! - A listener counts deliveries from the moment it is created: a signal that arrives before
//!   `recv` is first polled (or between two `recv`s) is not lost (O1).
//! - Every listener of a signal sees every delivery (O2); deliveries that arrive while a
//!   listener is not looking are coalesced into one `recv` (as with the kernel's own pending
//!   signals).
//! - Once a handler is installed it stays for the life of the process (the default action,
//!   e.g. exiting on SIGINT, no longer happens): this is what every signal library does, since
//!   a handler cannot be removed safely while another thread may be running it.

pub mod unix;

mod registry;

use std::io;

/// Waits for the next Ctrl-C (SIGINT), from the moment this is first called in this future.
///
/// Once a Ctrl-C listener has existed, SIGINT no longer ends the process: the program decides.
///
/// # Errors
/// Outside a brigade runtime (call it from a task or inside `block_on`), if the handler or
/// the self-pipe could not be set up, or if the runtime shut down while waiting.
pub async fn ctrl_c() -> io::Result<()> {
    let mut interrupt = unix::signal(unix::SignalKind::interrupt())?;
    match interrupt.recv().await {
        Some(()) => Ok(()),
        None => Err(io::Error::other(
            "brigade::signal::ctrl_c: the runtime shut down before Ctrl-C came",
        )),
    }
}
