//! 5. The awaiter pattern: `await 5` (the seed's awaitable int)

use std::future::{Future, IntoFuture};
use std::task::Poll;
use std::time::{Duration, Instant};

use brigade::Runtime;

use crate::common::{allocations_on_this_thread, chapter, ms, say, show, take_stalls, thread_name};

/// The seed's `await 5`: a number you can await. Rust will not let a crate add a trait to a
/// built-in integer from outside (the orphan rule), so a one-field newtype plays `int`.
struct Millis(u64);

/// `IntoFuture` is `GetAwaiter()`: `.await` calls `into_future()` first. The future it returns
/// is the awaiter — brigade's timer, the twin of the `Task.Delay` the article's awaiter uses.
impl std::future::IntoFuture for Millis {
    type Output = ();
    type IntoFuture = brigade::time::Sleep;

    fn into_future(self) -> brigade::time::Sleep {
        brigade::time::sleep(Duration::from_millis(self.0))
    }
}

pub(crate) fn ch05_await_a_number(rt: &Runtime) {
    chapter("5. The awaiter pattern: `await 5`");
    say(
        "The article makes an int awaitable by giving it a GetAwaiter() whose awaiter starts a \
         Task.Delay and calls the continuation when it ends. In Rust, .await works on anything \
         that implements IntoFuture: into_future() is GetAwaiter(), and the future it returns \
         is the awaiter. Its poll() answers IsCompleted and GetResult in one call, and the \
         waker it keeps is OnCompleted's continuation. Millis(u64) stands in for int; its \
         awaiter is brigade::time::sleep, which is Task.Delay.",
    );
    let (took, thread) = rt.block_on(rt.spawn(async {
        let started = Instant::now();
        Millis(5).await;
        (started.elapsed(), thread_name())
    }));
    show(&format!(
        "Millis(5).await on {thread}: resumed after {}",
        ms(took)
    ));

    say(
        "A delay is not Thread.Sleep: while a task waits on a timer its worker runs other \
         tasks. The timer is a node inside the Sleep future, linked into a timer wheel; the \
         worker that runs out of work parks only until the next deadline and then wakes the \
         tasks whose time has come. 1 000 tasks awaiting Millis(50) on the tour's 4 workers, \
         then 8 tasks calling std::thread::sleep(50 ms) instead:",
    );
    let (delays, delay_allocations, sleeps) = rt.block_on(rt.spawn(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..1_000)
            .map(|_| brigade::spawn(async { Millis(50).await }))
            .collect();
        brigade::when_all(tasks).await;
        let delays = started.elapsed();

        // What does a pending timer cost? Create, register and drop a thousand, counting.
        let before = allocations_on_this_thread();
        for _ in 0..1_000 {
            let mut sleep = std::pin::pin!(Millis(60_000).into_future());
            std::future::poll_fn(|cx| {
                assert!(sleep.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        }
        let delay_allocations = allocations_on_this_thread() - before;

        let spares_before = brigade::Handle::current().metrics().spares_started;
        let started = Instant::now();
        let blockers: Vec<_> = (0..8)
            .map(|_| {
                brigade::spawn_named("thread-sleep", async {
                    std::thread::sleep(Duration::from_millis(50));
                    thread_name()
                })
            })
            .collect();
        let mut threads = brigade::when_all(blockers).await;
        let spares = brigade::Handle::current().metrics().spares_started - spares_before;
        threads.sort();
        threads.dedup();
        (
            delays,
            delay_allocations,
            (started.elapsed(), threads, spares),
        )
    }));
    let (sleeps, sleep_threads, spares) = sleeps;
    show(&format!(
        "1 000 tasks x Millis(50).await: all done in {}",
        ms(delays)
    ));
    show(&format!(
        "8 tasks x thread::sleep(50 ms):  all done in {}, on {} different threads ({}); each \
         held its thread for the whole 50 ms",
        ms(sleeps),
        sleep_threads.len(),
        sleep_threads.join(", ")
    ));
    let stalls = take_stalls();
    show(&format!(
        "the stall monitor saw it: {} stall report(s) and {spares} spare worker(s) started \
         during those sleeps. They are deliberate here, so the tour collected the reports (its \
         runtime's Builder::on_stall) instead of printing them; chapter 2b shows what they \
         say and what the spares do",
        stalls.len()
    ));
    show(&format!(
        "1 000 timers registered and dropped: {delay_allocations} heap allocations"
    ));
}
