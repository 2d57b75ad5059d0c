//! The task waker: the continuation handed to every awaiter (seed section 5, `OnCompleted`).
//!
//! A `Waker` built here is just a pointer to the task cell; its vtable counts references in
//! the cell's state word and, on `wake`, posts the task back to its home scheduler. One static
//! vtable serves every task, so `Waker::will_wake` recognises two wakers of the same task.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::cell::{Header, RawTask};
use super::state::TransitionToNotified;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker for the task at `ptr` that does NOT own a reference: wrap it in `ManuallyDrop` and
/// keep it only while the caller's own reference keeps the cell alive (during a poll).
pub(crate) fn waker_ref(ptr: NonNull<Header>) -> Waker {
    // SAFETY: the vtable's functions uphold the RawWaker contract for task pointers; this
    // waker is never dropped (the caller wraps it in ManuallyDrop), and clones count.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)) }
}

fn raw(data: *const ()) -> RawTask {
    // SAFETY: every waker data pointer is a non-null task header pointer (see `waker_ref`).
    RawTask::from_header(unsafe { NonNull::new_unchecked(data as *mut Header) })
}

/// (feature `console`) Tells tokio-console about a waker operation (`console.rs`).
#[inline]
fn console_op(_data: *const (), _op: &'static str) {
    #[cfg(feature = "console")]
    super::console::waker_op(raw(_data).header(), _op);
}

unsafe fn clone(data: *const ()) -> RawWaker {
    console_op(data, "waker.clone");
    raw(data).state().ref_inc();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    console_op(data, "waker.wake");
    let task = raw(data);
    match task.state().transition_to_notified_by_val() {
        // A reference was counted for the queue entry; the waker's own keeps the cell alive
        // while the scheduler (which lives in the cell) runs, and goes only after.
        TransitionToNotified::Submit => {
            task.schedule();
            task.drop_reference();
        }
        TransitionToNotified::DoNothing => {}
        // SAFETY: the state word says that was the last reference.
        TransitionToNotified::Dealloc => unsafe {
            (task.header().vtable.dealloc)(task.header_ptr())
        },
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    console_op(data, "waker.wake_by_ref");
    let task = raw(data);
    match task.state().transition_to_notified_by_ref() {
        // A new reference was counted for the queue entry.
        TransitionToNotified::Submit => task.schedule(),
        TransitionToNotified::DoNothing => {}
        TransitionToNotified::Dealloc => unreachable!("wake_by_ref never releases a reference"),
    }
}

unsafe fn drop_waker(data: *const ()) {
    console_op(data, "waker.drop");
    raw(data).drop_reference();
}
