//! 9b. What a task costs: returning it directly, pooling, awaiting once

use std::collections::BTreeSet;
use std::future::Future;

use brigade::{Runtime, Task};
use brigade_test_support::measure;

use crate::common::allocations_on_this_thread;

use crate::common::{chapter, say, show};

/// The work itself: a lookup that needs one real suspension.
async fn fetch_price(dish: u64) -> u64 {
    brigade::yield_now().await;
    dish * 3
}

/// C#'s `Task<int> GetPrice(d) => FetchPrice(d);` — hands the callee's future back as it is.
fn price_direct(dish: u64) -> impl Future<Output = u64> {
    fetch_price(dish)
}

/// C#'s `async Task<int> GetPrice(d) => await FetchPrice(d);` — a state machine around the
/// callee's.
async fn price_wrapped(dish: u64) -> u64 {
    fetch_price(dish).await
}

/// Two wrappers deep, as layered code ends up.
async fn price_wrapped_twice(dish: u64) -> u64 {
    price_wrapped(dish).await
}

/// Returning a spawned task directly: the caller gets the `Task` handle itself.
fn price_task_direct(dish: u64) -> Task<u64> {
    brigade::spawn(fetch_price(dish))
}

/// ... or awaiting it inside another async fn, which the caller then awaits.
async fn price_task_wrapped(dish: u64) -> u64 {
    brigade::spawn(fetch_price(dish)).await
}

pub(crate) fn ch09b_what_a_task_costs(rt: &Runtime) {
    chapter("9b. What a task costs: returning it directly, pooling, awaiting once");
    say(
        "Returning a task directly. In C#, a method that only forwards a call can return the \
         callee's Task instead of awaiting it, and skip a state machine. Rust has the same \
         choice: a plain fn can return the callee's future (impl Future), or an async fn can \
         await it, which wraps it in a state machine of its own. Nothing is allocated either \
         way — the wrapper is a bigger value, not a heap object. The sizes, measured:",
    );
    let direct = price_direct(7);
    let wrapped = price_wrapped(7);
    let twice = price_wrapped_twice(7);
    show(&format!(
        "fetch_price's future, returned directly: {} bytes; wrapped by one async fn: {} \
         bytes; by two: {} bytes",
        std::mem::size_of_val(&direct),
        std::mem::size_of_val(&wrapped),
        std::mem::size_of_val(&twice)
    ));
    let task_direct = std::mem::size_of::<Task<u64>>();
    let task_wrapped = std::mem::size_of_val(&price_task_wrapped(7));
    show(&format!(
        "a spawned task returned directly is its Task handle, {task_direct} bytes; awaited \
         inside an async fn it is a {task_wrapped}-byte state machine holding that handle"
    ));
    // rt.block_on polls this future on the main thread, so the per-thread count sees it all.
    let ((a, b, c), allocations) = rt.block_on(async {
        let before = allocations_on_this_thread();
        let answers = (direct.await, wrapped.await, twice.await);
        (answers, allocations_on_this_thread() - before)
    });
    let d = rt.block_on(price_task_direct(7));
    show(&format!(
        "awaiting the three: {allocations} heap allocations; answers {a}, {b}, {c} (and {d} \
         from the task)"
    ));
    say(
        "So the Rust cost of wrapping is bytes in the caller's future and one more level of \
         match per poll — cheap, but real in deep call chains. Return the inner future when a \
         function only forwards; write async fn when it does anything around the await (a \
         using block, a try, a log line) — as C# advises for the same reasons.",
    );

    say(
        "Pooling. .NET can pool the boxes behind ValueTasks (PoolingAsyncValueTaskMethodBuilder) \
         because every awaited async method that suspends allocates one. In brigade an awaited \
         async fn allocates nothing (chapter 9); only spawn allocates: one cell holding header, \
         state machine and result slot. 1 000 spawns, counted by the tour's allocator:",
    );
    rt.block_on(rt.spawn(async {})); // warm-up: one-time setup is not counted
    let mut tasks = Vec::with_capacity(1_000);
    let ((), spawn_allocations, spawn_bytes) = measure(|| {
        for dish in 0..1_000 {
            tasks.push(rt.spawn(fetch_price(dish)));
        }
    });
    rt.block_on(brigade::when_all(tasks));
    show(&format!(
        "1 000 spawns: {spawn_allocations} allocations, {} bytes each on average (the cell; \
         the state machine itself is {} bytes of it)",
        spawn_bytes / 1_000,
        std::mem::size_of_val(&fetch_price(0))
    ));
    say(
        "That one allocation is what a pool would hand out, and the allocator already behaves \
         like one: a freed cell goes to the freeing thread's cache and the next allocation of \
         that size on that thread gets it back. A task spawning and awaiting 1 000 children \
         one after another, noting where each child's state machine lived:",
    );
    let addresses = rt.block_on(rt.spawn(async {
        let mut addresses = BTreeSet::new();
        for _ in 0..1_000 {
            let child = brigade::spawn(async {
                let slot = [0u8; 8]; // kept across the await, so it lives in the cell
                brigade::yield_now().await;
                std::hint::black_box(&slot).as_ptr() as usize
            });
            addresses.insert(child.await);
        }
        addresses
    }));
    show(&format!(
        "1 000 children, one at a time: their state machines used {} distinct address(es) — \
         {}",
        addresses.len(),
        if addresses.len() <= 10 {
            "the allocator recycled the freed cells, as a pool would"
        } else {
            "the cells were freed on other threads than the one allocating, so this run \
             recycled fewer of them"
        }
    ));

    say(
        "Await once. A ValueTask must be awaited exactly once: awaiting it twice, or after \
         AsTask(), is undefined, and only a code analyzer catches it. A Rust future is \
         consumed by .await (await takes it by value), and Task is not Clone, so a second \
         await of the same Task does not compile: `let t = brigade::spawn(f); t.await; \
         t.await;` is error E0382, use of moved value (brigade's Task docs pin this with a \
         compile_fail doctest). Where several parties want one result, share it on purpose: \
         brigade::sync::watch or broadcast, or a OnceCell.",
    );
}
