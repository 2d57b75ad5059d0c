//! brigade::process against real programs (sh, cat, true, sleep): exits wake waiters through
//! the reactor, pipes stream, no zombie is left, cancellation kills when asked.

use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use brigade::cancel::CancellationTokenSource;
use brigade::prelude::*;
use brigade::process::Command;
use brigade::time::timeout;
use brigade_test_support::{rt, wait_until, watchdog};

const LIMIT: Duration = Duration::from_secs(30);

/// Counts how often the inner future is polled.
struct CountPolls<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: std::future::Future> std::future::Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

/// Whether `pid` is gone entirely (not running, not a zombie waiting to be reaped).
fn gone(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

#[test]
fn o3_a_childs_exit_wakes_its_waiter_without_polling() {
    watchdog("o3", LIMIT, || {
        rt(2).block_on(async {
            let mut child = Command::new("sh")
                .args(["-c", "sleep 0.3; exit 4"])
                .spawn()
                .unwrap();
            let polls = Arc::new(AtomicUsize::new(0));
            let status = CountPolls {
                inner: Box::pin(child.wait()),
                polls: polls.clone(),
            }
            .await
            .unwrap();
            assert_eq!(status.code(), Some(4));
            // One poll to start waiting, one when the exit woke it (a spurious extra at most).
            let polls = polls.load(Ordering::SeqCst);
            assert!(
                polls <= 3,
                "the wait was polled {polls} times: it is polling"
            );
            assert_eq!(
                child.watched_by_pidfd(),
                Some(true),
                "this kernel has pidfds"
            );
        })
    });
}

#[test]
fn output_captures_stdout_stderr_and_the_exit_code() {
    rt(2).block_on(async {
        let output = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status.code(), Some(3));
    });
}

#[test]
fn output_reads_both_pipes_while_the_child_fills_them() {
    watchdog("big output", LIMIT, || {
        rt(2).block_on(async {
            // 1 MiB on each stream: far beyond a pipe's 64 KiB, so reading only after the exit
            // (or one pipe at a time) would deadlock.
            let script = "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2";
            let output = Command::new("sh")
                .args(["-c", script])
                .output()
                .await
                .unwrap();
            assert!(output.status.success());
            assert_eq!(
                (output.stdout.len(), output.stderr.len()),
                (1 << 20, 1 << 20)
            );
        })
    });
}

#[test]
fn piped_stdin_and_stdout_stream_through_cat() {
    watchdog("cat", LIMIT, || {
        rt(2).block_on(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let mut buf = [0u8; 64];
            for line in ["one\n", "two\n"] {
                stdin.write_all(line.as_bytes()).await.unwrap();
                let n = stdout.read(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], line.as_bytes());
            }
            stdin.close();
            assert!(stdin
                .write(b"late")
                .await
                .unwrap_err()
                .to_string()
                .contains("after close"));
            assert_eq!(
                stdout.read(&mut buf).await.unwrap(),
                0,
                "EOF after stdin closed"
            );
            assert!(child.wait().await.unwrap().success());
        })
    });
}

#[test]
fn child_streams_implement_tokios_and_futures_io_traits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt(2).block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        AsyncWriteExt::write_all(&mut stdin, b"through tokio")
            .await
            .unwrap();
        AsyncWriteExt::shutdown(&mut stdin).await.unwrap();
        let mut text = String::new();
        let mut stdout = child.stdout.take().unwrap();
        AsyncReadExt::read_to_string(&mut stdout, &mut text)
            .await
            .unwrap();
        assert_eq!(text, "through tokio");
        fn futures_io<T: futures_io::AsyncRead>(_: &T) {}
        futures_io(&stdout);
        child.wait().await.unwrap();
    });
}

