//! Unix signals by kind: `signal(SignalKind::terminate())?.recv().await`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use mio::unix::pipe::Receiver;
use mio::Interest;

use super::registry::{self, Globals, MAX_SIGNAL};
use crate::io::scheduled_io::Direction;
use crate::net::poll_evented::PollEvented;

/// Which signal to listen for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// Any signal by number (`libc::SIGWINCH`, a real-time signal...). Checked by [`signal`].
    pub const fn from_raw(signal: libc::c_int) -> SignalKind {
        SignalKind(signal)
    }

    /// The signal's number.
    pub const fn as_raw_value(&self) -> libc::c_int {
        self.0
    }

    /// SIGINT: Ctrl-C at the terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// SIGTERM: the polite request to stop (`kill`, systemd, Kubernetes).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// SIGHUP: the terminal went away; daemons take it as "reload your configuration".
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// SIGQUIT: Ctrl-\ at the terminal.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// SIGUSR1, for the application's own use.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// SIGUSR2, for the application's own use.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// SIGCHLD: a child process stopped or exited.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// SIGWINCH: the terminal was resized.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }

    /// SIGPIPE: a write to a pipe nobody reads.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// SIGALRM: a timer set by `alarm(2)` fired.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    fn name(&self) -> String {
        let known = [
            (libc::SIGINT, "SIGINT"),
            (libc::SIGTERM, "SIGTERM"),
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGQUIT, "SIGQUIT"),
            (libc::SIGUSR1, "SIGUSR1"),
            (libc::SIGUSR2, "SIGUSR2"),
            (libc::SIGCHLD, "SIGCHLD"),
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGSTOP, "SIGSTOP"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGILL, "SIGILL"),
            (libc::SIGFPE, "SIGFPE"),
        ];
        match known.iter().find(|(number, _)| *number == self.0) {
            Some((_, name)) => (*name).to_string(),
            None => format!("signal {}", self.0),
        }
    }

    /// Whether a handler may be installed for it; a clear error if not.
    fn check(&self) -> io::Result<()> {
        if self.0 < 1 || self.0 > MAX_SIGNAL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "brigade::signal: {} is not a signal number (valid numbers are 1 to {MAX_SIGNAL})",
                    self.0
                ),
            ));
        }
        if signal_hook_registry::FORBIDDEN.contains(&self.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "brigade::signal: {} cannot be listened for: SIGKILL and SIGSTOP never reach a \
                     handler, and SIGSEGV, SIGILL and SIGFPE mean the program itself is broken \
                     (they cannot be resumed from safely)",
                    self.name()
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Starts listening for `kind` on the current runtime's reactor.
///
/// Deliveries count from this call on: one that arrives before [`Signal::recv`] is first polled
/// is not lost (O1), and every `Signal` of the same kind sees it (O2).
///
/// ```no_run
/// use brigade::signal::unix::{signal, SignalKind};
/// # brigade::block_on(async {
/// let mut hangup = signal(SignalKind::hangup())?;
/// while hangup.recv().await.is_some() {
///     println!("reloading the configuration");
/// }
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
///
/// # Errors
/// - `InvalidInput` for a number that is not a signal, and for SIGKILL, SIGSTOP, SIGSEGV, SIGILL
///   and SIGFPE, which cannot be handled.
/// - `Other` outside a brigade runtime (call it from a task, `block_on` or `#[brigade::main]`).
/// - The OS error if the self-pipe or the handler could not be set up.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    kind.check()?;
    if crate::runtime::Handle::try_current().is_none() {
        return Err(io::Error::other(format!(
            "brigade::signal: listening for {kind:?} outside a brigade runtime; call it from a \
             task, inside block_on or under #[brigade::main], so the signal has a reactor to \
             wake"
        )));
    }
    let globals = registry::globals()?;
    globals.install(kind.0)?;
    let io = PollEvented::with_interest(globals.reader_clone()?, Interest::READABLE)?;
    Ok(Signal {
        kind,
        seen: globals.slot(kind.0).deliveries(),
        id: registry::next_listener_id(),
        globals,
        io,
    })
}

/// A listener for one kind of signal; see [`signal`].
pub struct Signal {
    kind: SignalKind,
    /// The slot's delivery count this listener has reported.
    seen: u64,
    id: u64,
    globals: &'static Globals,
    io: PollEvented<Receiver>,
}

impl Signal {
    /// Waits for the next delivery. `None` if the runtime whose reactor this listener is
    /// registered with has shut down.
    ///
    /// Deliveries that arrived since the last `recv` are reported once (coalesced).
    /// Cancel the wait with `.with_cancellation(&token)` or a timeout; nothing is lost by it.
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The polling form of [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let slot = self.globals.slot(self.kind.0);
        loop {
            if self.take_fresh() {
                return Poll::Ready(Some(()));
            }
            slot.set_waker(self.id, cx.waker());
            match self.io.poll_ready(cx, Direction::Read) {
                Poll::Ready(Ok(())) => {
                    // Drain under the readiness we saw; it is cleared only if nothing newer
                    // arrived meanwhile.
                    let globals = self.globals;
                    let _ = self.io.try_io(Direction::Read, |_| {
                        globals.drain();
                        Err::<(), _>(io::ErrorKind::WouldBlock.into())
                    });
                }
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Pending => {
                    // The reactor may not have reported bytes already in the pipe yet (or
                    // another listener drained them and our wake-up is on its way): look once.
                    self.globals.drain();
                    if self.take_fresh() {
                        return Poll::Ready(Some(()));
                    }
                    // The dump says "signal SIGTERM", not "read on fd 7" (the self-pipe).
                    crate::task::refine_wait(
                        crate::task::WaitKind::Signal,
                        None,
                        self.kind.0 as u64,
                        0,
                    );
                    return Poll::Pending;
                }
            }
        }
    }

    fn take_fresh(&mut self) -> bool {
        let deliveries = self.globals.slot(self.kind.0).deliveries();
        if deliveries > self.seen {
            self.seen = deliveries;
            true
        } else {
            false
        }
    }

    /// The kind of signal this listens for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.globals.slot(self.kind.0).remove_waker(self.id);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind)
            .field("seen", &self.seen)
            .finish()
    }
}
