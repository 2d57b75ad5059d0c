//! A throwaway PostgreSQL server for tests and examples (feature `testing`).
//!
//! [`TempCluster::start`] makes a fresh cluster in a temporary directory with `initdb`, starts
//! it with `pg_ctl` on a free loopback port and with its Unix socket in that directory, and
//! dropping the `TempCluster` stops it (`pg_ctl stop -m immediate`) and deletes the directory.
//! Nothing is shared with a system PostgreSQL: another port, another directory, trust
//! authentication for the `postgres` user on loopback only.
//!
//! The server programs are looked up in `$PATH`, then in Debian's `/usr/lib/postgresql/<ver>/bin`
//! (newest version first). PostgreSQL refuses to run as root, so as root the programs run as
//! the `postgres` system user (`runuser`), and the directory is handed to that user.
//!
//! For tests, [`TempCluster::for_test`] turns "PostgreSQL is not installed" into a failure
//! that says `apt-get install postgresql`, unless `BRIGADE_SKIP_POSTGRES=1` asks to skip.
//!
//! # Invariants
//! - Every cluster this process starts is stopped and its directory removed when its
//!   `TempCluster` is dropped — also when a test panics, since unwinding drops it.
//! - The server listens on 127.0.0.1 only; nothing outside this machine can reach it.

use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::Config;

/// The environment variable that makes [`TempCluster::for_test`] skip instead of fail when
/// PostgreSQL is not installed.
pub const SKIP_ENV: &str = "BRIGADE_SKIP_POSTGRES";

/// The superuser of every temporary cluster (trust authentication: no password).
pub const USER: &str = "postgres";

/// Ports tried before giving up: another process may take the free port we picked before the
/// server binds it.
const START_ATTEMPTS: usize = 3;

/// A running throwaway PostgreSQL server; stopped and deleted on drop.
///
/// ```
/// use brigade_postgres::testing::TempCluster;
///
/// // None (with a note) where PostgreSQL is absent and BRIGADE_SKIP_POSTGRES=1.
/// let Some(cluster) = TempCluster::for_test() else { return };
/// let config = cluster.unix_config(); // or tcp_config(): 127.0.0.1 on cluster.port()
/// let version: String = brigade::block_on(async {
///     let db = brigade_postgres::connect(&config).await?;
///     let row = db.query_one("SHOW server_version", &[]).await?;
///     Ok::<_, brigade_postgres::Error>(row.get(0))
/// })
/// .unwrap();
/// assert!(!version.is_empty());
/// drop(cluster); // stops the server and deletes its directory
/// ```
pub struct TempCluster {
    bin_dir: PathBuf,
    /// The temporary directory: `data/` (the cluster), the server log, the Unix socket.
    root: PathBuf,
    port: u16,
    run_as_postgres: bool,
    /// Extra server settings (`-c name=value`), checked to need no quoting.
    settings: Vec<(String, String)>,
    /// Files written into the data directory after `initdb` (name, contents), readable by the
    /// server's user only: a TLS certificate and key.
    files: Vec<(String, Vec<u8>)>,
}

/// Why a throwaway cluster could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum TempClusterError {
    /// The PostgreSQL server programs are not installed.
    NotInstalled,
    /// They are, but something failed; the text has the command and its output.
    Failed(String),
}

