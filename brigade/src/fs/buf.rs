//! The one buffer a [`File`](super::File) owns: it travels to the blocking thread with every
//! operation and back, holding read-ahead bytes not handed out yet or bytes to write.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// The one buffer of a file: `data[pos..end]` are bytes read ahead and not handed out yet, or
/// bytes waiting to be written.
#[derive(Default)]
pub(super) struct Buf {
    data: Vec<u8>,
    pub(super) pos: usize,
    pub(super) end: usize,
    /// How much the last read asked the OS for (`end == asked`: it came back full).
    pub(super) asked: usize,
}

impl Buf {
    pub(super) fn unread(&self) -> usize {
        self.end - self.pos
    }

    pub(super) fn discard(&mut self) {
        self.pos = 0;
        self.end = 0;
    }

    pub(super) fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.unread());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    pub(super) fn read_from(&mut self, file: &std::fs::File, len: usize) -> io::Result<()> {
        if self.data.len() < len {
            self.data.resize(len, 0); // grows (and is zeroed) once, then reused
        }
        self.discard();
        self.asked = len;
        loop {
            match (&*file).read(&mut self.data[..len]) {
                Ok(n) => {
                    self.end = n;
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
    }

    pub(super) fn fill_from(&mut self, src: &[u8]) {
        if self.data.len() < src.len() {
            self.data.resize(src.len(), 0);
        }
        self.data[..src.len()].copy_from_slice(src);
        self.pos = 0;
        self.end = src.len();
    }

    pub(super) fn write_to(&mut self, file: &std::fs::File) -> io::Result<()> {
        let result = (&*file).write_all(&self.data[self.pos..self.end]);
        self.discard();
        result
    }
}

/// Lending the bytes to a read or write on the io_uring reactor, which owns them until the
/// kernel is done (`io::uring_op`), and taking them back.
impl Buf {
    /// The storage for a read of `len` bytes (grown once, then reused), and the read's
    /// bookkeeping started as [`read_from`](Self::read_from) does.
    pub(super) fn lend_for_read(&mut self, len: usize) -> Vec<u8> {
        if self.data.len() < len {
            self.data.resize(len, 0);
        }
        self.discard();
        self.asked = len;
        std::mem::take(&mut self.data)
    }

    /// The storage back from a read that got `got` bytes.
    pub(super) fn read_returned(&mut self, data: Vec<u8>, got: usize) {
        self.data = data;
        self.pos = 0;
        self.end = got;
    }

    /// The storage with the bytes waiting to be written (`pos..end`).
    pub(super) fn lend_for_write(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }

    /// The storage back from a write.
    pub(super) fn write_returned(&mut self, data: Vec<u8>) {
        self.data = data;
    }
}

/// Moves the position back over read-ahead bytes that were never handed out.
pub(super) fn give_back(file: &std::fs::File, unread: usize) -> io::Result<()> {
    if unread > 0 {
        (&*file).seek(SeekFrom::Current(-(unread as i64)))?;
    }
    Ok(())
}
