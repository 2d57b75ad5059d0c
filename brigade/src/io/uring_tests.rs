//! The io_uring backend's unit tests: wakes, failed polls, and the submission queue's tail.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// The submission queue's tail is written back by every `SubmissionQueue` when it drops:
/// one dropped outside the `submit` lock can put the tail behind the head.
#[test]
fn looks_racing_pushes_keep_the_submission_queue_sane() {
    let Ok(uring) = Uring::new() else {
        return;
    };
    let uring = Arc::new(uring);
    let stop = Arc::new(AtomicBool::new(false));
    let pushers: Vec<_> = (0..2)
        .map(|_| {
            let (uring, stop) = (uring.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    uring.wake().unwrap();
                }
            })
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        uring.poll(Some(Duration::ZERO), |_, _| {});
        let queued = {
            let _guard = uring.submit.lock().unwrap();
            // SAFETY: `submit` is held.
            let queue = unsafe { uring.ring.submission_shared() };
            let queued = queue.len();
            drop(queue);
            queued
        };
        assert!(
            queued <= RING_ENTRIES as usize,
            "the submission queue claims {queued} entries in a ring of {RING_ENTRIES}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for pusher in pushers {
        pusher.join().unwrap();
    }
}

#[test]
fn a_poll_that_fails_is_freed_by_its_deregistration() {
    let Ok(uring) = Uring::new() else {
        return;
    };
    uring.adopt_this_thread();
    let scheduled = Arc::new(ScheduledIo::default());
    // No such descriptor: the poll fails at once, and no completion will follow.
    uring
        .register(1 << 20, &scheduled, Interest::READABLE)
        .unwrap();
    let mut seen = 0;
    let start = Instant::now();
    while seen == 0 && start.elapsed() < Duration::from_secs(5) {
        seen += uring
            .poll(Some(Duration::from_millis(10)), |_, flags| {
                assert_ne!(flags & ERROR, 0, "a failed poll reports an error");
            })
            .unwrap();
    }
    assert_eq!(seen, 1, "the failed poll's completion");
    uring.deregister(&scheduled);
    assert!(
        uring.polls().entries.is_empty(),
        "a dead poll's entry must go with its deregistration, not wait for a completion"
    );
}

#[test]
fn a_wake_always_ends_a_wait() {
    let Ok(uring) = Uring::new() else {
        return; // no io_uring here: nothing to check
    };
    let uring = Arc::new(uring);
    let turns = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (uring, turns, stop) = (uring.clone(), turns.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                uring.poll(Some(Duration::from_secs(30)), |_, _| {});
                turns.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Registrations come and go meanwhile, as sockets do.
    let churn = {
        let (uring, stop) = (uring.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
                let scheduled = Arc::new(ScheduledIo::default());
                use std::os::fd::AsRawFd;
                uring
                    .register(a.as_raw_fd(), &scheduled, Interest::READABLE)
                    .unwrap();
                drop(b);
                uring.deregister(&scheduled);
            }
        })
    };
    for round in 0..20_000 {
        let before = turns.load(Ordering::SeqCst);
        for _ in 0..(round % 7) * 50 {
            std::hint::spin_loop();
        }
        uring.wake().unwrap();
        let start = Instant::now();
        while turns.load(Ordering::SeqCst) == before {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "round {round}: a wake did not end the wait"
            );
            std::hint::spin_loop();
        }
    }
    stop.store(true, Ordering::SeqCst);
    uring.wake().unwrap();
    waiter.join().unwrap();
    churn.join().unwrap();
}
