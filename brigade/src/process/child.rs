//! A running child process: wait for it, kill it, and never leave a zombie behind.
//!
//! # Invariants
//! - `status` is set exactly when the child has been reaped; after that the pid may belong to
//!   another process, so nothing signals it any more (killing then is a clear error).
//! - A `Child` dropped before it was reaped hands it to a background reaper task (woken by the
//!   reactor like any waiter, O3) — killed first with `kill_on_drop` (O4). No thread per child.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::process::ExitStatus;
use std::task::{Context, Poll};

use super::exit_watch::ExitWatch;
use super::pipe::{ChildStderr, ChildStdin, ChildStdout};

/// A child process started by [`Command::spawn`](super::Command::spawn) — .NET's `Process`.
pub struct Child {
    std: Option<std::process::Child>,
    /// The exit status, once reaped.
    status: Option<ExitStatus>,
    /// Made on the first wait (on the runtime that waits).
    watch: Option<ExitWatch>,
    /// Whether the exit is watched by a pidfd, once a watch was made.
    watched_by_pidfd: Option<bool>,
    /// Whether `kill` was sent (a killed child is reaped at once when its reaper is dropped).
    killed: bool,
    pub(super) kill_on_drop: bool,
    pub(super) kill_on_cancel: bool,
    /// The child's standard input, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if it was piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    pub(super) fn new(std: std::process::Child) -> Child {
        Child {
            std: Some(std),
            status: None,
            watch: None,
            watched_by_pidfd: None,
            killed: false,
            kill_on_drop: false,
            kill_on_cancel: false,
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }

    fn std(&mut self) -> &mut std::process::Child {
        self.std
            .as_mut()
            .expect("the std child is present until drop")
    }

    /// The process id (still valid, even after the child was reaped, for logging).
    pub fn id(&self) -> u32 {
        self.std.as_ref().map_or(0, |child| child.id())
    }

    /// Waits for the child to exit and returns its status; stdin is closed first, so a child
    /// reading it sees EOF rather than waiting forever.
    ///
    /// The exit wakes this task through the reactor (a pidfd, or SIGCHLD where there is none):
    /// no thread, no polling (O3). Waiting again returns the same status (it is kept).
    /// Cancel with `.with_cancellation(&token)` or a timeout: with
    /// [`Command::kill_on_cancel`](super::Command::kill_on_cancel), an unfinished wait that is
    /// dropped kills the child (O5); without it the child keeps running.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        let mut guard = KillIfDropped {
            armed: self.kill_on_cancel,
            child: self,
        };
        let status = poll_fn(|cx| guard.child.poll_wait(cx)).await;
        guard.armed = false;
        status
    }

    /// The polling form of [`wait`](Self::wait) (it does not close stdin).
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        if self.watch.is_none() {
            let watch = ExitWatch::new(self.id())?;
            self.watched_by_pidfd = Some(watch.is_pidfd());
            self.watch = Some(watch);
        }
        let (Some(watch), Some(std)) = (self.watch.as_mut(), self.std.as_mut()) else {
            unreachable!("both present until drop")
        };
        let status = match watch.poll_exit(cx, std) {
            Poll::Ready(status) => status?,
            Poll::Pending => {
                // The dump says "child exit, pid N", not "read on fd 9" (the pidfd).
                crate::task::refine_wait(
                    crate::task::WaitKind::ChildExit,
                    None,
                    u64::from(self.id()),
                    0,
                );
                return Poll::Pending;
            }
        };
        self.status = Some(status);
        self.watch = None; // the pidfd is closed and leaves the reactor
        Poll::Ready(Ok(status))
    }

    /// The exit status if the child has exited (reaping it), `None` if it still runs.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.std().try_wait()?;
        }
        Ok(self.status)
    }

    /// Sends SIGKILL without waiting; call [`wait`](Self::wait) to reap.
    ///
    /// # Errors
    /// `InvalidInput` if the child was already reaped (its pid may belong to someone else by
    /// now, so nothing is sent).
    pub fn start_kill(&mut self) -> io::Result<()> {
        if let Some(status) = self.try_wait()? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "brigade::process: cannot kill child {}: it already exited ({status}) and \
                     was reaped",
                    self.id()
                ),
            ));
        }
        self.killed = true;
        self.std().kill()
    }

    /// Sends SIGKILL and waits for the child to exit (reaping it).
    ///
    /// # Errors
    /// As [`start_kill`](Self::start_kill): a child that already exited and was waited for.
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }

    /// Whether the exit was awaited through a pidfd (`Some(true)`) or SIGCHLD (`Some(false)`);
    /// `None` before the first wait. For diagnostics and tests.
    pub fn watched_by_pidfd(&self) -> Option<bool> {
        self.watched_by_pidfd
    }
}

/// Kills the child when an unfinished wait is dropped (`kill_on_cancel`).
struct KillIfDropped<'a> {
    armed: bool,
    child: &'a mut Child,
}

impl Drop for KillIfDropped<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.child.start_kill();
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let Some(mut std) = self.std.take() else {
            return;
        };
        if self.kill_on_drop && std.kill().is_ok() {
            self.killed = true;
        }
        if let Ok(Some(_)) = std.try_wait() {
            return;
        }
        let reaper = Reaper {
            std,
            watch: self.watch.take(),
            killed: self.killed,
            reaped: false,
        };
        let name = format!("brigade::process reaper of pid {}", reaper.std.id());
        drop(crate::spawn_named(name, reaper.run()));
    }
}

/// Reaps a dropped child in the background, woken by the reactor when it exits.
struct Reaper {
    std: std::process::Child,
    watch: Option<ExitWatch>,
    killed: bool,
    reaped: bool,
}

impl Reaper {
    async fn run(mut self) {
        let reaped = poll_fn(|cx| {
            if self.watch.is_none() {
                match ExitWatch::new(self.std.id()) {
                    Ok(watch) => self.watch = Some(watch),
                    Err(error) => return Poll::Ready(Err(error)),
                }
            }
            let Some(watch) = self.watch.as_mut() else {
                unreachable!("made above")
            };
            watch.poll_exit(cx, &mut self.std)
        })
        .await;
        self.reaped = reaped.is_ok();
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // The runtime went away before the child exited. A killed child dies at once, so reap
        // it here; one left running is the caller's choice (no kill_on_drop) and is reaped by
        // init when this process exits.
        if !self.reaped && self.killed {
            let _ = self.std.wait();
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("status", &self.status)
            .field("kill_on_drop", &self.kill_on_drop)
            .field("kill_on_cancel", &self.kill_on_cancel)
            .finish_non_exhaustive()
    }
}
