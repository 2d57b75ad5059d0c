//! Behaviour tests for the thread pool: promises P1, P2, P3 and P5 of docs/SEMANTICS.md.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use brigade::{when_all, yield_now, Runtime};
use brigade_test_support::*;

// ---------------------------------------------------------------- P1

#[derive(Default)]
struct Hooks {
    started: Mutex<Vec<String>>,
    stopped: Mutex<Vec<String>>,
}

fn hooked(builder: brigade::Builder) -> (Runtime, Arc<Hooks>) {
    let hooks = Arc::new(Hooks::default());
    let (h1, h2) = (hooks.clone(), hooks.clone());
    let rt = builder
        .on_thread_start(move || h1.started.lock().unwrap().push(thread_name()))
        .on_thread_stop(move || h2.stopped.lock().unwrap().push(thread_name()))
        .build()
        .expect("runtime");
    (rt, hooks)
}

#[test]
fn p1_default_worker_count_is_the_available_parallelism() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (rt, hooks) = hooked(Runtime::builder());
    assert_eq!(rt.metrics().workers, cores);
    assert_eq!(rt.metrics().per_worker.len(), cores);
    wait_until("every worker started", Duration::from_secs(5), || {
        hooks.started.lock().unwrap().len() >= cores
    });
    drop(rt);
    assert_eq!(hooks.started.lock().unwrap().len(), cores);
    assert_eq!(hooks.stopped.lock().unwrap().len(), cores);
}

