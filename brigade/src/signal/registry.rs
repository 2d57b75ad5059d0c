//! The process-wide side of signal handling: one self-pipe, one slot per signal number, and the
//! handlers that feed them.
//!
//! # Invariants
//! - The handler only stores to an atomic and calls `write(2)` (both async-signal-safe); it
//!   sets the slot's `pending` flag *before* writing the byte, so whoever reads the byte sees
//!   the flag.
//! - `drain` reads the pipe empty and only then turns pending flags into deliveries; a flag set
//!   after that comes with a byte still in the pipe, so it is never stranded.
//! - A slot's `deliveries` only grows; listeners compare it with the count they last saw.

use std::io::{self, Read};
use std::os::fd::{AsFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::Waker;

use mio::unix::pipe::Receiver;

/// Highest signal number a slot exists for (Linux's real-time signals end at 64).
pub(super) const MAX_SIGNAL: libc::c_int = 64;

pub(super) struct Globals {
    /// The pipe's read end; listeners register duplicates of it with their reactors.
    reader: Receiver,
    /// The write end, used only by the handler; never closed (a handler may run at any time).
    writer: RawFd,
    slots: Box<[Slot]>,
    /// Serialises handler installation (the slots' `installed` flags say which are done).
    install: Mutex<()>,
}

pub(super) struct Slot {
    pending: AtomicBool,
    deliveries: AtomicU64,
    installed: AtomicBool,
    waiters: Mutex<Vec<(u64, Waker)>>,
}

static GLOBALS: OnceLock<Globals> = OnceLock::new();
static NEXT_LISTENER: AtomicU64 = AtomicU64::new(1);

/// The process's signal state, made on first use.
pub(super) fn globals() -> io::Result<&'static Globals> {
    if let Some(globals) = GLOBALS.get() {
        return Ok(globals);
    }
    // Two threads may race to make the pipe; the loser's pipe is closed again.
    let (sender, reader) = mio::unix::pipe::new()?;
    let slots = (0..=MAX_SIGNAL)
        .map(|_| Slot {
            pending: AtomicBool::new(false),
            deliveries: AtomicU64::new(0),
            installed: AtomicBool::new(false),
            waiters: Mutex::new(Vec::new()),
        })
        .collect();
    let mut fresh = Some((sender, reader, slots));
    let globals = GLOBALS.get_or_init(|| {
        let (sender, reader, slots) = fresh.take().expect("initialised once");
        Globals {
            reader,
            writer: sender.into_raw_fd(),
            slots,
            install: Mutex::new(()),
        }
    });
    Ok(globals)
}

pub(super) fn next_listener_id() -> u64 {
    NEXT_LISTENER.fetch_add(1, Ordering::Relaxed)
}

impl Globals {
    pub(super) fn slot(&self, signal: libc::c_int) -> &Slot {
        &self.slots[signal as usize]
    }

    /// A duplicate of the pipe's read end, for one listener's reactor registration.
    pub(super) fn reader_clone(&self) -> io::Result<Receiver> {
        Ok(Receiver::from(self.reader.as_fd().try_clone_to_owned()?))
    }

    /// Installs the handler for `signal` once for the life of the process.
    pub(super) fn install(&'static self, signal: libc::c_int) -> io::Result<()> {
        let slot = self.slot(signal);
        if slot.installed.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = self.install.lock().unwrap_or_else(|e| e.into_inner());
        if slot.installed.load(Ordering::Acquire) {
            return Ok(());
        }
        let writer = self.writer;
        let handler = move || {
            slot.pending.store(true, Ordering::SeqCst);
            let byte = 1u8;
            // SAFETY: `writer` is the pipe's write end, open for the life of the process;
            // `write(2)` is async-signal-safe and reads one byte from a live local. A full pipe
            // (EAGAIN) is fine: a wake-up is already waiting in it.
            unsafe { libc::write(writer, (&byte as *const u8).cast(), 1) };
        };
        // SAFETY: the handler is async-signal-safe (an atomic store and `write(2)`, no locks,
        // no allocation, no panics), and `signal` is not one of signal-hook's forbidden ones
        // (the caller checked).
        unsafe { signal_hook_registry::register(signal, handler) }?;
        slot.installed.store(true, Ordering::Release);
        Ok(())
    }

    /// Reads the pipe empty, then turns every pending flag into one delivery and wakes that
    /// signal's listeners.
    pub(super) fn drain(&self) {
        let mut buf = [0u8; 64];
        loop {
            match (&self.reader).read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock: empty
            }
        }
        for slot in self.slots.iter() {
            if slot.pending.load(Ordering::Relaxed) && slot.pending.swap(false, Ordering::SeqCst) {
                slot.deliveries.fetch_add(1, Ordering::SeqCst);
                let waiters = slot.waiters.lock().unwrap_or_else(|e| e.into_inner());
                for (_, waker) in waiters.iter() {
                    waker.wake_by_ref();
                }
            }
        }
    }
}

impl Slot {
    pub(super) fn deliveries(&self) -> u64 {
        self.deliveries.load(Ordering::SeqCst)
    }

    /// Stores `waker` as listener `id`'s (replacing its previous one).
    pub(super) fn set_waker(&self, id: u64, waker: &Waker) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        match waiters.iter_mut().find(|(owner, _)| *owner == id) {
            Some((_, stored)) if stored.will_wake(waker) => {}
            Some((_, stored)) => stored.clone_from(waker),
            None => waiters.push((id, waker.clone())),
        }
    }

    pub(super) fn remove_waker(&self, id: u64) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        waiters.retain(|(owner, _)| *owner != id);
    }
}
