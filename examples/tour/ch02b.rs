//! 2b. Starvation: when work blocks the pool

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use brigade::{Handle, Runtime};

use crate::ch02::NaivePool;
use crate::common::{chapter, ms, say, show, WORKERS};

/// A small job queued behind `blockers` work items that each block their thread for `block`:
/// how long until the small job runs?
fn naive_pool_wait(blockers: usize, block: Duration) -> Duration {
    let pool = NaivePool::new(WORKERS);
    for _ in 0..blockers {
        pool.queue_user_work_item(move || std::thread::sleep(block));
    }
    let (tx, rx) = mpsc::channel();
    let queued = Instant::now();
    pool.queue_user_work_item(move || {
        let _ = tx.send(queued.elapsed());
    });
    let waited = rx.recv().unwrap();
    drop(pool);
    waited
}

pub(crate) fn ch02b_starvation() -> std::io::Result<()> {
    chapter("2b. Starvation: when work blocks the pool");
    say(
        "The naive pool has a weakness the article returns to in 13D: a work item that blocks \
         (a synchronous read, Thread.Sleep, a lock held too long) keeps its thread, and \
         everything queued behind it waits. Four items each blocking for 300 ms, then one tiny \
         job, on the 4-thread naive pool:",
    );
    let naive = naive_pool_wait(WORKERS, Duration::from_millis(300));
    show(&format!("the tiny job waited {}", ms(naive)));

    say(
        "The .NET pool notices starvation and adds threads. brigade does it per poll: each \
         worker publishes a poll counter (two plain stores per poll), a monitor thread sees a \
         poll that lasts past a threshold (10 ms by default), reports it with the task's name \
         and spawn location, and starts a spare worker that takes over the stuck worker's \
         queue. When the stuck worker comes back, the spare retires. The same four blockers \
         on brigade's 4 workers, while a task ticks every millisecond:",
    );
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let rt = Runtime::builder()
        .workers(WORKERS)
        .on_stall(move |report| sink.lock().unwrap().push(report.to_string()))
        .build()?;
    let (largest_gap, tiny_wait, spares) = rt.block_on(rt.spawn(async move {
        let ticking = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let still = Arc::clone(&ticking);
        let ticker = brigade::spawn(async move {
            let mut ticks = brigade::time::interval(Duration::from_millis(1));
            let mut last = Instant::now();
            let mut largest = Duration::ZERO;
            while still.load(std::sync::atomic::Ordering::Relaxed) {
                ticks.tick().await;
                largest = largest.max(last.elapsed());
                last = Instant::now();
            }
            largest
        });
        brigade::time::sleep(Duration::from_millis(20)).await;
        let blockers: Vec<_> = (0..WORKERS)
            .map(|_| {
                brigade::spawn_named("sync-read", async {
                    std::thread::sleep(Duration::from_millis(300))
                })
            })
            .collect();
        // Let the blockers take all four workers, then queue the tiny job.
        brigade::time::sleep(Duration::from_millis(40)).await;
        let spares = Handle::current().metrics().spare_workers;
        let queued = Instant::now();
        let tiny_wait = brigade::spawn(async move { queued.elapsed() }).await;
        brigade::when_all(blockers).await;
        ticking.store(false, std::sync::atomic::Ordering::Relaxed);
        (ticker.await, tiny_wait, spares)
    }));
    show(&format!(
        "spare workers running 40 ms in: {spares}; the tiny job then waited {}; the 1 ms \
         ticker's largest gap was {}",
        ms(tiny_wait),
        ms(largest_gap)
    ));
    if let Some(first) = reports.lock().unwrap().first() {
        show(&format!("stall report: {first}"));
    }
    std::thread::sleep(Duration::from_millis(50));
    show(&format!(
        "after the blockers returned: {} spare workers (the surplus retired)",
        rt.metrics().spare_workers
    ));
    say(
        "Detection is the safety net. Code that knows it blocks says so: brigade::run(closure) \
         moves it to the blocking threads (Task.Run), and brigade::blocking(closure) hands the \
         worker's queue to a spare at once. Even the article's .Result — block_on called on a \
         worker — now works as a cooperative block, with a warning naming the call site.",
    );
    Ok(())
}
