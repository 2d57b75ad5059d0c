//! 10b. Task groups: structured concurrency (issue 14), after chapter 10's when_all
//!
//! A handler fans out three calls; one fails; a fail-fast `TaskGroup` cancels the other two and
//! waits for them before the handler answers, so nothing it started outlives it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade::group::GroupError;
use brigade::{Runtime, TaskGroup};

use crate::common::{chapter, ms, say, show};

/// One call a handler makes: waits `delay`, then answers or fails. `stopped` counts the calls
/// that ended early — their future was dropped before they answered.
async fn backend_call(
    name: &'static str,
    delay: Duration,
    fails: bool,
    stopped: Arc<AtomicUsize>,
) -> Result<&'static str, String> {
    struct EndedEarly(Option<Arc<AtomicUsize>>);
    impl Drop for EndedEarly {
        fn drop(&mut self) {
            if let Some(stopped) = self.0.take() {
                stopped.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let mut ended_early = EndedEarly(Some(stopped));
    brigade::time::sleep(delay).await;
    ended_early.0 = None; // answered: not stopped early
    if fails {
        Err(format!("{name}: 503 service unavailable"))
    } else {
        Ok(name)
    }
}

pub(crate) fn ch10b_task_groups(rt: &Runtime) {
    chapter("10b. Task groups: nothing outlives the handler");
    say(
        "when_all waits for everything, and a dropped Task keeps running: a handler that fails \
         half-way leaves its calls behind. A TaskGroup owns its children. Dropping it cancels \
         the ones still running; a fail-fast group cancels the siblings of the first child that \
         fails and waits for them before it reports the failure (Trio's nursery, or .NET's \
         WhenAll with a linked CancellationTokenSource cancelled in the catch).",
    );
    say("A handler fans out three calls: profile (2 s), orders (2 s) and prices, which fails after 50 ms.");

    let stopped = Arc::new(AtomicUsize::new(0));
    let calls = stopped.clone();
    let handler = async move {
        let mut group = TaskGroup::fail_fast();
        let group_id = group.id();
        let slow = Duration::from_secs(2);
        group.spawn_named(
            "profile",
            backend_call("profile", slow, false, calls.clone()),
        );
        group.spawn_named("orders", backend_call("orders", slow, false, calls.clone()));
        group.spawn_named(
            "prices",
            backend_call("prices", Duration::from_millis(50), true, calls),
        );
        (group_id, group.try_join_all().await)
    };
    let started = Instant::now();
    let (group_id, outcome) = rt.block_on(rt.spawn(handler));
    let took = started.elapsed();
    let left_over = rt
        .dump()
        .tasks
        .iter()
        .filter(|task| task.group == Some(group_id))
        .count();

    match outcome {
        Err(GroupError::Failed(error)) => show(&format!("the handler answered: {error}")),
        other => show(&format!("the handler answered: {other:?}")),
    }
    show(&format!(
        "it answered after {} (the two slow calls alone would take 2 s each)",
        ms(took)
    ));
    show(&format!(
        "calls stopped early (their futures dropped) before it answered: {} of the 2 slow \
         ones",
        stopped.load(Ordering::SeqCst)
    ));
    show(&format!(
        "tasks of its group still alive afterwards (rt.dump()): {left_over}{}",
        if left_over == 0 {
            ": nothing outlived the handler"
        } else {
            " — still running after the handler returned"
        }
    ));
    say(
        "The group also lends a token (group.token()) to pass to sockets, sleeps and queries, \
         and builder().cancelled_by(&server_token) ties a request's group to the server's \
         shutdown. For many items, brigade::for_each_concurrent(items, limit, body) is \
         Parallel.ForEachAsync; brigade::when_each yields outputs as they finish; \
         brigade::race((a, b, c)) awaits the first of futures of different types.",
    );
}
