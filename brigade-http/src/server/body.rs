//! The request body a handler reads, [`Incoming`]: hyper's body with a minimum data rate —
//! Kestrel's `MinRequestBodyDataRate` (240 bytes/s after a 5 s grace period, then
//! `408 Request Timeout`).
//!
//! A client that uploads at a trickle (1 byte/s) would otherwise hold its connection, its
//! handler and its slot under the connection limit for as long as it likes. The rate is
//! measured only while the handler waits for body bytes (a `poll_frame` that finds none), so
//! a handler that is slow to read is never blamed on the client: the body fails once the time
//! spent waiting exceeds `grace + bytes received / rate`. The handler then sees a
//! [`BodyError`] whose [`is_too_slow`](BodyError::is_too_slow) is true, and whatever it
//! answers, the client gets `408 Request Timeout` (and, on HTTP/1, the connection closes).
//!
//! # Invariants
//! - Waiting time is counted from the first `Pending` poll to the next frame, never while a
//!   frame was ready at once; a timer is armed for the moment the rate would be broken, so a
//!   client that sends nothing at all is caught too.
//! - Once too slow, the body stays failed, and the request is marked so its response becomes
//!   a 408.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use brigade::time::Sleep;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// The slowest a client may send a request body, after a grace period; see
/// [`Server::min_request_body_rate`](crate::Server::min_request_body_rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinDataRate {
    /// Bytes per second, on average, after the grace period.
    pub bytes_per_second: u64,
    /// How long the handler may wait for body bytes before the rate applies.
    pub grace: Duration,
}

impl MinDataRate {
    /// Kestrel's default: 240 bytes/s after a 5 s grace period.
    pub const DEFAULT: MinDataRate = MinDataRate {
        bytes_per_second: 240,
        grace: Duration::from_secs(5),
    };

    /// How long a body that has sent `received` bytes may have kept its reader waiting.
    fn allowed_wait(&self, received: u64) -> Duration {
        let earned = if self.bytes_per_second == 0 {
            Duration::MAX
        } else {
            Duration::try_from_secs_f64(received as f64 / self.bytes_per_second as f64)
                .unwrap_or(Duration::MAX)
        };
        self.grace.saturating_add(earned)
    }
}

/// A request body as a handler receives it: hyper's [`hyper::body::Incoming`], with the
/// server's minimum data rate applied. Read it with [`BodyExt`](crate::BodyExt)
/// (`.collect().await`, `.frame().await`).
pub struct Incoming {
    inner: hyper::body::Incoming,
    watch: Option<RateWatch>,
}

/// The rate bookkeeping of one body.
struct RateWatch {
    rate: MinDataRate,
    received: u64,
    /// Time spent waiting for bytes, up to the start of the current wait.
    waited: Duration,
    /// When the current wait began (the first `Pending` since the last frame).
    waiting_since: Option<Instant>,
    /// Fires when the current wait would break the rate; boxed to keep the body `Unpin`.
    timer: Option<Pin<Box<Sleep>>>,
    /// Shared with the request's response future: set when the rate was broken.
    too_slow: Arc<AtomicBool>,
}

impl RateWatch {
    fn frame_arrived(&mut self, bytes: usize) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
        }
        self.received += bytes as u64;
    }

    /// Called on a `Pending` poll: `Ready` once the rate is broken, else the timer is armed.
    fn poll_broken(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let allowed = self.rate.allowed_wait(self.received);
        let Some(left) = allowed.checked_sub(self.waited) else {
            return Poll::Ready(());
        };
        let Some(deadline) = since.checked_add(left) else {
            return Poll::Pending; // so far off it never comes
        };
        match &mut self.timer {
            Some(timer) if timer.deadline() == deadline => {}
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.timer = Some(Box::pin(brigade::time::sleep_until(deadline))),
        }
        let timer = self.timer.as_mut().expect("armed above");
        timer.as_mut().poll(cx)
    }
}

impl Incoming {
    pub(crate) fn new(
        inner: hyper::body::Incoming,
        rate: Option<MinDataRate>,
        too_slow: Arc<AtomicBool>,
    ) -> Incoming {
        let watch = rate.map(|rate| RateWatch {
            rate,
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: None,
            too_slow,
        });
        Incoming { inner, watch }
    }
}

impl Body for Incoming {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if let Some(watch) = &this.watch {
            if watch.too_slow.load(Ordering::Relaxed) {
                return Poll::Ready(Some(Err(BodyError::too_slow(watch.rate))));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(watch) = &mut this.watch {
                    watch.frame_arrived(frame.data_ref().map_or(0, Bytes::len));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(BodyError::Hyper(error)))),
            Poll::Ready(None) => {
                this.watch = None; // the end: nothing left to wait for
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(watch) = &mut this.watch else {
                    return Poll::Pending;
                };
                if watch.poll_broken(cx).is_pending() {
                    return Poll::Pending;
                }
                watch.too_slow.store(true, Ordering::Relaxed);
                watch.timer = None;
                Poll::Ready(Some(Err(BodyError::too_slow(watch.rate))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("inner", &self.inner)
            .field("min_rate", &self.watch.as_ref().map(|watch| watch.rate))
            .finish()
    }
}

/// Why reading a request body failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BodyError {
    /// The connection failed or the client sent something invalid (hyper's error).
    Hyper(hyper::Error),
    /// The client sent the body slower than the server's minimum data rate; the client gets
    /// `408 Request Timeout` whatever the handler answers.
    TooSlow {
        /// The rate it fell below.
        rate: MinDataRate,
    },
}

impl BodyError {
    fn too_slow(rate: MinDataRate) -> BodyError {
        BodyError::TooSlow { rate }
    }

    /// The client sent the body too slowly.
    pub fn is_too_slow(&self) -> bool {
        matches!(self, BodyError::TooSlow { .. })
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Hyper(error) => write!(f, "reading the request body failed: {error}"),
            BodyError::TooSlow { rate } => write!(
                f,
                "the client sent the request body slower than {} bytes/s (after a grace of \
                 {:?}); the request timed out (change it with Server::min_request_body_rate)",
                rate.bytes_per_second, rate.grace
            ),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Hyper(error) => Some(error),
            BodyError::TooSlow { .. } => None,
        }
    }
}
