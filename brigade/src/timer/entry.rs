//! A timer entry: the node a sleep future embeds so the wheel can link it without allocating.
//!
//! The entry has two kinds of fields. Its links, deadline and waker belong to the driver's lock:
//! only code holding it reads or writes them. Its `state` is atomic so the owning future can see
//! "fired" without taking the lock, which keeps the common poll-after-wake and drop-after-fire
//! paths lock-free.
//!
//! # States
//! ```text
//!   Idle ──register──▶ Registered ──deadline reached──▶ Fired
//!    ▲                    │  ╲───────driver shut down──▶ Shutdown
//!    └──remove / reset────┘
//! ```
//! All transitions happen under the driver lock; only the owner leaves `Fired` (by resetting).
//! The waker is present exactly while the entry is `Registered`.

use std::cell::UnsafeCell;
use std::marker::PhantomPinned;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Waker;

/// Not in the wheel and not fired: never registered, removed, or reset.
pub(crate) const IDLE: u8 = 0;
/// In the wheel, with a waker.
pub(crate) const REGISTERED: u8 = 1;
/// The deadline came; the waker was taken and woken.
pub(crate) const FIRED: u8 = 2;
/// The driver shut down while the entry waited.
pub(crate) const SHUTDOWN: u8 = 3;

/// Where in the wheel an entry is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Location {
    Unlinked,
    Slot { level: u8, slot: u8 },
    Expired,
}

/// The fields guarded by the driver lock.
pub(super) struct Links {
    pub(super) prev: Option<NonNull<TimerEntry>>,
    pub(super) next: Option<NonNull<TimerEntry>>,
    pub(super) location: Location,
    /// The deadline, in the driver's ms ticks.
    pub(super) when: u64,
    pub(super) waker: Option<Waker>,
}

/// The node. It must not move while registered (its owner is `!Unpin`).
pub(crate) struct TimerEntry {
    links: UnsafeCell<Links>,
    state: AtomicU8,
    _pinned: PhantomPinned,
}

// SAFETY: `links` is only touched under the driver's lock (or by the owner when the entry is
// in no list and not registered, which the state protocol makes exclusive); `state` is atomic.
unsafe impl Send for TimerEntry {}
// SAFETY: as above.
unsafe impl Sync for TimerEntry {}

impl TimerEntry {
    pub(crate) const fn new() -> TimerEntry {
        TimerEntry {
            links: UnsafeCell::new(Links {
                prev: None,
                next: None,
                location: Location::Unlinked,
                when: 0,
                waker: None,
            }),
            state: AtomicU8::new(IDLE),
            _pinned: PhantomPinned,
        }
    }

    /// The lock-guarded fields.
    ///
    /// # Safety
    /// The caller holds the driver lock that guards this entry (or owns the entry while it is
    /// idle and unlinked), and no other reference from `links_mut` is alive.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn links_mut(&self) -> &mut Links {
        // SAFETY: exclusivity is the caller's promise.
        unsafe { &mut *self.links.get() }
    }

    /// The state, as the owner sees it without the lock. `Acquire` pairs with the driver's
    /// `Release` when it fires, so an owner that sees `FIRED` may treat the entry as its own.
    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Changes the state; the caller holds the driver lock (or owns the idle entry).
    pub(crate) fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Release);
    }
}
