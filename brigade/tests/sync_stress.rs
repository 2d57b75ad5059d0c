//! Stress for `brigade::sync` (Y2, Y3): 8 threads and 1 000 000 messages through one bounded
//! channel, with receives constantly given up and dropped, losing and duplicating none.
//! CI runs it optimised (`cargo test --release --test sync_stress`).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

use brigade::sync::{channel, Receiver};
use brigade::Runtime;
use brigade_test_support::watchdog;

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const MESSAGES: usize = 1_000_000;

#[test]
fn y3_eight_threads_move_a_million_messages_through_cancelled_receives_losing_none() {
    watchdog("sync stress", Duration::from_secs(600), || {
        let rt = Arc::new(Runtime::builder().workers(2).build().expect("runtime"));
        // Small, so senders wait and receivers find values handed to them while cancelled.
        let (tx, rx) = channel::<u32>(64);
        let seen: Arc<Vec<AtomicU8>> = Arc::new((0..MESSAGES).map(|_| AtomicU8::new(0)).collect());
        let cancelled = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (rt, tx) = (rt.clone(), tx.clone());
                std::thread::spawn(move || {
                    rt.block_on(async move {
                        let mut value = p;
                        while value < MESSAGES {
                            tx.send(value as u32).await.expect("receivers alive");
                            value += PRODUCERS;
                        }
                    })
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let (rt, rx, seen, cancelled) =
                    (rt.clone(), rx.clone(), seen.clone(), cancelled.clone());
                std::thread::spawn(move || {
                    rt.block_on(async move {
                        let mut received = 0usize;
                        loop {
                            // Half the consumers give up on a receive after two polls: the
                            // dropped receive may have been handed a value meanwhile, which
                            // must move on (Y3).
                            let next = if c % 2 == 0 {
                                match recv_briefly(&rx).await {
                                    Some(next) => next,
                                    None => {
                                        cancelled.fetch_add(1, Ordering::Relaxed);
                                        continue;
                                    }
                                }
                            } else {
                                rx.recv().await
                            };
                            let Some(value) = next else { break };
                            let previous = seen[value as usize].fetch_add(1, Ordering::Relaxed);
                            assert_eq!(previous, 0, "message {value} delivered twice");
                            received += 1;
                        }
                        received
                    })
                })
            })
            .collect();
        drop(rx);
        for producer in producers {
            producer.join().expect("producer");
        }
        let received: usize = consumers
            .into_iter()
            .map(|c| c.join().expect("consumer"))
            .sum();
        let missing = seen
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) == 0)
            .count();
        assert_eq!(missing, 0, "{missing} messages lost");
        assert_eq!(received, MESSAGES);
        eprintln!(
            "{MESSAGES} messages, {} receives dropped while waiting",
            cancelled.load(Ordering::Relaxed)
        );
    });
}

/// A receive given two polls (yielding in between); `None` when it gave up, dropping the
/// receive while it may hold a value.
async fn recv_briefly(rx: &Receiver<u32>) -> Option<Option<u32>> {
    let mut receiving = pin!(rx.recv());
    let mut polls = 0;
    poll_fn(|cx| match receiving.as_mut().poll(cx) {
        Poll::Ready(next) => Poll::Ready(Some(next)),
        Poll::Pending if polls < 2 => {
            polls += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Poll::Pending => Poll::Ready(None),
    })
    .await
}
