//! 2b. Starvation: when work blocks the pool

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use brigade::{Handle, Runtime};

use crate::ch02::NaivePool;
use crate::common::{chapter, ms, say, show, thread_name, WORKERS};

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
    let started_threads = Arc::new(Mutex::new(Vec::new()));
    let names = Arc::clone(&started_threads);
    let rt = Runtime::builder()
        .workers(WORKERS)
        .on_stall(move |report| sink.lock().unwrap().push(report.to_string()))
        .on_thread_start(move || names.lock().unwrap().push(thread_name()))
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
    let reports = std::mem::take(&mut *reports.lock().unwrap());
    let detected = reports.iter().filter(|r| !r.contains(" is back: ")).count();
    if let Some(first) = reports.first() {
        show(&format!(
            "{detected} stalls detected, each reported when caught and again when its worker \
             came back; the first report: {first}"
        ));
    }
    let spare_names: Vec<String> = started_threads
        .lock()
        .unwrap()
        .iter()
        .filter(|name| worker_index(name).is_some_and(|index| index >= WORKERS))
        .cloned()
        .collect();
    if !spare_names.is_empty() {
        show(&format!(
            "the spares' threads were named {}: the 4 configured workers are slots 0 to 3, so \
             a spare takes the first free slot after them (a spare's number says nothing \
             about which worker it stands in for)",
            spare_names.join(", ")
        ));
    }
    let (retired_after, left) = wait_for_spares_to_retire(&rt, Duration::from_millis(500));
    match left {
        0 => show(&format!(
            "after the blockers returned: 0 spare workers {} later (the surplus retired)",
            ms(retired_after)
        )),
        left => show(&format!(
            "after the blockers returned: {left} spare worker(s) still running {} later (they \
             retire at their next idle moment)",
            ms(retired_after)
        )),
    }

    say(
        "Spares are rate-limited — at most one per 10 ms, 100 a second — and capped (32 for \
         stalls by default), so a burst of blocking cannot explode the thread count. 24 tasks \
         blocking 400 ms each on a fresh 4-worker runtime, sampling the spare count every \
         2 ms:",
    );
    let (peak, first_spare, last_spare, started_count) = spare_burst(24)?;
    match (first_spare, last_spare) {
        (Some(first), Some(last)) if started_count > 1 => show(&format!(
            "{started_count} spares started between {} and {} (one every {} on average, {:.0} \
             a second); at most {peak} ran at once",
            ms(first),
            ms(last),
            ms((last - first) / (started_count as u32 - 1)),
            (started_count - 1) as f64 / (last - first).as_secs_f64().max(1e-9)
        )),
        _ => show(&format!(
            "{started_count} spare(s) started; at most {peak} ran at once"
        )),
    }
    say(
        "Detection is the safety net. Code that knows it blocks says so: brigade::run(closure) \
         moves it to the blocking threads (Task.Run), and brigade::blocking(closure) hands the \
         worker's queue to a spare at once. Even the article's .Result — block_on called on a \
         worker — now works as a cooperative block, with a warning naming the call site.",
    );
    Ok(())
}

/// The slot number in a worker thread's name: `brigade-worker-7` is slot 7.
fn worker_index(name: &str) -> Option<usize> {
    name.strip_prefix("brigade-worker-")?.parse().ok()
}

/// Polls the runtime's metrics until no spare runs or `limit` passes: how long it took, and
/// how many spares were left.
fn wait_for_spares_to_retire(rt: &Runtime, limit: Duration) -> (Duration, usize) {
    let since = Instant::now();
    loop {
        let left = rt.metrics().spare_workers;
        if left == 0 || since.elapsed() >= limit {
            return (since.elapsed(), left);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `blockers` tasks blocking 400 ms each on a fresh runtime; samples `spares_started` every
/// 2 ms. Returns the most spares running at once, when the first and last spare started
/// (from the spawn), and how many started.
fn spare_burst(
    blockers: usize,
) -> std::io::Result<(usize, Option<Duration>, Option<Duration>, u64)> {
    let rt = Runtime::builder()
        .workers(WORKERS)
        .on_stall(|_| {}) // counted through the metrics here; 2b's reports are above
        .build()?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..blockers)
        .map(|_| rt.spawn(async { std::thread::sleep(Duration::from_millis(400)) }))
        .collect();
    let (mut peak, mut first, mut last, mut seen) = (0, None, None, 0);
    while started.elapsed() < Duration::from_millis(450) {
        let metrics = rt.metrics();
        peak = peak.max(metrics.spare_workers);
        if metrics.spares_started > seen {
            let now = started.elapsed();
            first.get_or_insert(now);
            last = Some(now);
            seen = metrics.spares_started;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    rt.block_on(brigade::when_all(tasks));
    Ok((peak, first, last, seen))
}
