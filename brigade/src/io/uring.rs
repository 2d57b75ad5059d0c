//! The io_uring backend of the reactor: readiness through the ring instead of epoll.
//!
//! Each resource gets one *multishot poll* (`IORING_OP_POLL_ADD` with `IORING_POLL_ADD_MULTI`):
//! the kernel posts a completion every time the socket's state changes, edge-triggered, as
//! epoll's `EPOLLET` does, so `ScheduledIo` and every socket operation work unchanged. The
//! thread holding the driving role waits in `io_uring_enter`; others interrupt it by submitting
//! a no-op whose completion ends the wait.
//!
//! A poll request names its resource by `user_data`, the `ScheduledIo`'s address, used only as
//! a key into `polls` (never dereferenced). The map keeps the `ScheduledIo` alive until the
//! kernel has said the poll ended, which is what makes dropping a socket safe while its poll
//! is in flight: deregistering submits an `ASYNC_CANCEL` of the poll and the entry is freed
//! only at the poll's final completion (the one without `IORING_CQE_F_MORE`).
//!
//! # Invariants
//! - Every submission-queue push of a poll happens under the `polls` lock, and deregistering
//!   submits the queue before it returns (the caller closes the descriptor right after). So a
//!   re-armed poll always names the descriptor it was made for, never a reused number.
//! - An entry neither `released` nor `dead` always has exactly one poll armed or about to be
//!   (re-armed at its final completion: the kernel also ends polls when the thread that
//!   submitted them exits).
//! - Only the holder of `poller` reaps completions.
//! - Polls are submitted by the pool's own threads only (see *Who submits* below): a thread
//!   that did not [`adopt`](Uring::adopt_this_thread) the ring queues its arms in
//!   `Polls::unsubmitted`, and the next turn of a pool thread submits them.
//!
//! # Who submits
//! The kernel completes a poll in the context of the thread that *submitted* it (its
//! "task work"). If that thread sleeps on something else (a `block_on` thread on its futex),
//! every readiness change of the socket wakes it just to post the completion, and the thread
//! waiting in `io_uring_enter` after it: two context switches per event. A bench that connected
//! its 64 client sockets from `block_on` made 215 000 context switches in 5 rounds this way,
//! 30 times the epoll backend. So only worker threads submit polls; a registration from any
//! other thread is queued and handed to the reactor's next turn. And the ring is set up with
//! `IORING_SETUP_COOP_TASKRUN` where the kernel has it (5.19): a busy worker runs its polls'
//! task work at its next system call instead of being interrupted for each one (without it the
//! same bench took 1.8 times as long, from those interrupts alone).

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use mio::Interest;

use super::scheduled_io::{ScheduledIo, ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};
use super::uring_op::{FileOp, OpSlot, RingOp};

/// `user_data` of the no-op that interrupts a wait.
const WAKE_DATA: u64 = 0;
/// `user_data` of a poll's cancellation (its own completion says nothing we need).
const REMOVE_DATA: u64 = 1;
/// Marks the `user_data` of a one-shot operation: its slot's address with this bit set (a poll's
/// key is a bare `ScheduledIo` address, aligned, so the two never meet).
const OP_TAG: u64 = 0b10;
/// How long a ring going away waits for operations still in flight before it leaks their
/// buffers instead of freeing them under the kernel.
const DROP_WAIT: Duration = Duration::from_secs(10);
/// Submission queue entries (the completion queue is twice as big; overflow is kept by the
/// kernel, `IORING_FEAT_NODROP`, and delivered on the next wait).
const RING_ENTRIES: u32 = 1024;

pub(super) struct Uring {
    ring: IoUring,
    /// Serialises pushes to the submission queue.
    submit: Mutex<()>,
    /// Held by the one thread reaping completions; its buffers keep their capacity from turn
    /// to turn, so a turn allocates nothing.
    poller: Mutex<Reaped>,
    polls: Mutex<Polls>,
    /// `polls.unsubmitted` is not empty: read without the lock by a look that has nothing
    /// else to submit.
    has_unsubmitted: AtomicBool,
}

/// Every poll and one-shot operation the ring knows of, by key.
#[derive(Default)]
struct Polls {
    entries: HashMap<u64, PollEntry>,
    /// Keys whose first poll waits for a pool thread to submit it (registered elsewhere).
    unsubmitted: Vec<u64>,
    /// One-shot operations in flight (`uring_op`), keyed by their slot's address | `OP_TAG`.
    ops: HashMap<u64, Arc<OpSlot>>,
}

