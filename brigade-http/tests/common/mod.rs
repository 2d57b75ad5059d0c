//! What the behaviour tests share: a test server with a few routes, raw-socket helpers, and the
//! re-exec trick that runs one test's other half in a child process (for file-descriptor
//! limits that must not touch the rest of the test binary).
#![allow(dead_code)] // each test file uses its own share of these

use std::convert::Infallible;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use brigade::cancel::CancellationTokenSource;
use brigade::Task;
use brigade_http::{service_fn, BodyExt, Bytes, Full, Incoming, PeerAddr, Server};
use http::{Request, Response, StatusCode};

/// The test server's routes:
/// `/` → "hello", `/peer` → the client's address, `/echo` → the request body,
/// `/version` → the HTTP version, `/slow?ms=N` → "slow" after N ms, `/never` → no answer.
pub async fn routes(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let peer = request.extensions().get::<PeerAddr>().map(|peer| peer.0);
    let version = request.version();
    let query = request.uri().query().unwrap_or("").to_owned();
    let response = match request.uri().path() {
        "/" => text("hello"),
        "/peer" => text(peer.expect("the server adds PeerAddr").to_string()),
        "/version" => text(format!("{version:?}")),
        "/echo" => match request.into_body().collect().await {
            Ok(body) => Response::new(Full::new(body.to_bytes())),
            Err(error) => text(format!("body error: {error}")),
        },
        "/slow" => {
            let ms = query
                .strip_prefix("ms=")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(100);
            brigade::time::sleep(Duration::from_millis(ms)).await;
            text("slow")
        }
        "/never" => std::future::pending().await,
        _ => {
            let mut response = text("not found");
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

pub fn text(body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::new(Full::new(body.into()))
}

/// A server on a free loopback port, serving [`routes`], stoppable through `stop`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub stop: CancellationTokenSource,
    pub serving: Task<io::Result<()>>,
}

impl TestServer {
    pub async fn start(configure: impl FnOnce(Server) -> Server) -> TestServer {
        let listener = brigade::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        TestServer::start_on(listener, configure)
    }

    pub fn start_on(
        listener: brigade::net::TcpListener,
        configure: impl FnOnce(Server) -> Server,
    ) -> TestServer {
        let stop = CancellationTokenSource::new();
        let server = Server::from_listener(listener);
        let server = configure(server).shutdown_on(stop.token());
        let addr = server.local_addr().unwrap();
        let serving = brigade::spawn(server.serve(service_fn(routes)));
        TestServer {
            addr,
            stop,
            serving,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Cancels the shutdown token and waits for `serve` to return.
    pub async fn shut_down(self) {
        self.stop.cancel();
        self.serving
            .await
            .expect("serve returns Ok after a shutdown");
    }
}

/// A loopback listener whose accept queue holds `backlog` connections (the kernel caps it at
/// `net.core.somaxconn`), for floods that would overflow the usual 1024.
pub fn listener_with_backlog(backlog: i32) -> brigade::net::TcpListener {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: `listen` on our own bound socket only changes its queue length.
    let result = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    assert_eq!(result, 0, "listen: {}", io::Error::last_os_error());
    brigade::net::TcpListener::from_std(listener).unwrap()
}

/// A blocking `GET path` over a fresh std socket with `Connection: close`; the whole response.
pub fn raw_get(addr: SocketAddr, path: &str) -> io::Result<String> {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// Makes closing `stream` send a reset (RST) instead of a FIN: `SO_LINGER` on, 0 seconds.
pub fn reset_on_close(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is an open socket owned by `stream`; the option value is a valid `linger`
    // whose exact size is passed along.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        result,
        0,
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
}

/// Sets this process's soft limit on open files (the hard limit stays); returns the old soft
/// limit and the hard limit.
pub fn set_open_files_limit(soft: u64) -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0);
    let old = (limit.rlim_cur, limit.rlim_max);
    limit.rlim_cur = soft.min(limit.rlim_max);
    // SAFETY: `limit` is a valid rlimit; lowering the soft limit, or raising it up to the
    // hard limit, is always allowed.
    let result = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(result, 0, "setrlimit: {}", io::Error::last_os_error());
    old
}

/// How many file descriptors process `pid` has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// CPU time (user + system) process `pid` has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64)
}

/// The re-exec trick: runs the `#[ignore]`d test `child_test` of this same test binary in a
/// child process, with `role` in the environment variable [`CHILD_ROLE`] so it knows it is the
/// child. Its stdout is piped for the parent to read.
pub fn spawn_child(child_test: &str, role: &str) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child_test, "--nocapture", "--ignored"])
        .env(CHILD_ROLE, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("re-running the test binary as a child");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// Set in a child started by [`spawn_child`].
pub const CHILD_ROLE: &str = "BRIGADE_HTTP_TEST_CHILD";

/// Reads the child's stdout until a line starting with `prefix`; returns the rest of it.
pub fn wait_for_line(stdout: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = stdout
            .read_line(&mut line)
            .expect("reading the child's output");
        assert!(n > 0, "the child exited before printing `{prefix}`");
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
}

/// Waits for `child` to exit, killing it if it takes longer than `limit`.
pub fn wait_or_kill(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child process did not exit within {limit:?}; killed it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Keeps polling `condition` every 20 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// Runs `curl` with `args`; `None` (after a note) when curl is not installed — except in CI,
/// whose script installs curl, where a missing curl fails the test.
pub async fn curl(args: Vec<String>) -> Option<std::process::Output> {
    let run = brigade::run(move || std::process::Command::new("curl").args(&args).output());
    match run.await {
        Ok(output) => Some(output),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "curl is not installed, but CI must run the curl tests: install it in .ci/run"
            );
            eprintln!("note: curl is not installed; skipping the curl half of this test");
            None
        }
        Err(error) => panic!("running curl: {error}"),
    }
}
