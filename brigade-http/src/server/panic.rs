//! A handler that panics: the client gets `500 Internal Server Error`, the connection serves on,
//! and the panic is reported in one line — the way ASP.NET Core answers 500 and logs an
//! exception that escapes a request handler.
//!
//! The report goes through the runtime's unhandled-panic path
//! ([`UnhandledPanic`](brigade::runtime::UnhandledPanic): print one line by default; abort or
//! call your function if the runtime was built so), by re-raising the panic, with the request
//! and the panic's place in its message, in a detached task of its own (`resume_unwind` runs no
//! panic hook).
//!
//! Why a panic hook: Rust's default hook prints every panic the moment it happens, and with
//! `RUST_BACKTRACE` set it captures and prints a whole backtrace first — tens of milliseconds
//! on the worker thread, for each panicking request. brigade-http installs, once, a hook that
//! passes every panic to the hook that was there before, except those raised while a request
//! handler (or its response body) is being run by brigade-http: for those it only notes where
//! the panic happened, for the one-line report.
//!
//! # Invariants
//! - The hook is installed at most once per process and chains to the previous hook for every
//!   panic outside a handler.
//! - The "inside a handler" mark is per thread and restored after each guarded call, so it is
//!   never left set on a worker.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while brigade-http runs handler code on this thread.
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic inside a handler happened (`file:line:column`).
    static PANIC_PLACE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the filtering panic hook (once per process).
pub(crate) fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_HANDLER.with(Cell::get) {
                let place = info.location().map(ToString::to_string);
                PANIC_PLACE.with(|slot| *slot.borrow_mut() = place);
                return; // reported in one line by `report`, with no backtrace
            }
            previous(info);
        }));
    });
}

/// A handler panic, caught: its payload and where it happened.
pub(crate) struct Caught {
    payload: Box<dyn Any + Send>,
    place: Option<String>,
}

/// Runs handler code, catching a panic.
pub(crate) fn guarded<R>(handler_code: impl FnOnce() -> R) -> Result<R, Caught> {
    let was_inside = IN_HANDLER.with(|inside| inside.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(handler_code));
    IN_HANDLER.with(|inside| inside.set(was_inside));
    outcome.map_err(|payload| Caught {
        payload,
        place: PANIC_PLACE.with(|slot| slot.borrow_mut().take()),
    })
}

/// Reports a caught handler panic through the runtime's unhandled-panic path, in one line.
/// `request` names it (`GET /path`); `outcome` says what the client got.
pub(crate) fn report(caught: Caught, request: &str, outcome: &str) {
    let message = caught
        .payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| caught.payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned());
    let place = caught
        .place
        .map_or(String::new(), |place| format!(" at {place}"));
    let report =
        format!("brigade-http: the handler of {request} panicked{place}: {message}; {outcome}");
    brigade::spawn_named("brigade-http handler panic", async move {
        std::panic::resume_unwind(Box::new(report));
    })
    .detach();
}
