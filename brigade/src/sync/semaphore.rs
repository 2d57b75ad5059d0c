//! `Semaphore` — .NET's `SemaphoreSlim` (`WaitAsync`, `Wait(0)`, `Release(n)`): a count of
//! permits that tasks take and give back, to bound how many do something at once.
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y1: waiters are served in arrival order, `acquire_many` included: a big request at the
//!   head is not overtaken by small ones behind it (it collects permits as they come back).
//! - Y2: a permit given back while someone waits reaches a waiter.
//! - Y3: an acquire dropped (cancelled) while waiting, or after permits were assigned to it but
//!   before it looked, gives them back: no permit is lost.
//! - Y7: after [`close`](Semaphore::close) every waiting and later acquire fails with
//!   [`AcquireError`]; permits in hand stay valid.
//! - Y9: a ready acquire spends one unit of the task's cooperative budget.
//!
//! The limit is the count you give (at most `usize::MAX >> 3` permits; more panics).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::permits::{PermitWaiter, Permits, TryAcquire, WaitAt};
use super::waiters::Waiter;
use crate::task::WaitKind;

/// A counting semaphore with FIFO waiters (.NET's `SemaphoreSlim`).
///
/// ```
/// use std::sync::Arc;
/// use brigade::sync::Semaphore;
///
/// # brigade::block_on(async {
/// let downloads = Arc::new(Semaphore::new(2)); // at most two at a time
/// let tasks: Vec<_> = (0..6)
///     .map(|i| {
///         let downloads = downloads.clone();
///         brigade::spawn(async move {
///             let _permit = downloads.acquire().await.unwrap();
///             i // ...download while holding the permit...
///         })
///     })
///     .collect();
/// assert_eq!(brigade::when_all(tasks).await.len(), 6);
/// assert_eq!(downloads.available_permits(), 2);
/// # });
/// ```
pub struct Semaphore {
    permits: Permits,
}

/// The semaphore was closed; no permit will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError(());

/// Why [`Semaphore::try_acquire`] got no permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not enough permits now (or others are waiting ahead).
    NoPermits,
    /// The semaphore is closed.
    Closed,
}

impl Semaphore {
    /// The most permits a semaphore holds.
    pub const MAX_PERMITS: usize = super::permits::MAX_PERMITS;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: Permits::new(permits),
        }
    }

    /// Waits for one permit (.NET's `WaitAsync`). Fails once the semaphore is closed.
    #[track_caller]
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits, taken together.
    #[track_caller]
    pub fn acquire_many(&self, n: u32) -> Acquire<'_> {
        Acquire {
            at: WaitAt::here(WaitKind::Semaphore),
            semaphore: self,
            waiter: Waiter::new(0),
            needed: n as usize,
            queued: false,
        }
    }

    /// Waits for one permit that is not tied to a borrow of the semaphore (for moving into a
    /// spawned task).
    ///
    /// ```
    /// use std::sync::Arc;
    /// # brigade::block_on(async {
    /// let limit = Arc::new(brigade::sync::Semaphore::new(1));
    /// let permit = limit.clone().acquire_owned().await.unwrap();
    /// brigade::spawn(async move { drop(permit) }).await;
    /// assert_eq!(limit.available_permits(), 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// `n` permits, owned (see [`acquire_owned`](Self::acquire_owned)).
    #[track_caller]
    pub fn acquire_many_owned(self: Arc<Self>, n: u32) -> AcquireOwned {
        AcquireOwned {
            at: WaitAt::here(WaitKind::Semaphore),
            semaphore: self,
            waiter: Waiter::new(0),
            needed: n as usize,
            queued: false,
        }
    }

    /// One permit if available now and nobody waits ahead (.NET's `Wait(0)`).
    pub fn try_acquire(&self) -> Result<Permit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// `n` permits if available now and nobody waits ahead.
    pub fn try_acquire_many(&self, n: u32) -> Result<Permit<'_>, TryAcquireError> {
        self.permits
            .try_acquire(n as usize)
            .map_err(into_try_error)?;
        Ok(Permit {
            semaphore: self,
            count: n as usize,
        })
    }

    /// One owned permit if available now and nobody waits ahead.
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedPermit, TryAcquireError> {
        self.permits.try_acquire(1).map_err(into_try_error)?;
        Ok(OwnedPermit {
            semaphore: self,
            count: 1,
        })
    }

    /// Adds `n` permits (.NET's `Release(n)`), waking waiters in order.
    ///
    /// # Panics
    /// If the count would exceed [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn add_permits(&self, n: usize) {
        self.permits.release(n);
    }

    /// The permits available now.
    pub fn available_permits(&self) -> usize {
        self.permits.available()
    }

    /// Closes the semaphore: waiting and later acquires fail with [`AcquireError`]. Returns
    /// whether this call closed it.
    pub fn close(&self) -> bool {
        self.permits.close()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.permits.is_closed()
    }
}

