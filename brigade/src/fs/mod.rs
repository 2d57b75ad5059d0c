//! Files and directories on brigade's blocking pool — .NET's async `FileStream` and `File.*Async`.
//!
//! Every operation runs its system call on the runtime's blocking threads through
//! [`brigade::run`](crate::run), so a slow disk never holds up a worker, and the caller's
//! [`ExecutionContext`](crate::context::ExecutionContext) (its `AsyncLocal` values, the tracing
//! span) flows into the call (O7). On a runtime whose reactor is io_uring
//! ([`IoDriver::Uring`](crate::runtime::IoDriver)), a regular [`File`]'s reads and writes go
//! through the ring instead, with no blocking thread at all (see below).
//!
//! ```
//! # brigade::block_on(async {
//! let dir = std::env::temp_dir().join(format!("brigade-fs-doc-{}", std::process::id()));
//! brigade::fs::create_dir_all(&dir).await?;
//! brigade::fs::write(dir.join("hello.txt"), "hello").await?;
//! assert_eq!(brigade::fs::read_to_string(dir.join("hello.txt")).await?, "hello");
//! brigade::fs::remove_file(dir.join("hello.txt")).await?;
//! brigade::fs::remove_dir(&dir).await?;
//! # Ok::<(), std::io::Error>(())
//! # });
//! ```
//!
//! # The blocking pool, and io_uring where the runtime has it
//! Regular files are always "ready" to epoll, so a reactor cannot wait for them; the choice is
//! between a thread pool and io_uring. On the epoll reactor brigade uses its blocking pool: it
//! works on every Unix and every kernel. On the io_uring reactor, a regular file's `read` and
//! `write` are ring operations at the file's position: the file's one buffer is lent to the
//! kernel and comes back with the completion (if the `File` is dropped first, the ring keeps
//! the buffer until the kernel is done). Data in the page cache is copied during the
//! submission; a read that must wait for the disk is finished by the kernel's own workers, so a
//! worker never waits on the disk either way. Opening, seeking, `sync_all`, metadata and
//! directories stay on the blocking pool, as do FIFOs and devices (a read there may wait
//! forever, which only a blocking thread can be left to do).
//!
//! # Cancellation
//! Every operation honours `.with_cancellation(&token)` and timeouts: the waiting stops at
//! once. A system call already running on a blocking thread cannot be interrupted; it finishes
//! there and its result is dropped (for a [`File`], the file's buffer comes back to it).

mod blocking;
mod buf;
mod file;
mod file_io;
mod file_ring;
mod open_options;
mod read_dir;

use std::io;
use std::path::{Path, PathBuf};

pub use blocking::set_operation_hook;
pub use file::{File, DEFAULT_MAX_BUF_SIZE, READ_AHEAD_FACTOR, SEQUENTIAL_AFTER};
pub use open_options::OpenOptions;
pub use read_dir::{read_dir, DirEntry, ReadDir};

fn owned(path: impl AsRef<Path>) -> PathBuf {
    path.as_ref().to_path_buf()
}

/// Reads a whole file into memory ([`std::fs::read`]).
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::read(path)).await
}

/// Reads a whole UTF-8 file into a string ([`std::fs::read_to_string`]).
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::read_to_string(path)).await
}

/// Writes `contents` as the whole file, creating or truncating it ([`std::fs::write`]).
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let (path, contents) = (owned(path), contents.as_ref().to_vec());
    blocking::asyncify(move || std::fs::write(path, contents)).await
}

/// Copies a file's contents and permissions; returns the bytes copied ([`std::fs::copy`]).
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (owned(from), owned(to));
    blocking::asyncify(move || std::fs::copy(from, to)).await
}

/// Renames a file or directory, replacing `to` if it exists ([`std::fs::rename`]).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (owned(from), owned(to));
    blocking::asyncify(move || std::fs::rename(from, to)).await
}

/// Removes a file ([`std::fs::remove_file`]).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::remove_file(path)).await
}

/// Removes an empty directory ([`std::fs::remove_dir`]).
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::remove_dir(path)).await
}

/// Removes a directory and everything in it ([`std::fs::remove_dir_all`]).
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::remove_dir_all(path)).await
}

/// Creates a directory ([`std::fs::create_dir`]).
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::create_dir(path)).await
}

/// Creates a directory and any missing parents ([`std::fs::create_dir_all`]).
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::create_dir_all(path)).await
}

/// A path's metadata, following symlinks ([`std::fs::metadata`]).
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::metadata(path)).await
}

/// A path's metadata, not following a final symlink ([`std::fs::symlink_metadata`]).
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::symlink_metadata(path)).await
}

/// The absolute path with symlinks resolved ([`std::fs::canonicalize`]).
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = owned(path);
    blocking::asyncify(move || std::fs::canonicalize(path)).await
}

/// Whether the path exists (`Ok(false)` if not; an error if that cannot be told).
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    let path = owned(path);
    blocking::asyncify(move || path.try_exists()).await
}
