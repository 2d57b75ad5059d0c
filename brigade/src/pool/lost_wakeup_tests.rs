//! Issue 10.1, made deterministic by fault injection: every worker is "preempted" between its
//! last look at the queues and joining the sleepers (`test_hooks`), the window in which a
//! spare that retired while counted awake used to strand a freshly queued task for good.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade_test_support::SlowFirstPoll;

use super::worker::test_hooks;
use crate::runtime::Runtime;

#[test]
fn a_spare_retiring_while_a_worker_is_about_to_park_strands_no_task() {
    let rt = Runtime::builder()
        .workers(1)
        .stall_threshold(Duration::from_millis(1))
        .on_stall(|_| {})
        .on_thread_start(|| test_hooks::delay_parks_on_this_thread(Duration::from_micros(300)))
        .build()
        .unwrap();
    for round in 0..100 {
        let waker = Arc::new(Mutex::new(None));
        let started = Arc::new(AtomicBool::new(false));
        let (done, finished) = mpsc::channel();
        let _task = rt.spawn(SlowFirstPoll::new(
            Duration::from_millis(3),
            waker.clone(),
            started.clone(),
            done,
        ));
        let spawned = Instant::now();
        while !started.load(Ordering::Acquire) {
            assert!(
                spawned.elapsed() < Duration::from_secs(5),
                "round {round}: the spawned task was never polled (lost wake-up)\n{:#?}",
                rt.metrics()
            );
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_micros(500 * (round % 8)));
        waker.lock().unwrap().take().unwrap().wake();
        assert!(
            finished.recv_timeout(Duration::from_secs(5)).is_ok(),
            "round {round}: the wake was lost (the task never ran again)\n{:#?}",
            rt.metrics()
        );
    }
    // The scenario needs spares coming and going; make sure it happened.
    let metrics = rt.metrics();
    eprintln!("spares started: {}", metrics.spares_started);
    assert!(metrics.spares_started > 0, "no spare was ever started");
}
