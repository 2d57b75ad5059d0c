//! 7b. `async void`: fire and forget

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade::{Runtime, UnhandledPanic};

use crate::common::{chapter, ms, say, show};

pub(crate) fn ch07b_async_void() -> std::io::Result<()> {
    chapter("7b. async void: fire and forget");
    say(
        "C# has a third return type besides Task and ValueTask: async void, the event \
         handler's. Nobody can await it, so its exception has nowhere to go — \
         AsyncVoidMethodBuilder posts it to the SynchronizationContext, which by default \
         crashes the process. brigade's fire-and-forget is a detached task: spawn it and drop \
         (or .detach()) the Task. It still runs to the end; if it panics, nobody will ever \
         see the panic through join(), so the runtime's unhandled-panic policy gets it: \
         Report (one line on stderr, the default), Abort (crash, as .NET does), or Call (a \
         function of yours). This runtime uses Call and keeps the reports:",
    );

    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let rt = Runtime::builder()
        .workers(2)
        .unhandled_panic(UnhandledPanic::Call(Arc::new(move |report| {
            sink.lock().unwrap().push(report.to_string());
        })))
        .build()?;

    // The panic is still raised on the worker; only the default hook's message is kept quiet.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (finished, finished_at) = rt.block_on(async {
        let (done, finished) = brigade::Promise::<Instant>::new();
        let spawned = Instant::now();
        // Fire and forget: nobody keeps these Tasks.
        brigade::spawn_named("log-the-click", async move {
            brigade::time::sleep(Duration::from_millis(20)).await;
            let _ = done.set(Instant::now());
        })
        .detach();
        drop(brigade::spawn_named("save-draft", async {
            brigade::yield_now().await;
            panic!("disk full while saving the draft");
        }));
        let outcome = finished.await;
        (outcome.is_ok(), outcome.map(|at| at - spawned))
    });
    // The panic report is handed over as the detached task ends; wait briefly for it.
    let waited = Instant::now();
    while reports.lock().unwrap().is_empty() && waited.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::panic::set_hook(previous_hook);

    match finished_at {
        Ok(after) => show(&format!(
            "the detached \"log-the-click\" ran to the end ({}) with nobody holding its Task \
             (finished: {finished})",
            ms(after)
        )),
        Err(error) => show(&format!("the detached task did not finish: {error:?}")),
    }
    let reports = reports.lock().unwrap();
    match reports.first() {
        Some(report) => show(&format!("the Call policy received: {report}")),
        None => show("the Call policy received nothing within 2 s (unexpected)"),
    }
    show(&format!(
        "rt.metrics().unhandled_panics = {}; the runtime carries on: {}",
        rt.metrics().unhandled_panics,
        rt.block_on(rt.spawn(async { "the next task ran" }))
    ));
    say(
        "So: fire-and-forget is allowed, but choose it (detach makes it visible in the code), \
         and pick the policy that suits the program. A task whose result matters is awaited \
         or joined; a group of them belongs in a TaskGroup (chapter 10b), which never lets a \
         child outlive it.",
    );
    Ok(())
}
