//! What a task is waiting on: one slot in the task header that brigade's leaf futures (sleeps,
//! socket readiness, joins, promises, channel and lock waits, group joins) fill when they
//! return `Pending`, and the task dump reads. The async counterpart of a thread's stack in
//! `dotnet-dump`'s parallel stacks: not every frame, but the one the task is parked in.
//!
//! The cost is the point of the design: recording is a thread-local read (the running-task
//! pointer, `current.rs`) and three relaxed stores into the task's header, on a cache line the
//! poll already wrote; the harness clears the slot with one store before each poll, so a task
//! that went `Pending` for a reason no brigade future knows shows "unknown", never a stale
//! wait.
//!
//! # Invariants
//! - The slot is written only by the thread polling the task (the running-task pointer says
//!   which task that is), and only during a poll.
//! - The first leaf to go `Pending` in a poll is recorded; later ones in the same poll (the
//!   other branches of a `select`, a timeout's timer) only bump `others`.
//! - Readers on other threads read the slot racily. The task dump reads it only for tasks whose
//!   state says idle, after loading the state word (`Acquire`), which the poll's transition to
//!   idle published (`Release`): for those tasks the three words belong together.

use std::fmt;
use std::panic::Location;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};

/// What kind of thing a task waits on: the `kind` of a [`WaitOn`](crate::runtime::WaitOn) in the
/// task dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum WaitKind {
    /// `time::sleep` / `sleep_until`.
    Sleep = 1,
    /// The deadline of a `time::timeout`.
    Timeout,
    /// `Interval::tick`.
    Interval,
    /// A socket becoming readable (a read, an accept, a receive).
    Readable,
    /// A socket becoming writable (a write, a connect, a send).
    Writable,
    /// Another task finishing (`Task` awaited, `join`, `cancel`).
    Join,
    /// A [`Promise`](crate::Promise) being set.
    Promise,
    /// A message on a channel (`Receiver::recv`).
    ChannelRecv,
    /// Room on a bounded channel (`Sender::send`).
    ChannelSend,
    /// A `sync::Mutex` lock.
    Mutex,
    /// A `sync::RwLock` read lock.
    RwLockRead,
    /// A `sync::RwLock` write lock.
    RwLockWrite,
    /// Permits of a `sync::Semaphore`.
    Semaphore,
    /// A `sync::Notify` notification.
    Notify,
    /// A `sync::oneshot` value.
    Oneshot,
    /// A `sync::watch` change.
    Watch,
    /// A `sync::broadcast` message.
    Broadcast,
    /// A `sync::Barrier`'s other parties.
    Barrier,
    /// A `sync::OnceCell` being initialised by someone else.
    OnceCell,
    /// A child of a [`TaskGroup`](crate::TaskGroup) finishing (`join_next`, `join_all`).
    Group,
    /// A Unix signal (`signal::unix::Signal::recv`, `signal::ctrl_c`).
    Signal,
    /// A child process exiting (`process::Child::wait`, `status`, `output`).
    ChildExit,
}

impl WaitKind {
    const ALL: [WaitKind; 22] = [
        WaitKind::Sleep,
        WaitKind::Timeout,
        WaitKind::Interval,
        WaitKind::Readable,
        WaitKind::Writable,
        WaitKind::Join,
        WaitKind::Promise,
        WaitKind::ChannelRecv,
        WaitKind::ChannelSend,
        WaitKind::Mutex,
        WaitKind::RwLockRead,
        WaitKind::RwLockWrite,
        WaitKind::Semaphore,
        WaitKind::Notify,
        WaitKind::Oneshot,
        WaitKind::Watch,
        WaitKind::Broadcast,
        WaitKind::Barrier,
        WaitKind::OnceCell,
        WaitKind::Group,
        WaitKind::Signal,
        WaitKind::ChildExit,
    ];

    fn from_code(code: u8) -> Option<WaitKind> {
        WaitKind::ALL
            .get(usize::from(code).checked_sub(1)?)
            .copied()
    }

    /// A short lowercase name: `sleep`, `read`, `join`, `channel recv`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            WaitKind::Sleep => "sleep",
            WaitKind::Timeout => "timeout",
            WaitKind::Interval => "interval",
            WaitKind::Readable => "read",
            WaitKind::Writable => "write",
            WaitKind::Join => "join",
            WaitKind::Promise => "promise",
            WaitKind::ChannelRecv => "channel recv",
            WaitKind::ChannelSend => "channel send",
            WaitKind::Mutex => "mutex lock",
            WaitKind::RwLockRead => "rwlock read",
            WaitKind::RwLockWrite => "rwlock write",
            WaitKind::Semaphore => "semaphore acquire",
            WaitKind::Notify => "notify",
            WaitKind::Oneshot => "oneshot recv",
            WaitKind::Watch => "watch changed",
            WaitKind::Broadcast => "broadcast recv",
            WaitKind::Barrier => "barrier",
            WaitKind::OnceCell => "once cell init",
            WaitKind::Group => "group join",
            WaitKind::Signal => "signal",
            WaitKind::ChildExit => "child exit",
        }
    }
}

