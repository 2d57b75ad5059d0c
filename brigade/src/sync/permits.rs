//! The permit counter under [`Semaphore`](super::Semaphore), [`Mutex`](super::Mutex),
//! [`RwLock`](super::RwLock) and [`OnceCell`](super::OnceCell): `SemaphoreSlim`'s count and
//! its queue of waiters, served strictly in arrival order.
//!
//! # The word
//! `available << 2 | WAITERS | CLOSED`, in one atomic. The uncontended paths are one CAS:
//! acquire while nobody waits and enough permits are there; release while nobody waits.
//! Everything else happens under the waiter lock.
//!
//! # Invariants
//! - `WAITERS` is set exactly while the list is non-empty (changed only under the lock), and
//!   then `available` is 0: a release under the lock gives its permits to the oldest waiters
//!   first, and an acquirer queueing takes what is available toward its need. So a newcomer
//!   never overtakes a waiter (FIFO, Y1), also for `acquire_many` (permits accumulate in the
//!   head waiter's node until it has all it asked for).
//! - A waiter's payload is the number of permits it still needs; `needed - payload` are
//!   assigned to it. A waiter that goes away gives back what it was assigned, or all of it if
//!   it was granted and never looked (Y3): no permit is lost.
//! - After close every acquire fails; permits released after it still count (harmless).

use std::ptr::NonNull;
use std::sync::PoisonError;
use std::task::{ready, Context, Poll};

use super::waiters::{WaitList, WaitState, Waiter, WakeBatch};
use crate::coop;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};

const CLOSED: usize = 1;
const WAITERS: usize = 2;
const SHIFT: u32 = 2;

/// The most permits a counter holds: `usize::MAX >> 3` (the word also carries two flags).
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

/// Why an acquire without waiting failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryAcquire {
    NoPermits,
    Closed,
}

pub(crate) type PermitWaiter = Waiter<usize>;

pub(crate) struct Permits {
    word: AtomicUsize,
    waiters: Mutex<WaitList<usize>>,
}

