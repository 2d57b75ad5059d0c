//! 1. The async/await "magic"

use brigade::Runtime;

use crate::common::{chapter, say, show, thread_name};

/// An ordinary async fn. The compiler turns its body into a state machine type; calling it
/// only builds that value.
async fn take_order(dish: &'static str) -> String {
    println!(
        "     (inside take_order: now cooking the {dish}, on thread {})",
        thread_name()
    );
    format!("{dish}, served")
}

pub(crate) fn ch01_the_magic(rt: &Runtime) {
    chapter("1. The async/await \"magic\"");
    say(
        "An `async fn` does not pause a thread. The compiler rewrites its body into a state \
         machine: a value that remembers where it stopped and what its local variables hold. \
         Calling the function only builds that value (a Future) and runs none of the body. \
         Someone has to poll it: an executor, which needs threads. Chapters 2 and 3 build \
         the threads, chapters 5 and 6 the state machine.",
    );

    let order = take_order("soup");
    show(&format!(
        "called take_order(\"soup\"): nothing cooked yet, we hold a {}-byte value",
        std::mem::size_of_val(&order)
    ));
    show(&format!(
        "its type is made by the compiler: {}",
        std::any::type_name_of_val(&order)
    ));
    let served = rt.block_on(order);
    show(&format!(
        "rt.block_on(order) polled it to the end and returned {served:?}"
    ));
}
