//! `RwLock<T>` — an async reader-writer lock: many readers or one writer (.NET's
//! `ReaderWriterLockSlim`, which has no async form; here both waits are futures).
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y8: writer-preferring, no writer starvation: a reader counts one permit and a writer all
//!   [`MAX_READERS`](RwLock::MAX_READERS); waiters are served in arrival order, so once a
//!   writer waits, readers arriving later queue behind it even while other readers hold the
//!   lock. Readers queued together behind a writer are let in together when it leaves.
//! - Y3: a `read()`/`write()` dropped while waiting gives back what it was assigned.
//! - Y9: a ready acquisition spends one unit of the task's cooperative budget.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::permits::{PermitWaiter, Permits, WaitAt};
use super::waiters::Waiter;
use crate::task::WaitKind;

/// An async reader-writer lock, writer-preferring, FIFO.
///
/// ```
/// use brigade::sync::RwLock;
///
/// # brigade::block_on(async {
/// let config = RwLock::new(String::from("v1"));
/// {
///     let a = config.read().await;
///     let b = config.read().await; // readers share
///     assert_eq!(*a, *b);
/// }
/// config.write().await.push_str("-patched");
/// assert_eq!(*config.read().await, "v1-patched");
/// # });
/// ```
pub struct RwLock<T: ?Sized> {
    permits: Permits,
    value: UnsafeCell<T>,
}

// SAFETY: a writer gets `&mut T` (needs `Send`), readers share `&T` across threads (`Sync`).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Shared access; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

/// Exclusive access; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: the read guard is a `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: the write guard is a `&mut T`; sharing it shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// The most readers at once: a writer takes this many permits.
    pub const MAX_READERS: u32 = u32::MAX >> 3;

    /// A new, unlocked lock holding `value`.
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            permits: Permits::new(Self::MAX_READERS as usize),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the lock.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

const ALL: usize = RwLock::<()>::MAX_READERS as usize;

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access (behind any writer already waiting).
    #[track_caller]
    pub fn read(&self) -> Acquire<'_, T, false> {
        Acquire {
            at: WaitAt::here(WaitKind::RwLockRead),
            lock: self,
            waiter: Waiter::new(0),
            queued: false,
        }
    }

    /// Waits for exclusive access.
    #[track_caller]
    pub fn write(&self) -> Acquire<'_, T, true> {
        Acquire {
            at: WaitAt::here(WaitKind::RwLockWrite),
            lock: self,
            waiter: Waiter::new(0),
            queued: false,
        }
    }

    /// Shared access if free now and no writer waits; `None` otherwise.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.permits
            .try_acquire(1)
            .ok()
            .map(|()| RwLockReadGuard { lock: self })
    }

    /// Exclusive access if nobody holds or waits for the lock; `None` otherwise.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.permits
            .try_acquire(ALL)
            .ok()
            .map(|()| RwLockWriteGuard { lock: self })
    }

    /// The value, through `&mut`.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a reader's permit excludes writers (a writer needs every permit).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.permits.release(1);
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer holds every permit: no other access exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.permits.release(ALL);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The future of [`RwLock::read`] (`WRITE = false`) and [`RwLock::write`] (`WRITE = true`);
/// its waiter node lives inside it.
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a, T: ?Sized, const WRITE: bool> {
    lock: &'a RwLock<T>,
    at: WaitAt,
    waiter: PermitWaiter,
    queued: bool,
}

const fn needed(write: bool) -> usize {
    if write {
        ALL
    } else {
        1
    }
}

impl<'a, T: ?Sized> Future for Acquire<'a, T, false> {
    type Output = RwLockReadGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: see `poll_acquire`.
        unsafe { poll_acquire(self, cx) }.map(|lock| RwLockReadGuard { lock })
    }
}

impl<'a, T: ?Sized> Future for Acquire<'a, T, true> {
    type Output = RwLockWriteGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: see `poll_acquire`.
        unsafe { poll_acquire(self, cx) }.map(|lock| RwLockWriteGuard { lock })
    }
}

/// # Safety
/// Sound for any pinned `Acquire`: the waiter is never moved out, and `Drop` cancels it.
unsafe fn poll_acquire<'a, T: ?Sized, const WRITE: bool>(
    acquire: Pin<&mut Acquire<'a, T, WRITE>>,
    cx: &mut Context<'_>,
) -> Poll<&'a RwLock<T>> {
    // SAFETY: `waiter` is structurally pinned (never moved out); the rest is plain data.
    let this = unsafe { acquire.get_unchecked_mut() };
    // SAFETY: the waiter is pinned in this future, whose `Drop` cancels it while queued.
    let polled = unsafe {
        this.lock
            .permits
            .poll_acquire(&this.waiter, needed(WRITE), &mut this.queued, cx, this.at)
    };
    polled.map(|granted| {
        granted.expect("a lock's permits are never closed");
        this.lock
    })
}

impl<T: ?Sized, const WRITE: bool> Drop for Acquire<'_, T, WRITE> {
    fn drop(&mut self) {
        if self.queued {
            // SAFETY: queued on this lock and still in place.
            unsafe { self.lock.permits.cancel(&self.waiter, needed(WRITE)) };
        }
    }
}

impl<T: ?Sized, const WRITE: bool> fmt::Debug for Acquire<'_, T, WRITE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(if WRITE { "Write" } else { "Read" })
            .field("waiting", &self.queued)
            .finish()
    }
}
