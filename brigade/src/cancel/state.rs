//! The shared heart of a cancellation source: its phase, its registration list, and the cancel
//! algorithm. `CancellationTokenSource`, every `CancellationToken` cloned from it and every
//! `Registration` on it hold an `Arc` to one `SourceState`.
//!
//! # The phases
//!
//! ```text
//!            cancel()                      last callback returned
//!   Armed ────────────▶ Cancelling{by, running} ───────────────▶ Cancelled
//!     │
//!     │ source dropped uncancelled
//!     ▼
//!   Abandoned   (can never be cancelled; callbacks are dropped unrun)
//! ```
//!
//! # Invariants
//! - Every phase change and every list change happens under `inner`'s lock; `cancel_requested`
//!   mirrors "phase is Cancelling or Cancelled" for lock-free reads and is set in the same
//!   critical section that leaves `Armed`, before any callback runs (K1).
//! - A registration made while `Armed` goes into the list; one made after runs at once, on the
//!   registering thread (K2). Both decisions are taken under the lock, so a registration
//!   racing `cancel()` is either in the list when `cancel()` looks, or sees the cancellation —
//!   never neither (K11).
//! - No callback runs, and no callback is dropped, while the lock is held: a callback may
//!   register, unregister or cancel on this very source.
//! - While `cancel()` runs a callback, `Cancelling::running` names it, so a `Registration`
//!   dropped on another thread can wait for it to finish (K5).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::task::Waker;

use super::registry::{Callback, Registry, SlotKey};
use crate::future::AggregatePanic;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Condvar, Mutex, MutexGuard};
use crate::loom::thread::{self, ThreadId};

/// Where a source is in its life; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not cancelled: registrations are stored.
    Armed,
    /// `cancel()` is running the callbacks on thread `by`; `running` is the one in progress.
    Cancelling {
        by: ThreadId,
        running: Option<SlotKey>,
    },
    /// Every callback has run.
    Cancelled,
    /// The source was dropped without being cancelled; nothing can cancel it any more.
    Abandoned,
}

impl Phase {
    /// Whether `cancel()` is inside the callback `key`, on a thread other than this one.
    fn is_running_elsewhere(self, key: SlotKey, here: ThreadId) -> bool {
        matches!(self, Phase::Cancelling { by, running: Some(k) } if k == key && by != here)
    }
}

/// The state behind the lock.
#[derive(Debug)]
struct Inner {
    phase: Phase,
    registry: Registry,
    /// Threads blocked in `unregister` until the running callback returns; the cancelling
    /// thread signals the condvar only when there are some (a signal is a system call).
    waiting_for_callback: usize,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct SourceState {
    id: u64,
    /// "Phase is Cancelling or Cancelled", readable without the lock.
    cancel_requested: AtomicBool,
    inner: Mutex<Inner>,
    /// Signalled when `cancel()` finishes a callback someone waits for (K5).
    callback_returned: Condvar,
}

/// What `unregister` does when the callback is running on another thread at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfRunning {
    /// Block until it returns (a `Registration`'s promise, K5).
    Wait,
    /// Return at once (a waker: a late wake-up of a finished future is harmless).
    DontWait,
}

/// What [`SourceState::register_waker`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaiterState {
    /// Cancellation was requested: the future is done.
    Cancelled,
    /// The waker is stored (or refreshed) and will be woken by `cancel()`.
    Waiting,
    /// The source was dropped uncancelled: nothing will ever wake this waiter.
    NeverCancelled,
}

