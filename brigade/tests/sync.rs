//! Behaviour tests for `brigade::sync`: the promises Y1-Y12 of docs/SEMANTICS.md. The loom
//! models of the same races live in src/sync/loom_tests.rs; the 8-thread stress test in
//! tests/sync_stress.rs.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use brigade::cancel::CancellationTokenSource;
use brigade::prelude::*;
use brigade::sync::{channel, channel_with, unbounded_channel, FullMode};
use brigade::Runtime;
use brigade_test_support::*;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const LIMIT: Duration = Duration::from_secs(30);

fn poll_once<F: Future>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

fn noop() -> &'static Waker {
    Waker::noop()
}

fn runtime(workers: usize) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .build()
        .expect("runtime")
}

// ------------------------------------------------------------------------------ channels

#[test]
fn y1_waiting_receivers_are_served_in_fifo_order() {
    let (tx, rx) = channel::<u32>(4);
    let mut first = pin!(rx.recv());
    let mut second = pin!(rx.recv());
    let mut third = pin!(rx.recv());
    assert!(poll_once(first.as_mut(), noop()).is_pending());
    assert!(poll_once(second.as_mut(), noop()).is_pending());
    assert!(poll_once(third.as_mut(), noop()).is_pending());
    for i in 1..=3 {
        tx.try_send(i).unwrap();
    }
    // Polled in reverse: each already holds the value it was handed, in arrival order.
    assert_eq!(poll_once(third.as_mut(), noop()), Poll::Ready(Some(3)));
    assert_eq!(poll_once(second.as_mut(), noop()), Poll::Ready(Some(2)));
    assert_eq!(poll_once(first.as_mut(), noop()), Poll::Ready(Some(1)));
}

#[test]
fn y1_waiting_senders_are_served_in_fifo_order_and_values_keep_their_order() {
    let (tx, rx) = channel::<u32>(1);
    tx.try_send(0).unwrap();
    let mut a = pin!(tx.send(1));
    let mut b = pin!(tx.send(2));
    let mut c = pin!(tx.send(3));
    for sending in [a.as_mut(), b.as_mut(), c.as_mut()] {
        assert!(poll_once(sending, noop()).is_pending());
    }
    assert!(matches!(
        tx.try_send(9),
        Err(brigade::sync::channel::TrySendError::Full(9))
    ));
    for expected in 0..=3 {
        assert_eq!(rx.try_recv(), Ok(expected));
    }
    for sending in [a.as_mut(), b.as_mut(), c.as_mut()] {
        assert_eq!(poll_once(sending, noop()), Poll::Ready(Ok(())));
    }
}

#[test]
fn y2_a_value_sent_to_a_waiting_receiver_wakes_it_and_room_wakes_a_waiting_sender() {
    let (tx, rx) = channel::<u32>(1);
    let (receiver_wakes, receiver_waker) = counting_waker();
    let mut receiving = pin!(rx.recv());
    assert!(poll_once(receiving.as_mut(), &receiver_waker).is_pending());
    tx.try_send(7).unwrap();
    assert_eq!(receiver_wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_once(receiving.as_mut(), noop()), Poll::Ready(Some(7)));

    tx.try_send(8).unwrap();
    let (sender_wakes, sender_waker) = counting_waker();
    let mut sending = pin!(tx.send(9));
    assert!(poll_once(sending.as_mut(), &sender_waker).is_pending());
    assert_eq!(rx.try_recv(), Ok(8));
    assert_eq!(sender_wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_once(sending.as_mut(), noop()), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(9));
}

#[test]
fn y3_a_receive_dropped_after_it_was_handed_a_value_passes_it_to_the_next_receiver() {
    let (tx, rx) = channel::<u32>(4);
    let (next_wakes, next_waker) = counting_waker();
    let mut next = pin!(rx.recv());
    {
        let mut first = Box::pin(rx.recv());
        assert!(poll_once(first.as_mut(), noop()).is_pending());
        assert!(poll_once(next.as_mut(), &next_waker).is_pending());
        tx.try_send(1).unwrap(); // handed to `first`
    } // `first` dropped without looking
    assert_eq!(next_wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_once(next.as_mut(), noop()), Poll::Ready(Some(1)));
}

