//! The seed's upload-button handler (section 13C, "UI Responsiveness") made real, in a terminal.
//!
//! ```csharp
//! private async void OnUploadButtonClick(object sender, EventArgs e) {
//!     StatusLabel.Text = "Uploading...";  UploadButton.IsEnabled = false;
//!     try   { await Task.Run(() => ProcessLargeFile());   // off the UI thread
//!             StatusLabel.Text = "Upload Complete!"; }      // back on the UI thread
//!     catch (Exception ex) { StatusLabel.Text = "Error: " + ex.Message; }
//!     finally { UploadButton.IsEnabled = true; }
//! }
//! ```
//!
//! Here the UI thread is `main`, running a `brigade::sync_context::MainLoop`. The "window" is
//! an `Rc<RefCell<Screen>>`: not `Send`, so it can only be touched on the UI thread — exactly the
//! rule a real toolkit enforces. A spinner task redraws it every 50 ms while the heavy work runs
//! through `brigade::run` on other threads; each handler then resumes on `main` to update the
//! screen. Two clicks: one upload that succeeds, one that fails. It ends on its own in about two
//! seconds: `cargo run --release --example main_loop_ui`.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use brigade::sync_context::{self, MainLoop};

/// How often the spinner redraws.
const FRAME: Duration = Duration::from_millis(50);

/// Everything on the screen: the widgets of the seed's form, plus frame statistics.
struct Screen {
    status: String,
    /// Every status the label showed, in order, for the summary.
    history: Vec<String>,
    button_enabled: bool,
    progress: Arc<AtomicU32>,
    frames: u32,
    last_frame: Instant,
    longest_gap: Duration,
    ui_thread: thread::ThreadId,
    in_place: bool,
}

impl Screen {
    fn set_status(&mut self, status: String) {
        assert_eq!(
            thread::current().id(),
            self.ui_thread,
            "UI touched off the UI thread"
        );
        self.history.push(status.clone());
        self.status = status;
    }

    fn draw(&mut self) {
        // The whole point: the window is only ever touched on the UI thread.
        assert_eq!(
            thread::current().id(),
            self.ui_thread,
            "UI touched off the UI thread"
        );
        let now = Instant::now();
        if self.frames > 0 {
            self.longest_gap = self.longest_gap.max(now - self.last_frame);
        }
        self.last_frame = now;
        self.frames += 1;
        let spinner = ['|', '/', '-', '\\'][self.frames as usize % 4];
        let percent = self.progress.load(Ordering::Relaxed).min(100);
        let bar: String = (0..20)
            .map(|i| if i * 5 < percent { '#' } else { ' ' })
            .collect();
        let button = if self.button_enabled {
            "[ Upload ]"
        } else {
            "[ ...... ]"
        };
        let line = format!("{spinner} {button} [{bar}] {percent:>3}%  {}", self.status);
        if self.in_place {
            print!("\r{line:<78}");
            let _ = std::io::stdout().flush();
        } else if self.frames % 5 == 1 {
            // Piped (CI): one line every five frames keeps the log readable.
            println!("  {line}");
        }
    }
}

/// `ProcessLargeFile()`: blocking, CPU- and disk-bound work that must not run on the UI
/// thread. Reports progress through an atomic the UI reads when it redraws.
fn process_large_file(name: &str, chunks: u32, progress: &AtomicU32) -> Result<u64, String> {
    let mut checksum = 0u64;
    for chunk in 1..=chunks {
        thread::sleep(Duration::from_millis(40)); // "reading from disk"
        checksum = (0..200_000u64).fold(checksum, |sum, x| sum.wrapping_mul(31).wrapping_add(x));
        progress.store(chunk * 100 / chunks, Ordering::Relaxed);
        if name.starts_with("corrupt") && chunk == chunks / 2 {
            return Err(format!("{name}: read error at chunk {chunk}"));
        }
    }
    Ok(checksum)
}

