//! The one waiter list every primitive in `brigade::sync` queues its waiting futures on.
//!
//! .NET's `SemaphoreSlim` and the channels keep a linked list of `TaskCompletionSource`
//! objects, one allocated per wait. Here the node is a field of the waiting future itself (the
//! timer wheel does the same with its entries), so a wait allocates nothing: the list links
//! nodes that live wherever the futures live, and every node is pinned while it is linked.
//!
//! # Protocol
//! ```text
//!   Idle ──push_back──▶ Queued ──pop_front (the primitive hands it something)──▶ Woken
//!    ▲                    │                                                       │
//!    └──────remove────────┘◀──────────────── the owner takes its payload ─────────┘
//! ```
//! - Every field of a node (links, state, waker, payload) is guarded by the primitive's lock;
//!   the list is only touched under that lock. That is what makes the raw pointers sound.
//! - A node is linked only while `Queued`; its owner unlinks it (or finds it `Woken`) under the
//!   lock before it goes away, so the list never points at freed memory.
//! - `pop_front` moves the node to `Woken` and takes its waker; the waker is called after the
//!   lock is released ([`WakeBatch`]), because the woken task may run at once and lock too.
//! - What was handed over (a value, permits) sits in the node's payload until its owner takes
//!   it; an owner dropped while `Woken` gives it back to the primitive (no lost value, Y3).
//!
//! # Waits that are only woken
//! Broadcast's `recv` and watch's `changed` are handed nothing: a send or a close wakes every
//! waiter ([`WaitList::wake_all`]) and each re-checks the shared state itself. [`WakeOnlyWait`]
//! is that waiting side: the node plus whether it is linked, re-armed on every poll that finds
//! it still queued, unlinked by its owner's `Drop`.

use std::marker::PhantomPinned;
use std::ptr::NonNull;
use std::task::Waker;

use crate::loom::cell::UnsafeCell;

/// Where a node is in the protocol (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitState {
    /// In no list and nothing handed over: never queued, removed, or already taken.
    Idle,
    /// Linked into a list, waiting.
    Queued,
    /// Unlinked by the primitive, which handed over what the payload now holds.
    Woken,
}

/// The lock-guarded fields of a node.
pub(crate) struct Node<P> {
    prev: Option<NonNull<Waiter<P>>>,
    next: Option<NonNull<Waiter<P>>>,
    pub(crate) state: WaitState,
    pub(crate) waker: Option<Waker>,
    /// What the primitive needs per waiter: permits still wanted, a value to send, a value
    /// received.
    pub(crate) payload: P,
}

/// A waiter node, embedded in a waiting future. It must not move while `Queued`: the futures
/// that hold one are `!Unpin`.
pub(crate) struct Waiter<P> {
    node: UnsafeCell<Node<P>>,
    _pinned: PhantomPinned,
}

// SAFETY: every field is reached only under the owning primitive's lock (or by the owner while
// the node is in no list, which the protocol makes exclusive); the payload and waker are moved
// across threads, so `P: Send` is required.
unsafe impl<P: Send> Send for Waiter<P> {}
// SAFETY: as above: shared access never touches the cell without the lock.
unsafe impl<P: Send> Sync for Waiter<P> {}

impl<P> Waiter<P> {
    pub(crate) fn new(payload: P) -> Waiter<P> {
        Waiter {
            node: UnsafeCell::new(Node {
                prev: None,
                next: None,
                state: WaitState::Idle,
                waker: None,
                payload,
            }),
            _pinned: PhantomPinned,
        }
    }

    /// Runs `f` on the node's fields.
    ///
    /// # Safety
    /// The caller holds the lock of the primitive this node queues on (or the node is `Idle`
    /// and reachable only by its owner), and does not re-enter this node inside `f`.
    pub(crate) unsafe fn with<R>(&self, f: impl FnOnce(&mut Node<P>) -> R) -> R {
        // SAFETY: exclusivity is the caller's promise.
        self.node.with_mut(|node| f(unsafe { &mut *node }))
    }

    /// Stores (or refreshes) the waker the owner wants to be woken with.
    ///
    /// # Safety
    /// As [`with`](Self::with).
    pub(crate) unsafe fn set_waker(&self, waker: &Waker) {
        // SAFETY: forwarded.
        unsafe {
            self.with(|node| match &mut node.waker {
                Some(old) if old.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            })
        }
    }
}

