//! A foreign event loop plugged into brigade through `SyncContext` (seed section 8) — standing
//! in for winit, GTK or a game engine's loop, which brigade knows nothing about.
//!
//! A GUI toolkit owns its loop: one thread waits for events (clicks, redraws) and handles them
//! one by one, and its widgets may only be touched on that thread. Toolkits offer a way for
//! other threads to post into that loop (winit's `EventLoopProxy`, GTK's `idle_add`). That is
//! all brigade needs: implement [`SyncContext::post`] by posting the [`Runnable`] as one more
//! event, and run it when it comes out of the queue. Then `spawn_on(&toolkit_context, ...)`
//! gives async click handlers whose code after every `.await` runs on the toolkit's thread.
//!
//! Run it with `cargo run --release --example foreign_loop`; it ends on its own.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use brigade::prelude::*;
use brigade::sync_context::{self, Runnable, SyncContext};

// ----------------------------------------------------------------------------------------------
// The "toolkit": not brigade's, and it does not know brigade exists.
// ----------------------------------------------------------------------------------------------

/// What the toolkit's loop handles.
enum Event {
    /// A user event from another thread (here: a brigade task to run).
    User(Runnable),
    Click(&'static str),
    Quit,
}

/// The toolkit's cross-thread handle into its loop, like winit's `EventLoopProxy`.
#[derive(Clone)]
struct EventProxy(mpsc::Sender<Event>);

thread_local! {
    /// The toolkit's widgets: thread-affine, like every GUI toolkit's. Only the loop's thread
    /// sees this window; any other thread would find an empty one of its own.
    static WINDOW: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

// ----------------------------------------------------------------------------------------------
// The bridge: ten lines.
// ----------------------------------------------------------------------------------------------

/// The toolkit's loop as a brigade `SyncContext`.
struct ToolkitContext {
    proxy: Mutex<EventProxy>,
    posts: AtomicUsize,
}

impl SyncContext for ToolkitContext {
    fn post(&self, task: Runnable) {
        self.posts.fetch_add(1, Ordering::Relaxed);
        // If the loop has quit, the event is dropped with the Runnable, which ends the task
        // (its awaiter sees TaskError::RuntimeShutdown) instead of leaving it hanging.
        let _ = self.proxy.lock().unwrap().0.send(Event::User(task));
    }
}

// ----------------------------------------------------------------------------------------------
// The app.
// ----------------------------------------------------------------------------------------------

fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_string()
}

/// A library call: it does not care where it runs, so it says so (`configure_await(false)`):
/// its body runs on pool threads even when awaited from the UI loop.
async fn make_thumbnail(photo: &'static str) -> (String, String) {
    async move {
        brigade::yield_now().await; // suspends once: from here on, the pool
        let pixels = brigade::run(move || {
            thread::sleep(Duration::from_millis(60)); // decode
            photo.len() * 1024
        })
        .await;
        (format!("{photo}: {pixels} px"), thread_name())
    }
    .configure_await(false)
    .await
}

/// The async click handler. Everything between the awaits runs on the toolkit's thread.
async fn on_click(photo: &'static str, ui: Arc<dyn SyncContext>) {
    let in_toolkit = sync_context::current().is_some_and(|c| Arc::ptr_eq(&c, &ui));
    WINDOW.with(|w| w.borrow_mut().push(format!("{photo}: loading...")));
    println!(
        "  [{}] click on {photo} (in the toolkit's context: {in_toolkit})",
        thread_name()
    );

    let (thumbnail, library_ran_on) = make_thumbnail(photo).await;

    WINDOW.with(|w| w.borrow_mut().push(thumbnail.clone()));
    println!(
        "  [{}] {thumbnail} (the library ran on {library_ran_on}); window updated",
        thread_name()
    );
}

fn main() {
    println!("foreign_loop: a toolkit's own event loop hosting brigade tasks via SyncContext");
    let (sender, events) = mpsc::channel();
    let proxy = EventProxy(sender);
    let ui: Arc<ToolkitContext> = Arc::new(ToolkitContext {
        proxy: Mutex::new(proxy.clone()),
        posts: AtomicUsize::new(0),
    });
    let ui_context: Arc<dyn SyncContext> = ui.clone();

    // The "user": clicks three photos, a little apart, from the OS input thread.
    let input = proxy.clone();
    thread::Builder::new()
        .name("os-input".into())
        .spawn(move || {
            for photo in ["beach.jpg", "mountain.png", "city.heic"] {
                let _ = input.0.send(Event::Click(photo));
                thread::sleep(Duration::from_millis(30));
            }
        })
        .expect("start the input thread");

    // The toolkit's loop, on main. It knows events; brigade tasks arrive as user events.
    let mut handlers = Vec::new();
    let mut ran = 0;
    for event in events {
        match event {
            Event::Click(photo) => {
                let handler =
                    sync_context::spawn_on(&ui_context, on_click(photo, ui_context.clone()));
                handlers.push(handler);
                if handlers.len() == 3 {
                    // Once every handler is done, close the window (posted like any event).
                    let all = std::mem::take(&mut handlers);
                    let quit = proxy.clone();
                    brigade::spawn(async move {
                        brigade::when_all(all).await;
                        let _ = quit.0.send(Event::Quit);
                    })
                    .detach();
                }
            }
            Event::User(task) => {
                ran += 1;
                task.run();
            }
            Event::Quit => break,
        }
    }

    println!(
        "  > the loop ran {ran} brigade wake-ups posted through SyncContext::post ({} posts)",
        ui.posts.load(Ordering::Relaxed)
    );
    WINDOW.with(|w| {
        println!("  > the window, as the toolkit's thread sees it:");
        for line in w.borrow().iter() {
            println!("  >   {line}");
        }
    });
}