impl Permits {
    pub(crate) fn new(permits: usize) -> Permits {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits (asked for {permits})"
        );
        Permits {
            word: AtomicUsize::new(permits << SHIFT),
            waiters: Mutex::new(WaitList::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, WaitList<usize>> {
        // No user code runs under this lock; a poisoned one still holds a consistent list.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn available(&self) -> usize {
        self.word.load(Ordering::Acquire) >> SHIFT
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.word.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Takes `n` permits if nobody waits and enough are there.
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryAcquire> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & CLOSED != 0 {
                return Err(TryAcquire::Closed);
            }
            if word & WAITERS != 0 || word >> SHIFT < n {
                return Err(TryAcquire::NoPermits);
            }
            match self.word.compare_exchange_weak(
                word,
                word - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => word = actual,
            }
        }
    }

    /// Gives `n` permits back: to the oldest waiters first, the rest to the counter.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut word = self.word.load(Ordering::Acquire);
        while word & WAITERS == 0 {
            assert!(
                (word >> SHIFT) + n <= MAX_PERMITS,
                "a semaphore holds at most {MAX_PERMITS} permits"
            );
            match self.word.compare_exchange_weak(
                word,
                word + (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
        let mut batch = WakeBatch::new();
        let list = self.lock();
        self.release_locked(n, list, &mut batch);
    }

    /// The release path under the lock; wakes granted waiters (dropping the lock to wake when
    /// more than a batch is granted).
    fn release_locked<'a>(
        &'a self,
        mut n: usize,
        mut list: MutexGuard<'a, WaitList<usize>>,
        batch: &mut WakeBatch,
    ) {
        while n > 0 {
            let Some(head) = list.front() else { break };
            // SAFETY: we hold the lock; linked nodes are alive.
            let granted = unsafe {
                head.as_ref().with(|node| {
                    let given = node.payload.min(n);
                    node.payload -= given;
                    n -= given;
                    node.payload == 0
                })
            };
            if !granted {
                break; // n is 0: all of it went to the head, which still needs more
            }
            // SAFETY: under the lock.
            let (_, waker) = unsafe { list.pop_front() }.expect("the head was just seen");
            batch.push(waker);
            if batch.is_full() {
                drop(list);
                batch.wake_all();
                list = self.lock();
            }
        }
        if list.is_empty() {
            // Nobody waits (any more): clear the flag and bank the rest, in one step.
            let mut word = self.word.load(Ordering::Acquire);
            loop {
                assert!(
                    (word >> SHIFT) + n <= MAX_PERMITS,
                    "a semaphore holds at most {MAX_PERMITS} permits"
                );
                let new = (word & !WAITERS) + (n << SHIFT);
                match self.word.compare_exchange_weak(
                    word,
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => word = actual,
                }
            }
        }
        drop(list);
        batch.wake_all();
    }

    /// Closes: every waiting and future acquire fails. Returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut batch = WakeBatch::new();
        let mut list = self.lock();
        let previous = self.word.fetch_or(CLOSED, Ordering::AcqRel);
        loop {
            // SAFETY: under the lock; closed waiters keep a non-zero payload (not granted).
            let Some((_, waker)) = (unsafe { list.pop_front() }) else {
                break;
            };
            batch.push(waker);
            if batch.is_full() {
                drop(list);
                batch.wake_all();
                list = self.lock();
            }
        }
        self.word.fetch_and(!WAITERS, Ordering::AcqRel);
        drop(list);
        previous & CLOSED == 0
    }

    /// One poll of an acquire of `needed` permits through `waiter`. `Ok` when granted,
    /// `Err(())` when closed.
    ///
    /// # Safety
    /// `waiter` stays pinned and alive while `*queued`, and its owner calls
    /// [`cancel`](Self::cancel) before dropping it queued.
    pub(crate) unsafe fn poll_acquire(
        &self,
        waiter: &PermitWaiter,
        needed: usize,
        queued: &mut bool,
        cx: &mut Context<'_>,
        site: WaitAt,
    ) -> Poll<Result<(), ()>> {
        let node = NonNull::from(waiter);
        if *queued {
            let list = self.lock();
            // SAFETY: under the lock.
            let outcome = unsafe {
                node.as_ref().with(|node| match node.state {
                    WaitState::Queued => {
                        if !node.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            node.waker = Some(cx.waker().clone());
                        }
                        None
                    }
                    WaitState::Woken | WaitState::Idle => {
                        node.state = WaitState::Idle;
                        Some(node.payload)
                    }
                })
            };
            return match outcome {
                None => {
                    site.record(needed);
                    Poll::Pending
                }
                Some(still_needed) => {
                    *queued = false;
                    drop(list);
                    if still_needed == 0 {
                        Poll::Ready(Ok(()))
                    } else {
                        // Woken by close: give back what was assigned before it closed.
                        self.release(needed - still_needed);
                        Poll::Ready(Err(()))
                    }
                }
            };
        }
        let spend = ready!(coop::poll_proceed(cx));
        match self.try_acquire(needed) {
            Ok(()) => {
                spend.made_progress();
                return Poll::Ready(Ok(()));
            }
            Err(TryAcquire::Closed) => return Poll::Ready(Err(())),
            Err(TryAcquire::NoPermits) => {}
        }
        let mut list = self.lock();
        let mut remaining = needed;
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & CLOSED != 0 {
                drop(list);
                self.release(needed - remaining);
                return Poll::Ready(Err(()));
            }
            let take = (word >> SHIFT).min(remaining);
            let mut new = word - (take << SHIFT);
            if take < remaining {
                new |= WAITERS;
            }
            match self
                .word
                .compare_exchange_weak(word, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    remaining -= take;
                    break;
                }
                Err(actual) => word = actual,
            }
        }
        if remaining == 0 {
            spend.made_progress();
            return Poll::Ready(Ok(()));
        }
        // SAFETY: under the lock; the node is `Idle` and pinned (caller), removed before it dies.
        unsafe {
            node.as_ref().with(|node| node.payload = remaining);
            list.push_back(node, cx.waker());
        }
        *queued = true;
        site.record(needed);
        Poll::Pending
    }

    /// An acquire going away while queued or granted-but-unseen: out of the list, and whatever
    /// was assigned to it goes back (to the next waiters first).
    ///
    /// # Safety
    /// As [`poll_acquire`](Self::poll_acquire); call only while `queued` was true.
    pub(crate) unsafe fn cancel(&self, waiter: &PermitWaiter, needed: usize) {
        let node = NonNull::from(waiter);
        let mut batch = WakeBatch::new();
        let mut list = self.lock();
        // SAFETY: under the lock; the node is ours.
        let still_needed = unsafe {
            list.remove(node);
            node.as_ref().with(|node| {
                node.state = WaitState::Idle;
                node.payload
            })
        };
        let assigned = needed - still_needed;
        if list.is_empty() && self.word.load(Ordering::Acquire) & WAITERS != 0 {
            self.word.fetch_and(!WAITERS, Ordering::AcqRel);
        }
        if assigned > 0 {
            if list.is_empty() {
                self.word.fetch_add(assigned << SHIFT, Ordering::AcqRel);
            } else {
                self.release_locked(assigned, list, &mut batch);
                return;
            }
        }
        // A waiter removed with nothing assigned frees nothing: while others wait nothing is
        // banked (invariant), so the next waiter cannot be served by its leaving.
        drop(list);
    }
}

/// What an acquire records as its task's wait while it is queued (`task::wait`): the kind of
/// primitive and where the acquiring future was made.
#[derive(Clone, Copy)]
pub(crate) struct WaitAt {
    pub(crate) kind: crate::task::WaitKind,
    pub(crate) location: &'static std::panic::Location<'static>,
}

impl WaitAt {
    /// The caller of the `#[track_caller]` function that calls this.
    #[track_caller]
    pub(crate) fn here(kind: crate::task::WaitKind) -> WaitAt {
        WaitAt {
            kind,
            location: std::panic::Location::caller(),
        }
    }

    fn record(self, permits: usize) {
        crate::task::record_wait(self.kind, Some(self.location), permits as u64, 0);
    }
}
