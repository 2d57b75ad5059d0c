//! `OnceCell<T>` — a value initialised once, by an async initialiser: .NET's `AsyncLazy<T>`
//! (`new Lazy<Task<T>>(...)`), except that a failed or cancelled initialisation lets the next
//! caller try instead of caching the failure.
//!
//! # Invariants (docs/SEMANTICS.md)
//! - Y11: at most one initialiser runs at a time; callers arriving meanwhile wait (FIFO) and
//!   then see its value. Once set, the value never changes and reads take no lock.
//! - Y3: an initialiser that is dropped (its caller cancelled) or fails hands the job to the
//!   next waiting caller.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;

use super::Semaphore;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cell set once, possibly by an async initialiser.
///
/// ```
/// use brigade::sync::OnceCell;
///
/// static CONFIG: std::sync::OnceLock<OnceCell<String>> = std::sync::OnceLock::new();
///
/// # brigade::block_on(async {
/// let cell = CONFIG.get_or_init(OnceCell::new);
/// let value = cell.get_or_init(|| async { "loaded".to_string() }).await;
/// assert_eq!(value, "loaded");
/// // Later callers get the same value without running their initialiser.
/// assert_eq!(cell.get_or_init(|| async { unreachable!() }).await, "loaded");
/// # });
/// ```
pub struct OnceCell<T> {
    ready: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
    /// One permit: the right to initialise. Closed once the value is set.
    init: Semaphore,
}

// SAFETY: the value is written once, by the holder of the only permit, before `ready` is
// published (Release); after that it is only read. Sharing needs `Sync`, moving needs `Send`.
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for OnceCell<T> {}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub fn new() -> OnceCell<T> {
        OnceCell {
            ready: AtomicBool::new(false),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            init: Semaphore::new(1),
        }
    }

    /// A cell already holding `value`.
    pub fn new_with(value: T) -> OnceCell<T> {
        let cell = OnceCell::new();
        let _ = cell.set(value);
        cell
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        if self.ready.load(Ordering::Acquire) {
            // SAFETY: `ready` (Acquire) says the write finished; the value never changes again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// Sets the value if nothing set it and no initialiser is running; otherwise gives it back.
    pub fn set(&self, value: T) -> Result<(), T> {
        match self.init.try_acquire() {
            Ok(permit) => {
                permit.forget();
                // SAFETY: we hold the only permit and it was never given back after a set.
                unsafe { self.publish(value) };
                Ok(())
            }
            Err(_) => Err(value),
        }
    }

    /// The value, running `init` to produce it if it is not set. Concurrent callers wait for
    /// the running initialiser (Y11); if it is cancelled, the next caller runs its own.
    pub async fn get_or_init<F, Fut>(&self, init: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        match self
            .get_or_try_init(|| async { Ok::<T, std::convert::Infallible>(init().await) })
            .await
        {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_init`](Self::get_or_init), but the initialiser may fail: the error comes
    /// back to this caller and the next waiting caller tries again.
    pub async fn get_or_try_init<E, F, Fut>(&self, init: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.get() {
            return Ok(value);
        }
        let Ok(permit) = self.init.acquire().await else {
            // Closed: the value is set.
            return Ok(self
                .get()
                .expect("the init semaphore closes only once the value is set"));
        };
        // If `init` fails or this future is dropped, the permit goes back to the next caller.
        let value = init().await?;
        permit.forget();
        // SAFETY: we hold the only permit; it is never given back after a set.
        unsafe { self.publish(value) };
        Ok(self.get().expect("just set"))
    }

    /// # Safety
    /// The caller holds (and forgets) the only init permit.
    unsafe fn publish(&self, value: T) {
        // SAFETY: the permit makes this the only writer, and no reader looks before `ready`.
        unsafe { (*self.value.get()).write(value) };
        self.ready.store(true, Ordering::Release);
        self.init.close(); // waiters wake and find the value
    }

    /// The value, consuming the cell.
    pub fn into_inner(mut self) -> Option<T> {
        if std::mem::replace(self.ready.get_mut(), false) {
            // SAFETY: set, and `ready` is now false so `Drop` will not drop it again.
            Some(unsafe { (*self.value.get()).assume_init_read() })
        } else {
            None
        }
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        OnceCell::new()
    }
}

impl<T> Drop for OnceCell<T> {
    fn drop(&mut self) {
        if *self.ready.get_mut() {
            // SAFETY: set, and dropped once (here).
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OnceCell").field(&self.get()).finish()
    }
}
