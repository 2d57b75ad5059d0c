//! `Promise<T>`: a result set by hand — .NET's `TaskCompletionSource<T>` (seed section 3's
//! `SetResult`, without a future behind it).
//!
//! `Promise::new()` gives the two halves: the [`Promise`] (cloneable; any holder may set the
//! value) and the [`PromiseTask`] (awaited by exactly one awaiter; for many, spawn a task that
//! awaits it and share what it yields).
//!
//! # Invariants (S8)
//! - The first `set` wins; later ones get their value back in `Err(AlreadySet(value))`.
//! - When the last `Promise` clone is dropped unset, the awaiter gets `Err(Abandoned)` instead of
//!   waiting forever.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

enum Slot<T> {
    /// Not set yet; the awaiter's waker, if it has polled.
    Empty(Option<Waker>),
    Set(T),
    /// The value was handed to the awaiter.
    Taken,
    /// Every promise was dropped unset.
    Abandoned,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    /// Live `Promise` clones, to notice abandonment when the last one goes.
    producers: AtomicUsize,
    /// Where the promise was made: what the task dump shows for a task awaiting it.
    created_at: &'static std::panic::Location<'static>,
}

impl<T> Shared<T> {
    /// Moves an empty slot to `outcome` (set or abandoned) and wakes the awaiter; gives
    /// `outcome` back if the slot was no longer empty.
    fn resolve(&self, outcome: Slot<T>) -> Result<(), Slot<T>> {
        let waker = {
            let mut slot = self.lock();
            let Slot::Empty(waker) = &mut *slot else {
                return Err(outcome);
            };
            let waker = waker.take();
            *slot = outcome;
            waker
        };
        // Wake outside the lock: the awaiter may run at once on another thread and lock it.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // No user code runs under the lock except `Waker::wake`, which is outside it; recover
        // from poisoning anyway rather than turning one panic into many.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The setting half of a promise (TaskCompletionSource). Clone it to give several producers a
/// chance to set it; the first wins.
///
/// ```
/// # brigade::block_on(async {
/// let (promise, answer) = brigade::Promise::<u32>::new();
/// std::thread::spawn(move || promise.set(42)); // any thread may set it
/// assert_eq!(answer.await.unwrap(), 42);
///
/// let (promise, never) = brigade::Promise::<u32>::new();
/// drop(promise); // dropped unset: the awaiter gets an error, not a hang
/// assert!(never.await.is_err());
/// # });
/// ```
pub struct Promise<T> {
    shared: Arc<Shared<T>>,
}

/// The awaiting half of a promise: resolves to the value, or to [`Abandoned`] when every
/// [`Promise`] was dropped without setting it.
#[must_use = "futures do nothing unless awaited"]
pub struct PromiseTask<T> {
    shared: Arc<Shared<T>>,
}

/// The promise had already been set; the rejected value is given back.
#[derive(PartialEq, Eq)]
pub struct AlreadySet<T>(pub T);

/// Every [`Promise`] was dropped without setting a value, so none will ever come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abandoned;

impl<T> Promise<T> {
    /// A new, unset promise and the future that resolves when it is set.
    #[allow(clippy::new_ret_no_self)]
    #[track_caller]
    pub fn new() -> (Promise<T>, PromiseTask<T>) {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::Empty(None)),
            producers: AtomicUsize::new(1),
            created_at: std::panic::Location::caller(),
        });
        (
            Promise {
                shared: shared.clone(),
            },
            PromiseTask { shared },
        )
    }

    /// Sets the value and wakes the awaiter. Fails, giving the value back, if it was already set.
    pub fn set(&self, value: T) -> Result<(), AlreadySet<T>> {
        self.shared
            .resolve(Slot::Set(value))
            .map_err(|rejected| match rejected {
                Slot::Set(value) => AlreadySet(value),
                _ => unreachable!("resolve gives back what it was given"),
            })
    }

    /// Whether a value has been set (it may already have been taken by the awaiter).
    pub fn is_set(&self) -> bool {
        !matches!(&*self.shared.lock(), Slot::Empty(_))
    }
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        // Relaxed: like `Arc::clone`, the caller already holds a producer, so the count cannot
        // reach zero concurrently.
        self.shared.producers.fetch_add(1, Ordering::Relaxed);
        Promise {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        // The last producer leaving an unset promise abandons it. AcqRel so the last one sees
        // every other producer's `set` (which happen under the lock anyway).
        if self.shared.producers.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // Already set (or taken): nothing is abandoned.
        let _ = self.shared.resolve(Slot::Abandoned);
    }
}

impl<T> Future for PromiseTask<T> {
    type Output = Result<T, Abandoned>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock();
        match &mut *slot {
            Slot::Empty(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                let created_at = Some(self.shared.created_at);
                super::wait::record(super::WaitKind::Promise, created_at, 0, 0);
                Poll::Pending
            }
            Slot::Set(_) => match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Set(value) => Poll::Ready(Ok(value)),
                _ => unreachable!(),
            },
            Slot::Abandoned => Poll::Ready(Err(Abandoned)),
            Slot::Taken => panic!("a PromiseTask was polled again after it returned its value"),
        }
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl<T> fmt::Debug for PromiseTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromiseTask").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for AlreadySet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlreadySet(..)")
    }
}

impl<T> fmt::Display for AlreadySet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the promise was already set; the first value wins")
    }
}

impl<T> std::error::Error for AlreadySet<T> {}

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the promise was abandoned: every Promise was dropped without setting a value")
    }
}

impl std::error::Error for Abandoned {}
