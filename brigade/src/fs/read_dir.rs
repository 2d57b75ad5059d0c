//! `read_dir`: a directory's entries as a `Stream`, fetched in batches on the blocking pool.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_core::Stream;

use super::blocking;
use crate::task::Task;

/// How many entries one trip to the blocking pool fetches.
const BATCH: usize = 32;

/// Starts listing `path`: a [`Stream`] of [`DirEntry`] (in the order the OS gives, without `.`
/// and `..`).
///
/// # Errors
/// As [`std::fs::read_dir`]: `NotFound`, `NotADirectory`, `PermissionDenied`...
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_path_buf();
    let std = blocking::asyncify(move || std::fs::read_dir(path)).await?;
    Ok(ReadDir {
        state: State::Idle(Some(Batch {
            std,
            entries: VecDeque::with_capacity(BATCH),
            done: false,
        })),
    })
}

/// The entries of a directory, as a [`Stream`]; also [`next_entry`](Self::next_entry).
pub struct ReadDir {
    state: State,
}

struct Batch {
    std: std::fs::ReadDir,
    entries: VecDeque<io::Result<DirEntry>>,
    done: bool,
}

enum State {
    /// `None` only while the batch is moved into a fetch that was lost (runtime shut down).
    Idle(Option<Batch>),
    Fetching(Task<Batch>),
}

impl ReadDir {
    /// The next entry, `Ok(None)` at the end.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.state {
                State::Idle(slot) => {
                    let Some(batch) = slot.as_mut() else {
                        return Poll::Ready(None);
                    };
                    if let Some(entry) = batch.entries.pop_front() {
                        return Poll::Ready(Some(entry));
                    }
                    if batch.done {
                        return Poll::Ready(None);
                    }
                    let mut batch = slot.take().expect("checked above");
                    self.state = State::Fetching(blocking::start(move || {
                        for _ in 0..BATCH {
                            match batch.std.next() {
                                Some(entry) => batch
                                    .entries
                                    .push_back(entry.map(|std| DirEntry { std: Arc::new(std) })),
                                None => {
                                    batch.done = true;
                                    break;
                                }
                            }
                        }
                        batch
                    }));
                }
                State::Fetching(task) => {
                    let batch = ready!(blocking::poll_finished(task, cx));
                    match batch {
                        Ok(batch) => self.state = State::Idle(Some(batch)),
                        Err(error) => {
                            self.state = State::Idle(None);
                            return Poll::Ready(Some(Err(error)));
                        }
                    }
                }
            }
        }
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir").finish_non_exhaustive()
    }
}

/// One entry of a directory listing.
#[derive(Clone)]
pub struct DirEntry {
    std: Arc<std::fs::DirEntry>,
}

impl DirEntry {
    /// The entry's full path (the listed directory joined with the name).
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's name, without the directory.
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's metadata (not following a final symlink).
    pub async fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let std = self.std.clone();
        blocking::asyncify(move || std.metadata()).await
    }

    /// The entry's file type (not following a final symlink).
    pub async fn file_type(&self) -> io::Result<std::fs::FileType> {
        let std = self.std.clone();
        blocking::asyncify(move || std.file_type()).await
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path()).finish()
    }
}