#[test]
fn p1_workers_3_gives_three_named_workers_and_hooks_run_once_per_worker() {
    let (rt, hooks) = hooked(Runtime::builder().workers(3));
    assert_eq!(rt.metrics().workers, 3);
    wait_until("three workers started", Duration::from_secs(5), || {
        hooks.started.lock().unwrap().len() >= 3
    });
    std::thread::sleep(Duration::from_millis(20));
    let started: BTreeSet<String> = hooks.started.lock().unwrap().iter().cloned().collect();
    let expected: BTreeSet<String> = (0..3).map(|i| format!("brigade-worker-{i}")).collect();
    assert_eq!(started, expected);
    assert_eq!(
        hooks.started.lock().unwrap().len(),
        3,
        "a start hook ran twice"
    );
    assert!(
        hooks.stopped.lock().unwrap().is_empty(),
        "a stop hook ran early"
    );
    // Tasks run on those threads.
    let names = rt.block_on(when_all((0..50).map(|_| rt.spawn(async { thread_name() }))));
    for name in names {
        assert!(expected.contains(&name), "a task ran on {name:?}");
    }
    drop(rt);
    let stopped: Vec<String> = hooks.stopped.lock().unwrap().clone();
    assert_eq!(stopped.len(), 3, "stop hooks: {stopped:?}");
    assert_eq!(stopped.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[test]
fn p1_custom_thread_name_names_the_workers() {
    let (rt, hooks) = hooked(Runtime::builder().workers(2).thread_name("kitchen"));
    let name = rt.block_on(rt.spawn(async { thread_name() }));
    assert!(name.starts_with("kitchen-worker-"), "task ran on {name:?}");
    drop(rt);
    let started: BTreeSet<String> = hooks.started.lock().unwrap().iter().cloned().collect();
    assert_eq!(
        started,
        ["kitchen-worker-0", "kitchen-worker-1"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

// ---------------------------------------------------------------- P2

/// A counter a task can wait on: `post` raises it and wakes the waiter.
struct Mailbox {
    value: AtomicU64,
    waker: Mutex<Option<Waker>>,
    /// Wake-ups this mailbox delivered (a waiter was registered and woken); shared per test.
    wakes: Arc<AtomicU64>,
}

impl Mailbox {
    fn new(wakes: &Arc<AtomicU64>) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            value: AtomicU64::new(0),
            waker: Mutex::new(None),
            wakes: wakes.clone(),
        })
    }

    fn post(&self, value: u64) {
        self.value.store(value, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap().take();
        if let Some(waker) = waker {
            self.wakes.fetch_add(1, Ordering::Relaxed);
            waker.wake();
        }
    }

    fn wait_for(&self, value: u64) -> WaitFor<'_> {
        WaitFor {
            mailbox: self,
            value,
        }
    }
}

struct WaitFor<'a> {
    mailbox: &'a Mailbox,
    value: u64,
}

impl Future for WaitFor<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.mailbox.value.load(Ordering::SeqCst) >= self.value {
            return Poll::Ready(());
        }
        *self.mailbox.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.mailbox.value.load(Ordering::SeqCst) >= self.value {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[test]
fn p2_a_million_cross_thread_wakes_all_land() {
    const PAIRS: usize = 500;
    const ROUNDS: u64 = 1200; // up to 2 wakes per round per pair: ~1_200_000 wakes
    let progress = Arc::new(AtomicU64::new(0));
    let seen = progress.clone();
    let wakes = Arc::new(AtomicU64::new(0));
    let delivered = wakes.clone();
    let result = std::thread::spawn(move || {
        let rt = Runtime::builder().workers(2).build().expect("runtime");
        rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..PAIRS {
                let a = Mailbox::new(&wakes);
                let b = Mailbox::new(&wakes);
                let (a2, b2, p1, p2) = (a.clone(), b.clone(), progress.clone(), progress.clone());
                tasks.push(brigade::spawn(async move {
                    for round in 1..=ROUNDS {
                        b2.post(round);
                        a2.wait_for(round).await;
                        p1.fetch_add(1, Ordering::Relaxed);
                    }
                }));
                tasks.push(brigade::spawn(async move {
                    for round in 1..=ROUNDS {
                        b.wait_for(round).await;
                        p2.fetch_add(1, Ordering::Relaxed);
                        a.post(round);
                    }
                }));
            }
            when_all(tasks).await;
        });
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !result.is_finished() {
        assert!(
            Instant::now() < deadline,
            "p2: a wake-up was lost: only {} of {} waits completed after 30 s",
            seen.load(Ordering::Relaxed),
            2 * PAIRS as u64 * ROUNDS
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    result.join().expect("p2 body panicked");
    assert_eq!(seen.load(Ordering::Relaxed), 2 * PAIRS as u64 * ROUNDS);
    // Most waits must really have suspended and been woken, or the test proves nothing.
    let delivered = delivered.load(Ordering::Relaxed);
    assert!(
        delivered >= 600_000,
        "only {delivered} wake-ups were exercised"
    );
}

#[test]
fn p2_wakes_from_foreign_threads_all_land() {
    const TASKS: usize = 100;
    const ROUNDS: u64 = 2000;
    let wakes = Arc::new(AtomicU64::new(0));
    let boxes: Vec<Arc<Mailbox>> = (0..TASKS).map(|_| Mailbox::new(&wakes)).collect();
    let acks: Vec<Arc<Mailbox>> = (0..TASKS).map(|_| Mailbox::new(&wakes)).collect();
    let rt = Runtime::builder().workers(2).build().expect("runtime");
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (mine, ack) = (boxes[i].clone(), acks[i].clone());
            rt.spawn(async move {
                for round in 1..=ROUNDS {
                    mine.wait_for(round).await;
                    ack.value.store(round, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Four OS threads, each waking 25 tasks round by round, waiting (spinning) for the ack.
    let wakers: Vec<_> = (0..4)
        .map(|t| {
            let mine: Vec<_> = (t * 25..(t + 1) * 25)
                .map(|i| (boxes[i].clone(), acks[i].clone()))
                .collect();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                for round in 1..=ROUNDS {
                    for (mailbox, _) in &mine {
                        mailbox.post(round);
                    }
                    for (index, (_, ack)) in mine.iter().enumerate() {
                        while ack.value.load(Ordering::SeqCst) < round {
                            assert!(
                                Instant::now() < deadline,
                                "p2: task {} lost the wake of round {round}",
                                t * 25 + index
                            );
                            std::thread::yield_now();
                        }
                    }
                }
            })
        })
        .collect();
    for waker in wakers {
        waker.join().expect("a waking thread failed");
    }
    watchdog("p2 foreign join", Duration::from_secs(10), move || {
        rt.block_on(when_all(tasks));
    });
}

// ---------------------------------------------------------------- P3

#[test]
fn p3_dropping_the_runtime_drops_every_pending_future_and_joins_its_threads() {
    const PENDING: usize = 1000;
    const QUEUED: usize = 500;
    let (rt, hooks) = hooked(Runtime::builder().workers(2).thread_name("p3"));
    let handle = rt.handle().clone();
    let dropped = Arc::new(AtomicUsize::new(0));
    let polled = Arc::new(AtomicUsize::new(0));
    let ran_queued = Arc::new(AtomicUsize::new(0));
    for _ in 0..PENDING {
        let (guard, polled) = (DropCount(dropped.clone()), polled.clone());
        rt.spawn(async move {
            let _guard = guard;
            polled.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await
        })
        .detach();
    }
    wait_until(
        "every pending task polled once",
        Duration::from_secs(10),
        || polled.load(Ordering::SeqCst) == PENDING,
    );
    // Occupy both workers, then queue tasks that can never start before the drop.
    let blocking = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let blocking = blocking.clone();
        rt.spawn(async move {
            blocking.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
        })
        .detach();
    }
    wait_until("both workers blocked", Duration::from_secs(5), || {
        blocking.load(Ordering::SeqCst) == 2
    });
    let queued: Vec<_> = (0..QUEUED)
        .map(|_| {
            let (guard, ran) = (DropCount(dropped.clone()), ran_queued.clone());
            rt.spawn(async move {
                let _guard = guard;
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    let begin = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("dropping the Runtime did not return within 5 s");
    let took = begin.elapsed();
    assert_eq!(
        ran_queued.load(Ordering::SeqCst),
        0,
        "tasks were polled after the runtime began shutting down"
    );
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        PENDING + QUEUED,
        "not every live future was dropped by the runtime drop (took {took:?})"
    );
    assert!(handle.is_shutdown());
    assert_eq!(
        hooks.stopped.lock().unwrap().len(),
        2,
        "workers did not all stop"
    );
    for task in queued {
        match brigade::block_on(task.join()) {
            Err(brigade::TaskError::RuntimeShutdown) => {}
            other => panic!("a queued task's join gave {other:?}, expected RuntimeShutdown"),
        }
    }
    #[cfg(target_os = "linux")]
    {
        let names: Vec<String> = std::fs::read_dir("/proc/self/task")
            .expect("/proc/self/task")
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("comm")).ok())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with("p3-worker-")),
            "worker threads still alive after the runtime was dropped: {names:?}"
        );
    }
}

// ---------------------------------------------------------------- P5

#[test]
fn p5_spawning_from_eight_foreign_threads_runs_every_task() {
    watchdog("p5 foreign spawn", Duration::from_secs(20), || {
        let rt = Runtime::builder().workers(2).build().expect("runtime");
        let ran = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let (handle, ran, barrier) = (rt.handle().clone(), ran.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let tasks: Vec<_> = (0..1000u64)
                        .map(|i| {
                            let ran = ran.clone();
                            handle.spawn(async move {
                                ran.fetch_add(1, Ordering::SeqCst);
                                t * 1000 + i
                            })
                        })
                        .collect();
                    handle.block_on(when_all(tasks)).into_iter().sum::<u64>()
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(ran.load(Ordering::SeqCst), 8000);
        assert_eq!(total, (0..8000u64).sum());
    });
}

#[test]
fn p5_tasks_from_foreign_threads_are_not_starved_by_yield_loops() {
    let rt = Runtime::builder().workers(2).build().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let spinning = Arc::new(AtomicUsize::new(0));
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let (stop, spinning) = (stop.clone(), spinning.clone());
            rt.spawn(async move {
                spinning.fetch_add(1, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    yield_now().await;
                }
            })
        })
        .collect();
    wait_until("yield loops running", Duration::from_secs(5), || {
        spinning.load(Ordering::SeqCst) == 4
    });
    let handle = rt.handle().clone();
    let (tx, rx) = mpsc::channel();
    let foreign = std::thread::spawn(move || {
        for i in 0..20 {
            let tx = tx.clone();
            handle
                .spawn(async move {
                    let _ = tx.send(i);
                })
                .detach();
        }
    });
    foreign.join().expect("foreign thread");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 20 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(i) => got.push(i),
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::SeqCst);
    assert_eq!(
        got.len(),
        20,
        "tasks spawned from a foreign thread starved behind yield loops: {} of 20 ran in 5 s",
        got.len()
    );
    watchdog("p5 stop loops", Duration::from_secs(10), move || {
        rt.block_on(when_all(loops));
    });
}

#[test]
fn p3_a_runtime_dropped_inside_its_own_task_shuts_down_without_hanging() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let (rt, hooks) = hooked(Runtime::builder().workers(2).thread_name("p3self"));
    let handle = rt.handle().clone();
    for _ in 0..100 {
        let guard = DropCount(dropped.clone());
        rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        })
        .detach();
    }
    let (tx, rx) = mpsc::channel();
    let owner = Arc::new(Mutex::new(Some(rt)));
    let o = owner.clone();
    handle
        .spawn(async move {
            let rt = o.lock().unwrap().take();
            drop(rt);
            let _ = tx.send(());
        })
        .detach();
    rx.recv_timeout(Duration::from_secs(5))
        .expect("dropping the runtime inside its own task did not return");
    assert!(handle.is_shutdown());
    wait_until(
        "every pending future dropped",
        Duration::from_secs(5),
        || dropped.load(Ordering::SeqCst) == 100,
    );
    wait_until("workers stopped", Duration::from_secs(5), || {
        hooks.stopped.lock().unwrap().len() == 2
    });
}