/// A FIFO intrusive list of waiters (head = oldest).
pub(crate) struct WaitList<P> {
    head: Option<NonNull<Waiter<P>>>,
    tail: Option<NonNull<Waiter<P>>>,
    len: usize,
}

// SAFETY: the list is only used under its primitive's lock; the nodes are `Send + Sync`.
unsafe impl<P: Send> Send for WaitList<P> {}
// SAFETY: as above.
unsafe impl<P: Send> Sync for WaitList<P> {}

impl<P> Default for WaitList<P> {
    fn default() -> Self {
        WaitList {
            head: None,
            tail: None,
            len: 0,
        }
    }
}

impl<P> WaitList<P> {
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The oldest waiter, still linked.
    pub(crate) fn front(&self) -> Option<NonNull<Waiter<P>>> {
        self.head
    }

    /// Links `waiter` at the back, `Queued`, with `waker`.
    ///
    /// # Safety
    /// The caller holds the lock guarding this list; `waiter` is `Idle`, pinned, and stays
    /// alive until it is unlinked (`remove` or `pop_front`).
    pub(crate) unsafe fn push_back(&mut self, waiter: NonNull<Waiter<P>>, waker: &Waker) {
        let tail = self.tail;
        // SAFETY: the lock guards every node's fields; `waiter` is alive (caller).
        unsafe {
            waiter.as_ref().with(|node| {
                debug_assert_eq!(node.state, WaitState::Idle);
                node.prev = tail;
                node.next = None;
                node.state = WaitState::Queued;
            });
            waiter.as_ref().set_waker(waker);
            match tail {
                Some(tail) => tail.as_ref().with(|node| node.next = Some(waiter)),
                None => self.head = Some(waiter),
            }
        }
        self.tail = Some(waiter);
        self.len += 1;
    }

    /// Unlinks `waiter` if it is `Queued` here (it becomes `Idle`); returns whether it was.
    ///
    /// # Safety
    /// The caller holds the lock; `waiter` is alive and either in this list or in none.
    pub(crate) unsafe fn remove(&mut self, waiter: NonNull<Waiter<P>>) -> bool {
        // SAFETY: the lock guards the links; linked neighbours are alive (owners unlink first).
        unsafe {
            let (prev, next) = match waiter.as_ref().with(|node| {
                if node.state != WaitState::Queued {
                    return None;
                }
                node.state = WaitState::Idle;
                Some((node.prev.take(), node.next.take()))
            }) {
                Some(links) => links,
                None => return false,
            };
            self.splice(prev, next);
        }
        true
    }

    /// Unlinks the oldest waiter, marks it `Woken` and gives back its pointer and its waker.
    /// The caller puts what it hands over into the payload before releasing the lock.
    ///
    /// # Safety
    /// The caller holds the lock.
    pub(crate) unsafe fn pop_front(&mut self) -> Option<(NonNull<Waiter<P>>, Option<Waker>)> {
        let head = self.head?;
        // SAFETY: `head` is linked, hence alive; the lock guards it.
        let (next, waker) = unsafe {
            head.as_ref().with(|node| {
                node.state = WaitState::Woken;
                node.prev = None;
                (node.next.take(), node.waker.take())
            })
        };
        // SAFETY: as above.
        unsafe { self.splice(None, next) };
        Some((head, waker))
    }

    /// Joins `prev` and `next` around a node just taken out.
    ///
    /// # Safety
    /// The caller holds the lock; `prev` and `next` are linked in this list.
    unsafe fn splice(
        &mut self,
        prev: Option<NonNull<Waiter<P>>>,
        next: Option<NonNull<Waiter<P>>>,
    ) {
        // SAFETY: linked neighbours are alive; the lock guards them.
        unsafe {
            match prev {
                Some(prev) => prev.as_ref().with(|node| node.next = next),
                None => self.head = next,
            }
            match next {
                Some(next) => next.as_ref().with(|node| node.prev = prev),
                None => self.tail = prev,
            }
        }
        self.len -= 1;
    }
}

