//! The reactor: readiness-based I/O on mio (seed section 13: calling a web API, a database, a
//! high-throughput server — the thread is released back to the pool during the network wait).
//!
//! - `driver` owns the `mio::Poll` and dispatches its events, polled by whichever worker holds
//!   the driving role (it parks in `epoll_wait`, its timeout the next timer deadline);
//! - `scheduled_io` is one resource's readiness word and waiting tasks.
//!
//! This is a driver, a layer below the pool: it knows nothing of runtimes. The sockets, and
//! `PollEvented` (a mio source registered with the current runtime's reactor, with the wait /
//! try / clear loop every socket call runs), are the public face in [`crate::net`].

pub(crate) mod driver;
pub(crate) mod scheduled_io;
