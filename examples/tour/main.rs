//! The brigade tour: how async/await works, built up the way the seed article does it.
//!
//! Run it with `cargo run --release --example tour`; one chapter alone with
//! `cargo run --release --example tour -- 8` (several: `-- 2 8 13`). Each chapter is a file
//! here, numbered like the article ("Deep Dive into Async/Await: Building It from Scratch");
//! this file only orders them. Each prints a few plain sentences, then does the thing and
//! prints what really happened: thread names, times and allocation counts are measured on your
//! machine, never typed in.
//!
//! The small teaching pieces (a naive thread pool in ch02.rs, a bare-bones task in ch03.rs, a
//! hand-written state machine in ch06.rs) live next to the real brigade call that replaces
//! them. What every chapter shares — output helpers, the work item, thread names — is in
//! common.rs; allocations are counted by brigade-test-support's counting allocator, installed
//! below.

mod ch01;
mod ch02;
mod ch02b;
mod ch03;
mod ch04;
mod ch05;
mod ch06;
mod ch07;
mod ch07b;
mod ch08;
mod ch09;
mod ch09b;
mod ch10;
mod ch10b;
mod ch11;
mod ch12;
mod ch13;
mod ch13b;
mod ch13c;
mod ch13e;
mod ch15_virtual_time;
mod common;

use std::io;
use std::time::{Duration, Instant};

use brigade::Runtime;
use brigade_test_support::CountingAllocator;
use common::{chapter, collect_stall, ms, say, show, take_stalls, WORKERS};

/// Counts heap allocations per thread (chapters 4, 5 and 9 print the counts), handing every
/// call on to the system allocator.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// How a chapter runs.
enum Run {
    /// On the tour's one runtime (most chapters).
    Shared(fn(&Runtime)),
    /// Without brigade: the toy thread pool of chapter 2.
    Toy(fn()),
    /// On runtimes the chapter builds itself, sized for what it shows (chapters 2b and 11).
    Builds(fn() -> io::Result<()>),
}

/// The chapters in the order the tour tells them, each with what to type on the command line
/// to run it alone.
const CHAPTERS: &[(&str, Run)] = &[
    ("1", Run::Shared(ch01::ch01_the_magic)),
    ("2", Run::Toy(ch02::ch02_a_simple_thread_pool)),
    ("2b", Run::Builds(ch02b::ch02b_starvation)),
    ("3", Run::Shared(ch03::ch03_a_bare_bones_task)),
    ("4", Run::Shared(ch04::ch04_execution_context)),
    ("5", Run::Shared(ch05::ch05_await_a_number)),
    ("6", Run::Shared(ch06::ch05_06_awaiters_and_state_machines)),
    ("7", Run::Shared(ch07::ch07_method_builders)),
    ("7b", Run::Builds(ch07b::ch07b_async_void)),
    ("8", Run::Shared(ch08::ch08_synchronization_context)),
    ("9", Run::Shared(ch09::ch09_task_vs_valuetask)),
    ("9b", Run::Shared(ch09b::ch09b_what_a_task_costs)),
    ("10", Run::Shared(ch10::ch10_best_practices)),
    ("10b", Run::Shared(ch10b::ch10b_task_groups)),
    ("11", Run::Builds(ch11::ch11_yield_now)),
    ("12", Run::Shared(ch12::ch12_cancellation)),
    ("13", Run::Shared(ch13::ch13_real_world)),
    ("13e", Run::Shared(ch13e::ch13e_coordination)),
    ("15", Run::Builds(ch15_virtual_time::ch15_virtual_time)),
];

fn main() -> io::Result<()> {
    let picked: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = picked
        .iter()
        .find(|wanted| !CHAPTERS.iter().any(|(name, _)| name == wanted))
    {
        let names: Vec<&str> = CHAPTERS.iter().map(|(name, _)| *name).collect();
        eprintln!(
            "tour: there is no chapter {unknown:?}; the chapters are {}.",
            names.join(", ")
        );
        eprintln!("usage: cargo run --release --example tour [-- <chapter>...]");
        std::process::exit(2);
    }
    let whole_tour = picked.is_empty();

    let tour_started = Instant::now();
    if whole_tour {
        println!(
            "brigade tour: how async/await works, from a 60-line thread pool to a real runtime."
        );
        println!(
            "Chapters follow the article's numbering; numbers printed are measured right now."
        );
        println!(
            "Every chapter is here, 1 to 13, with a few of our own between them (2b, 7b, 9b, 10b,"
        );
        println!(
            "13e); 13C runs the UI thread inline, its full version is the main_loop_ui example."
        );
        println!("One chapter alone: cargo run --release --example tour -- 8");
    }

    // One runtime for the whole tour, like the one process-wide thread pool in .NET. Its stall
    // reports are collected (common.rs) rather than printed as they happen: the chapter that
    // blocks on purpose explains its own, chapter 2b shows them, and any other is noted below.
    let rt = Runtime::builder()
        .workers(WORKERS)
        .on_stall(collect_stall)
        .build()?;
    for (name, run) in CHAPTERS {
        if whole_tour || picked.iter().any(|wanted| wanted == name) {
            match run {
                Run::Shared(chapter) => chapter(&rt),
                Run::Toy(chapter) => chapter(),
                Run::Builds(chapter) => chapter()?,
            }
            note_unexpected_stalls(name);
        }
    }

    drop(rt); // shuts the workers down and joins them
    if whole_tour {
        summary(tour_started.elapsed());
    }
    Ok(())
}

/// A chapter that was not meant to block a worker may still have: a poll of a few
/// milliseconds of CPU work can pass the 10 ms stall threshold on a loaded machine. Say so,
/// with a count, rather than hide it (chapter 2b shows what a report says).
fn note_unexpected_stalls(chapter_name: &str) {
    let stalls = take_stalls();
    if !stalls.is_empty() {
        show(&format!(
            "(during chapter {chapter_name} the stall monitor caught {} poll(s) running past \
             10 ms: on a busy machine a few milliseconds of CPU work can get there; chapter \
             2b shows what such a report says)",
            stalls.len()
        ));
    }
}

fn summary(elapsed: Duration) {
    chapter("Summary");
    say(
        "An async fn is a state machine; poll is its MoveNext; a Waker is the continuation \
         an awaiter stores; a task is one heap cell holding the state machine and its result; \
         and a pool of worker threads polls whichever tasks are ready. brigade is that \
         design grown up: per-worker queues with stealing, one allocation per task, panics \
         caught into join(), run() for blocking work and a monitor that works around the \
         blocking nobody moved there, an ExecutionContext that flows, loops that keep \
         continuations at home, timers and sockets that hold no thread while they wait, and \
         cancellation that reaches every one of those waits.",
    );
    say(
        "Next: README.md for how to use brigade, ARCHITECTURE.md for how each part maps to \
         the article and to .NET, and the code under brigade/src, each module opening with \
         the section it re-creates.",
    );
    show(&format!("tour finished in {}", ms(elapsed)));
}
