//! 11. Advanced optimizations: Task.Yield

use std::sync::{Arc, Mutex};

use brigade::Runtime;

use crate::common::{chapter, say, show, thread_name};

/// Two cooks share one worker thread; each logs three steps, yielding after each or not.
fn cook_two_orders(rt: &Runtime, yield_between_steps: bool) -> (Vec<String>, Vec<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let cooks_log = Arc::clone(&log);
    // Spawned from inside a task, so both cooks are queued before the only worker is free.
    let threads = rt.block_on(rt.spawn(async move {
        let cooks = ["A", "B"].map(|cook| {
            let log = Arc::clone(&cooks_log);
            brigade::spawn(async move {
                for step in 1..=3 {
                    log.lock().unwrap().push(format!("{cook}{step}"));
                    if yield_between_steps {
                        brigade::yield_now().await; // back of the queue: let the other cook in
                    }
                }
                thread_name()
            })
        });
        brigade::when_all(cooks).await
    }));
    let steps = std::mem::take(&mut *log.lock().unwrap());
    (steps, threads)
}

pub(crate) fn ch11_yield_now() -> std::io::Result<()> {
    chapter("11. Advanced optimizations: Task.Yield");
    say(
        "A task keeps its thread until it reaches an await that is not ready. A long loop that \
         never waits holds everyone else up. brigade::yield_now().await is Task.Yield: it \
         returns Pending once and puts the task at the back of the queue, so others get a \
         turn. Two tasks, A and B, three steps each, on a runtime with a single worker:",
    );

    let single = Runtime::builder().workers(1).build()?;
    let (without, threads_without) = cook_two_orders(&single, false);
    let (with, threads_with) = cook_two_orders(&single, true);
    println!("  > without yield_now: {}", without.join(" "));
    println!("  > with yield_now:    {}", with.join(" "));
    let mut threads = [threads_without, threads_with].concat();
    threads.sort();
    threads.dedup();
    show(&format!("every step ran on: {}", threads.join(", ")));
    show(&format!(
        "without yield_now, {} ran first",
        if without.first().is_some_and(|step| step.starts_with('B')) {
            "B"
        } else {
            "A (this run did not show the LIFO order explained below)"
        }
    ));
    say(
        "Why B before A? A task spawned (or woken) by the running task goes into the worker's \
         LIFO slot and runs right after it, while the data it was handed is still in the \
         CPU's cache; the task it displaces moves to the queue. B was spawned last, so B runs \
         first. A yield is different: it goes to the back of the queue, never the LIFO slot — \
         there it would simply run again at once and the yield would do nothing. (Two tasks \
         that keep waking each other through the LIFO slot are capped after 3 rounds, so \
         they cannot starve the queue either.)",
    );
    Ok(())
}
