//! Leak hunt: after a runtime has run every kind of task life (completed, detached, cancelled,
//! panicked, woken from other threads, never finished) and has been dropped, every byte it
//! allocated is given back. A task cell whose reference count never reaches zero, a waker
//! never released, or a queue entry never dropped shows up here as live bytes.
//!
//! One test in its own binary: the counting allocator sees every thread, so nothing else may
//! run beside it.

use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use brigade::{Promise, Runtime, TaskError};
use brigade_test_support::{live_bytes, quiet_expected_panics, watchdog, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Keeps a clone of its waker in a shared list (so wakers outlive the task), then finishes on
/// the second poll.
struct StashWaker {
    stash: Arc<Mutex<Vec<Waker>>>,
    polled: bool,
}

impl Future for StashWaker {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polled {
            return Poll::Ready(());
        }
        self.polled = true;
        self.stash.lock().unwrap().push(cx.waker().clone());
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Every kind of task life, `rounds` times.
fn workload(rt: &Runtime, rounds: usize) {
    let stash = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        for i in 0..rounds {
            // Awaited, detached, and with its waker kept alive past completion.
            let joined = brigade::spawn(async move { vec![i; 4] });
            brigade::spawn(async move { vec![i; 8] }).detach();
            brigade::spawn(StashWaker {
                stash: stash.clone(),
                polled: false,
            })
            .detach();
            // Cancelled while idle, and cancelled after finishing.
            let idle = brigade::spawn(pending::<Vec<u8>>());
            let finished = brigade::spawn(async { String::from("done") });
            while !finished.is_finished() {
                brigade::yield_now().await;
            }
            let outcome = idle.cancel().await;
            assert!(matches!(outcome, Err(TaskError::Cancelled)), "{outcome:?}");
            assert!(finished.cancel().await.is_ok());
            // A panic, observed and unobserved.
            let boom = brigade::spawn(async { panic!("[expected] leak-test panic") });
            assert!(boom.join().await.is_err());
            // Woken from an OS thread through a promise.
            let (promise, waiting) = Promise::new();
            let waiter = brigade::spawn(waiting);
            std::thread::spawn(move || promise.set(Box::new(i)).unwrap());
            assert_eq!(*waiter.await.unwrap(), i);
            // A blocking closure.
            assert_eq!(brigade::run(move || i * 2).await, i * 2);
            assert_eq!(joined.await.len(), 4);
            // Combinators: child wakers handed to tasks and kept past completion.
            let parts = (0..4).map(|j| brigade::spawn(async move { j * i }));
            assert_eq!(brigade::when_all(parts).await.len(), 4);
            let racers = [
                brigade::spawn(pending::<usize>()),
                brigade::spawn(async { 1 }),
            ];
            assert_eq!(brigade::when_any(racers).await, (1, 1));
        }
        // Tasks that never finish: the runtime's shutdown must free them.
        for _ in 0..rounds {
            brigade::spawn(pending::<()>()).detach();
        }
    });
    stash.lock().unwrap().clear();
}

#[test]
fn no_task_cell_waker_or_queue_entry_outlives_its_runtime() {
    quiet_expected_panics();
    watchdog("leak hunt", Duration::from_secs(60), || {
        let build = || {
            Runtime::builder()
                .workers(2)
                .blocking_keep_alive(Duration::from_millis(50))
                .build()
                .unwrap()
        };
        // Warm up: std's lazy statics (thread-local destructors, the panic machinery) settle.
        {
            let rt = build();
            workload(&rt, 50);
        }
        std::thread::sleep(Duration::from_millis(300));
        let baseline = live_bytes();

        let rounds = 2_000;
        {
            let rt = build();
            workload(&rt, rounds);
        }
        // Blocking threads are not joined at drop; they exit on their own shortly after.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut leaked = live_bytes() - baseline;
        while leaked > 64 * 1024 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            leaked = live_bytes() - baseline;
        }
        // Leaking even one task cell per round would be 2 000 x ~100+ bytes.
        assert!(
            leaked <= 64 * 1024,
            "{leaked} bytes still live after {rounds} rounds and runtime drop (baseline {baseline})"
        );
    });
}
