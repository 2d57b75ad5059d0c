//! Lost wake-ups (issue 10.1): a wake that reaches the pool must always make the task run again.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use brigade::Runtime;

/// A task whose first poll blocks its worker for `stall` (long enough for the stall monitor to
/// flag it and start a spare), publishing its waker at the start of that poll; its second
/// poll reports back.
struct SlowFirstPoll {
    stall: Duration,
    waker: Arc<Mutex<Option<Waker>>>,
    started: Arc<AtomicBool>,
    polls: u32,
    done: mpsc::Sender<()>,
}

impl Future for SlowFirstPoll {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls += 1;
        if self.polls > 1 {
            let _ = self.done.send(());
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        self.started.store(true, Ordering::Release);
        std::thread::sleep(self.stall);
        Poll::Pending
    }
}

/// A cheap pseudo-random sequence (no dependency): the wake's offset into the slow poll.
struct Jitter(u64);

impl Jitter {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spin_for(duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[test]
fn p2_a_wake_racing_a_stalled_first_poll_is_never_lost() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let rt = Runtime::builder()
        .workers(1)
        .stall_threshold(Duration::from_millis(1))
        .on_stall(|_| {})
        .build()
        .unwrap();
    let mut jitter = Jitter(0x2545_F491_4F6C_DD1D);
    let stall = Duration::from_millis(3);
    for round in 0..rounds {
        let waker = Arc::new(Mutex::new(None));
        let started = Arc::new(AtomicBool::new(false));
        let (done, finished) = mpsc::channel();
        let _task = rt.spawn(SlowFirstPoll {
            stall,
            waker: waker.clone(),
            started: started.clone(),
            polls: 0,
            done,
        });
        let spawned_at = Instant::now();
        while !started.load(Ordering::Acquire) {
            if spawned_at.elapsed() > Duration::from_secs(5) {
                panic!(
                    "round {round}: the spawned task was never polled\n{:#?}\n{}",
                    rt.metrics(),
                    rt.dump()
                );
            }
            std::thread::yield_now();
        }
        // Land the wake anywhere from inside the slow poll to a little after it.
        spin_for(Duration::from_micros(jitter.below(6_000)));
        let waker = waker.lock().unwrap().take().unwrap();
        waker.wake();
        if finished.recv_timeout(Duration::from_secs(5)).is_err() {
            panic!(
                "round {round}: the wake was lost (the task never ran again)\n{:#?}\n{}",
                rt.metrics(),
                rt.dump()
            );
        }
    }
    let m = rt.metrics();
    eprintln!(
        "spares started {} stalls {}",
        m.spares_started, m.stalls_detected
    );
}
