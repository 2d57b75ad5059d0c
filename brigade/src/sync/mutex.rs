//! `Mutex<T>` — an async lock: .NET's `SemaphoreSlim(1, 1)` used as a lock around shared state
//! (`await sem.WaitAsync(); try { ... } finally { sem.Release(); }`), with the data inside it
//! and the `finally` done by the guard's drop.
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y1: waiters get the lock in arrival order (a permit counter of one, `permits.rs`).
//! - Y3: a `lock()` dropped while waiting (cancelled) never leaves the lock taken.
//! - Y9: a ready `lock()` spends one unit of the task's cooperative budget.
//! - Holding the guard across an `.await` is what it is for; unlike `std::sync::Mutex` a
//!   panicking holder does not poison it (the guard is released on unwind).

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::permits::{PermitWaiter, Permits, WaitAt};
use super::waiters::Waiter;
use crate::task::WaitKind;

/// An async mutual-exclusion lock with FIFO waiters.
///
/// ```
/// use std::sync::Arc;
/// use brigade::sync::Mutex;
///
/// # brigade::block_on(async {
/// let count = Arc::new(Mutex::new(0));
/// let tasks: Vec<_> = (0..8)
///     .map(|_| {
///         let count = count.clone();
///         brigade::spawn(async move {
///             let mut guard = count.lock().await;
///             brigade::yield_now().await; // held across an await
///             *guard += 1;
///         })
///     })
///     .collect();
/// brigade::when_all(tasks).await;
/// assert_eq!(*count.lock().await, 8);
/// # });
/// ```
pub struct Mutex<T: ?Sized> {
    permits: Permits,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands `&mut T` to one guard at a time, possibly on another thread.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: sharing the mutex shares only exclusive, serialised access to `T`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Exclusive access to a [`Mutex`]'s value; the lock is released when it is dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// SAFETY: the guard is `&mut T` in disguise; sharing it shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

/// The mutex is held by someone else right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryLockError(());

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            permits: Permits::new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock.
    #[track_caller]
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            at: WaitAt::here(WaitKind::Mutex),
            mutex: self,
            waiter: Waiter::new(0),
            queued: false,
        }
    }

    /// The lock if it is free now and nobody waits for it.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.permits.try_acquire(1) {
            Ok(()) => Ok(MutexGuard { mutex: self }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// The value, through `&mut` (no locking needed: the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &(self.permits.available() == 0))
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit: no other access exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.permits.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The future of [`Mutex::lock`]; its waiter node lives inside it.
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    at: WaitAt,
    waiter: PermitWaiter,
    queued: bool,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        // SAFETY: `waiter` is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: the waiter is pinned in this future, whose `Drop` cancels it while queued.
        let polled = unsafe {
            this.mutex
                .permits
                .poll_acquire(&this.waiter, 1, &mut this.queued, cx, this.at)
        };
        polled.map(|granted| {
            granted.expect("a mutex's permits are never closed");
            MutexGuard { mutex: this.mutex }
        })
    }
}

impl<T: ?Sized> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        if self.queued {
            // SAFETY: queued on this mutex and still in place.
            unsafe { self.mutex.permits.cancel(&self.waiter, 1) };
        }
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("waiting", &self.queued)
            .finish()
    }
}

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the mutex is locked")
    }
}

impl std::error::Error for TryLockError {}
