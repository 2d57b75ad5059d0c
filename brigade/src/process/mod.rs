//! Child processes on brigade's reactor — .NET's `Process` with `WaitForExitAsync(token)`.
//!
//! [`Command`] mirrors [`std::process::Command`]; [`Child::wait`] awaits the exit without a
//! thread per child (a pidfd registered with the reactor, or SIGCHLD on kernels without
//! pidfds); piped stdin/stdout/stderr are non-blocking brigade streams.
//!
//! ```
//! use brigade::process::Command;
//! # brigade::block_on(async {
//! let output = Command::new("sh").arg("-c").arg("echo hello").output().await?;
//! assert!(output.status.success());
//! assert_eq!(output.stdout, b"hello\n");
//! # Ok::<(), std::io::Error>(())
//! # });
//! ```
//!
//! # Invariants (O3-O6)
//! - A child's exit wakes its waiter through the reactor, never by polling (O3).
//! - No zombie is left: a `Child` dropped before it was reaped is reaped in the background,
//!   and with [`Command::kill_on_drop`] it is killed first (O4).
//! - With [`Command::kill_on_cancel`], a wait cancelled by a token (or otherwise dropped before
//!   it finished) kills the child (O5).
//! - A child awaited twice returns the same status; killing a reaped child is an error (O6).

mod child;
mod exit_watch;
mod pipe;

use std::ffi::OsStr;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::task::Poll;

pub use child::Child;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};

/// A process to start, built like [`std::process::Command`] (the same methods, returning
/// `&mut Command`), plus [`kill_on_drop`](Self::kill_on_drop) and
/// [`kill_on_cancel`](Self::kill_on_cancel).
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    kill_on_cancel: bool,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` unless it contains a `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets several environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: [`Stdio::piped`] for a [`ChildStdin`], `null()`, `inherit()`.
    /// Default: inherited by [`spawn`](Self::spawn) and [`status`](Self::status), null for
    /// [`output`](Self::output).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's stdout. Default: inherited, piped (captured) for [`output`](Self::output).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's stderr. Default: inherited, piped (captured) for [`output`](Self::output).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Kill the child (SIGKILL) if its [`Child`] is dropped before it exited; either way a
    /// dropped child is reaped in the background. Default: `false` (as in std: the child runs
    /// on).
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Kill the child (SIGKILL) when a [`Child::wait`] (or [`status`](Self::status) /
    /// [`output`](Self::output)) is dropped before it finished — cancelled by a token with
    /// `.with_cancellation`, timed out, or lost a race. Default: `false`.
    pub fn kill_on_cancel(&mut self, kill: bool) -> &mut Command {
        self.kill_on_cancel = kill;
        self
    }

    /// The wrapped std command, for what this type does not mirror (`CommandExt`: uid, gid,
    /// process groups, `pre_exec`...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// The wrapped std command.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// Starts the child; its pipes are registered with the current runtime's reactor (or the
    /// default runtime's).
    ///
    /// # Errors
    /// As [`std::process::Command::spawn`] (`NotFound` for a missing program...), or if a pipe
    /// could not be registered (then the child is killed and reaped).
    pub fn spawn(&mut self) -> io::Result<Child> {
        // fork/exec (or posix_spawn) waits for the exec, usually well under a millisecond, but
        // a big parent or a loaded machine can stretch it: flag this worker as blocking so a
        // spare takes its queue meanwhile, instead of the stall monitor reporting it.
        let mut std = crate::blocking(|| self.std.spawn())?;
        let (stdin, stdout, stderr) = (std.stdin.take(), std.stdout.take(), std.stderr.take());
        let mut child = Child::new(std);
        // Set before the pipes: if one fails, dropping `child` kills and reaps it.
        child.kill_on_drop = true;
        child.stdin = stdin.map(ChildStdin::from_std).transpose()?;
        child.stdout = stdout.map(ChildStdout::from_std).transpose()?;
        child.stderr = stderr.map(ChildStderr::from_std).transpose()?;
        child.kill_on_drop = self.kill_on_drop;
        child.kill_on_cancel = self.kill_on_cancel;
        Ok(child)
    }

    /// Runs the child to its end (stdin, stdout and stderr inherited unless set) and returns
    /// its exit status.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        // The child is ours alone: dropping this future drops it.
        child.kill_on_drop |= self.kill_on_cancel;
        child.wait().await
    }

    /// Runs the child to its end, capturing stdout and stderr (stdin is null unless set).
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::piped());
        }
        let mut child = self.spawn()?;
        child.kill_on_drop |= self.kill_on_cancel;
        let mut stdout = child.stdout.take().map(ChildStdout::into_inner);
        let mut stderr = child.stderr.take().map(ChildStderr::into_inner);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        // Read both pipes while waiting, so a child filling one never blocks on it.
        poll_fn(|cx| {
            for (pipe, buf) in [(&mut stdout, &mut out), (&mut stderr, &mut err)] {
                if let Some(reader) = pipe {
                    if reader.poll_read_to_end(cx, buf)?.is_ready() {
                        *pipe = None;
                    }
                }
            }
            if stdout.is_none() && stderr.is_none() {
                Poll::Ready(Ok::<(), io::Error>(()))
            } else {
                Poll::Pending
            }
        })
        .await?;
        let status = child.wait().await?;
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            kill_on_cancel: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)
    }
}