impl<P> WaitList<P> {
    /// Wakes every waiter queued when called (as many as [`len`](Self::len) says then),
    /// calling the wakers with the lock released: `guard` holds the lock, `list` finds this
    /// list in it, and `relock` takes the lock again after each full [`WakeBatch`].
    ///
    /// # Safety
    /// `guard` is the lock guarding the list `list` returns, and `relock` takes that same lock.
    pub(crate) unsafe fn wake_all<G>(
        mut guard: G,
        list: impl Fn(&mut G) -> &mut WaitList<P>,
        relock: impl Fn() -> G,
    ) {
        let mut batch = WakeBatch::new();
        let mut remaining = list(&mut guard).len();
        while remaining > 0 {
            // SAFETY: under the lock (caller).
            let Some((_, waker)) = (unsafe { list(&mut guard).pop_front() }) else {
                break;
            };
            remaining -= 1;
            batch.push(waker);
            if batch.is_full() {
                drop(guard);
                batch.wake_all();
                guard = relock();
            }
        }
        drop(guard);
        batch.wake_all();
    }
}

/// A wait that is handed nothing, only woken (see the module docs): a node and whether it is
/// linked. Embedded in a future, which must not move it while it is queued (the type is
/// `!Unpin`) and must [`cancel`](Self::cancel) it in its `Drop`.
pub(crate) struct WakeOnlyWait {
    waiter: Waiter<()>,
    queued: bool,
}

impl WakeOnlyWait {
    pub(crate) fn new() -> WakeOnlyWait {
        WakeOnlyWait {
            waiter: Waiter::new(()),
            queued: false,
        }
    }

    /// Whether the node is (or was, until a wake not yet seen by a poll) linked.
    pub(crate) fn is_queued(&self) -> bool {
        self.queued
    }

    /// On a poll: whether this wait is still queued. If so its waker is refreshed to `waker`
    /// and the caller returns `Pending`; if not (woken, or never queued) the caller checks its
    /// condition, and [`enqueue`](Self::enqueue)s again if it must wait on.
    ///
    /// # Safety
    /// The caller holds the lock of the list this wait was queued on.
    pub(crate) unsafe fn still_queued(&mut self, waker: &Waker) -> bool {
        if !self.queued {
            return false;
        }
        // SAFETY: under the lock (caller); the node is ours.
        let still_queued = unsafe {
            self.waiter.with(|node| {
                if node.state == WaitState::Queued {
                    if !node.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        node.waker = Some(waker.clone());
                    }
                    return true;
                }
                node.state = WaitState::Idle;
                false
            })
        };
        if !still_queued {
            self.queued = false;
        }
        still_queued
    }

    /// Links this wait at the back of `list`, with `waker`.
    ///
    /// # Safety
    /// The caller holds the lock guarding `list`; this wait is not queued (a
    /// [`still_queued`](Self::still_queued) just said so), is pinned, and its owner calls
    /// [`cancel`](Self::cancel) with the same list before it moves or goes away.
    pub(crate) unsafe fn enqueue(&mut self, list: &mut WaitList<()>, waker: &Waker) {
        // SAFETY: the caller's promises are `push_back`'s: under the lock, `Idle`, pinned,
        // removed before it goes away.
        unsafe { list.push_back(NonNull::from(&self.waiter), waker) };
        self.queued = true;
    }

    /// Unlinks this wait from `list` if a wake has not already done so (a wake hands nothing
    /// over, so nothing is given back). Check [`is_queued`](Self::is_queued) first to skip the
    /// lock when it was never queued.
    ///
    /// # Safety
    /// The caller holds the lock guarding `list`, the list this wait was queued on.
    pub(crate) unsafe fn cancel(&mut self, list: &mut WaitList<()>) {
        // SAFETY: under the lock (caller); the node is alive and in this list or in none.
        unsafe { list.remove(NonNull::from(&self.waiter)) };
        self.queued = false;
    }
}

/// Wakers collected under a lock, woken after it is released. Holds up to [`WakeBatch::CAP`];
/// callers that may wake more release the lock, wake, and lock again when it is full.
pub(crate) struct WakeBatch {
    wakers: [Option<Waker>; WakeBatch::CAP],
    len: usize,
}

impl WakeBatch {
    pub(crate) const CAP: usize = 32;

    pub(crate) fn new() -> WakeBatch {
        WakeBatch {
            wakers: std::array::from_fn(|_| None),
            len: 0,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == Self::CAP
    }

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            debug_assert!(!self.is_full());
            self.wakers[self.len] = Some(waker);
            self.len += 1;
        }
    }

    /// Wakes everything collected. Call it with no lock held.
    pub(crate) fn wake_all(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
        self.len = 0;
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        self.wake_all();
    }
}