fn into_try_error(error: TryAcquire) -> TryAcquireError {
    match error {
        TryAcquire::NoPermits => TryAcquireError::NoPermits,
        TryAcquire::Closed => TryAcquireError::Closed,
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Permits held; given back on drop.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
    count: usize,
}

impl Permit<'_> {
    /// Keeps the permits out of the semaphore for good (they are not given back).
    pub fn forget(mut self) {
        self.count = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.count
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.semaphore.permits.release(self.count);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("count", &self.count)
            .finish()
    }
}

/// Permits held through an `Arc<Semaphore>`; given back on drop.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct OwnedPermit {
    semaphore: Arc<Semaphore>,
    count: usize,
}

impl OwnedPermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.count = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.count
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.semaphore.permits.release(self.count);
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("count", &self.count)
            .finish()
    }
}

/// The future of [`Semaphore::acquire`]; its waiter node lives inside it.
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    semaphore: &'a Semaphore,
    at: WaitAt,
    waiter: PermitWaiter,
    needed: usize,
    queued: bool,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<Permit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `waiter` is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: the waiter is pinned in this future, whose `Drop` cancels it while queued.
        let polled = unsafe {
            this.semaphore.permits.poll_acquire(
                &this.waiter,
                this.needed,
                &mut this.queued,
                cx,
                this.at,
            )
        };
        polled.map(|granted| {
            granted.map_err(|()| AcquireError(()))?;
            Ok(Permit {
                semaphore: this.semaphore,
                count: this.needed,
            })
        })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if self.queued {
            // SAFETY: queued on this semaphore and still in place.
            unsafe { self.semaphore.permits.cancel(&self.waiter, self.needed) };
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("needed", &self.needed)
            .field("waiting", &self.queued)
            .finish()
    }
}

/// The future of [`Semaphore::acquire_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct AcquireOwned {
    semaphore: Arc<Semaphore>,
    at: WaitAt,
    waiter: PermitWaiter,
    needed: usize,
    queued: bool,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedPermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as in `Acquire::poll`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as in `Acquire::poll`.
        let polled = unsafe {
            this.semaphore.permits.poll_acquire(
                &this.waiter,
                this.needed,
                &mut this.queued,
                cx,
                this.at,
            )
        };
        polled.map(|granted| {
            granted.map_err(|()| AcquireError(()))?;
            Ok(OwnedPermit {
                semaphore: this.semaphore.clone(),
                count: this.needed,
            })
        })
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        if self.queued {
            // SAFETY: queued on this semaphore and still in place.
            unsafe { self.semaphore.permits.cancel(&self.waiter, self.needed) };
        }
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("needed", &self.needed)
            .field("waiting", &self.queued)
            .finish()
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the semaphore is closed")
    }
}

impl std::error::Error for AcquireError {}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::NoPermits => f.write_str("no permits available now"),
            TryAcquireError::Closed => f.write_str("the semaphore is closed"),
        }
    }
}

impl std::error::Error for TryAcquireError {}
