//! 4. ExecutionContext: flowing the state

use brigade::context::{AsyncLocal, ExecutionContext};
use brigade::Runtime;

use crate::common::{allocations_on_this_thread, chapter, here, say, show};

/// The order this part of the kitchen is cooking: ambient state, like a request id.
static ORDER: AsyncLocal<&'static str> = AsyncLocal::new();

pub(crate) fn ch04_execution_context(rt: &Runtime) {
    chapter("4. ExecutionContext: flowing the state");
    say(
        "A thread-local would lose the order ticket at the first await: the task may resume on \
         another thread. So .NET keeps such ambient state in the ExecutionContext, which the \
         runtime captures when work is queued and restores around running it, then clears. \
         brigade does the same: an AsyncLocal is a static key; its value lives in the task's \
         context, captured at every spawn (and run, spawn_local, timer and cancellation \
         callbacks). One task and its order ticket, with the thread each step ran on:",
    );

    let steps = rt.block_on(rt.spawn(async {
        let mut steps = Vec::new();
        ORDER.set("table 7: soup");
        steps.push(format!("set in the task on {}: {:?}", here(), ORDER.get()));
        let (on_blocking, seen) = brigade::run(|| (here(), ORDER.get())).await;
        steps.push(format!("inside brigade::run on {on_blocking}: {seen:?}"));
        steps.push(format!(
            "after that await, on {}: {:?}",
            here(),
            ORDER.get()
        ));
        brigade::yield_now().await;
        steps.push(format!("after yield_now, on {}: {:?}", here(), ORDER.get()));

        let (release, kitchen_door) = brigade::Promise::<()>::new();
        let child = brigade::spawn(async move {
            let _ = kitchen_door.await; // wait until the parent has changed its ticket
            (here(), ORDER.get())
        });
        ORDER.set("table 7: soup, then fish");
        let _ = release.set(());
        let (child_thread, child_saw) = child.await;
        steps.push(format!(
            "a child spawned before the parent changed its ticket sees the snapshot, on \
             {child_thread}: {child_saw:?}; the parent now has {:?}",
            ORDER.get()
        ));
        steps
    }));
    for step in steps {
        show(&step);
    }

    say(
        "The article's two lines, ExecutionContext.Capture() and ExecutionContext.Run(...), are \
         brigade's capture() and run(): a snapshot never changes, whatever is written later.",
    );
    ORDER.set("table 9: salad");
    let captured = ExecutionContext::capture();
    ORDER.set("table 9: salad, then cake");
    show(&format!(
        "captured, then changed: captured.run(|| ORDER.get()) = {:?}, ORDER.get() = {:?}",
        captured.run(|| ORDER.get()),
        ORDER.get()
    ));
    let suppressed = {
        let _no_flow = ExecutionContext::suppress_flow();
        rt.block_on(rt.spawn(async { ORDER.get() }))
    };
    show(&format!(
        "under ExecutionContext::suppress_flow() a spawned task starts empty: {suppressed:?}"
    ));

    // What flowing costs: a context is one pointer, shared, so a spawn still allocates once.
    rt.block_on(rt.spawn(async {}));
    let mut tasks = Vec::with_capacity(1_000);
    let before = allocations_on_this_thread();
    for _ in 0..1_000 {
        tasks.push(rt.spawn(async { ORDER.get().is_some() }));
    }
    let allocations = allocations_on_this_thread() - before;
    let all_saw_it = rt
        .block_on(brigade::when_all(tasks))
        .into_iter()
        .all(|saw| saw);
    show(&format!(
        "1000 spawns carrying the order ticket: {allocations} allocations (the task cells; the \
         context is shared by pointer); every task saw the ticket: {all_saw_it}"
    ));
    ORDER.clear();
    say(
        "Workers are clean between tasks: the context belongs to the task, and a worker puts \
         the task's context in place for each poll and takes it away after. To see it, 400 \
         tasks spawned from here share the workers: even ones write their own ticket and \
         yield (so others run on that worker before they finish), odd ones only read.",
    );
    let outcomes = rt.block_on(brigade::when_all((0..400).map(|i| {
        rt.spawn(async move {
            if i % 2 == 0 {
                ORDER.set("a writer's ticket");
                brigade::yield_now().await;
                (crate::common::thread_name(), true, ORDER.get().is_some())
            } else {
                brigade::yield_now().await;
                (crate::common::thread_name(), false, ORDER.get().is_some())
            }
        })
    })));
    let mut per_worker = std::collections::BTreeMap::<String, (u32, u32, u32)>::new();
    for (thread, writer, saw_ticket) in outcomes {
        let counts = per_worker.entry(thread).or_default();
        if writer {
            counts.0 += 1;
            counts.2 += u32::from(!saw_ticket); // a writer that lost its own ticket
        } else {
            counts.1 += 1;
            counts.2 += u32::from(saw_ticket); // a reader that saw someone else's
        }
    }
    for (thread, (writers, readers, wrong)) in &per_worker {
        show(&format!(
            "{thread}: tasks that finished here: writers {writers}, readers {readers}; \
             tickets seen where they did not belong (or lost): {wrong}"
        ));
    }
    say(
        "And a task that never touches an AsyncLocal pays for all this one thread-local \
         pointer per poll.",
    );
}
