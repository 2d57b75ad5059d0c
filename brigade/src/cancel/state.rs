//! The shared heart of a cancellation source: its phase, its registration list, and the cancel
//! algorithm. `CancellationTokenSource`, every `CancellationToken` cloned from it and every
//! `Registration` on it hold an `Arc` to one `SourceState`.
//!
//! # The phases
//!
//! ```text
//!        cancel() or its timer                   last callback returned
//!   Armed ──────────────────▶ Cancelling{by, running} ─────────────────▶ Cancelled
//!     │
//!     │ source dropped uncancelled
//!     ▼
//!   Abandoned   (can never be cancelled; callbacks are dropped unrun)
//! ```
//!
//! `cancel_after` arms a timer task while `Armed`; leaving `Armed` (and `try_reset`) disarms
//! it. A generation number names the armed timer, so one that was superseded or disarmed but
//! fires anyway (it was already past its sleep) changes nothing.
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
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use super::registry::{Callback, Registry, SlotKey};
use crate::future::AggregatePanic;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Condvar, Mutex, MutexGuard};
use crate::loom::thread::{self, ThreadId};
use crate::task::Task;

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
    /// The thread running the callback `key` at this moment, if `cancel()` is inside it.
    fn thread_running(self, key: SlotKey) -> Option<ThreadId> {
        match self {
            Phase::Cancelling {
                by,
                running: Some(running),
            } if running == key => Some(by),
            _ => None,
        }
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
    /// The armed `cancel_after` timer, if any.
    timer: Option<Task<()>>,
    /// Moves on every time a timer is armed or disarmed. A timer cancels the source only if
    /// this still holds the number it was armed with: a superseded timer that fires anyway (it
    /// was already running when it was replaced) does nothing.
    timer_generation: u64,
}