impl fmt::Display for WaitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded wait, as read back from a task's slot: the kind, where the waiting future was
/// created (when brigade knows it), and two numbers whose meaning depends on the kind —
/// sleeps: the requested duration in ms (`u64::MAX >> 16` when unknown) and the deadline in
/// ms on the runtime's clock; sockets: the file descriptor; joins: the awaited task's id;
/// group joins: the group's id; semaphores: the permits asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitSite {
    pub(crate) kind: WaitKind,
    pub(crate) location: Option<&'static Location<'static>>,
    pub(crate) a: u64,
    pub(crate) b: u64,
    /// Other leaves that went `Pending` in the same poll (saturates at 255).
    pub(crate) others: u8,
}

/// The largest number `a` can carry (48 bits; the word's top 16 hold the kind and `others`).
pub(crate) const A_MAX: u64 = (1 << 48) - 1;

/// The slot in the task header.
pub(crate) struct WaitSlot {
    /// kind (8 bits, 0 = nothing recorded) | others (8 bits) | a (48 bits).
    word: AtomicU64,
    location: AtomicPtr<Location<'static>>,
    b: AtomicU64,
}

impl WaitSlot {
    pub(crate) const fn new() -> WaitSlot {
        WaitSlot {
            word: AtomicU64::new(0),
            location: AtomicPtr::new(ptr::null_mut()),
            b: AtomicU64::new(0),
        }
    }

    /// Forgets the previous poll's wait (the harness, before each poll).
    #[inline]
    pub(crate) fn clear(&self) {
        self.word.store(0, Relaxed);
    }

    #[inline]
    fn record(&self, kind: WaitKind, location: Option<&'static Location<'static>>, a: u64, b: u64) {
        let word = self.word.load(Relaxed);
        if word != 0 {
            // Someone already recorded this poll's wait: count this one as "also".
            let others = (word >> 48) & 0xff;
            if others < 0xff {
                self.word.store(word + (1 << 48), Relaxed);
            }
            return;
        }
        let location = location.map_or(ptr::null_mut(), |l| l as *const _ as *mut _);
        self.location.store(location, Relaxed);
        self.b.store(b, Relaxed);
        self.word
            .store((kind as u64) << 56 | (a.min(A_MAX)), Relaxed);
    }

    /// Replaces this poll's record with a more telling one, keeping the count of others: an
    /// outer future that waits *through* an inner leaf (a signal through its pipe's
    /// readiness, a child's exit through its pidfd) says what the wait is really for.
    #[inline]
    fn refine(&self, kind: WaitKind, location: Option<&'static Location<'static>>, a: u64, b: u64) {
        let others = self.word.load(Relaxed) & (0xff << 48);
        let location = location.map_or(ptr::null_mut(), |l| l as *const _ as *mut _);
        self.location.store(location, Relaxed);
        self.b.store(b, Relaxed);
        self.word
            .store((kind as u64) << 56 | others | (a.min(A_MAX)), Relaxed);
    }

    /// What the slot holds (racy: see the module invariants).
    pub(crate) fn read(&self) -> Option<WaitSite> {
        let word = self.word.load(Relaxed);
        let kind = WaitKind::from_code((word >> 56) as u8)?;
        let location = self.location.load(Relaxed);
        Some(WaitSite {
            kind,
            // SAFETY: the slot only ever holds null or a `&'static Location`.
            location: unsafe { location.cast_const().as_ref() },
            a: word & A_MAX,
            b: self.b.load(Relaxed),
            others: ((word >> 48) & 0xff) as u8,
        })
    }
}

/// Records, in the task being polled on this thread (if any), that it is about to return
/// `Pending` waiting on `kind`. Leaf futures call this on their `Pending` paths; outside a
/// task (a `block_on` on a plain thread) it does nothing.
#[inline]
pub(crate) fn record(kind: WaitKind, location: Option<&'static Location<'static>>, a: u64, b: u64) {
    if let Some(task) = super::current::running() {
        task.header().wait.record(kind, location, a, b);
    }
}

/// Like [`record`], but replaces what an inner leaf recorded in this poll (see
/// `WaitSlot::refine`): for futures that wait through another brigade leaf.
pub(crate) fn refine(kind: WaitKind, location: Option<&'static Location<'static>>, a: u64, b: u64) {
    if let Some(task) = super::current::running() {
        task.header().wait.refine(kind, location, a, b);
    }
}
