//! What every chapter shares: the tour's sizes, the output helpers, thread names, the work
//! item, and the allocation count (brigade-test-support's counting allocator, installed in
//! main.rs).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use brigade::runtime::StallReport;

pub(crate) use brigade_test_support::allocations_on_this_thread;

/// Worker threads for the tour's runtime and stations in the naive pool: a small fixed number,
/// so the output looks alike on a laptop and on a 64-core server.
pub(crate) const WORKERS: usize = 4;
/// Work items queued in chapters 2 and 7 (the same work, first on the toy pool, then on brigade).
pub(crate) const WORK_ITEMS: usize = 8;

/// A couple of milliseconds of real CPU work: count the primes below a bound.
pub(crate) fn work_item(item: usize) -> u64 {
    let limit = 40_000 + 2_000 * item as u64;
    (2..limit)
        .filter(|&n| (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u64
}

/// Where we are: thread name and id.
pub(crate) fn here() -> String {
    format!("{} ({:?})", thread_name(), std::thread::current().id())
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "<not a string>"
    }
}

const WIDTH: usize = 90;

pub(crate) fn chapter(title: &str) {
    println!();
    println!("{title}");
    println!("{}", "-".repeat(title.chars().count()));
}

/// Prints a paragraph, word-wrapped and indented. A leading "- " makes a bullet whose
/// continuation lines hang under its text.
pub(crate) fn say(text: &str) {
    match text.strip_prefix("- ") {
        Some(rest) => wrap("  - ", "    ", rest),
        None => wrap("  ", "  ", text),
    }
}

/// Prints one measured result.
pub(crate) fn show(text: &str) {
    wrap("  > ", "      ", text);
}

fn wrap(first_prefix: &str, next_prefix: &str, text: &str) {
    let mut prefix = first_prefix;
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty()
            && prefix.len() + line.chars().count() + 1 + word.chars().count() > WIDTH
        {
            println!("{prefix}{line}");
            prefix = next_prefix;
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        println!("{prefix}{line}");
    }
}

pub(crate) fn print_by_thread(results: &[(usize, u64, String)]) {
    let mut by_thread: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (item, _, thread) in results {
        by_thread.entry(thread.as_str()).or_default().push(*item);
    }
    for (thread, mut items) in by_thread {
        items.sort_unstable();
        println!("  >   {thread:<18} ran items {items:?}");
    }
    let checksum: u64 = results.iter().map(|(_, answer, _)| answer).sum();
    println!("  >   checksum of the answers: {checksum}");
}

pub(crate) fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_string()
}

pub(crate) fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1_000.0)
}

/// How long chapter 2's naive pool took for the work items, so chapter 7 can compare brigade's
/// time on the same work with a measured figure (None when chapter 2 did not run).
pub(crate) static NAIVE_POOL_TOOK: Mutex<Option<Duration>> = Mutex::new(None);

/// Stall reports from the tour's shared runtime, routed here by `Builder::on_stall` (main.rs)
/// instead of going to stderr: the chapters that block a worker on purpose (chapter 5's
/// `thread::sleep` tasks) print how many they caused and why; chapter 2b, which teaches
/// stalls, shows the reports themselves from a runtime of its own.
static STALLS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The tour runtime's `on_stall` hook: keeps the start of each stall (its end is reported
/// too, with the time blocked; one line per stall is enough here).
pub(crate) fn collect_stall(report: &StallReport) {
    if !report.ended {
        STALLS.lock().unwrap().push(report.to_string());
    }
}

/// The stall reports collected since the last call, oldest first.
pub(crate) fn take_stalls() -> Vec<String> {
    std::mem::take(&mut *STALLS.lock().unwrap())
}
