//! Loom models of the waiter list and the channel races (Y2, Y3, Y4). Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p brigade --lib --release loom`.
//!
//! Each model races one waiting future (polled, maybe parked, maybe dropped) against the
//! operation that should serve it, and checks in every interleaving that the waiter is woken if
//! it parked and that no value or permit disappears.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::Arc;

use super::channel::{channel, TryRecvError};
use super::{oneshot, Notify, Semaphore};

/// A waker that counts its wake-ups.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting() -> (std::sync::Arc<CountingWaker>, Waker) {
    let counter = std::sync::Arc::new(CountingWaker(AtomicUsize::new(0)));
    (counter.clone(), Waker::from(counter))
}

fn poll<F: Future>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

#[test]
fn loom_a_permit_released_while_an_acquire_parks_wakes_it() {
    loom::model(|| {
        let semaphore = Arc::new(Semaphore::new(0));
        let releasing = {
            let semaphore = semaphore.clone();
            loom::thread::spawn(move || semaphore.add_permits(1))
        };
        let (wakes, waker) = counting();
        let mut acquire = Box::pin(semaphore.acquire());
        let first = poll(acquire.as_mut(), &waker);
        releasing.join().unwrap();
        if first.is_pending() {
            assert_eq!(wakes.0.load(SeqCst), 1, "lost wake-up");
            assert!(matches!(poll(acquire.as_mut(), &waker), Poll::Ready(Ok(_))));
        }
    });
}

#[test]
fn loom_an_acquire_dropped_while_a_permit_is_released_loses_no_permit() {
    loom::model(|| {
        let semaphore = Arc::new(Semaphore::new(0));
        let waiting = {
            let semaphore = semaphore.clone();
            loom::thread::spawn(move || {
                let mut acquire = Box::pin(semaphore.acquire());
                // Ready or not, the permit goes back when `acquire` / the permit is dropped.
                let _ = poll(acquire.as_mut(), Waker::noop());
            })
        };
        semaphore.add_permits(1);
        waiting.join().unwrap();
        assert_eq!(semaphore.available_permits(), 1, "a permit was lost");
    });
}

#[test]
fn loom_notify_one_racing_a_dropped_waiter_is_kept_for_the_next() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let waiting = {
            let notify = notify.clone();
            loom::thread::spawn(move || {
                let mut notified = Box::pin(notify.notified());
                poll(notified.as_mut(), Waker::noop()).is_ready()
            })
        };
        notify.notify_one();
        let consumed = waiting.join().unwrap();
        let mut next = Box::pin(notify.notified());
        let stored = poll(next.as_mut(), Waker::noop()).is_ready();
        assert!(consumed ^ stored, "the notification was lost or doubled");
    });
}

#[test]
fn loom_a_send_racing_a_parking_receive_wakes_it() {
    loom::model(|| {
        let (tx, rx) = channel::<u32>(1);
        let sending = loom::thread::spawn(move || tx.try_send(7).unwrap());
        let (wakes, waker) = counting();
        let mut receiving = Box::pin(rx.recv());
        let first = poll(receiving.as_mut(), &waker);
        sending.join().unwrap();
        match first {
            Poll::Ready(value) => assert_eq!(value, Some(7)),
            Poll::Pending => {
                assert_eq!(wakes.0.load(SeqCst), 1, "lost wake-up");
                assert_eq!(poll(receiving.as_mut(), &waker), Poll::Ready(Some(7)));
            }
        }
    });
}

#[test]
fn loom_a_receive_dropped_while_a_value_is_sent_loses_no_value() {
    loom::model(|| {
        let (tx, rx) = channel::<u32>(1);
        let rx = Arc::new(rx);
        let waiting = {
            let rx = rx.clone();
            loom::thread::spawn(move || {
                let mut receiving = Box::pin(rx.recv());
                match poll(receiving.as_mut(), Waker::noop()) {
                    Poll::Ready(value) => value,
                    Poll::Pending => None, // dropped here, possibly holding the value
                }
            })
        };
        tx.try_send(1).unwrap();
        let taken = waiting.join().unwrap();
        let left = rx.try_recv().ok();
        assert_eq!(taken.or(left), Some(1), "the value was lost");
        assert!(
            taken.is_none() || left.is_none(),
            "the value was duplicated"
        );
    });
}

