//! 10. Best practices

use std::time::{Duration, Instant};

use brigade::Runtime;

use crate::common::{chapter, ms, say, show};

pub(crate) fn ch10_best_practices(rt: &Runtime) {
    chapter("10. Best practices: start everything, then await together");
    say(
        "Async all the way: inside a task, await; never block a worker thread, since every \
         other task queued on it waits too. Blocking or heavy CPU work goes to brigade::run, \
         which is Task.Run: the closure runs on separate blocking threads and you await its \
         Task. And independent work should be started together and awaited with when_all, \
         not awaited one after another.",
    );
    say("Eight jobs, each blocking for 50 ms (think: a synchronous file read):");

    const JOBS: usize = 8;
    let job = || {
        std::thread::sleep(Duration::from_millis(50));
        crate::common::thread_name()
    };

    // Both runs happen inside a task, as real async code would: the task awaits, its worker
    // stays free, and the blocking happens on brigade::run's threads.
    let (sequential, together) = rt.block_on(rt.spawn(async move {
        let started = Instant::now();
        let mut threads = Vec::new();
        for _ in 0..JOBS {
            threads.push(brigade::run(job).await);
        }
        let sequential = started.elapsed();
        let started = Instant::now();
        threads.extend(brigade::when_all((0..JOBS).map(|_| brigade::run(job))).await);
        (sequential, (started.elapsed(), threads))
    }));
    let (together, threads) = together;
    println!("  > one after another: {}", ms(sequential));
    println!("  > when_all:          {}", ms(together));
    show(&format!(
        "speedup: {:.1}x",
        sequential.as_secs_f64() / together.as_secs_f64()
    ));
    let on_workers = threads
        .iter()
        .filter(|name| name.starts_with("brigade-worker"))
        .count();
    let on_blocking = threads
        .iter()
        .filter(|name| name.starts_with("brigade-blocking"))
        .count();
    show(&format!(
        "of the {} sleeps, {on_blocking} ran on brigade-blocking-* threads and {on_workers} on \
         a worker",
        threads.len()
    ));
    say(
        "So while the jobs slept the workers were free: the awaiting task was parked, and the \
         sleeping happened on brigade::run's own threads.",
    );
}
