//! 7. Method builders

use std::time::Instant;

use brigade::{Runtime, TaskError};

use crate::common::{
    chapter, ms, panic_message, print_by_thread, say, show, thread_name, work_item, WORKERS,
    WORK_ITEMS,
};

fn burn_the_soup(burn: bool) -> u32 {
    if burn {
        panic!("the oven caught fire");
    }
    42
}

pub(crate) fn ch07_method_builders(rt: &Runtime) {
    chapter("7. Method builders");
    say(
        "AsyncMethodBuilder is the glue between a state machine and its Task. In brigade, \
         spawn plays that part:",
    );
    say(
        "- Create + Start: spawn moves the state machine into one heap cell (header, future, \
         result slot) and queues it on a worker.",
    );
    say("- AwaitOnCompleted: the Waker handed to poll; wake() queues the cell again.");
    say(
        "- SetResult / SetException: the cell stores the output, or the panic caught around \
         poll, and join() reads it.",
    );
    say(
        "So a panicking task does not take a worker down. Awaiting its Task re-raises the panic, \
         as await rethrows in .NET; task.join() hands it over as a value instead:",
    );

    // The panic still happens; we only keep the default hook from printing it mid-tour.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let burnt = rt.spawn(async { burn_the_soup(std::hint::black_box(true)) });
    let outcome = rt.block_on(burnt.join());
    std::panic::set_hook(previous_hook);

    match outcome {
        Ok(value) => show(&format!(
            "the task returned {value} (it was meant to panic)"
        )),
        Err(TaskError::Panicked(payload)) => show(&format!(
            "task.join() gave Err(TaskError::Panicked(\"{}\"))",
            panic_message(&*payload)
        )),
        Err(_) => show("task.join() gave an error other than a panic (unexpected here)"),
    }
    let after = rt.spawn(async { (burn_the_soup(std::hint::black_box(false)), thread_name()) });
    let (value, thread) = rt.block_on(after);
    show(&format!(
        "the runtime keeps going: the next task returned {value} on {thread}"
    ));

    say(
        "Now chapter 2's work on brigade: the same 8 prime-counting jobs, spawned as tasks \
         and gathered with when_all.",
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..WORK_ITEMS)
        .map(|item| rt.spawn(async move { (item, work_item(item), thread_name()) }))
        .collect();
    let results = rt.block_on(brigade::when_all(tasks));
    let brigade_took = started.elapsed();
    show(&format!(
        "{WORK_ITEMS} tasks on {WORKERS} brigade workers took {}:",
        ms(brigade_took)
    ));
    print_by_thread(&results);
    if let Some(naive_took) = *crate::common::NAIVE_POOL_TOOK.lock().unwrap() {
        show(&format!(
            "chapter 2's naive pool took {} for the same work, brigade {}: {}",
            ms(naive_took),
            ms(brigade_took),
            if brigade_took.as_secs_f64() < naive_took.as_secs_f64() * 0.8 {
                "brigade was clearly faster this run"
            } else if naive_took.as_secs_f64() < brigade_took.as_secs_f64() * 0.8 {
                "the naive pool was clearly faster this run"
            } else {
                "within 20% of each other — with 8 jobs this small either can win a run"
            }
        ));
    }
    say(
        "Same answers (compare the checksums). The difference between the two shows at scale \
         (BENCHMARKS.md). What the naive pool lacks and brigade adds: a queue per worker instead of one lock \
         for all, stealing between workers, parking without lost wake-ups, and a task that \
         can pause and resume, not just run once. (These spawns come from the main thread, so \
         they enter through the pool's shared injection queue; a task spawned inside a task \
         goes straight to its worker.)",
    );
}