#[test]
fn y3_a_receive_dropped_with_a_value_and_no_other_receiver_puts_it_back_in_front() {
    let (tx, rx) = channel::<u32>(2);
    {
        let mut receiving = Box::pin(rx.recv());
        assert!(poll_once(receiving.as_mut(), noop()).is_pending());
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        tx.try_send(3).unwrap();
    }
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
fn y3_with_cancellation_on_a_waiting_receive_returns_promptly_and_loses_nothing() {
    watchdog("cancelled receive", LIMIT, || {
        let rt = runtime(2);
        rt.block_on(async {
            let (tx, rx) = channel::<u32>(8);
            let rx = Arc::new(rx);
            let source = CancellationTokenSource::new();
            let waiting = {
                let (rx, token) = (rx.clone(), source.token());
                brigade::spawn(async move { rx.recv().with_cancellation(&token).await })
            };
            brigade::time::sleep(Duration::from_millis(20)).await;
            source.cancel();
            assert!(waiting.await.is_err(), "the receive was not cancelled");
            tx.send(5).await.unwrap();
            assert_eq!(rx.recv().await, Some(5));
        });
    });
}

#[test]
fn y3_a_send_cancelled_while_waiting_is_withdrawn_and_the_others_still_get_in() {
    let (tx, rx) = channel::<u32>(1);
    tx.try_send(1).unwrap();
    let source = CancellationTokenSource::new();
    let mut cancelled = pin!(tx.send(2).with_cancellation(&source.token()));
    let mut kept = pin!(tx.send(3));
    assert!(poll_once(cancelled.as_mut(), noop()).is_pending());
    assert!(poll_once(kept.as_mut(), noop()).is_pending());
    source.cancel();
    assert!(matches!(
        poll_once(cancelled.as_mut(), noop()),
        Poll::Ready(Err(_))
    ));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(poll_once(kept.as_mut(), noop()), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(3));
    assert!(rx.try_recv().is_err());
}

#[test]
fn y4_close_fails_waiting_senders_with_their_values_and_receivers_drain_then_end() {
    let (tx, rx) = channel::<String>(1);
    tx.try_send("queued".into()).unwrap();
    let mut waiting = pin!(tx.send("waiting".into()));
    assert!(poll_once(waiting.as_mut(), noop()).is_pending());
    assert!(tx.close());
    assert!(!rx.close(), "a second close reports it was already closed");
    match poll_once(waiting.as_mut(), noop()) {
        Poll::Ready(Err(error)) => assert_eq!(error.0, "waiting"),
        other => panic!("the waiting send should fail with its value: {other:?}"),
    }
    assert_eq!(tx.try_send("late".into()).unwrap_err().into_inner(), "late");
    let mut receiving = pin!(rx.recv());
    assert_eq!(
        poll_once(receiving.as_mut(), noop()),
        Poll::Ready(Some("queued".to_string()))
    );
    let mut end = pin!(rx.recv());
    assert_eq!(poll_once(end.as_mut(), noop()), Poll::Ready(None));
}

#[test]
fn y4_a_waiting_receiver_sees_the_end_when_the_last_sender_is_dropped() {
    let (tx, rx) = unbounded_channel::<u32>();
    let second = tx.clone();
    let (wakes, waker) = counting_waker();
    let mut receiving = pin!(rx.recv());
    assert!(poll_once(receiving.as_mut(), &waker).is_pending());
    drop(tx);
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        0,
        "one sender is still alive"
    );
    drop(second);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_once(receiving.as_mut(), noop()), Poll::Ready(None));
}

#[test]
fn y4_dropping_the_last_receiver_closes_the_channel_and_drops_the_queue() {
    let (tx, rx) = channel::<DropCount>(4);
    let dropped = Arc::new(AtomicUsize::new(0));
    tx.try_send(DropCount(dropped.clone())).unwrap();
    let other = rx.clone();
    drop(rx);
    assert!(!tx.is_closed());
    drop(other);
    assert!(tx.is_closed());
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert!(tx.try_send(DropCount(dropped.clone())).is_err());
}

