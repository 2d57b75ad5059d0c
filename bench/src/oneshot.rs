//! A tiny runtime-agnostic oneshot channel.
//!
//! Both runtimes use this exact channel in `ping_pong`, so the only thing that
//! differs between the two sides is the scheduler that wakes and polls tasks.
//! It is deliberately simple (`Arc<Mutex<..>>` + `Option<Waker>`): the cost is
//! identical on both sides and small next to a task spawn.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct Inner<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

/// Sending half; `send` consumes it.
pub struct Sender<T> {
    inner: Arc<Mutex<Inner<T>>>,
}

/// Receiving half; a future resolving to `Some(value)`, or `None` if the
/// sender was dropped without sending.
pub struct Receiver<T> {
    inner: Arc<Mutex<Inner<T>>>,
}

/// Creates a connected sender/receiver pair.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Mutex::new(Inner {
        value: None,
        waker: None,
        sender_gone: false,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

impl<T> Sender<T> {
    /// Stores the value and wakes the receiver, if it is waiting.
    pub fn send(self, value: T) {
        let waker = {
            let mut inner = self.inner.lock().unwrap();
            inner.value = Some(value);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        // `Drop` runs next; it finds the waker already taken.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.inner.lock().unwrap();
            inner.sender_gone = true;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut inner = self.inner.lock().unwrap();
        if let Some(value) = inner.value.take() {
            return Poll::Ready(Some(value));
        }
        if inner.sender_gone {
            return Poll::Ready(None);
        }
        match &mut inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}