thread_local! {
    /// The ring this thread may submit polls to (its address), set by
    /// [`Uring::adopt_this_thread`]: a pool's worker threads. Only compared, never followed.
    static SUBMITTER_OF: Cell<usize> = const { Cell::new(0) };
}

/// One turn's work, sorted under the `polls` lock once, then done outside it.
#[derive(Default)]
struct Reaped {
    /// The completions (`user_data`, result, flags).
    completions: Vec<(u64, i32, u32)>,
    /// Readiness to hand to the resources.
    ready: Vec<(Arc<ScheduledIo>, usize)>,
    /// One-shot operations that completed, with their results.
    finished: Vec<(Arc<OpSlot>, i32)>,
    /// Entries whose poll ended after they were deregistered.
    freed: Vec<PollEntry>,
}

struct PollEntry {
    scheduled: Arc<ScheduledIo>,
    fd: RawFd,
    mask: u32,
    /// Deregistered: the entry goes at its poll's final completion, and is never re-armed.
    released: bool,
    /// The poll failed (not the socket) and was not armed again: no completion will come, so
    /// deregistering frees the entry at once.
    dead: bool,
}

impl Uring {
    /// A ring, if this kernel and process allow one with what the backend needs (waits with a
    /// timeout, kernel 5.11; multishot polls, 5.13; checked through a 5.17 feature bit).
    pub(super) fn new() -> io::Result<Uring> {
        // Cooperative task work (Linux 5.19) where the kernel has it; see "Who submits".
        let ring = match IoUring::builder().setup_coop_taskrun().build(RING_ENTRIES) {
            Ok(ring) => ring,
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => IoUring::new(RING_ENTRIES)?,
            Err(error) => return Err(error),
        };
        let params = ring.params();
        if !params.is_feature_ext_arg()
            || !params.is_feature_nodrop()
            || !params.is_feature_skip_cqe_on_success()
        {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel's io_uring lacks what brigade needs (multishot poll and waits \
                 with a timeout: Linux 5.17 or later)",
            ));
        }
        Ok(Uring {
            ring,
            submit: Mutex::new(()),
            poller: Mutex::new(Reaped::default()),
            polls: Mutex::new(Polls::default()),
            has_unsubmitted: AtomicBool::new(false),
        })
    }

    fn polls(&self) -> MutexGuard<'_, Polls> {
        // No user code runs under this lock.
        self.polls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets this thread submit polls to the ring: for the pool's worker threads, which run
    /// their polls' task work in passing (see "Who submits").
    pub(super) fn adopt_this_thread(&self) {
        SUBMITTER_OF.with(|ring| ring.set(self as *const Uring as usize));
    }

    /// This thread is one of the pool's (see "Who submits").
    pub(super) fn may_submit_polls(&self) -> bool {
        SUBMITTER_OF.with(|ring| ring.get() == self as *const Uring as usize)
    }

    /// Pushes the polls other threads registered, for the caller's next submission. Called
    /// under the `polls` lock (the module's first invariant).
    fn push_unsubmitted(&self, polls: &mut Polls) {
        self.has_unsubmitted.store(false, Ordering::Relaxed);
        let Polls {
            entries,
            unsubmitted,
            ..
        } = polls;
        for key in unsubmitted.drain(..) {
            if let Some(entry) = entries.get(&key) {
                self.push(&poll_add(entry.fd, entry.mask, key));
            }
        }
    }

    /// Starts `op` on `fd` (a regular file, at its current position) with `buffer`, which the
    /// ring keeps until the kernel is done with it (see `uring_op`).
    pub(super) fn start_file_op(&self, fd: RawFd, op: FileOp, buffer: Vec<u8>) -> RingOp {
        let (start, len) = op.span(buffer.len());
        let (slot, bytes) = OpSlot::in_flight(buffer);
        let key = Arc::as_ptr(&slot) as u64 | OP_TAG;
        // SAFETY: `span` checked that `start..start + len` lies within the buffer, so the
        // offset stays inside its allocation.
        let at = unsafe { bytes.add(start) };
        // Offset -1: at the file's position, moving it, as read(2) and write(2) do.
        let entry = match op {
            FileOp::Read { .. } => opcode::Read::new(types::Fd(fd), at, len)
                .offset(u64::MAX)
                .build(),
            FileOp::Write { .. } => opcode::Write::new(types::Fd(fd), at, len)
                .offset(u64::MAX)
                .build(),
        }
        .user_data(key);
        // Submitted by whichever thread starts it, pool thread or not: unlike a poll, whose
        // every event would come back to the submitter, a file operation completes once, for
        // the caller waiting on it.
        let mut polls = self.polls();
        polls.ops.insert(key, slot.clone());
        // The buffer stays alive and untouched until the completion: the slot in `ops` owns
        // it (`uring_op`'s invariants).
        self.push(&entry);
        drop(polls);
        if let Err(error) = self.ring.submit() {
            // Pushed but not submitted: the next turn's wait submits it.
            crate::report::warn(
                crate::report::Topic::Runtime,
                &format!("io_uring: could not submit a file operation yet: {error}"),
            );
        }
        RingOp::new(slot)
    }

    /// Arms a multishot poll for `fd` on behalf of `scheduled`.
    pub(super) fn register(
        &self,
        fd: RawFd,
        scheduled: &Arc<ScheduledIo>,
        interest: Interest,
    ) -> io::Result<()> {
        let key = Arc::as_ptr(scheduled) as u64;
        let mut mask = 0;
        if interest.is_readable() {
            mask |= (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) as u32;
        }
        if interest.is_writable() {
            mask |= libc::POLLOUT as u32;
        }
        let mut polls = self.polls();
        polls.entries.insert(
            key,
            PollEntry {
                scheduled: scheduled.clone(),
                fd,
                mask,
                released: false,
                dead: false,
            },
        );
        if !self.may_submit_polls() {
            // Not a pool thread: the reactor's next turn submits it. Waking the thread in
            // `io_uring_enter` is a no-op, which binds nothing to us.
            polls.unsubmitted.push(key);
            self.has_unsubmitted.store(true, Ordering::Relaxed);
            drop(polls);
            // The poll is queued whatever happens here (an `Err` would have the caller close
            // the descriptor under it), so a failed wake is reported, not returned: the next
            // turn submits it anyway.
            if let Err(error) = self.wake() {
                crate::report::warn(
                    crate::report::Topic::Runtime,
                    &format!("io_uring: could not wake the reactor for a new poll: {error}"),
                );
            }
            return Ok(());
        }
        self.push(&poll_add(fd, mask, key));
        if let Err(error) = self.ring.submit() {
            polls.entries.remove(&key);
            return Err(error);
        }
        Ok(())
    }

    /// Ends `scheduled`'s poll. Returns once the removal is submitted, so the caller may close
    /// the descriptor; the entry itself goes at the poll's final completion.
    pub(super) fn deregister(&self, scheduled: &Arc<ScheduledIo>) {
        let key = Arc::as_ptr(scheduled) as u64;
        let mut polls = self.polls();
        if let Some(at) = polls.unsubmitted.iter().position(|&queued| queued == key) {
            // Never submitted: nothing in the kernel names it.
            polls.unsubmitted.swap_remove(at);
            polls.entries.remove(&key);
            return;
        }
        let Some(entry) = polls.entries.get_mut(&key) else {
            return;
        };
        if entry.dead {
            polls.entries.remove(&key);
            return;
        }
        entry.released = true;
        // ASYNC_CANCEL, not POLL_REMOVE: a removal that meets the poll while a wake-up of it is
        // being handled fails with EALREADY and leaves the poll armed (and the socket open,
        // its file held by the poll, after the caller closes the descriptor). A cancel marks
        // the poll and is honoured by that very handling.
        self.push(&opcode::AsyncCancel::new(key).build().user_data(REMOVE_DATA));
        drop(polls);
        // Also submits any re-arm of this poll pushed before: it reaches the kernel while the
        // descriptor is still open, and the removal right behind it ends it.
        if let Err(error) = self.ring.submit() {
            crate::report::warn(
                crate::report::Topic::Runtime,
                &format!("io_uring: could not submit a poll removal: {error}"),
            );
        }
    }

    /// Pushes `entry` to the submission queue, submitting first if it is full.
    fn push(&self, entry: &squeue::Entry) {
        let _guard = self.submit.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            // SAFETY: `submit` serialises every user of the submission queue, so this is the
            // only `SubmissionQueue` alive. Polls, removals and no-ops carry no buffer, only a
            // descriptor that stays open until its removal is submitted (module invariants);
            // a file operation's buffer is owned by its slot in `ops` until its completion
            // (`uring_op`).
            let pushed = unsafe {
                let mut queue = self.ring.submission_shared();
                let pushed = queue.push(entry).is_ok();
                queue.sync();
                pushed
            };
            if pushed {
                return;
            }
            // Full: hand what is queued to the kernel, then try again.
            if let Err(error) = self.ring.submit() {
                if error.raw_os_error() != Some(libc::EBUSY) {
                    crate::report::warn(
                        crate::report::Topic::Runtime,
                        &format!("io_uring: could not submit: {error}"),
                    );
                }
                std::thread::yield_now();
            }
        }
    }

    /// One turn: waits up to `timeout` for completions and hands each readiness change to
    /// `dispatch`. Returns how many there were, or `None` if another thread is polling.
    pub(super) fn poll(
        &self,
        timeout: Option<Duration>,
        mut dispatch: impl FnMut(&ScheduledIo, usize),
    ) -> Option<usize> {
        let mut reaped = self.poller.try_lock().ok()?;
        if self.has_unsubmitted.load(Ordering::Relaxed) && self.may_submit_polls() {
            // The wait below submits them. (Another thread looking, after starting a file
            // operation or as the stall monitor, leaves them to the pool's threads.)
            self.push_unsubmitted(&mut self.polls());
        }
        let waited = match timeout {
            // A look without waiting needs no system call: completions are posted to the
            // shared queue as they happen. Only queued submissions make one.
            Some(Duration::ZERO) => self.submit_pending(),
            None => self.ring.submit_and_wait(1),
            Some(timeout) => {
                let timespec = types::Timespec::from(timeout);
                let args = types::SubmitArgs::new().timespec(&timespec);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        if let Err(error) = waited {
            // ETIME: the timeout passed; EINTR: a signal; EBUSY: completions to reap first.
            if !matches!(
                error.raw_os_error(),
                Some(libc::ETIME | libc::EINTR | libc::EBUSY)
            ) {
                crate::report::warn(
                    crate::report::Topic::Runtime,
                    &format!("io_uring_enter failed: {error}"),
                );
            }
        }
        let Reaped {
            completions,
            ready,
            finished,
            freed,
        } = &mut *reaped;
        completions.clear();
        // SAFETY: `poller` is held, so this is the only `CompletionQueue` alive.
        unsafe { self.ring.completion_shared() }
            .for_each(|cqe| completions.push((cqe.user_data(), cqe.result(), cqe.flags())));
        if completions.is_empty() {
            return Some(0);
        }

        let mut rearmed = false;
        {
            let mut polls = self.polls();
            for &(key, result, flags) in completions.iter() {
                if key == WAKE_DATA || key == REMOVE_DATA {
                    continue;
                }
                if key & OP_TAG != 0 {
                    finished.extend(polls.ops.remove(&key).map(|slot| (slot, result)));
                    continue;
                }
                let Some(entry) = polls.entries.get_mut(&key) else {
                    continue;
                };
                if !cqueue::more(flags) {
                    // The poll ended: gone with its resource, or armed again.
                    if entry.released {
                        freed.extend(polls.entries.remove(&key));
                        continue;
                    }
                    if result >= 0 || result == -libc::ECANCELED {
                        self.push(&poll_add(entry.fd, entry.mask, key));
                        rearmed = true;
                    } else {
                        entry.dead = true;
                    }
                }
                let readiness = if result >= 0 {
                    readiness_of(result as u32)
                } else if result == -libc::ECANCELED {
                    0
                } else {
                    // The poll itself failed (not the socket): let the task's next call find
                    // out what is wrong instead of waiting forever.
                    crate::report::warn(
                        crate::report::Topic::Runtime,
                        &format!(
                            "io_uring: a readiness poll failed: {}",
                            io::Error::from_raw_os_error(-result)
                        ),
                    );
                    ERROR | READ_CLOSED | WRITE_CLOSED
                };
                if readiness != 0 {
                    ready.push((entry.scheduled.clone(), readiness));
                }
            }
        }
        if rearmed {
            let _ = self.ring.submit();
        }
        // Outside the lock: waking a task may run arbitrary code.
        let dispatched = ready.len() + finished.len();
        for (scheduled, readiness) in ready.drain(..) {
            dispatch(&scheduled, readiness);
        }
        for (slot, result) in finished.drain(..) {
            // SAFETY: this is the operation's completion.
            unsafe { slot.complete(result) };
        }
        freed.clear();
        Some(dispatched)
    }

    /// Submits what is queued, if anything: a system call only when there is something.
    fn submit_pending(&self) -> io::Result<usize> {
        let pending = {
            let guard = self.submit.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: `submit` is held: this is the only `SubmissionQueue` alive.
            let queue = unsafe { self.ring.submission_shared() };
            let pending = !queue.is_empty();
            // A `SubmissionQueue` writes its copy of the tail back when dropped, so it must go
            // before the lock does. (As the block's tail expression it outlived the guard — a
            // temporary there is dropped after the block's locals — and its stale tail,
            // written after another thread's push had been consumed, put the ring's tail
            // behind its head: the kernel then saw four billion entries to submit.)
            drop(queue);
            drop(guard);
            pending
        };
        if pending {
            self.ring.submit()
        } else {
            Ok(0)
        }
    }

    /// The runtime is shutting down: operations in flight let go of their tasks' wakers (which
    /// hold the runtime that holds this ring); their buffers stay until their completions.
    pub(super) fn shutdown(&self) {
        let slots: Vec<Arc<OpSlot>> = self.polls().ops.values().cloned().collect();
        for slot in slots {
            slot.close();
        }
    }

    /// Interrupts a thread blocked in [`poll`](Self::poll): a no-op's completion ends its wait.
    pub(super) fn wake(&self) -> io::Result<()> {
        self.push(&opcode::Nop::new().build().user_data(WAKE_DATA));
        self.ring.submit().map(drop)
    }
}

impl Drop for Uring {
    /// Operations still in flight own buffers the kernel may write into: cancel them and wait
    /// for their completions before the ring (and so the buffers) go; past [`DROP_WAIT`], leak
    /// what is left rather than free it under the kernel.
    fn drop(&mut self) {
        let mut in_flight = {
            let polls = self.polls.get_mut().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut polls.ops)
        };
        if in_flight.is_empty() {
            return;
        }
        for &key in in_flight.keys() {
            self.push(&opcode::AsyncCancel::new(key).build().user_data(REMOVE_DATA));
        }
        let deadline = std::time::Instant::now() + DROP_WAIT;
        while !in_flight.is_empty() && std::time::Instant::now() < deadline {
            let timespec = types::Timespec::from(Duration::from_millis(100));
            let args = types::SubmitArgs::new().timespec(&timespec);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            // SAFETY: `&mut self`: nobody else reaps.
            for cqe in unsafe { self.ring.completion_shared() } {
                if let Some(slot) = in_flight.remove(&cqe.user_data()) {
                    // SAFETY: this is the operation's completion.
                    unsafe { slot.complete(cqe.result()) };
                }
            }
        }
        if !in_flight.is_empty() {
            crate::report::warn(
                crate::report::Topic::Runtime,
                &format!(
                    "io_uring: {} file operations still in flight {DROP_WAIT:?} after their                      runtime went away; their buffers are leaked, not freed under the kernel",
                    in_flight.len()
                ),
            );
            std::mem::forget(in_flight);
        }
    }
}

fn poll_add(fd: RawFd, mask: u32, key: u64) -> squeue::Entry {
    opcode::PollAdd::new(types::Fd(fd), mask)
        .multi(true)
        .build()
        .user_data(key)
}

/// A poll's `revents` in the reactor's flags (as mio reads epoll's).
fn readiness_of(revents: u32) -> usize {
    let has = |bits: i16| revents & bits as u32 != 0;
    let mut flags = 0;
    if has(libc::POLLIN | libc::POLLPRI) {
        flags |= READABLE;
    }
    if has(libc::POLLOUT) {
        flags |= WRITABLE;
    }
    if has(libc::POLLHUP) || (has(libc::POLLIN) && has(libc::POLLRDHUP)) {
        flags |= READ_CLOSED;
    }
    if has(libc::POLLHUP)
        || has(libc::POLLERR) && (has(libc::POLLOUT) || revents == libc::POLLERR as u32)
    {
        flags |= WRITE_CLOSED;
    }
    if has(libc::POLLERR) {
        flags |= ERROR;
    }
    flags
}

#[cfg(all(test, not(loom)))]
#[path = "uring_tests.rs"]
mod tests;