impl Inner {
    /// Disarms the current timer, if any: it can no longer cancel the source. The returned
    /// task is to be stopped outside the lock (see [`stop_timer`]).
    fn disarm_timer(&mut self) -> Option<Task<()>> {
        self.timer_generation += 1;
        self.timer.take()
    }
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
                timer: None,
                timer_generation: 0,
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
        let Some(runner) = inner.phase.thread_running(key) else {
            return false; // it ran already (or never will)
        };
        // Inside the callback itself (or something it called), waiting would be for ourselves.
        if if_running == IfRunning::Wait && runner != thread::current().id() {
            inner.waiting_for_callback += 1;
            while inner.phase.thread_running(key).is_some() {
                inner = self
                    .callback_returned
                    .wait(inner)
                    .unwrap_or_else(|e| e.into_inner());
            }
            inner.waiting_for_callback -= 1;
        }
        false
    }

    /// Requests cancellation: the `Armed → Cancelling → Cancelled` transition. Runs every
    /// registered callback on this thread, newest first (K3), each outside the lock. Panics
    /// are caught so every callback runs, then re-raised (K4). Does nothing if cancellation was
    /// already requested, even if another thread is still running the callbacks.
    pub(crate) fn cancel(&self) {
        self.cancel_as(Canceller::Caller);
    }

    fn cancel_as(&self, canceller: Canceller) {
        let mut inner = self.lock();
        if inner.phase != Phase::Armed {
            return;
        }
        if let Canceller::Timer { generation } = canceller {
            if inner.timer_generation != generation {
                return; // re-armed, reset or disarmed since this timer was set
            }
        }
        // A pending timer has nothing left to do (it is stopped once the callbacks ran).
        let timer = inner.disarm_timer();
        let by = thread::current().id();
        inner.phase = Phase::Cancelling { by, running: None };
        // Set before the first callback runs (K1), in the same critical section that left
        // Armed, so a registration that finds the lock free afterwards also finds the flag.
        self.cancel_requested.store(true, Ordering::Release);

        let mut panics = Vec::new();
        while let Some((key, callback)) = inner.registry.pop_newest() {
            inner.phase = Phase::Cancelling {
                by,
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
        match canceller {
            Canceller::Caller => stop_timer(timer),
            // The timer's own task: dropping its handle detaches it; it returns after this.
            Canceller::Timer { .. } => drop(timer),
        }
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
        if inner.timer.is_some() {
            // A pending `cancel_after` still owns the cancellation, as a pending timer keeps a
            // dropped .NET source alive: `DoAsync(new CancellationTokenSource(5 s).Token)`
            // must still time out. The timer task holds the state until it fires or is reset.
            return;
        }
        inner.phase = Phase::Abandoned;
        let callbacks = std::mem::take(&mut inner.registry);
        let timer = inner.disarm_timer();
        drop(inner);
        // Dropped outside the lock: a callback's captures may unregister from this source.
        drop(callbacks);
        stop_timer(timer);
    }

    /// `CancellationTokenSource::try_reset`: `false` once cancellation was requested; else the
    /// source stays `Armed` with its registrations and any `cancel_after` timer is disarmed.
    pub(crate) fn try_reset(&self) -> bool {
        let mut inner = self.lock();
        if inner.phase != Phase::Armed {
            return false;
        }
        let timer = inner.disarm_timer();
        drop(inner);
        stop_timer(timer);
        true
    }

    /// `cancel_after`: (re-)arms a timer that cancels the source at `now + delay`, replacing
    /// any timer armed before; ignored once cancellation was requested. A zero delay cancels
    /// right here, synchronously (K7).
    ///
    /// The timer is a task on the current runtime (or the default one) that sleeps until the
    /// deadline, then cancels the source. It holds the source's state: a source dropped while
    /// its timer is pending stays cancellable until the timer fires (see `abandon`). Once it
    /// fires, or `try_reset`/a re-arm stops it, the task ends and lets go (the state's handle
    /// on the timer task and the task's hold on the state form a cycle only while it waits).
    pub(crate) fn cancel_after(self: &Arc<Self>, delay: Duration) {
        if delay.is_zero() {
            self.cancel();
            return;
        }
        // A delay too long to represent (`Duration::MAX`) means "never": the re-arm still
        // replaces the previous timer, but arms none.
        // The runtime's clock, which may be virtual (V3).
        let deadline = crate::time::Instant::now().checked_add(delay);
        let generation = {
            let mut inner = self.lock();
            if inner.phase != Phase::Armed {
                return;
            }
            let previous = inner.disarm_timer();
            let generation = inner.timer_generation;
            drop(inner);
            stop_timer(previous);
            generation
        };
        let Some(deadline) = deadline else {
            return;
        };
        // Spawned outside the lock (spawning may start the default runtime). Should another
        // thread re-arm, reset or cancel meanwhile, the generation check below sees it.
        let source = self.clone();
        let timer = crate::runtime::spawn_named("brigade::cancel_after", async move {
            crate::time::sleep_until(deadline).await;
            source.cancel_as(Canceller::Timer { generation });
        });
        let mut inner = self.lock();
        if inner.timer_generation == generation && inner.phase == Phase::Armed {
            inner.timer = Some(timer);
        } else {
            drop(inner);
            stop_timer(Some(timer)); // superseded before it was even stored
        }
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
/// from `register()` on an already-cancelled token. A user callback carries the
/// ExecutionContext captured when it was registered and runs inside it (K3; see
/// `CancellationToken::register`). Wakers and linked children capture no context: they run no
/// user code of their own (.NET registers those with `UnsafeRegister` for the same reason).
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

/// Who is calling `cancel`: a caller, or the `cancel_after` timer armed as `generation`.
#[derive(Debug, Clone, Copy)]
enum Canceller {
    Caller,
    Timer { generation: u64 },
}

/// Stops a disarmed timer task: its sleep is dropped and leaves the timer wheel at once, rather
/// than when the deadline comes. Outside the lock: cancelling schedules the task.
fn stop_timer(timer: Option<Task<()>>) {
    if let Some(timer) = timer {
        // The request is made when `cancel` is called; nobody needs to await the outcome.
        drop(timer.cancel());
    }
}
