//! The connection limit and the drain: how many connections are live, who waits for a free
//! slot (the accept loop) and who waits for none to be left (a shutting-down server).
//!
//! ASP.NET Core's Kestrel has the same knob (`MaxConcurrentConnections`). Beyond the limit the
//! accept loop simply stops accepting: new connections wait in the kernel's listen backlog
//! until a slot frees up — backpressure instead of a crash or a refusal.
//!
//! Built on [`brigade::sync::Semaphore`]: a slot is an owned permit, and the drain is "acquire
//! every permit", which the semaphore grants only once every connection has given its own back.
//!
//! # Invariants
//! - A slot is taken before its connection is accepted and given back when the connection's
//!   task ends (or is dropped), so the count never drifts, whatever way a connection ends.
//! - Waiting for room and waiting for the drain are ordinary semaphore waits: FIFO, cancellable
//!   (the accept loop waits under the shutdown token), and never missing a slot freed between
//!   "no room" and "park" (Y2).

use std::sync::Arc;

use brigade::sync::{OwnedPermit, Semaphore};

/// The live-connection count of one server, shared by its accept loop and connection tasks.
#[derive(Debug)]
pub(crate) struct ConnectionLimit {
    slots: Arc<Semaphore>,
    max: usize,
}

impl ConnectionLimit {
    /// Room for `max` connections (at least one; at most `u32::MAX`, which the drain's
    /// `acquire_many` can ask for at once).
    pub(crate) fn new(max: usize) -> Arc<ConnectionLimit> {
        assert!(max > 0, "a server needs room for at least one connection");
        let max = max.min(Semaphore::MAX_PERMITS).min(u32::MAX as usize);
        Arc::new(ConnectionLimit {
            slots: Arc::new(Semaphore::new(max)),
            max,
        })
    }

    /// Waits until another connection may be accepted, and reserves its slot.
    pub(crate) async fn room(&self) -> ConnectionSlot {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the connection limit's semaphore is never closed");
        ConnectionSlot { _permit: permit }
    }

    /// Waits until no connection is live any more.
    pub(crate) async fn drained(&self) {
        let every_slot = self
            .slots
            .acquire_many(self.max as u32)
            .await
            .expect("the connection limit's semaphore is never closed");
        drop(every_slot);
    }

    /// How many connections are live now.
    pub(crate) fn live(&self) -> usize {
        self.max - self.slots.available_permits()
    }
}

/// One live connection's place under the limit; held by its task, given back on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    _permit: OwnedPermit,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn poll<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_full_limit_parks_the_acceptor_until_a_slot_is_given_back() {
        let limit = ConnectionLimit::new(2);
        let Poll::Ready(first) = poll(pin!(limit.room()).as_mut()) else {
            panic!("room for the first")
        };
        let Poll::Ready(_second) = poll(pin!(limit.room()).as_mut()) else {
            panic!("room for the second")
        };
        let mut third = pin!(limit.room());
        assert!(poll(third.as_mut()).is_pending());
        assert!(poll(pin!(limit.drained()).as_mut()).is_pending());
        drop(first);
        let Poll::Ready(_third) = poll(third.as_mut()) else {
            panic!("the freed slot should have gone to the waiting acceptor")
        };
        assert_eq!(limit.live(), 2);
    }

    #[test]
    fn the_last_slot_lets_the_drain_through() {
        let limit = ConnectionLimit::new(10);
        let slots: Vec<_> = (0..3)
            .map(|_| match poll(pin!(limit.room()).as_mut()) {
                Poll::Ready(slot) => slot,
                Poll::Pending => panic!("room"),
            })
            .collect();
        let mut drain = pin!(limit.drained());
        assert!(poll(drain.as_mut()).is_pending());
        drop(slots);
        assert!(poll(drain.as_mut()).is_ready());
        assert_eq!(limit.live(), 0);
    }
}
