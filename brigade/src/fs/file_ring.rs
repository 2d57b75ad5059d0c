//! `File`'s road through the io_uring reactor: where a file's reads and writes go (decided at
//! the first one), and the start, completion and restart of a ring operation. See `file.rs`
//! for the state machine these transitions belong to.

use std::io;
use std::sync::Arc;

use super::blocking;
use super::buf::Buf;
use super::file::{File, Operation, Route, State};
use crate::io::driver::Reactor;
#[cfg(target_os = "linux")]
use crate::io::uring_op::FileOp;

impl File {
    /// The io_uring reactor this file's reads and writes go to, if they go to one.
    pub(super) fn ring(&mut self, std: &std::fs::File) -> Option<Arc<Reactor>> {
        if let Route::Undecided = self.route {
            let reactor = crate::runtime::current_io();
            let regular = std.metadata().is_ok_and(|meta| meta.is_file());
            self.route = if reactor.kind() == crate::io::IoDriver::Uring && regular {
                Route::Ring(reactor)
            } else {
                Route::Pool
            };
        }
        match &self.route {
            Route::Ring(reactor) => Some(reactor.clone()),
            _ => None,
        }
    }

    /// Starts `op` on the ring with the buffer's bytes (the file's route is the ring).
    #[cfg(target_os = "linux")]
    pub(super) fn start_on_ring(
        &mut self,
        reactor: &Reactor,
        std: &Arc<std::fs::File>,
        op: FileOp,
        mut buf: Buf,
    ) {
        use std::os::fd::AsRawFd;
        blocking::call_hook();
        let data = match op {
            FileOp::Read { len } => buf.lend_for_read(len),
            FileOp::Write { .. } => buf.lend_for_write(),
        };
        match reactor.start_file_op(std.as_raw_fd(), op, data) {
            Ok(ring_op) => self.state = State::OnRing(ring_op, op, buf),
            Err(data) => {
                // The runtime shut down: the same operation goes to the blocking pool, which
                // reports the shutdown clearly (or runs it, if it still can).
                self.route = Route::Pool;
                let std = std.clone();
                self.state = State::Busy(match op {
                    FileOp::Read { len } => {
                        buf.read_returned(data, 0);
                        blocking::start(move || {
                            let result = buf.read_from(&std, len);
                            (Operation::Read(result), buf)
                        })
                    }
                    FileOp::Write { from, to } => {
                        buf.write_returned(data);
                        (buf.pos, buf.end) = (from, to);
                        blocking::start(move || {
                            let result = buf.write_to(&std);
                            (Operation::Write(result), buf)
                        })
                    }
                });
            }
        }
    }

    /// A ring operation's completion: the buffer back, and what it was. A write the kernel
    /// took only part of goes on with the rest (`None`: still in flight).
    #[cfg(target_os = "linux")]
    pub(super) fn finish_on_ring(
        &mut self,
        op: FileOp,
        mut buf: Buf,
        result: io::Result<usize>,
        data: Vec<u8>,
    ) -> Option<Operation> {
        // Interrupted, or cancelled: brigade cancels a file operation only when its ring goes
        // away (nobody polls it then), but the kernel cancels one whose submitting thread
        // exits, as a retiring spare worker does. Neither is the file's error: go again.
        let retry = matches!(&result, Err(error)
            if error.kind() == io::ErrorKind::Interrupted
                || error.raw_os_error() == Some(libc::ECANCELED));
        match op {
            FileOp::Read { .. } => {
                buf.read_returned(data, *result.as_ref().unwrap_or(&0));
                if !retry {
                    self.state = State::Idle(Some(buf));
                    return Some(Operation::Read(result.map(drop)));
                }
            }
            FileOp::Write { from, to } => {
                buf.write_returned(data);
                let next = match result {
                    Ok(n) if n > 0 && from + n < to => FileOp::Write { from: from + n, to },
                    _ if retry => op,
                    Ok(0) if from < to => {
                        buf.discard();
                        self.state = State::Idle(Some(buf));
                        return Some(Operation::Write(Err(io::ErrorKind::WriteZero.into())));
                    }
                    result => {
                        buf.discard();
                        self.state = State::Idle(Some(buf));
                        return Some(Operation::Write(result.map(drop)));
                    }
                };
                return self.restart_on_ring(next, buf);
            }
        }
        self.restart_on_ring(op, buf)
    }

    #[cfg(target_os = "linux")]
    fn restart_on_ring(&mut self, op: FileOp, buf: Buf) -> Option<Operation> {
        let (Some(std), Route::Ring(reactor)) = (self.std.clone(), &self.route) else {
            unreachable!("a ring operation on a file routed to the ring");
        };
        let reactor = reactor.clone();
        self.start_on_ring(&reactor, &std, op, buf);
        None
    }
}