/// `OnUploadButtonClick`, line by line.
async fn on_upload_button_click(screen: Rc<RefCell<Screen>>, file: &'static str, chunks: u32) {
    let progress = {
        let mut screen = screen.borrow_mut();
        screen.set_status(format!("Uploading {file}..."));
        screen.button_enabled = false;
        screen.progress.store(0, Ordering::Relaxed);
        screen.progress.clone()
    };
    // `await Task.Run(() => ProcessLargeFile())`: runs on a blocking thread; the UI thread
    // goes back to drawing frames meanwhile.
    let worker = brigade::run(move || {
        let ran_on = thread::current().name().unwrap_or("?").to_string();
        (process_large_file(file, chunks, &progress), ran_on)
    });
    let (outcome, ran_on) = worker.await;
    // Resumed here on the UI thread, thanks to the task's home: the MainLoop.
    let mut screen = screen.borrow_mut();
    screen.set_status(match outcome {
        Ok(checksum) => format!("Upload complete! ({file}, checksum {checksum:016x}, on {ran_on})"),
        Err(message) => format!("Error: {message}"),
    });
    screen.button_enabled = true; // finally
}

fn main() {
    println!("main_loop_ui: the seed's upload button, on a brigade MainLoop (UI thread = main)");
    let main_loop = MainLoop::new();
    let screen = Rc::new(RefCell::new(Screen {
        status: "Ready".into(),
        history: vec!["Ready".into()],
        button_enabled: true,
        progress: Arc::new(AtomicU32::new(0)),
        frames: 0,
        last_frame: Instant::now(),
        longest_gap: Duration::ZERO,
        ui_thread: thread::current().id(),
        in_place: std::io::stdout().is_terminal(),
    }));

    // The spinner: redraws every 50 ms for as long as the app runs. The ticker is brigade's
    // timer wheel (driven by the pool); each tick resumes the spinner here on the UI thread.
    let spinner_screen = screen.clone();
    let spinner = main_loop.spawn_local(async move {
        let mut frames = brigade::time::interval(FRAME);
        loop {
            frames.tick().await;
            spinner_screen.borrow_mut().draw();
        }
    });

    let started = Instant::now();
    let clicks = screen.clone();
    main_loop.run(async move {
        // Two clicks, one after the other: a good file, then a bad one.
        sync_context::spawn_local(on_upload_button_click(clicks.clone(), "report.pdf", 24)).await;
        sync_context::spawn_local(on_upload_button_click(clicks.clone(), "corrupt.bin", 16)).await;
        brigade::time::sleep(FRAME * 2).await; // let the last status show
    });
    // Closing the window: the spinner is cancelled (its future dropped, on the UI thread).
    let spinner_outcome = main_loop.run(spinner.cancel());
    assert!(matches!(
        spinner_outcome,
        Err(brigade::TaskError::Cancelled)
    ));

    let screen = screen.borrow();
    if screen.in_place {
        println!();
    }
    println!("  > the status label showed, in order:");
    for status in &screen.history {
        println!("  >   {status}");
    }
    // Checked, not assumed: a gap of more than two frames means the UI thread was held up.
    let verdict = if screen.longest_gap <= FRAME * 2 {
        "no gap reached two frames: the UI thread kept drawing while the work ran"
    } else {
        "longer than two frames: the UI thread was held up at some point (a loaded machine?)"
    };
    println!(
        "  > {} frames in {:.1} s; longest gap between frames {:.0} ms (target {} ms): {verdict}",
        screen.frames,
        started.elapsed().as_secs_f64(),
        screen.longest_gap.as_secs_f64() * 1000.0,
        FRAME.as_millis()
    );
    // Each draw and status update asserts it runs on the UI thread; reaching here means every
    // one of them did.
    println!(
        "  > all {} redraws and {} status updates ran on the UI thread (each one asserts it)",
        screen.frames,
        screen.history.len() - 1
    );
}