#[test]
fn y5_full_modes_behave_as_dotnets_bounded_channel_full_mode() {
    let outcome = |mode| {
        let (tx, rx) = channel_with::<u32>(3, mode);
        for i in 1..=5 {
            tx.try_send(i).expect("drop modes never report Full");
        }
        std::iter::from_fn(|| rx.try_recv().ok()).collect::<Vec<_>>()
    };
    assert_eq!(outcome(FullMode::DropOldest), [3, 4, 5]);
    assert_eq!(outcome(FullMode::DropNewest), [1, 2, 5]);
    assert_eq!(outcome(FullMode::DropWrite), [1, 2, 3]);
    let (tx, _rx) = channel_with::<u32>(1, FullMode::Wait);
    tx.try_send(1).unwrap();
    assert!(tx.try_send(2).is_err());
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn y5_a_zero_capacity_is_refused_with_a_message() {
    let _ = channel::<u32>(0);
}

#[test]
fn y6_the_receiver_is_a_stream_that_ends_when_the_channel_closes() {
    use futures_core::Stream;
    let (tx, mut rx) = channel::<u32>(2);
    let next = |rx: &mut brigade::sync::Receiver<u32>| {
        Pin::new(rx).poll_next(&mut Context::from_waker(noop()))
    };
    assert!(next(&mut rx).is_pending());
    tx.try_send(1).unwrap();
    assert_eq!(next(&mut rx), Poll::Ready(Some(1)));
    tx.try_send(2).unwrap();
    drop(tx);
    assert_eq!(next(&mut rx), Poll::Ready(Some(2)));
    assert_eq!(next(&mut rx), Poll::Ready(None));
}

#[test]
fn y6_many_producers_and_many_consumers_deliver_each_value_exactly_once() {
    watchdog("mpmc", LIMIT, || {
        let rt = runtime(2);
        rt.block_on(async {
            let (tx, rx) = channel::<u64>(16);
            let producers: Vec<_> = (0..4u64)
                .map(|p| {
                    let tx = tx.clone();
                    brigade::spawn(async move {
                        for i in 0..2_000 {
                            tx.send(p * 1_000_000 + i).await.unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let rx = rx.clone();
                    brigade::spawn(async move {
                        let mut got = Vec::new();
                        while let Some(v) = rx.recv().await {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            drop(rx);
            brigade::when_all(producers).await;
            let mut all: Vec<u64> = brigade::when_all(consumers)
                .await
                .into_iter()
                .flatten()
                .collect();
            all.sort_unstable();
            let mut expected: Vec<u64> = (0..4u64)
                .flat_map(|p| (0..2_000).map(move |i| p * 1_000_000 + i))
                .collect();
            expected.sort_unstable();
            assert_eq!(all, expected);
        });
    });
}

#[test]
fn y9_a_consumer_whose_channel_is_always_ready_still_lets_other_tasks_run() {
    watchdog("budget fairness", LIMIT, || {
        let rt = runtime(1);
        rt.block_on(async {
            let (tx, rx) = unbounded_channel::<u32>();
            for i in 0..100_000 {
                tx.try_send(i).unwrap();
            }
            drop(tx);
            // The consumer spawns its neighbour itself, after its first receive: spawned from
            // the block_on thread, the neighbour could arrive late (that thread preempted on a
            // loaded machine) and the test would measure the preemption, not the budget.
            let consumer = brigade::spawn(async move {
                let other_ran = Arc::new(AtomicBool::new(false));
                let mut received = 0;
                let mut received_before_other = None;
                while rx.recv().await.is_some() {
                    received += 1;
                    if received == 1 {
                        let other_ran = other_ran.clone();
                        brigade::spawn(async move { other_ran.store(true, Ordering::SeqCst) })
                            .detach();
                    }
                    if received_before_other.is_none() && other_ran.load(Ordering::SeqCst) {
                        received_before_other = Some(received);
                    }
                }
                received_before_other
            });
            let before = consumer
                .await
                .expect("the other task ran only after the consumer finished");
            assert!(
                before < 50_000,
                "the other task waited for {before} receives"
            );
        });
    });
}

// ------------------------------------------------------------------- semaphore and locks

use brigade::sync::{Barrier, Mutex, Notify, OnceCell, RwLock, Semaphore, TryAcquireError};

#[test]
fn y1_semaphore_waiters_are_served_in_fifo_order_and_a_big_request_is_not_overtaken() {
    let semaphore = Semaphore::new(3);
    let held = semaphore.try_acquire_many(3).unwrap();
    let mut big = pin!(semaphore.acquire_many(2));
    let mut small = pin!(semaphore.acquire());
    assert!(poll_once(big.as_mut(), noop()).is_pending());
    assert!(poll_once(small.as_mut(), noop()).is_pending());
    assert_eq!(
        semaphore.try_acquire().unwrap_err(),
        TryAcquireError::NoPermits
    );
    drop(held); // 3 back: 2 to `big`, 1 to `small`, in that order
    let big_permit = match poll_once(big.as_mut(), noop()) {
        Poll::Ready(Ok(permit)) => permit,
        other => panic!("big should hold 2 permits: {other:?}"),
    };
    assert_eq!(big_permit.num_permits(), 2);
    assert!(matches!(
        poll_once(small.as_mut(), noop()),
        Poll::Ready(Ok(_))
    ));
}

#[test]
fn y1_a_small_request_behind_a_big_one_waits_even_when_it_would_fit() {
    let semaphore = Semaphore::new(2);
    let held = semaphore.try_acquire_many(2).unwrap();
    let mut big = pin!(semaphore.acquire_many(2));
    let mut small = pin!(semaphore.acquire());
    assert!(poll_once(big.as_mut(), noop()).is_pending());
    assert!(poll_once(small.as_mut(), noop()).is_pending());
    held.forget();
    semaphore.add_permits(1); // goes to `big` (needs one more), not to `small`
    assert!(poll_once(small.as_mut(), noop()).is_pending());
    assert!(poll_once(big.as_mut(), noop()).is_pending());
    semaphore.add_permits(1);
    let both = poll_once(big.as_mut(), noop());
    assert!(both.is_ready());
    assert!(
        poll_once(small.as_mut(), noop()).is_pending(),
        "big still holds both"
    );
    drop(both);
    assert!(poll_once(small.as_mut(), noop()).is_ready());
}

#[test]
fn y3_an_acquire_cancelled_after_permits_were_assigned_gives_them_back_to_the_next_waiter() {
    let semaphore = Semaphore::new(1);
    let held = semaphore.try_acquire().unwrap();
    let (wakes, waker) = counting_waker();
    let mut next = pin!(semaphore.acquire());
    {
        let mut first = Box::pin(semaphore.acquire());
        assert!(poll_once(first.as_mut(), noop()).is_pending());
        assert!(poll_once(next.as_mut(), &waker).is_pending());
        drop(held); // granted to `first`, which never looks
    }
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "the permit went on to the next waiter"
    );
    assert!(matches!(
        poll_once(next.as_mut(), noop()),
        Poll::Ready(Ok(_))
    ));
    assert_eq!(semaphore.available_permits(), 1);
}

#[test]
fn y3_a_partially_assigned_acquire_many_cancelled_returns_what_it_had() {
    let semaphore = Semaphore::new(2);
    let held = semaphore.try_acquire_many(2).unwrap();
    {
        let mut big = Box::pin(semaphore.acquire_many(3));
        assert!(poll_once(big.as_mut(), noop()).is_pending());
        drop(held); // both assigned to `big`, which needs 3
        assert_eq!(semaphore.available_permits(), 0);
    }
    assert_eq!(semaphore.available_permits(), 2);
    assert!(semaphore.try_acquire_many(2).is_ok());
}

#[test]
fn y3_with_cancellation_on_every_kind_of_wait_returns_promptly_and_loses_no_permit() {
    watchdog("cancelled waits", LIMIT, || {
        let rt = runtime(2);
        rt.block_on(async {
            let semaphore = Arc::new(Semaphore::new(0));
            let mutex = Arc::new(Mutex::new(0));
            let rwlock = Arc::new(RwLock::new(0));
            let notify = Arc::new(Notify::new());
            let barrier = Arc::new(Barrier::new(2));
            let source = CancellationTokenSource::new();
            let guard = mutex.lock().await;
            let read = rwlock.read().await;
            let mut waits = Vec::new();
            macro_rules! wait {
                ($obj:expr, |$x:ident| $body:expr) => {{
                    let ($x, token) = ($obj.clone(), source.token());
                    waits.push(brigade::spawn(async move {
                        async {
                            let _ = $body;
                        }
                        .with_cancellation(&token)
                        .await
                        .is_err()
                    }));
                }};
            }
            wait!(semaphore, |s| s.acquire().await);
            wait!(mutex, |m| m.lock().await);
            wait!(rwlock, |r| r.write().await);
            wait!(notify, |n| n.notified().await);
            wait!(barrier, |b| b.wait().await);
            brigade::time::sleep(Duration::from_millis(20)).await;
            source.cancel();
            for cancelled in brigade::when_all(waits).await {
                assert!(cancelled, "a wait finished instead of being cancelled");
            }
            drop((guard, read));
            semaphore.add_permits(1);
            assert!(semaphore.try_acquire().is_ok());
            assert!(mutex.try_lock().is_ok());
            assert!(rwlock.try_write().is_some());
            notify.notify_one();
            notify.notified().await; // the permit was stored: the cancelled waiter is gone
        });
    });
}

#[test]
fn y7_closing_a_semaphore_fails_waiting_and_later_acquires() {
    let semaphore = Semaphore::new(0);
    let mut waiting = pin!(semaphore.acquire());
    assert!(poll_once(waiting.as_mut(), noop()).is_pending());
    assert!(semaphore.close());
    assert!(matches!(
        poll_once(waiting.as_mut(), noop()),
        Poll::Ready(Err(_))
    ));
    assert_eq!(
        semaphore.try_acquire().unwrap_err(),
        TryAcquireError::Closed
    );
    let mut later = pin!(semaphore.acquire());
    assert!(matches!(
        poll_once(later.as_mut(), noop()),
        Poll::Ready(Err(_))
    ));
}

#[test]
fn y7_owned_permits_travel_into_tasks_and_come_back() {
    watchdog("owned permits", LIMIT, || {
        let rt = runtime(2);
        rt.block_on(async {
            let semaphore = Arc::new(Semaphore::new(8));
            let running = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..200)
                .map(|_| {
                    let (semaphore, running, peak) =
                        (semaphore.clone(), running.clone(), peak.clone());
                    brigade::spawn(async move {
                        let permit = semaphore.acquire_owned().await.unwrap();
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        brigade::yield_now().await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    })
                })
                .collect();
            brigade::when_all(tasks).await;
            assert!(peak.load(Ordering::SeqCst) <= 8);
            assert_eq!(semaphore.available_permits(), 8);
        });
    });
}

#[test]
fn y1_mutex_waiters_get_the_lock_in_arrival_order() {
    let mutex = Mutex::new(Vec::new());
    let guard = mutex.try_lock().unwrap();
    let mut waits: Vec<_> = (0..3).map(|_| Box::pin(mutex.lock())).collect();
    for wait in &mut waits {
        assert!(poll_once(wait.as_mut(), noop()).is_pending());
    }
    drop(guard);
    for (i, wait) in waits.iter_mut().enumerate() {
        let mut guard = match poll_once(wait.as_mut(), noop()) {
            Poll::Ready(guard) => guard,
            Poll::Pending => panic!("waiter {i} was overtaken"),
        };
        guard.push(i);
    }
    assert_eq!(*mutex.try_lock().unwrap(), [0, 1, 2]);
}

#[test]
fn y6_a_contended_mutex_counts_every_increment() {
    watchdog("contended mutex", LIMIT, || {
        let rt = runtime(2);
        rt.block_on(async {
            let count = Arc::new(Mutex::new(0u64));
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let count = count.clone();
                    brigade::spawn(async move {
                        for i in 0..500 {
                            let mut guard = count.lock().await;
                            if i % 50 == 0 {
                                brigade::yield_now().await;
                            }
                            *guard += 1;
                        }
                    })
                })
                .collect();
            brigade::when_all(tasks).await;
            assert_eq!(*count.lock().await, 8_000);
        });
    });
}

#[test]
fn y8_a_waiting_writer_is_not_starved_by_readers_arriving_after_it() {
    let lock = RwLock::new(0);
    let reading = lock.try_read().unwrap();
    let mut writer = pin!(lock.write());
    assert!(poll_once(writer.as_mut(), noop()).is_pending());
    assert!(
        lock.try_read().is_none(),
        "a reader overtook the waiting writer"
    );
    let mut late_reader = pin!(lock.read());
    assert!(poll_once(late_reader.as_mut(), noop()).is_pending());
    drop(reading);
    let mut write_guard = match poll_once(writer.as_mut(), noop()) {
        Poll::Ready(guard) => guard,
        Poll::Pending => panic!("the writer should have the lock"),
    };
    *write_guard = 5;
    assert!(poll_once(late_reader.as_mut(), noop()).is_pending());
    drop(write_guard);
    assert!(matches!(poll_once(late_reader.as_mut(), noop()), Poll::Ready(ref g) if **g == 5));
}

#[test]
fn y8_readers_queued_behind_a_writer_are_let_in_together() {
    let lock = RwLock::new(());
    let writing = lock.try_write().unwrap();
    let mut readers: Vec<_> = (0..3).map(|_| Box::pin(lock.read())).collect();
    for reader in &mut readers {
        assert!(poll_once(reader.as_mut(), noop()).is_pending());
    }
    drop(writing);
    let guards: Vec<_> = readers
        .iter_mut()
        .map(|r| match poll_once(r.as_mut(), noop()) {
            Poll::Ready(guard) => guard,
            Poll::Pending => panic!("a reader was left waiting"),
        })
        .collect();
    assert_eq!(guards.len(), 3);
}

#[test]
fn y2_notify_one_before_the_wait_is_not_lost_and_notify_waiters_wakes_all_waiting_now() {
    let notify = Notify::new();
    notify.notify_one();
    let mut first = pin!(notify.notified());
    assert!(
        poll_once(first.as_mut(), noop()).is_ready(),
        "the stored permit was lost"
    );
    let mut a = pin!(notify.notified());
    let mut b = pin!(notify.notified());
    assert!(poll_once(a.as_mut(), noop()).is_pending());
    assert!(poll_once(b.as_mut(), noop()).is_pending());
    notify.notify_waiters();
    assert!(poll_once(a.as_mut(), noop()).is_ready());
    assert!(poll_once(b.as_mut(), noop()).is_ready());
    let mut later = pin!(notify.notified());
    assert!(
        poll_once(later.as_mut(), noop()).is_pending(),
        "notify_waiters stores nothing"
    );
}

#[test]
fn y3_a_notified_dropped_after_notify_one_chose_it_passes_it_on() {
    let notify = Notify::new();
    let (wakes, waker) = counting_waker();
    let mut second = pin!(notify.notified());
    {
        let mut first = Box::pin(notify.notified());
        assert!(poll_once(first.as_mut(), noop()).is_pending());
        assert!(poll_once(second.as_mut(), &waker).is_pending());
        notify.notify_one(); // chooses `first`
    }
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert!(poll_once(second.as_mut(), noop()).is_ready());
}

#[test]
fn y10_a_barrier_releases_its_round_together_with_one_leader_and_resets() {
    let barrier = Barrier::new(3);
    for _round in 0..2 {
        let mut a = Box::pin(barrier.wait());
        let mut b = Box::pin(barrier.wait());
        assert!(poll_once(a.as_mut(), noop()).is_pending());
        assert!(poll_once(b.as_mut(), noop()).is_pending());
        let mut c = Box::pin(barrier.wait());
        let leader = match poll_once(c.as_mut(), noop()) {
            Poll::Ready(result) => result.is_leader(),
            Poll::Pending => panic!("the third arrival should complete the round"),
        };
        assert!(leader);
        for wait in [a.as_mut(), b.as_mut()] {
            assert!(matches!(poll_once(wait, noop()), Poll::Ready(r) if !r.is_leader()));
        }
    }
}

#[test]
fn y3_a_barrier_wait_cancelled_before_its_round_takes_its_arrival_back() {
    let barrier = Barrier::new(2);
    {
        let mut gone = Box::pin(barrier.wait());
        assert!(poll_once(gone.as_mut(), noop()).is_pending());
    }
    let mut a = pin!(barrier.wait());
    assert!(
        poll_once(a.as_mut(), noop()).is_pending(),
        "the cancelled arrival still counted"
    );
    let mut b = pin!(barrier.wait());
    assert!(poll_once(b.as_mut(), noop()).is_ready());
    assert!(poll_once(a.as_mut(), noop()).is_ready());
}

#[test]
fn y11_once_cell_runs_one_initialiser_and_a_cancelled_one_hands_over_to_the_next() {
    watchdog("once cell", LIMIT, || {
        let rt = runtime(2);
        rt.block_on(async {
            let cell = Arc::new(OnceCell::<u32>::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let source = CancellationTokenSource::new();
            // The first initialiser never finishes; it is cancelled.
            let first = {
                let (cell, runs, token) = (cell.clone(), runs.clone(), source.token());
                brigade::spawn(async move {
                    async {
                        cell.get_or_init(|| async {
                            runs.fetch_add(1, Ordering::SeqCst);
                            std::future::pending::<u32>().await
                        })
                        .await;
                    }
                    .with_cancellation(&token)
                    .await
                })
            };
            wait_until_async(|| runs.load(Ordering::SeqCst) == 1).await;
            let waiters: Vec<_> = (0..4)
                .map(|i| {
                    let (cell, runs) = (cell.clone(), runs.clone());
                    brigade::spawn(async move {
                        *cell
                            .get_or_init(|| async move {
                                runs.fetch_add(1, Ordering::SeqCst);
                                100 + i
                            })
                            .await
                    })
                })
                .collect();
            brigade::time::sleep(Duration::from_millis(20)).await;
            source.cancel();
            assert!(first.await.is_err());
            let values = brigade::when_all(waiters).await;
            assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
            assert_eq!(
                runs.load(Ordering::SeqCst),
                2,
                "one cancelled run, one real one"
            );
            assert_eq!(cell.get(), Some(&values[0]));
        });
    });
}

async fn wait_until_async(mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        brigade::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition never held");
}

// ------------------------------------------------------------- oneshot, watch, broadcast

use brigade::sync::{broadcast, oneshot, watch};

#[test]
fn y2_a_oneshot_value_sent_while_the_receiver_waits_wakes_it() {
    let (tx, rx) = oneshot::channel::<u32>();
    let (wakes, waker) = counting_waker();
    let mut rx = pin!(rx);
    assert!(poll_once(rx.as_mut(), &waker).is_pending());
    tx.send(3).unwrap();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_once(rx.as_mut(), noop()), Poll::Ready(Ok(3)));
}

#[test]
fn y4_a_oneshot_ends_when_either_side_goes() {
    let (tx, rx) = oneshot::channel::<u32>();
    let (wakes, waker) = counting_waker();
    let mut rx = pin!(rx);
    assert!(poll_once(rx.as_mut(), &waker).is_pending());
    drop(tx);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert!(matches!(
        poll_once(rx.as_mut(), noop()),
        Poll::Ready(Err(_))
    ));

    let (tx, rx) = oneshot::channel::<String>();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send("back".into()), Err("back".to_string()));

    let (tx, mut rx) = oneshot::channel::<u32>();
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));
}

#[test]
fn y2_a_watch_receiver_sees_the_latest_value_and_is_woken_by_a_send() {
    let (tx, mut rx) = watch::channel(0);
    assert!(!rx.has_changed());
    let (wakes, waker) = counting_waker();
    {
        let mut changed = pin!(rx.changed());
        assert!(poll_once(changed.as_mut(), &waker).is_pending());
        tx.send(1);
        tx.send(2);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll_once(changed.as_mut(), noop()), Poll::Ready(Ok(())));
    }
    assert_eq!(
        *rx.borrow(),
        2,
        "the latest value, intermediate ones skipped"
    );
    let mut again = pin!(rx.changed());
    assert!(
        poll_once(again.as_mut(), noop()).is_pending(),
        "version 2 was marked seen"
    );
    drop(tx);
    assert!(matches!(
        poll_once(again.as_mut(), noop()),
        Poll::Ready(Err(_))
    ));
}

#[test]
fn y12_broadcast_receivers_each_get_every_value_and_a_lagging_one_is_told_how_many_it_missed() {
    let (tx, mut fast) = broadcast::channel::<u32>(2);
    let mut slow = tx.subscribe();
    for i in 0..5 {
        tx.send(i).unwrap();
        assert_eq!(
            fast.try_recv(),
            Ok(i),
            "a receiver keeping up sees every value"
        );
    }
    let mut late = tx.subscribe();
    assert_eq!(
        late.try_recv(),
        Err(broadcast::TryRecvError::Empty),
        "only values after subscribing"
    );
    assert_eq!(slow.try_recv(), Err(broadcast::TryRecvError::Lagged(3)));
    assert_eq!(slow.try_recv(), Ok(3));
    assert_eq!(slow.try_recv(), Ok(4));
    assert_eq!(slow.try_recv(), Err(broadcast::TryRecvError::Empty));
    drop(fast);
    drop(tx);
    assert_eq!(slow.try_recv(), Err(broadcast::TryRecvError::Closed));
}

#[test]
fn y12_a_broadcast_send_wakes_every_waiting_receiver() {
    watchdog("broadcast", LIMIT, || {
        let rt = runtime(2);
        rt.block_on(async {
            let (tx, rx) = broadcast::channel::<u32>(16);
            let receivers: Vec<_> = (0..4)
                .map(|_| {
                    let mut rx = tx.subscribe();
                    brigade::spawn(async move {
                        let mut got = Vec::new();
                        while let Ok(v) = rx.recv().await {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            drop(rx);
            for i in 0..10 {
                tx.send(i).unwrap();
                brigade::yield_now().await;
            }
            drop(tx);
            for got in brigade::when_all(receivers).await {
                assert_eq!(got, (0..10).collect::<Vec<_>>());
            }
        });
    });
}

// ------------------------------------------------------------------------- no allocation

#[test]
fn y13_waiting_allocates_nothing_the_waiter_node_lives_in_the_future() {
    let (tx, rx) = channel::<u32>(1);
    let semaphore = Semaphore::new(0);
    let mutex = Mutex::new(0);
    let guard = mutex.try_lock().unwrap();
    let notify = Notify::new();
    let (wakes, waker) = counting_waker();
    tx.try_send(2).unwrap();
    let ((), allocations) = count_allocations(|| {
        for _ in 0..100 {
            let mut receiving = pin!(rx.recv());
            assert!(poll_once(receiving.as_mut(), &waker).is_ready());
            let mut again = pin!(rx.recv());
            assert!(poll_once(again.as_mut(), &waker).is_pending());
            let mut handed = pin!(tx.send(1)); // straight to the waiting receive
            assert!(poll_once(handed.as_mut(), noop()).is_ready());
            assert_eq!(poll_once(again.as_mut(), noop()), Poll::Ready(Some(1)));
            let mut queued = pin!(tx.send(2));
            assert!(poll_once(queued.as_mut(), noop()).is_ready());
            let mut full = pin!(tx.send(3));
            assert!(poll_once(full.as_mut(), &waker).is_pending());
            let mut acquire = pin!(semaphore.acquire());
            assert!(poll_once(acquire.as_mut(), &waker).is_pending());
            let mut lock = pin!(mutex.lock());
            assert!(poll_once(lock.as_mut(), &waker).is_pending());
            let mut notified = pin!(notify.notified());
            assert!(poll_once(notified.as_mut(), &waker).is_pending());
        }
    });
    drop(guard);
    assert!(wakes.0.load(Ordering::SeqCst) <= 200);
    assert_eq!(allocations, 0, "waiting allocated");
}
