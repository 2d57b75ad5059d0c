//! One-shot operations on the io_uring reactor that own their buffer: a file's read or write
//! at its current position (`IORING_OP_READ` / `IORING_OP_WRITE` with offset -1), the
//! completion-based I/O of `brigade::fs` when the runtime's reactor is io_uring.
//!
//! The kernel writes into (or reads from) the buffer until the operation's completion, even if
//! the future that started it is dropped first. So the buffer is not the caller's while the
//! operation is in flight: it moves into an [`OpSlot`], shared between the caller's [`RingOp`]
//! and the ring's map of operations in flight, and comes back only with the completion. A
//! dropped `RingOp` leaves the slot to the map, which frees the buffer at the completion; a
//! ring going away waits for the completions of what is still in flight first.
//!
//! # States (`Phase`), under the slot's lock
//! `InFlight` --`complete`--> `Done` (the result, and the buffer rebuilt) --`poll_done`-->
//! `Taken`.
//!
//! # Invariants
//! - While `InFlight`, no Rust value refers to the buffer's bytes: it exists only as raw parts,
//!   rebuilt into a `Vec` at the completion, the kernel's last touch.
//! - A slot is in the ring's map of operations exactly while `InFlight` (or queued for a pool
//!   thread to submit); a slot never completed is leaked, never freed under the kernel.

use std::io;
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// What a file operation does with its buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FileOp {
    /// Read up to `len` bytes into the buffer's start (the buffer holds at least `len`).
    Read {
        /// Bytes to ask for.
        len: usize,
    },
    /// Write the buffer's bytes `from..to`.
    Write {
        /// First byte to write.
        from: usize,
        /// One past the last.
        to: usize,
    },
}

/// The most one operation moves: the ring's length field is 32 bits. A longer request is a
/// short read or write, which every caller handles.
const MAX_OP_LEN: usize = 1 << 30;

impl FileOp {
    /// The part of a buffer of `len` bytes this operation touches: (offset, length).
    pub(super) fn span(self, len: usize) -> (usize, u32) {
        let (start, end) = match self {
            FileOp::Read { len: wanted } => (0, wanted),
            FileOp::Write { from, to } => (from, to),
        };
        assert!(
            start <= end && end <= len,
            "a file operation outside its buffer"
        );
        (start, (end - start).min(MAX_OP_LEN) as u32)
    }
}

/// One operation's buffer and outcome, shared by its [`RingOp`] and the ring.
pub(crate) struct OpSlot {
    state: Mutex<OpState>,
}

struct OpState {
    phase: Phase,
    waker: Option<Waker>,
    /// The runtime shut down: no waker is kept any more. (A task's waker holds its runtime, and
    /// the runtime holds the ring holding this slot: kept, it would keep all of them alive.)
    closed: bool,
}

enum Phase {
    InFlight(RawBuffer),
    Done(i32, Vec<u8>),
    Taken,
}

/// A `Vec<u8>` taken apart, so that nothing in Rust refers to its bytes while the kernel does.
/// No `Drop`: a buffer never given back is leaked, not freed under the kernel.
struct RawBuffer {
    ptr: *mut u8,
    len: usize,
    capacity: usize,
}

// SAFETY: the raw parts are an owned heap allocation, like the `Vec` they came from; they are
// moved between threads only under the slot's lock.
unsafe impl Send for RawBuffer {}

impl OpSlot {
    /// A slot in flight with `buffer`; returns it and the address of the buffer's bytes.
    pub(super) fn in_flight(buffer: Vec<u8>) -> (Arc<OpSlot>, *mut u8) {
        let mut buffer = ManuallyDrop::new(buffer);
        let raw = RawBuffer {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
            capacity: buffer.capacity(),
        };
        let ptr = raw.ptr;
        let slot = Arc::new(OpSlot {
            state: Mutex::new(OpState {
                phase: Phase::InFlight(raw),
                waker: None,
                closed: false,
            }),
        });
        (slot, ptr)
    }

    fn lock(&self) -> MutexGuard<'_, OpState> {
        // Plain fields only; nothing under this lock can panic halfway through an update.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The runtime is shutting down: drops the waiting task's waker, and keeps none from now on.
    pub(super) fn close(&self) {
        let waker = {
            let mut state = self.lock();
            state.closed = true;
            state.waker.take()
        };
        drop(waker); // outside the lock: dropping a waker may drop its task
    }

    /// The operation's completion (`result`: bytes moved, or a negated errno): the buffer is
    /// Rust's again, and the waiting task is woken.
    ///
    /// # Safety
    /// The kernel is done with the buffer: this is the operation's completion, or the
    /// operation never reached the kernel.
    pub(super) unsafe fn complete(&self, result: i32) {
        let waker = {
            let mut state = self.lock();
            let Phase::InFlight(raw) = std::mem::replace(&mut state.phase, Phase::Taken) else {
                return; // completed once already
            };
            // SAFETY: the raw parts came from a `Vec<u8>` (`in_flight`) and were not used to
            // make another; the caller guarantees the kernel no longer touches the bytes.
            let buffer = unsafe { Vec::from_raw_parts(raw.ptr, raw.len, raw.capacity) };
            state.phase = Phase::Done(result, buffer);
            state.waker.take()
        };
        // Outside the lock: waking may run arbitrary code.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// An operation started on the ring ([`Reactor::start_file_op`]): poll it for the outcome and
/// the buffer back. Dropping it does not stop the operation; its buffer is freed when the
/// kernel is done.
///
/// [`Reactor::start_file_op`]: super::driver::Reactor::start_file_op
pub(crate) struct RingOp {
    slot: Arc<OpSlot>,
}

impl RingOp {
    pub(super) fn new(slot: Arc<OpSlot>) -> RingOp {
        RingOp { slot }
    }

    /// The outcome (bytes moved) and the buffer, once the kernel is done. Polling again after
    /// `Ready` is a bug (the buffer was handed out).
    pub(crate) fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<(io::Result<usize>, Vec<u8>)> {
        let mut state = self.slot.lock();
        match std::mem::replace(&mut state.phase, Phase::Taken) {
            Phase::Done(result, buffer) => {
                let outcome = if result < 0 {
                    Err(io::Error::from_raw_os_error(-result))
                } else {
                    Ok(result as usize)
                };
                Poll::Ready((outcome, buffer))
            }
            phase @ Phase::InFlight(_) => {
                state.phase = phase;
                if state.closed {
                    return Poll::Pending; // the runtime is gone; nobody would wake us
                }
                match &state.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => state.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Phase::Taken => panic!("a ring operation polled after it handed its buffer back"),
        }
    }
}