#[test]
fn p5_a_single_worker_in_a_yield_loop_still_runs_foreign_tasks() {
    let rt = Runtime::builder().workers(1).build().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let (spin_tx, spin_rx) = mpsc::channel();
    let spinner = rt.spawn(async move {
        let _ = spin_tx.send(());
        while !s.load(Ordering::SeqCst) {
            yield_now().await;
        }
    });
    spin_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("spinner started");
    let handle = rt.handle().clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || handle.spawn(async move { tx.send(()) }).detach())
        .join()
        .expect("foreign thread");
    let got = rx.recv_timeout(Duration::from_secs(5));
    stop.store(true, Ordering::SeqCst);
    assert!(
        got.is_ok(),
        "a foreign task starved behind a yield loop on one worker"
    );
    watchdog("p5 single stop", Duration::from_secs(10), move || {
        rt.block_on(spinner);
    });
}

#[test]
fn p1_thread_start_hooks_run_inside_the_runtime() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let rt = Runtime::builder()
        .workers(2)
        .thread_name("hooked")
        .on_thread_start(move || {
            // The hook can reach its own runtime, e.g. to spawn a per-thread helper task.
            let handle = brigade::Handle::try_current();
            record.lock().unwrap().push(handle.is_some());
        })
        .build()
        .unwrap();
    rt.block_on(async {});
    wait_until("both start hooks ran", Duration::from_secs(5), || {
        seen.lock().unwrap().len() == 2
    });
    assert_eq!(*seen.lock().unwrap(), vec![true, true]);
}