#[test]
fn loom_close_racing_a_parking_send_gives_the_value_back() {
    loom::model(|| {
        let (tx, rx) = channel::<u32>(1);
        tx.try_send(1).unwrap();
        let closing = loom::thread::spawn(move || {
            rx.close();
            rx
        });
        let (wakes, waker) = counting();
        let mut sending = Box::pin(tx.send(2));
        let first = poll(sending.as_mut(), &waker);
        let rx = closing.join().unwrap();
        let outcome = match first {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => {
                assert_eq!(wakes.0.load(SeqCst), 1, "lost wake-up on close");
                match poll(sending.as_mut(), &waker) {
                    Poll::Ready(outcome) => outcome,
                    Poll::Pending => panic!("still waiting after close"),
                }
            }
        };
        assert_eq!(outcome.unwrap_err().0, 2);
        assert_eq!(rx.try_recv(), Ok(1), "close keeps what was queued");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn loom_a_oneshot_send_racing_the_receivers_poll_is_never_missed() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u32>();
        let sending = loom::thread::spawn(move || tx.send(5).is_ok());
        let (wakes, waker) = counting();
        let mut rx = Box::pin(rx);
        let first = poll(rx.as_mut(), &waker);
        assert!(sending.join().unwrap());
        match first {
            Poll::Ready(value) => assert_eq!(value, Ok(5)),
            Poll::Pending => {
                assert_eq!(wakes.0.load(SeqCst), 1, "lost wake-up");
                assert_eq!(poll(rx.as_mut(), &waker), Poll::Ready(Ok(5)));
            }
        }
    });
}

#[test]
fn loom_a_oneshot_receiver_repolled_with_a_new_waker_while_the_sender_drops() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u32>();
        let mut rx = Box::pin(rx);
        let (_, first_waker) = counting();
        assert!(poll(rx.as_mut(), &first_waker).is_pending());
        let dropping = loom::thread::spawn(move || drop(tx));
        let (wakes, second_waker) = counting();
        let second = poll(rx.as_mut(), &second_waker);
        dropping.join().unwrap();
        if second.is_pending() {
            assert_eq!(wakes.0.load(SeqCst), 1, "the new waker was not woken");
            assert!(matches!(
                poll(rx.as_mut(), &second_waker),
                Poll::Ready(Err(_))
            ));
        }
    });
}

#[test]
fn loom_two_waiters_one_cancelled_and_a_release_keep_the_list_and_the_count_straight() {
    loom::model(|| {
        // std's Arc: `acquire_owned` takes one (the Arc itself is not what is checked here).
        let semaphore = std::sync::Arc::new(Semaphore::new(0));
        let cancelling = {
            let semaphore = semaphore.clone();
            loom::thread::spawn(move || {
                let mut acquire = Box::pin(semaphore.acquire_owned());
                let _ = poll(acquire.as_mut(), Waker::noop()); // a permit, if any, goes back
            })
        };
        let keeping = {
            let semaphore = semaphore.clone();
            loom::thread::spawn(move || {
                let (wakes, waker) = counting();
                let mut acquire = Box::pin(semaphore.acquire_owned());
                let first = poll(acquire.as_mut(), &waker);
                (acquire, first.is_pending(), wakes, waker)
            })
        };
        semaphore.add_permits(1);
        cancelling.join().unwrap();
        let (mut acquire, was_pending, wakes, waker) = keeping.join().unwrap();
        let held = match was_pending {
            false => 1,
            true if semaphore.available_permits() == 1 => 0,
            true => {
                assert_eq!(
                    wakes.0.load(SeqCst),
                    1,
                    "the permit went to a waiter never woken"
                );
                match poll(acquire.as_mut(), &waker) {
                    Poll::Ready(Ok(_permit)) => 1,
                    other => panic!("woken but not granted: {other:?}"),
                }
            }
        };
        // The permit is held by the kept waiter (and then dropped) or banked: never lost.
        drop(acquire);
        assert!(held == 1 || semaphore.available_permits() == 1);
        assert_eq!(
            semaphore.available_permits(),
            1,
            "a permit was lost or doubled"
        );
    });
}
