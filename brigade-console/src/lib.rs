//! # brigade-console
//!
//! A live dashboard for a running brigade runtime — `dotnet-counters` and `dotnet-dump`'s task
//! view in a browser tab. [`serve`] starts, on the current runtime, a small HTTP server
//! (brigade-http) with one page that refreshes every second:
//!
//! - **workers**: busy / parked / stalled, spares started for stalled workers;
//! - **charts** over the last minutes (a ring sampled each second): polls/s, tasks finished/s,
//!   queue depth, live tasks;
//! - **tasks**: name, state, age, polls, busy time and what each one waits on (with wait
//!   chains: "task 9 waits on task 17, which waits on read on 127.0.0.1:5432") — sortable and
//!   filterable;
//! - **stall reports** (collected through [`stall_hook`]);
//! - **timers and sockets** being waited on.
//!
//! The same data is JSON at `/api/metrics`, `/api/tasks`, `/api/stalls` (and `/api/snapshot`,
//! all three at once). The page is plain HTML, CSS, JavaScript and SVG embedded in the crate:
//! no build step, no external resource.
//!
//! ```no_run
//! # brigade::block_on(async {
//! let console = brigade_console::serve("127.0.0.1:6669")?;
//! println!("dashboard at http://{}/", console.local_addr());
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Safety of exposure
//! - **Off by default**: nothing runs and nothing is sampled unless `serve` is called.
//! - **Loopback by default**: `serve` refuses an address that is not loopback;
//!   [`ConsoleBuilder::allow_remote`] lifts that, for a network you trust. While loopback-only,
//!   requests whose `Host` is not a loopback name are refused too (a web page elsewhere cannot
//!   reach the console by DNS rebinding).
//! - **No secrets**: it shows what `Runtime::dump` and `Runtime::metrics` show — task names,
//!   spawn locations, socket addresses, counters. No environment, arguments or payloads.
//!
//! ## Cost
//! One sampler task wakes each second to read the metrics (a few atomic loads per worker); the
//! page's one request a second takes a task dump (each shard lock of the task list, briefly).
//! On the `dashboard` example that is under 0.2% of one core (BENCHMARKS.md). The dump grows
//! with the number of live tasks: with hundreds of thousands of them, keep the page closed
//! when not looking. The page draws the first 500 rows of the (filtered, sorted) task table;
//! `/api/tasks` has them all.
//!
//! ## Limits
//! - History: [`DEFAULT_HISTORY`] of one-second samples ([`ConsoleBuilder::history`]).
//! - Stall reports kept: [`STALL_LOG_CAPACITY`], the newest (fixed).
#![deny(missing_docs)]

mod api;
mod history;
mod server;
mod stalls;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use brigade::cancel::CancellationTokenSource;
use brigade::runtime::Handle;

pub use stalls::{stall_hook, STALL_LOG_CAPACITY};

/// How much history the charts keep by default: 5 minutes of one-second samples. Change it
/// with [`ConsoleBuilder::history`].
pub const DEFAULT_HISTORY: Duration = Duration::from_secs(300);

/// Serves the dashboard on `addr` (a loopback address; port 0 picks a free one), on the
/// current runtime. See [`ConsoleBuilder`] for the settings.
///
/// # Errors
/// When `addr` is not a loopback address (see [`ConsoleBuilder::allow_remote`]), does not
/// resolve, or cannot be bound; when called outside any brigade runtime.
pub fn serve(addr: impl ToSocketAddrs) -> io::Result<Console> {
    ConsoleBuilder::new().serve(addr)
}

/// Settings for [`serve`].
#[derive(Debug, Clone)]
pub struct ConsoleBuilder {
    allow_remote: bool,
    history: Duration,
    handle: Option<Handle>,
}

impl Default for ConsoleBuilder {
    fn default() -> Self {
        ConsoleBuilder::new()
    }
}

impl ConsoleBuilder {
    /// Loopback only, [`DEFAULT_HISTORY`] of samples, the current runtime.
    pub fn new() -> ConsoleBuilder {
        ConsoleBuilder {
            allow_remote: false,
            history: DEFAULT_HISTORY,
            handle: None,
        }
    }

    /// Lets the console listen on a non-loopback address (off by default). Anyone who can
    /// connect then sees your task names, spawn locations and socket addresses.
    pub fn allow_remote(mut self, allow: bool) -> ConsoleBuilder {
        self.allow_remote = allow;
        self
    }

    /// How far back the charts go (one sample per second; default [`DEFAULT_HISTORY`], at
    /// least one second). Memory is fixed: a few dozen bytes per second kept.
    pub fn history(mut self, span: Duration) -> ConsoleBuilder {
        self.history = span;
        self
    }

    /// Observes (and runs on) this runtime instead of the current one.
    pub fn runtime(mut self, handle: Handle) -> ConsoleBuilder {
        self.handle = Some(handle);
        self
    }

    /// Binds `addr` and starts serving; see [`serve`].
    ///
    /// # Errors
    /// As [`serve`].
    pub fn serve(self, addr: impl ToSocketAddrs) -> io::Result<Console> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        let Some(&first) = addrs.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "brigade-console: the address resolved to nothing",
            ));
        };
        if !self.allow_remote {
            if let Some(remote) = addrs.iter().find(|a| !a.ip().is_loopback()) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "brigade-console: refusing to listen on {remote}, which is not a loopback \
                         address: the console shows this process's task names, code locations \
                         and socket addresses to whoever connects. Listen on 127.0.0.1, or call \
                         ConsoleBuilder::allow_remote(true) if the network is trusted"
                    ),
                ));
            }
        }
        let handle = match self.handle {
            Some(handle) => handle,
            None => Handle::try_current().ok_or_else(|| {
                io::Error::other(
                    "brigade-console: serve() was called outside a brigade runtime; call it \
                     inside one (block_on, a task), or pass ConsoleBuilder::runtime(handle)",
                )
            })?,
        };
        let listener = std::net::TcpListener::bind(first)?;
        let local_addr = listener.local_addr()?;
        let stop = CancellationTokenSource::new();
        server::start(server::Start {
            handle,
            listener,
            history: self.history,
            loopback_only: !self.allow_remote,
            stop: stop.token(),
        })?;
        Ok(Console { local_addr, stop })
    }
}

/// A running console. Dropping it (or calling [`shutdown`](Console::shutdown)) stops the
/// server and the sampler.
#[derive(Debug)]
pub struct Console {
    local_addr: SocketAddr,
    stop: CancellationTokenSource,
}

impl Console {
    /// The address the dashboard is served on (`http://{local_addr}/`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving (open connections are closed gracefully).
    pub fn shutdown(self) {}
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
