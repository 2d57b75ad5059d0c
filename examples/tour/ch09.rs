//! 9. Task vs ValueTask

use std::future::Future;
use std::pin::Pin;

use brigade::Runtime;

use crate::common::{allocations_on_this_thread, chapter, say, show};

/// A cache lookup that always hits: the ValueTask "fast path". It finishes on its first poll.
async fn cached_price(dish: u64) -> u64 {
    dish * 3
}

pub(crate) fn ch09_task_vs_valuetask(rt: &Runtime) {
    chapter("9. Task vs ValueTask: allocation discipline");
    say(
        "In .NET every Task is a heap object; ValueTask exists so a result that is already \
         there costs nothing. In Rust every future is a plain value, like ValueTask: an async \
         fn's state machine sits inside its caller's state machine, and awaiting it allocates \
         nothing. A heap allocation happens when a future needs a home of its own: when you \
         box it, or when you spawn it as a task. This program counts allocations with a small \
         #[global_allocator] wrapper around the system allocator (per thread, so the workers' \
         own bookkeeping is not mixed in).",
    );

    const ROUNDS: u64 = 1_000;
    let (inline_allocs, boxed_allocs, total) = rt.block_on(async {
        let mut total = 0;
        let before = allocations_on_this_thread();
        for dish in 0..ROUNDS {
            total += cached_price(dish).await;
        }
        let inline_allocs = allocations_on_this_thread() - before;

        let before = allocations_on_this_thread();
        for dish in 0..ROUNDS {
            // black_box keeps the optimiser from removing the box we are trying to count.
            let boxed: Pin<Box<dyn Future<Output = u64> + Send>> =
                std::hint::black_box(Box::pin(cached_price(dish)));
            total += boxed.await;
        }
        (inline_allocs, allocations_on_this_thread() - before, total)
    });
    show(&format!(
        "{ROUNDS} awaits of an already-ready async fn: {inline_allocs} allocations"
    ));
    show(&format!(
        "{ROUNDS} awaits of the same future boxed first: {boxed_allocs} allocations"
    ));

    // One warm-up spawn, so one-time setup (first use of a queue, a thread-local) is not counted.
    rt.block_on(rt.spawn(async {}));
    let mut tasks = Vec::with_capacity(ROUNDS as usize); // reserved up front: not counted below
    let before = allocations_on_this_thread();
    for dish in 0..ROUNDS {
        tasks.push(rt.spawn(cached_price(dish)));
    }
    let spawn_allocs = allocations_on_this_thread() - before;
    let spawned_total: u64 = rt.block_on(brigade::when_all(tasks)).into_iter().sum();
    let per_task = spawn_allocs as f64 / ROUNDS as f64;
    show(&format!(
        "{ROUNDS} spawns: {spawn_allocs} allocations, {per_task:.2} per task ({})",
        if spawn_allocs == ROUNDS {
            "exactly one each: the task cell"
        } else {
            "brigade's design aims for exactly one each: the task cell"
        }
    ));
    let handle_size = std::mem::size_of::<brigade::Task<u64>>();
    show(&format!(
        "a Task<u64> handle is {handle_size} bytes{}; results agree: {}",
        if handle_size == std::mem::size_of::<usize>() {
            ": one pointer to that cell"
        } else {
            ""
        },
        spawned_total * 2 == total
    ));
    say(
        "Rule of thumb: await directly when you can (free), spawn when work must run on its \
         own (one allocation), box only when you need a type-erased future.",
    );
}
