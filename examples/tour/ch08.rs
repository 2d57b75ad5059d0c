//! 8. SynchronizationContext and ConfigureAwait(false)

use brigade::prelude::*;
use brigade::sync_context::{self, MainLoop};
use brigade::{Runtime, TaskError};

use crate::common::{chapter, here, panic_message, say, show};

pub(crate) fn ch08_synchronization_context(rt: &Runtime) {
    chapter("8. SynchronizationContext and configure_await(false)");
    say(
        "The ExecutionContext says who is running; the SynchronizationContext says where. On a \
         UI thread the code after an await must come back to that thread, because only it may \
         touch the window. brigade gives every task a home: the pool for spawn, a MainLoop (a \
         single-threaded loop this thread runs, like a UI thread) for the loop's tasks, or \
         your own event loop through the SyncContext trait. Wake-ups go home, so the code \
         after an await runs there. This thread becomes a UI thread now:",
    );

    let main_loop = MainLoop::with_runtime(rt.handle());
    let ui = here();
    let handler = main_loop.spawn(async {
        let mut lines = vec![format!("the click handler starts on {}", here())];
        let worked_on = brigade::run(here).await;
        lines.push(format!("brigade::run worked on {worked_on}"));
        lines.push(format!("... and the handler resumed on {}", here()));
        let cooked_on = brigade::spawn(async { here() }).await;
        lines.push(format!("a pool task cooked on {cooked_on}"));
        lines.push(format!("... and the handler resumed on {}", here()));
        lines
    });
    for line in main_loop.run(handler) {
        show(&line);
    }
    show(&format!("(the UI thread is {ui})"));

    say(
        "configure_await(false) is the library's side of the deal: \"I don't need the UI \
         thread\". The future's body runs on the pool; the code after the await is back home. \
         A future that is ready at once does not hop at all.",
    );
    let library_call = main_loop.spawn(async {
        let body_ran_on = async {
            brigade::yield_now().await; // the first real suspension: from here on, the pool
            here()
        }
        .configure_await(false)
        .await;
        (body_ran_on, here())
    });
    let (body, after) = main_loop.run(library_call);
    show(&format!(
        "the library body ran on {body}; the caller resumed on {after}"
    ));

    say(
        "And the famous deadlock. A UI handler that blocks on work which needs the UI thread \
         (.Result, .Wait(); in Rust, block_on) waits for the loop, while the loop waits for the \
         handler. .NET hangs. brigade sees the loop's thread blocked while its loop has work \
         waiting, and fails at once, naming the deadlock:",
    );
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let blocking_handler = main_loop.spawn_local(async {
        let refresh = sync_context::spawn_local(async { "fresh data" });
        brigade::block_on(refresh) // what .Result does
    });
    let outcome = main_loop.run(blocking_handler.join());
    std::panic::set_hook(previous_hook);
    match outcome {
        Err(TaskError::Panicked(payload)) => show(&format!(
            "the handler failed with: {}",
            panic_message(&*payload)
        )),
        Ok(value) => show(&format!("the handler returned {value:?} (unexpected here)")),
        Err(error) => show(&format!("the handler failed otherwise: {error}")),
    }
    drop(main_loop);
    say(
        "The cure is the seed's: async all the way (await instead of blocking) on the UI \
         thread, configure_await(false) in library code. examples/main_loop_ui.rs is the \
         article's upload button on a MainLoop, and examples/foreign_loop.rs plugs a GUI \
         toolkit's own loop in through SyncContext.",
    );
}