#[test]
fn status_and_a_missing_program() {
    rt(1).block_on(async {
        assert!(Command::new("true").status().await.unwrap().success());
        assert!(!Command::new("false").status().await.unwrap().success());
        let error = Command::new("/no/such/program").spawn().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn env_and_current_dir_reach_the_child() {
    rt(1).block_on(async {
        let output = Command::new("sh")
            .args(["-c", "echo $BRIGADE_X; pwd"])
            .env_clear()
            .env("BRIGADE_X", "forty-two")
            .current_dir("/")
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8(output.stdout).unwrap(), "forty-two\n/\n");
    });
}

#[test]
fn o4_kill_on_drop_leaves_no_process() {
    watchdog("o4", LIMIT, || {
        let runtime = rt(2);
        let pid = runtime.block_on(async {
            let child = Command::new("sleep")
                .arg("30")
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let pid = child.id();
            drop(child);
            pid
        });
        // Killed and reaped in the background: no process, no zombie.
        wait_until("the dropped child is gone", LIMIT, || gone(pid));
    });
}

#[test]
fn o4_a_dropped_child_is_reaped_when_it_exits() {
    watchdog("o4 reaped", LIMIT, || {
        let runtime = rt(2);
        let pid = runtime.block_on(async {
            let child = Command::new("sh")
                .args(["-c", "sleep 0.2"])
                .spawn()
                .unwrap();
            child.id()
        });
        wait_until("the exited child is reaped", LIMIT, || gone(pid));
    });
}

#[test]
fn o5_a_wait_cancelled_by_token_kills_the_child_with_kill_on_cancel() {
    watchdog("o5", LIMIT, || {
        rt(2).block_on(async {
            let mut child = Command::new("sleep")
                .arg("30")
                .kill_on_cancel(true)
                .spawn()
                .unwrap();
            let source = CancellationTokenSource::new();
            source.cancel_after(Duration::from_millis(100));
            assert!(child
                .wait()
                .with_cancellation(&source.token())
                .await
                .is_err());
            let status = timeout(LIMIT, child.wait()).await.unwrap().unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL));
        })
    });
}

#[test]
fn o5_without_kill_on_cancel_the_child_runs_on() {
    watchdog("o5 runs on", LIMIT, || {
        rt(2).block_on(async {
            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            let source = CancellationTokenSource::new();
            source.cancel_after(Duration::from_millis(50));
            assert!(child
                .wait()
                .with_cancellation(&source.token())
                .await
                .is_err());
            brigade::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(child.try_wait().unwrap(), None, "still running");
            child.kill().await.unwrap();
        })
    });
}

#[test]
fn o6_a_killed_child_awaited_twice_and_killed_after_exit() {
    watchdog("o6", LIMIT, || {
        rt(2).block_on(async {
            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            child.kill().await.unwrap();
            let first = child.wait().await.unwrap();
            let second = child.wait().await.unwrap();
            assert_eq!(first, second);
            assert_eq!(first.signal(), Some(libc::SIGKILL));
            let error = child.start_kill().unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            assert!(error.to_string().contains("already exited"), "{error}");
            assert!(child.kill().await.is_err());
        })
    });
}

#[test]
fn many_children_eight_at_a_time() {
    watchdog("many", Duration::from_secs(120), || {
        rt(2).block_on(async {
            let gate = Arc::new(brigade::sync::Semaphore::new(8));
            let runs = (0..100).map(|_| {
                let gate = gate.clone();
                brigade::spawn(async move {
                    let _permit = gate.acquire().await;
                    Command::new("true").status().await.unwrap().success()
                })
            });
            assert!(brigade::when_all(runs).await.into_iter().all(|ok| ok));
        })
    });
}

const CHILD_ROLE: &str = "BRIGADE_PROCESS_TEST_ROLE";

/// The child half of the SIGCHLD fallback test: runs with pidfds disabled by the environment.
#[test]
#[ignore = "the child half of o3_without_pidfds_sigchld_wakes_the_waiter"]
fn sigchld_child() {
    if std::env::var(CHILD_ROLE).as_deref() != Ok("sigchld") {
        return;
    }
    rt(2).block_on(async {
        let mut waits = Vec::new();
        for code in 0..5 {
            waits.push(brigade::spawn(async move {
                let script = format!("sleep 0.{code}; exit {code}");
                let mut child = Command::new("sh").args(["-c", &script]).spawn().unwrap();
                let status = child.wait().await.unwrap();
                assert_eq!(child.watched_by_pidfd(), Some(false));
                status.code()
            }));
        }
        let codes = brigade::when_all(waits).await;
        assert_eq!(codes, (0..5).map(Some).collect::<Vec<_>>());
        // kill_on_drop reaps through SIGCHLD too.
        let child = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id();
        drop(child);
        brigade::time::sleep(Duration::from_millis(10)).await;
        let deadline = std::time::Instant::now() + LIMIT;
        while !gone(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "dropped child not reaped"
            );
            brigade::time::sleep(Duration::from_millis(10)).await;
        }
    });
    println!("SIGCHLD OK");
}

#[test]
fn o3_without_pidfds_sigchld_wakes_the_waiter() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigchld_child", "--nocapture", "--ignored"])
        .env(CHILD_ROLE, "sigchld")
        .env("BRIGADE_PROCESS_NO_PIDFD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("SIGCHLD OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