impl fmt::Display for TempClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TempClusterError::NotInstalled => write!(
                f,
                "PostgreSQL's server programs (initdb, pg_ctl) were found neither in PATH nor in \
                 /usr/lib/postgresql/<version>/bin: install them with \
                 `apt-get install postgresql` (or set {SKIP_ENV}=1 to skip the database tests)"
            ),
            TempClusterError::Failed(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for TempClusterError {}

impl TempCluster {
    /// Creates and starts a fresh cluster. Takes about a second (mostly `initdb`).
    pub fn start() -> Result<TempCluster, TempClusterError> {
        TempCluster::start_with(&[])
    }

    /// [`start`](TempCluster::start) with extra server settings, each passed as
    /// `-c name=value` — `&[("default_transaction_read_only", "on")]` makes a server that
    /// refuses writes, as a read replica would. Names and values are limited to letters,
    /// digits, `_`, `.` and `-` (they go through `pg_ctl -o` unquoted).
    pub fn start_with(settings: &[(&str, &str)]) -> Result<TempCluster, TempClusterError> {
        TempCluster::start_with_files(settings, Vec::new())
    }

    /// [`start`](TempCluster::start) with TLS on: `ssl=on`, and the PEM certificate (chain)
    /// and key given here as the server's `server.crt` and `server.key` in its data
    /// directory (mode 0600). Clients may then connect in plain text or with TLS.
    pub fn start_with_tls(
        cert_pem: &str,
        key_pem: &str,
        settings: &[(&str, &str)],
    ) -> Result<TempCluster, TempClusterError> {
        let mut all = vec![
            ("ssl", "on"),
            ("ssl_cert_file", "server.crt"),
            ("ssl_key_file", "server.key"),
        ];
        all.extend_from_slice(settings);
        let files = vec![
            ("server.crt".to_owned(), cert_pem.as_bytes().to_vec()),
            ("server.key".to_owned(), key_pem.as_bytes().to_vec()),
        ];
        TempCluster::start_with_files(&all, files)
    }

    /// [`for_test`](TempCluster::for_test) with TLS, as
    /// [`start_with_tls`](TempCluster::start_with_tls).
    ///
    /// # Panics
    /// As [`for_test`](TempCluster::for_test).
    pub fn for_test_with_tls(cert_pem: &str, key_pem: &str) -> Option<TempCluster> {
        TempCluster::or_skip(TempCluster::start_with_tls(cert_pem, key_pem, &[]))
    }

    fn start_with_files(
        settings: &[(&str, &str)],
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<TempCluster, TempClusterError> {
        let plain = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        };
        if let Some((name, value)) = settings
            .iter()
            .find(|(name, value)| !plain(name) || !plain(value))
        {
            return Err(TempClusterError::Failed(format!(
                "the server setting {name:?} = {value:?} needs quoting; use only letters, \
                 digits, '_', '.' and '-'"
            )));
        }
        let settings = settings
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let bin_dir = find_bin_dir().ok_or(TempClusterError::NotInstalled)?;
        let run_as_postgres = is_root();
        let root = make_temp_dir(run_as_postgres).map_err(|error| {
            TempClusterError::Failed(format!("could not make a temporary directory: {error}"))
        })?;
        // From here on the directory is cleaned up by Drop, whatever fails next.
        let mut cluster = TempCluster {
            bin_dir,
            root,
            port: 0,
            run_as_postgres,
            settings,
            files,
        };
        cluster.initdb()?;
        cluster.write_files()?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            cluster.port = free_loopback_port().map_err(|error| {
                TempClusterError::Failed(format!("could not find a free port: {error}"))
            })?;
            match cluster.pg_ctl_start() {
                Ok(()) => return Ok(cluster),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one start attempt"))
    }

    /// For tests: a started cluster; `None` (after a note on stderr) when PostgreSQL is not
    /// installed and `BRIGADE_SKIP_POSTGRES=1` is set.
    ///
    /// # Panics
    /// When the cluster cannot start — with the message saying how to install PostgreSQL if
    /// that is the reason.
    pub fn for_test() -> Option<TempCluster> {
        TempCluster::for_test_with(&[])
    }

    /// [`for_test`](TempCluster::for_test) with extra server settings, as
    /// [`start_with`](TempCluster::start_with).
    ///
    /// # Panics
    /// As [`for_test`](TempCluster::for_test).
    pub fn for_test_with(settings: &[(&str, &str)]) -> Option<TempCluster> {
        TempCluster::or_skip(TempCluster::start_with(settings))
    }

    fn or_skip(started: Result<TempCluster, TempClusterError>) -> Option<TempCluster> {
        match started {
            Ok(cluster) => Some(cluster),
            Err(TempClusterError::NotInstalled)
                if env::var_os(SKIP_ENV).is_some_and(|v| v == "1") =>
            {
                eprintln!("skipped: PostgreSQL is not installed and {SKIP_ENV}=1");
                None
            }
            Err(error) => panic!("could not start a throwaway PostgreSQL cluster: {error}"),
        }
    }

    /// The loopback TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// A configuration that reaches this server over TCP (127.0.0.1) as `postgres`.
    pub fn tcp_config(&self) -> Config {
        let mut config = Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(USER)
            .dbname("postgres");
        config
    }

    /// A configuration that reaches this server over its Unix socket as `postgres`.
    pub fn unix_config(&self) -> Config {
        let mut config = Config::new();
        config
            .host_path(&self.root)
            .port(self.port)
            .user(USER)
            .dbname("postgres");
        config
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Writes `files` into the data directory, mode 0600, owned by the server's user.
    fn write_files(&self) -> Result<(), TempClusterError> {
        use std::os::unix::fs::PermissionsExt;
        for (name, contents) in &self.files {
            let path = self.data_dir().join(name);
            let failed = |error: io::Error| {
                TempClusterError::Failed(format!("could not write {}: {error}", path.display()))
            };
            fs::write(&path, contents).map_err(failed)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(failed)?;
            if self.run_as_postgres {
                let status = Command::new("chown")
                    .arg(format!("{USER}:"))
                    .arg(&path)
                    .status()
                    .map_err(failed)?;
                if !status.success() {
                    return Err(failed(io::Error::other(format!("chown {USER}: {status}"))));
                }
            }
        }
        Ok(())
    }

    fn initdb(&self) -> Result<(), TempClusterError> {
        let data_dir = self.data_dir();
        self.run(
            "initdb",
            [
                OsStr::new("-D"),
                data_dir.as_os_str(),
                OsStr::new("-A"),
                OsStr::new("trust"),
                OsStr::new("-U"),
                OsStr::new(USER),
                OsStr::new("-E"),
                OsStr::new("UTF8"),
                OsStr::new("--locale=C"),
                // A throwaway cluster need not survive a power cut: skip the fsyncs.
                OsStr::new("--no-sync"),
            ],
        )
    }

    fn pg_ctl_start(&self) -> Result<(), TempClusterError> {
        let root = self.root.to_str().filter(|root| !root.contains('\''));
        let Some(root) = root else {
            return Err(TempClusterError::Failed(format!(
                "the temporary directory {} cannot be quoted for pg_ctl; set TMPDIR to a plain path",
                self.root.display()
            )));
        };
        // Loopback only; durability off, since the data is thrown away.
        let mut server_options = format!(
            "-p {port} -k '{root}' -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            port = self.port
        );
        for (name, value) in &self.settings {
            server_options.push_str(&format!(" -c {name}={value}"));
        }
        let data_dir = self.data_dir();
        let log = self.root.join("server.log");
        let started = self.run(
            "pg_ctl",
            [
                OsStr::new("-D"),
                data_dir.as_os_str(),
                OsStr::new("-l"),
                log.as_os_str(),
                OsStr::new("-o"),
                OsStr::new(&server_options),
                OsStr::new("-w"),
                OsStr::new("-t"),
                OsStr::new("60"),
                OsStr::new("start"),
            ],
        );
        started.map_err(|error| {
            let log = fs::read_to_string(&log).unwrap_or_default();
            TempClusterError::Failed(format!("{error}\nserver log:\n{log}"))
        })
    }

    /// Runs one of the server programs (as `postgres` when we are root) and checks it succeeded.
    fn run<'a>(
        &self,
        program: &str,
        args: impl IntoIterator<Item = &'a OsStr>,
    ) -> Result<(), TempClusterError> {
        let program_path = self.bin_dir.join(program);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", USER, "--"]).arg(&program_path);
            command
        } else {
            Command::new(&program_path)
        };
        command.args(args).current_dir(&self.root);
        let output = command.output().map_err(|error| {
            TempClusterError::Failed(format!("could not run {command:?}: {error}"))
        })?;
        check(&command, &output)
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data_dir = self.data_dir();
            // Immediate: no checkpoint, nothing to save. Errors are moot: the directory goes.
            let _ = self.run(
                "pg_ctl",
                [
                    OsStr::new("-D"),
                    data_dir.as_os_str(),
                    OsStr::new("-m"),
                    OsStr::new("immediate"),
                    OsStr::new("-w"),
                    OsStr::new("stop"),
                ],
            );
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

impl fmt::Debug for TempCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempCluster")
            .field("port", &self.port)
            .field("socket_dir", &self.root)
            .field("bin_dir", &self.bin_dir)
            .finish()
    }
}

fn check(command: &Command, output: &Output) -> Result<(), TempClusterError> {
    if output.status.success() {
        return Ok(());
    }
    Err(TempClusterError::Failed(format!(
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

/// The directory with `initdb` and `pg_ctl`: from `PATH`, else Debian's versioned directory.
fn find_bin_dir() -> Option<PathBuf> {
    let has_programs = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let from_path = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| has_programs(dir));
    if from_path.is_some() {
        return from_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_programs(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether this process runs as root (the owner of `/proc/self` is the effective user; std has
/// no `geteuid`).
fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// A new, empty, private directory under the system temp dir, owned by `postgres` when the
/// server will run as that user.
fn make_temp_dir(for_postgres: bool) -> io::Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "brigade-pg-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let dir = env::temp_dir().join(name);
    // A leftover of a killed run with the same pid would hold a stale cluster: start clean.
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir)?;
    if for_postgres {
        let status = Command::new("chown")
            .arg(format!("{USER}:"))
            .arg(&dir)
            .status()?;
        if !status.success() {
            let _ = fs::remove_dir_all(&dir);
            return Err(io::Error::other(format!(
                "`chown {USER}: {}` failed ({status}); does the `{USER}` system user exist?",
                dir.display()
            )));
        }
    }
    Ok(dir)
}

/// A TCP port on 127.0.0.1 that is free right now (the OS picks it).
fn free_loopback_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_installed_says_how_to_install_or_skip() {
        let message = TempClusterError::NotInstalled.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("BRIGADE_SKIP_POSTGRES=1"), "{message}");
    }
}