/// Gives every source a process-unique id, for `Cancelled`'s message and `Debug`. A plain std
/// atomic even under loom: it is a counter, not part of any protocol being modelled.
fn next_source_id() -> u64 {
    static NEXT: StdAtomicU64 = StdAtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl SourceState {
    pub(crate) fn new() -> SourceState {
        SourceState {
            id: next_source_id(),
            cancel_requested: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                phase: Phase::Armed,
                registry: Registry::default(),
                waiting_for_callback: 0,
            }),
            callback_returned: Condvar::new(),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn is_cancellation_requested(&self) -> bool {
        // Acquire pairs with the Release store in `cancel`: whoever sees `true` also sees
        // everything the canceller did before calling `cancel()`.
        self.cancel_requested.load(Ordering::Acquire)
    }

    /// Whether the source can still be cancelled or already was (not abandoned).
    pub(crate) fn can_be_cancelled(&self) -> bool {
        self.lock().phase != Phase::Abandoned
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No callback ever runs under this lock, so poisoning would mean a bug in this module;
        // carry on with the data rather than turn one panic into a cascade.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `callback` to run on cancellation and returns its key, or — when cancellation
    /// was already requested — runs it right here before returning `None` (K2; a panic in it
    /// propagates to the caller). On an abandoned source the callback is dropped unrun.
    pub(crate) fn register(&self, callback: Callback) -> Option<SlotKey> {
        let mut inner = self.lock();
        match inner.phase {
            Phase::Armed => return Some(inner.registry.insert(callback)),
            Phase::Cancelling { .. } | Phase::Cancelled => {
                drop(inner);
                invoke(callback);
            }
            Phase::Abandoned => {
                drop(inner);
                drop(callback);
            }
        }
        None
    }

    /// Registers `waker` for the waiter whose registration is `key` (made here on its first
    /// call), or refreshes the stored waker on a later poll — without allocating, and without
    /// cloning when the waker is unchanged.
    pub(crate) fn register_waker(&self, key: &mut Option<SlotKey>, waker: &Waker) -> WaiterState {
        let mut inner = self.lock();
        match inner.phase {
            Phase::Armed => {}
            Phase::Cancelling { .. } | Phase::Cancelled => return WaiterState::Cancelled,
            Phase::Abandoned => return WaiterState::NeverCancelled,
        }
        if let Some(stored) = key.and_then(|k| inner.registry.waker_mut(k)) {
            if stored.will_wake(waker) {
                return WaiterState::Waiting;
            }
            let previous = std::mem::replace(stored, waker.clone());
            drop(inner);
            // Dropped outside the lock: dropping a waker can run arbitrary code.
            drop(previous);
            return WaiterState::Waiting;
        }
        *key = Some(inner.registry.insert(Callback::Waker(waker.clone())));
        WaiterState::Waiting
    }

    /// Removes the registration `key`. Returns `true` if it was still waiting (it will never
    /// run), `false` if it already ran, is running, or was dropped with an abandoned source.
    /// With [`IfRunning::Wait`], a callback running on another thread at this moment is waited
    /// for; on the cancelling thread itself (inside a callback) it is not, which would deadlock.
    pub(crate) fn unregister(&self, key: SlotKey, if_running: IfRunning) -> bool {
        let mut inner = self.lock();
        if let Some(callback) = inner.registry.remove(key) {
            drop(inner);
            drop(callback);
            return true;
        }
        if if_running == IfRunning::Wait {
            let here = thread::current().id();
            if inner.phase.is_running_elsewhere(key, here) {
                inner.waiting_for_callback += 1;
                while inner.phase.is_running_elsewhere(key, here) {
                    inner = self
                        .callback_returned
                        .wait(inner)
                        .unwrap_or_else(|e| e.into_inner());
                }
                inner.waiting_for_callback -= 1;
            }
        }
        false
    }

    /// Requests cancellation: the `Armed → Cancelling → Cancelled` transition. Runs every
    /// registered callback on this thread, newest first (K3), each outside the lock. Panics
    /// are caught so every callback runs, then re-raised (K4). Does nothing if cancellation was
    /// already requested, even if another thread is still running the callbacks.
    pub(crate) fn cancel(&self) {
        let mut inner = self.lock();
        if inner.phase != Phase::Armed {
            return;
        }
        inner.phase = Phase::Cancelling {
            by: thread::current().id(),
            running: None,
        };
        // Set before the first callback runs (K1), in the same critical section that left
        // Armed, so a registration that finds the lock free afterwards also finds the flag.
        self.cancel_requested.store(true, Ordering::Release);

        let mut panics = Vec::new();
        while let Some((key, callback)) = inner.registry.pop_newest() {
            inner.phase = Phase::Cancelling {
                by: thread::current().id(),
                running: Some(key),
            };
            drop(inner);
            // The callback may register, unregister or cancel on this very source (the lock is
            // free); a panic is kept for later so that the others still run (K4).
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| invoke(callback))) {
                panics.push(payload);
            }
            inner = self.lock();
            if let Phase::Cancelling { running, .. } = &mut inner.phase {
                *running = None;
            }
            if inner.waiting_for_callback > 0 {
                self.callback_returned.notify_all();
            }
        }
        inner.phase = Phase::Cancelled;
        drop(inner);
        reraise(panics);
    }

    /// The `Armed → Abandoned` transition, when the source is dropped without being cancelled:
    /// nothing can cancel it any more, so the stored callbacks (and what they captured) are
    /// released now, unrun, rather than when the last token goes.
    pub(crate) fn abandon(&self) {
        let mut inner = self.lock();
        if inner.phase != Phase::Armed {
            return;
        }
        inner.phase = Phase::Abandoned;
        let callbacks = std::mem::take(&mut inner.registry);
        drop(inner);
        // Dropped outside the lock: a callback's captures may unregister from this source.
        drop(callbacks);
    }

    /// `CancellationTokenSource::try_reset`: `false` once cancellation was requested; else the
    /// source stays `Armed` with its registrations and any `cancel_after` timer is disarmed.
    pub(crate) fn try_reset(&self) -> bool {
        let inner = self.lock();
        inner.phase == Phase::Armed
    }

    /// Live registrations (callbacks, wakers, linked children).
    pub(crate) fn registration_count(&self) -> usize {
        self.lock().registry.len()
    }

    /// Slots in the registration storage, live or vacant: the figure that must stay flat
    /// under churn (K6).
    pub(crate) fn registration_slots(&self) -> usize {
        self.lock().registry.slot_count()
    }
}

/// Runs one callback. EVERY callback a source runs goes through here — from `cancel()`, and
/// from `register()` on an already-cancelled token — so that this is the one place where, once
/// the ExecutionContext module is merged, a user callback will run inside the context captured
/// when it was registered (K3). Wakers and linked children do not capture a context: they run
/// no user code of their own (.NET registers those with `UnsafeRegister` for the same reason).
fn invoke(callback: Callback) {
    match callback {
        Callback::User(callback) => callback(),
        Callback::Waker(waker) => waker.wake(),
        Callback::Linked(child) => {
            // A child that is gone has nothing left to cancel.
            if let Some(child) = child.upgrade() {
                child.cancel();
            }
        }
    }
}

/// Re-raises the callbacks' panics once all have run: one panic with its original payload, as
/// if it had not been caught; several together in an [`AggregatePanic`] (.NET throws an
/// `AggregateException` from `Cancel()`).
fn reraise(mut panics: Vec<Box<dyn std::any::Any + Send>>) {
    match panics.len() {
        0 => {}
        1 => resume_unwind(panics.pop().expect("one panic")),
        _ => resume_unwind(Box::new(AggregatePanic { payloads: panics })),
    }
}
