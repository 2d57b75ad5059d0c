//! A process supervisor on brigade's reactor: it runs a child (`sh -c` printing lines and
//! crashing now and then), streams the child's stdout and stderr line by line, restarts it
//! after a crash with an exponential back-off, and stops everything on Ctrl-C or SIGTERM —
//! no thread per child, no polling: the child's exit, its output and the signals all wake
//! tasks through the one epoll reactor.
//!
//! `cargo run --release --example supervisor` runs until Ctrl-C / SIGTERM;
//! `-- --demo` stops by itself after about 3 seconds (CI runs this).

use std::io;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade::cancel::{CancellationToken, CancellationTokenSource};
use brigade::prelude::*;
use brigade::process::{ChildStderr, ChildStdout, Command};
use brigade::signal::unix::{signal, SignalKind};

/// The supervised program: a few lines a tenth of a second apart, then a crash (exit 3) — or,
/// every fourth generation, a clean exit.
const SCRIPT: &str = r#"
lines=$((2 + GENERATION % 3))
i=1
while [ $i -le $lines ]; do
    echo "working: step $i of $lines"
    i=$((i + 1))
    sleep 0.1
done
if [ $((GENERATION % 4)) -eq 0 ]; then echo "done, exiting cleanly"; exit 0; fi
echo "something went wrong" >&2
exit 3
"#;

/// The first restart waits this long; each crash in a row doubles it, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A run this long counts as healthy: the back-off starts over.
const HEALTHY_RUN: Duration = Duration::from_secs(2);

fn main() -> io::Result<()> {
    let demo = std::env::args().any(|arg| arg == "--demo");
    let rt = brigade::Runtime::new()?;
    rt.block_on(async {
        let stop = Arc::new(CancellationTokenSource::new());
        stop_on_signals(stop.clone())?;
        if demo {
            println!("supervisor: demo mode, stopping by itself after 3 s");
            stop.cancel_after(Duration::from_secs(3));
        } else {
            println!("supervisor: Ctrl-C or SIGTERM stops it");
        }
        supervise(stop.token()).await?;
        println!("supervisor: stopped, no child left behind");
        Ok(())
    })
}

/// Cancels `stop` on the first SIGINT or SIGTERM.
fn stop_on_signals(stop: Arc<CancellationTokenSource>) -> io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    brigade::spawn(async move {
        let which = std::future::poll_fn(|cx| {
            if interrupt.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready("SIGINT");
            }
            if terminate.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready("SIGTERM");
            }
            std::task::Poll::Pending
        });
        if let Ok(which) = which.with_cancellation(&stop.token()).await {
            println!("supervisor: {which}, stopping the child");
            stop.cancel();
        }
    })
    .detach();
    Ok(())
}

async fn supervise(stop: CancellationToken) -> io::Result<()> {
    let mut backoff = FIRST_BACKOFF;
    for generation in 1u32.. {
        let mut child = Command::new("sh")
            .args(["-c", SCRIPT])
            .env("GENERATION", generation.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true) // whatever happens to us, the child does not outlive us
            .kill_on_cancel(true) // a wait stopped by `stop` kills the child
            .spawn()?;
        let started = Instant::now();
        println!(
            "supervisor: started generation {generation} (pid {})",
            child.id()
        );
        let output = brigade::spawn(stream_lines(
            generation,
            Pipe::Out(child.stdout.take().expect("piped")),
            Pipe::Err(child.stderr.take().expect("piped")),
        ));

        let status = match child.wait().with_cancellation(&stop).await {
            Ok(status) => status?,
            Err(_cancelled) => {
                // kill_on_cancel sent SIGKILL; reap it and report.
                let status = child.wait().await?;
                output.await?;
                println!("supervisor: generation {generation} stopped ({status})");
                return Ok(());
            }
        };
        output.await?;
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        if status.success() {
            println!("supervisor: generation {generation} exited cleanly; starting the next");
            backoff = FIRST_BACKOFF;
        } else {
            println!(
                "supervisor: generation {generation} crashed ({status}); restarting in {backoff:?}"
            );
        }
        if brigade::time::sleep(backoff)
            .with_cancellation(&stop)
            .await
            .is_err()
        {
            return Ok(());
        }
        if !status.success() {
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    Ok(())
}

/// One of the child's output pipes.
enum Pipe {
    Out(ChildStdout),
    Err(ChildStderr),
}

impl Pipe {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Pipe::Out(pipe) => pipe.read(buf).await,
            Pipe::Err(pipe) => pipe.read(buf).await,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Pipe::Out(_) => "out",
            Pipe::Err(_) => "err",
        }
    }
}

/// Prints both pipes line by line as the lines arrive, until both reach EOF.
async fn stream_lines(generation: u32, stdout: Pipe, stderr: Pipe) -> io::Result<()> {
    let forward = |mut pipe: Pipe| async move {
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = pipe.read(&mut buf).await?;
            if n == 0 {
                if !pending.is_empty() {
                    println!(
                        "  [{generation} {}] {}",
                        pipe.name(),
                        String::from_utf8_lossy(&pending)
                    );
                }
                return Ok::<(), io::Error>(());
            }
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..line.len() - 1]);
                println!("  [{generation} {}] {line}", pipe.name());
            }
        }
    };
    let (out, err) = (
        brigade::spawn(forward(stdout)),
        brigade::spawn(forward(stderr)),
    );
    out.await?;
    err.await
}
