//! The shared state of one channel and its named transitions, all under one lock.
//!
//! # Invariants
//! - Receivers wait only while the queue is empty; senders wait only while it is full (Wait
//!   mode). So a send that finds a waiting receiver hands its value straight to the oldest one,
//!   and a receive from a full queue moves the oldest waiting sender's value in behind the rest:
//!   messages keep their order and both sides are served first come, first served (Y1).
//! - A value handed to a receiver sits in that receiver's node until it takes it. A receiver
//!   that goes away first gives it to the next waiting receiver, or back to the *front* of the
//!   queue (the queue may then briefly hold `capacity + 1`): nothing accepted is lost (Y3).
//! - After close no send succeeds; waiting senders get their values back; receivers drain what
//!   is queued and then see the end (Y4).
//! - No user code runs under the lock: wakers and dropped values are released after it.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::PoisonError;
use std::task::Waker;

use super::error::{TryRecvError, TrySendError};
use super::FullMode;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};
use crate::sync::waiters::{WaitList, WaitState, Waiter, WakeBatch};

/// A waiter node carrying an optional value: a sender's value to deliver, or a value delivered
/// to a receiver.
pub(super) type Slot<T> = Waiter<Option<T>>;

pub(super) struct State<T> {
    queue: VecDeque<T>,
    closed: bool,
    pub(super) receivers_waiting: WaitList<Option<T>>,
    pub(super) senders_waiting: WaitList<Option<T>>,
}

pub(super) struct Chan<T> {
    state: Mutex<State<T>>,
    /// `usize::MAX` when unbounded.
    capacity: usize,
    mode: FullMode,
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

/// What a send did with its value.
pub(super) enum Sent<T> {
    /// Queued or handed to a receiver (or dropped by a drop mode, which counts as written).
    Done,
    /// Full in Wait mode: the sender waits; its node is queued.
    Waiting,
    Closed(T),
}

impl<T> Chan<T> {
    pub(super) fn new(capacity: usize, mode: FullMode) -> Chan<T> {
        Chan {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(capacity.min(1024)),
                closed: false,
                receivers_waiting: WaitList::default(),
                senders_waiting: WaitList::default(),
            }),
            capacity,
            mode,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under the lock, so a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        (self.capacity != usize::MAX).then_some(self.capacity)
    }

