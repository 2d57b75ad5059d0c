//! 13C. UI responsiveness: the seed's upload button, run inline on a MainLoop
//!
//! The full version, with a progress bar and a failing upload, is
//! `cargo run --release --example main_loop_ui`; this is the same scenario cut to its core,
//! so the tour measures it rather than points at it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use brigade::sync_context::{self, MainLoop};
use brigade::Runtime;

use crate::common::{ms, show};

/// How often the spinner redraws.
const FRAME: Duration = Duration::from_millis(20);
/// How long `ProcessLargeFile()` blocks its thread.
const WORK: Duration = Duration::from_millis(200);

/// The "window": frame times, touched only on the UI thread (it is `!Send`: an `Rc`).
#[derive(Default)]
struct Window {
    frames: Vec<Instant>,
    status: Vec<String>,
}

pub(crate) fn ch13c_ui(rt: &Runtime) {
    let main_loop = MainLoop::with_runtime(rt.handle());
    let ui_thread = std::thread::current().id();
    let window = Rc::new(RefCell::new(Window::default()));

    // The spinner: a frame every 20 ms, for as long as the window is open.
    let spinner_window = Rc::clone(&window);
    let spinner = main_loop.spawn_local(async move {
        let mut ticks = brigade::time::interval(FRAME);
        loop {
            ticks.tick().await;
            spinner_window.borrow_mut().frames.push(Instant::now());
        }
    });

    // OnUploadButtonClick: status, Task.Run(ProcessLargeFile), status — the status lines on
    // the UI thread, the work on a blocking thread.
    let click_window = Rc::clone(&window);
    let (work_thread, resumed_at_home, work_took) = main_loop.run(async move {
        let click = sync_context::spawn_local(async move {
            click_window.borrow_mut().status.push("Uploading...".into());
            let started = Instant::now();
            let work_thread = brigade::run(|| {
                std::thread::sleep(WORK); // ProcessLargeFile(): blocks its own thread
                crate::common::thread_name()
            })
            .await;
            let took = started.elapsed();
            let at_home = std::thread::current().id() == ui_thread;
            click_window
                .borrow_mut()
                .status
                .push("Upload complete!".into());
            (work_thread, at_home, took)
        });
        let outcome = click.await;
        brigade::time::sleep(FRAME * 2).await; // a last frame or two after the click
        outcome
    });
    let _ = main_loop.run(spinner.cancel()); // closing the window
    drop(main_loop);

    let window = window.borrow();
    let longest_gap = window
        .frames
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    show(&format!(
        "the click handler set {:?}; ProcessLargeFile() ran {} on {work_thread}; the handler \
         resumed on the UI thread: {resumed_at_home}",
        window.status,
        ms(work_took)
    ));
    // The claim is checked, not assumed: a gap well past one frame means the UI thread was
    // held up (here it can only be a loaded machine delaying the thread).
    let verdict = if longest_gap <= FRAME * 3 {
        "so the spinner kept turning while the work ran"
    } else {
        "longer than three frames: the UI thread was held up somewhere (a loaded machine?)"
    };
    show(&format!(
        "meanwhile the UI thread drew {} frames (one per {}); the longest gap between two \
         was {}, {verdict}",
        window.frames.len(),
        ms(FRAME),
        ms(longest_gap)
    ));
}
