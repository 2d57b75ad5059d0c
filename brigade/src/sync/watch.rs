//! `watch` — one published value that many readers observe, each told when it changes: the
//! "current configuration" or "current state" pattern (.NET has no one type for it; an
//! `IObservable<T>` with replay of the latest value is the nearest).
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y2: `changed()` returns as soon as a version newer than the last one this receiver saw is
//!   published; a publish racing the wait is never missed (the version is checked and the
//!   waiter queued under the waiter lock that the sender takes to wake).
//! - Intermediate values may be skipped: a reader sees the latest, not every one (use a
//!   [`broadcast`](super::broadcast) for every value).
//! - Y4: once the sender is dropped, `changed()` fails unless an unseen version is waiting.
//! - Readers borrow the value under a read lock; do not hold a [`Ref`] across an `.await`.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};

use super::waiters::{WaitList, WakeOnlyWait};
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};

/// The low bit of the version word: the sender is gone.
const CLOSED: u64 = 1;

struct Shared<T> {
    value: RwLock<T>,
    /// `version << 1 | CLOSED`.
    version: AtomicU64,
    waiters: Mutex<WaitList<()>>,
}

impl<T> Shared<T> {
    fn lock_waiters(&self) -> MutexGuard<'_, WaitList<()>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every receiver waiting now.
    fn wake_all(&self) {
        // SAFETY: the guard is the waiter lock; `lock_waiters` takes it again.
        unsafe {
            WaitList::wake_all(
                self.lock_waiters(),
                |list| &mut **list,
                || self.lock_waiters(),
            )
        }
    }
}

/// A watch channel holding `initial`.
///
/// ```
/// use brigade::sync::watch;
///
/// # brigade::block_on(async {
/// let (config, mut reader) = watch::channel("v1");
/// let watcher = brigade::spawn(async move {
///     reader.changed().await.unwrap();
///     *reader.borrow_and_update()
/// });
/// config.send("v2");
/// assert_eq!(watcher.await, "v2");
/// # });
/// ```
pub fn channel<T>(initial: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(initial),
        version: AtomicU64::new(0),
        waiters: Mutex::new(WaitList::default()),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, seen: 0 },
    )
}

/// The publishing end (one per channel).
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A reading end; clone it for more readers (a clone has seen what its original saw).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The last version this receiver saw.
    seen: u64,
}

/// The sender is gone and nothing unseen is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(());

/// A read-locked view of the value.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
}

impl<T> Sender<T> {
    /// Publishes `value` and wakes every waiting receiver.
    pub fn send(&self, value: T) {
        drop(self.send_replace(value));
    }

    /// Publishes `value`, returning the previous one.
    pub fn send_replace(&self, value: T) -> T {
        let old = {
            let mut slot = self
                .shared
                .value
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            // Bumped under the write lock, so a reader never pairs the new value with the old
            // version (see `borrow_and_update`).
            self.shared.version.fetch_add(2, Ordering::AcqRel);
            std::mem::replace(&mut *slot, value)
        };
        self.shared.wake_all();
        old
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self
                .shared
                .value
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        Receiver {
            shared: self.shared.clone(),
            seen: self.shared.version.load(Ordering::Acquire) >> 1,
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.version.fetch_or(CLOSED, Ordering::AcqRel);
        self.shared.wake_all();
    }
}

impl<T> Receiver<T> {
    /// The current value (without marking it seen).
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self
                .shared
                .value
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// The current value, marked seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self
            .shared
            .value
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // Read under the value lock: the version cannot move past this value meanwhile.
        self.seen = self.shared.version.load(Ordering::Acquire) >> 1;
        Ref { guard }
    }

    /// Whether a version this receiver has not seen is published.
    pub fn has_changed(&self) -> bool {
        self.shared.version.load(Ordering::Acquire) >> 1 != self.seen
    }

    /// Waits for a version newer than the last one seen, and marks it seen. Fails once the
    /// sender is gone and nothing unseen is left.
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            receiver: self,
            wait: WakeOnlyWait::new(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

/// The future of [`Receiver::changed`]; its waiter node lives inside it.
#[must_use = "futures do nothing unless awaited"]
pub struct Changed<'a, T> {
    receiver: &'a mut Receiver<T>,
    wait: WakeOnlyWait,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `wait` is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let shared = &*this.receiver.shared;
        let mut list = shared.lock_waiters();
        // SAFETY: under the lock of the list the wait queues on.
        if unsafe { this.wait.still_queued(cx.waker()) } {
            crate::task::record_wait(crate::task::WaitKind::Watch, None, 0, 0);
            return Poll::Pending;
        }
        let word = shared.version.load(Ordering::Acquire);
        if word >> 1 != this.receiver.seen {
            this.receiver.seen = word >> 1;
            return Poll::Ready(Ok(()));
        }
        if word & CLOSED != 0 {
            return Poll::Ready(Err(RecvError(())));
        }
        // SAFETY: under the lock; not queued, pinned, cancelled by `Drop`.
        unsafe { this.wait.enqueue(&mut list, cx.waker()) };
        crate::task::record_wait(crate::task::WaitKind::Watch, None, 0, 0);
        Poll::Pending
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if self.wait.is_queued() {
            let mut list = self.receiver.shared.lock_waiters();
            // SAFETY: under the lock, the list it queued on (a watch wake hands nothing over).
            unsafe { self.wait.cancel(&mut list) };
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("watch::Sender")
            .field(&*self.borrow())
            .finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed")
            .field("waiting", &self.wait.is_queued())
            .finish()
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the watch sender was dropped")
    }
}

impl std::error::Error for RecvError {}