    pub(super) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Tries to write `value` without waiting. `Err(Full(value))` only in Wait mode.
    pub(super) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut dropped = None;
        let mut woken = None;
        let result = {
            let mut state = self.lock();
            self.send_locked(&mut state, value, &mut dropped, &mut woken)
        };
        drop(dropped);
        if let Some(waker) = woken {
            waker.wake();
        }
        result
    }

    /// A send under the lock; `dropped` receives a value a drop mode discarded, `woken` the
    /// waker of a receiver that was handed the value.
    fn send_locked(
        &self,
        state: &mut State<T>,
        value: T,
        dropped: &mut Option<T>,
        woken: &mut Option<Waker>,
    ) -> Result<(), TrySendError<T>> {
        if state.closed {
            return Err(TrySendError::Closed(value));
        }
        // SAFETY: we hold the lock guarding the list and its nodes.
        if let Some((receiver, waker)) = unsafe { state.receivers_waiting.pop_front() } {
            // SAFETY: as above; a popped node stays alive until its owner sees `Woken`, which
            // needs this lock.
            unsafe { receiver.as_ref().with(|node| node.payload = Some(value)) };
            *woken = waker;
            return Ok(());
        }
        if state.queue.len() < self.capacity {
            state.queue.push_back(value);
            return Ok(());
        }
        match self.mode {
            FullMode::Wait => return Err(TrySendError::Full(value)),
            FullMode::DropOldest => *dropped = state.queue.pop_front(),
            FullMode::DropNewest => *dropped = state.queue.pop_back(),
            FullMode::DropWrite => {
                *dropped = Some(value);
                return Ok(());
            }
        }
        state.queue.push_back(value);
        Ok(())
    }

    /// A waiting send: the value is in `slot`'s payload. Under the lock, either it is written,
    /// or the slot is queued with `waker`.
    ///
    /// # Safety
    /// `slot` is pinned, `Idle`, and its owner removes it (`cancel_send`) before it goes away.
    pub(super) unsafe fn start_send(&self, slot: NonNull<Slot<T>>, waker: &Waker) -> Sent<T> {
        let mut dropped = None;
        let mut woken = None;
        let sent = {
            let mut state = self.lock();
            // SAFETY: the slot is `Idle`: only its owner (us) touches it.
            let value = unsafe { slot.as_ref().with(|node| node.payload.take()) }
                .expect("a send future holds its value until it is written");
            match self.send_locked(&mut state, value, &mut dropped, &mut woken) {
                Ok(()) => Sent::Done,
                Err(TrySendError::Closed(value)) => Sent::Closed(value),
                Err(TrySendError::Full(value)) => {
                    // SAFETY: we hold the lock; the caller keeps the slot pinned and alive.
                    unsafe {
                        slot.as_ref().with(|node| node.payload = Some(value));
                        state.senders_waiting.push_back(slot, waker);
                    }
                    Sent::Waiting
                }
            }
        };
        drop(dropped);
        if let Some(waker) = woken {
            waker.wake();
        }
        sent
    }

    /// Polls a queued send: `Some(Ok)` written, `Some(Err(value))` closed, `None` still waiting
    /// (the waker refreshed).
    ///
    /// # Safety
    /// `slot` was queued by `start_send` on this channel and is still pinned.
    pub(super) unsafe fn poll_send(
        &self,
        slot: NonNull<Slot<T>>,
        waker: &Waker,
    ) -> Option<Result<(), T>> {
        let _state = self.lock();
        // SAFETY: under the lock.
        unsafe {
            slot.as_ref().with(|node| match node.state {
                WaitState::Queued => {
                    if !node.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        node.waker = Some(waker.clone());
                    }
                    None
                }
                WaitState::Woken | WaitState::Idle => {
                    node.state = WaitState::Idle;
                    Some(match node.payload.take() {
                        None => Ok(()),
                        Some(value) => Err(value),
                    })
                }
            })
        }
    }

    /// A send future going away while queued: take it out (its value goes with it; that send
    /// never happened).
    ///
    /// # Safety
    /// As [`poll_send`](Self::poll_send).
    pub(super) unsafe fn cancel_send(&self, slot: NonNull<Slot<T>>) {
        let value = {
            let mut state = self.lock();
            // SAFETY: under the lock; the slot is ours.
            unsafe {
                state.senders_waiting.remove(slot);
                slot.as_ref().with(|node| {
                    node.state = WaitState::Idle;
                    node.payload.take()
                })
            }
        };
        drop(value);
    }

    /// Takes the next value without waiting.
    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut woken = None;
        let result = {
            let mut state = self.lock();
            self.recv_locked(&mut state, &mut woken)
        };
        if let Some(waker) = woken {
            waker.wake();
        }
        result
    }

    fn recv_locked(
        &self,
        state: &mut State<T>,
        woken: &mut Option<Waker>,
    ) -> Result<T, TryRecvError> {
        let Some(value) = state.queue.pop_front() else {
            return Err(if state.closed {
                TryRecvError::Closed
            } else {
                TryRecvError::Empty
            });
        };
        if state.queue.len() < self.capacity {
            // SAFETY: under the lock; see `send_locked`.
            if let Some((sender, waker)) = unsafe { state.senders_waiting.pop_front() } {
                // SAFETY: as above.
                let moved = unsafe { sender.as_ref().with(|node| node.payload.take()) };
                state.queue.extend(moved);
                *woken = waker;
            }
        }
        Ok(value)
    }

    /// A waiting receive: takes a value, or queues `slot` with `waker`. `Ok(None)`: closed and
    /// drained. `Err(())`: queued.
    ///
    /// # Safety
    /// `slot` is pinned, `Idle`, and its owner calls `cancel_recv` before it goes away.
    pub(super) unsafe fn start_recv(
        &self,
        slot: NonNull<Slot<T>>,
        waker: &Waker,
    ) -> Result<Option<T>, ()> {
        let mut woken = None;
        let result = {
            let mut state = self.lock();
            match self.recv_locked(&mut state, &mut woken) {
                Ok(value) => Ok(Some(value)),
                Err(TryRecvError::Closed) => Ok(None),
                Err(TryRecvError::Empty) => {
                    // SAFETY: under the lock; the caller keeps the slot pinned and alive.
                    unsafe { state.receivers_waiting.push_back(slot, waker) };
                    Err(())
                }
            }
        };
        if let Some(waker) = woken {
            waker.wake();
        }
        result
    }

    /// Polls a queued receive: `Some(Some(v))` a value, `Some(None)` closed, `None` waiting.
    ///
    /// # Safety
    /// `slot` was queued by `start_recv` on this channel and is still pinned.
    pub(super) unsafe fn poll_recv(
        &self,
        slot: NonNull<Slot<T>>,
        waker: &Waker,
    ) -> Option<Option<T>> {
        let _state = self.lock();
        // SAFETY: under the lock.
        unsafe {
            slot.as_ref().with(|node| match node.state {
                WaitState::Queued => {
                    if !node.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        node.waker = Some(waker.clone());
                    }
                    None
                }
                WaitState::Woken | WaitState::Idle => {
                    node.state = WaitState::Idle;
                    Some(node.payload.take())
                }
            })
        }
    }

    /// A receive going away: out of the queue, or, if a value was already handed to it, that
    /// value goes to the next waiting receiver or back to the front of the queue (Y3).
    ///
    /// # Safety
    /// As [`poll_recv`](Self::poll_recv).
    pub(super) unsafe fn cancel_recv(&self, slot: NonNull<Slot<T>>) {
        let mut woken = None;
        {
            let mut state = self.lock();
            // SAFETY: under the lock; the slot is ours.
            let handed = unsafe {
                state.receivers_waiting.remove(slot);
                slot.as_ref().with(|node| {
                    node.state = WaitState::Idle;
                    node.payload.take()
                })
            };
            if let Some(value) = handed {
                // SAFETY: under the lock.
                match unsafe { state.receivers_waiting.pop_front() } {
                    Some((next, waker)) => {
                        // SAFETY: as in `send_locked`.
                        unsafe { next.as_ref().with(|node| node.payload = Some(value)) };
                        woken = waker;
                    }
                    None => state.queue.push_front(value),
                }
            }
        }
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// Closes the channel: no more sends; waiting senders get their values back, waiting
    /// receivers see the end. Returns whether this call closed it.
    pub(super) fn close(&self) -> bool {
        let mut batch = WakeBatch::new();
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.closed = true;
        loop {
            // SAFETY: under the lock. Popped senders keep their values (payload `Some`: closed);
            // popped receivers get none (`None`: closed). New waiters cannot queue: closed.
            let next = unsafe {
                match state.receivers_waiting.pop_front() {
                    Some(popped) => Some(popped),
                    None => state.senders_waiting.pop_front(),
                }
            };
            let Some((_, waker)) = next else { break };
            batch.push(waker);
            if batch.is_full() {
                drop(state);
                batch.wake_all();
                state = self.lock();
            }
        }
        drop(state);
        batch.wake_all();
        true
    }

    pub(super) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    /// The last sender gone closes the channel (receivers drain, then see the end).
    pub(super) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }

    pub(super) fn add_receiver(&self) {
        self.receivers.fetch_add(1, Ordering::Relaxed);
    }

    /// The last receiver gone closes the channel and drops what is queued: nobody can read it.
    pub(super) fn drop_receiver(&self) {
        if self.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
            let queued = std::mem::take(&mut self.lock().queue);
            drop(queued);
        }
    }
}
