//! What the accept loop does when `accept` fails (I2): a server must outlive a bad moment.
//!
//! Three kinds of failure, three answers:
//! - **the peer's problem** (it reset or gave up before we accepted, a firewall said no, a
//!   signal interrupted the call): nothing is wrong with us — accept the next one at once;
//! - **out of resources** (`EMFILE`/`ENFILE`: no file descriptors; `ENOBUFS`/`ENOMEM`): the
//!   pending connection stays queued in the kernel and the listener stays readable, so
//!   retrying at once would spin a core at 100 % until some connection closes. Pause instead,
//!   a little longer each time (5 ms doubling to 100 ms), and say so once per episode, not
//!   once per retry;
//! - **the listener itself is broken** (`EBADF`, `ENOTSOCK`, `EINVAL`: closed, not a socket,
//!   not listening): no retry can help, so the server shuts down and `serve` returns the error.
//!
//! Anything unrecognised is treated as "out of resources": a pause costs little, a spin a core.

use std::io;
use std::time::{Duration, Instant};

/// What to do about one failed `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// The connection went away before we took it; take the next one.
    PeerGaveUp,
    /// No file descriptors or buffers right now; pause, then try again.
    OutOfResources,
    /// The listening socket cannot accept any more; stop serving.
    ListenerBroken,
}

impl AcceptFailure {
    pub(crate) fn classify(error: &io::Error) -> AcceptFailure {
        if let Some(code) = error.raw_os_error() {
            return match code {
                libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::EPROTO
                | libc::EPERM
                | libc::EINTR
                | libc::EAGAIN
                | libc::ETIMEDOUT
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::ENONET
                | libc::ENOPROTOOPT
                | libc::EOPNOTSUPP => AcceptFailure::PeerGaveUp,
                libc::EBADF | libc::ENOTSOCK | libc::EINVAL | libc::EFAULT => {
                    AcceptFailure::ListenerBroken
                }
                _ => AcceptFailure::OutOfResources, // EMFILE, ENFILE, ENOBUFS, ENOMEM, unknown
            };
        }
        match error.kind() {
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock => AcceptFailure::PeerGaveUp,
            _ => AcceptFailure::OutOfResources,
        }
    }
}

/// The pause between retries while out of resources, and the once-per-episode log lines.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    /// When the current episode began; `None` while accepts succeed.
    since: Option<Instant>,
    next_pause: Duration,
    retries: u64,
}

const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(100);

impl AcceptBackoff {
    pub(crate) fn new() -> AcceptBackoff {
        AcceptBackoff {
            since: None,
            next_pause: FIRST_PAUSE,
            retries: 0,
        }
    }

    /// Called after an out-of-resources failure; returns how long to pause.
    pub(crate) fn pause_after(&mut self, error: &io::Error) -> Duration {
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::warn!(
                %error,
                "brigade-http: accept failed for lack of resources (EMFILE: too many open \
                 files?); pausing accepts, retrying with pauses of up to {} ms until it recovers; \
                 raise the file-descriptor limit (ulimit -n) or lower max_connections",
                LONGEST_PAUSE.as_millis()
            );
        }
        self.retries += 1;
        let pause = self.next_pause;
        self.next_pause = (self.next_pause * 2).min(LONGEST_PAUSE);
        pause
    }

    /// Called after a successful accept: ends an episode, if one was running.
    pub(crate) fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::warn!(
                "brigade-http: accepting again after {} ms ({} retries)",
                since.elapsed().as_millis(),
                self.retries
            );
            self.next_pause = FIRST_PAUSE;
            self.retries = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i2_errors_are_sorted_into_peer_resource_and_listener_failures() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(
            AcceptFailure::classify(&os(libc::ECONNABORTED)),
            AcceptFailure::PeerGaveUp
        );
        assert_eq!(
            AcceptFailure::classify(&os(libc::EMFILE)),
            AcceptFailure::OutOfResources
        );
        assert_eq!(
            AcceptFailure::classify(&os(libc::ENFILE)),
            AcceptFailure::OutOfResources
        );
        assert_eq!(
            AcceptFailure::classify(&os(libc::EBADF)),
            AcceptFailure::ListenerBroken
        );
        assert_eq!(
            AcceptFailure::classify(&io::Error::other("who knows")),
            AcceptFailure::OutOfResources,
            "the unknown pauses rather than spins"
        );
    }

    #[test]
    fn i2_the_pause_doubles_up_to_a_cap_and_resets_on_recovery() {
        let mut backoff = AcceptBackoff::new();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let pauses: Vec<_> = (0..7).map(|_| backoff.pause_after(&emfile)).collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert!(pauses.windows(2).all(|pair| pair[1] >= pair[0]));
        assert_eq!(*pauses.last().unwrap(), LONGEST_PAUSE);
        backoff.recovered();
        assert_eq!(backoff.pause_after(&emfile), FIRST_PAUSE);
    }
}
