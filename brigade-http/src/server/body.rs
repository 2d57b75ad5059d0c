//! The request body a handler reads, [`Incoming`]: hyper's body with two limits a server on
//! the open internet needs — Kestrel's `MinRequestBodyDataRate` (240 bytes/s after a 5 s
//! grace period, then `408 Request Timeout`) and Kestrel's `MaxRequestBodySize` (30 000 000
//! bytes, then `413 Payload Too Large`).
//!
//! **Rate.** A client that uploads at a trickle (1 byte/s) would otherwise hold its
//! connection, its handler and its slot under the connection limit for as long as it likes.
//! The rate is measured only while the handler waits for body bytes (a `poll_frame` that
//! finds none), so a handler that is slow to read is never blamed on the client: the body
//! fails once the time spent waiting exceeds `grace + bytes received / rate`. The handler then
//! sees a [`BodyError`] whose [`is_too_slow`](BodyError::is_too_slow) is true, and whatever it
//! answers, the client gets `408 Request Timeout` (and, on HTTP/1, the connection closes).
//!
//! **Size.** A client could otherwise stream gigabytes into a handler that collects the body.
//! A body whose declared length (`Content-Length`) is over the cap fails on its first poll,
//! before a byte of it is read (so an HTTP/1 client that sent `Expect: 100-continue` is never
//! told to send it); any other body fails as soon as the bytes received would go over the cap
//! — the frame that would cross it is not handed out. The handler sees a [`BodyError`] whose
//! [`is_too_large`](BodyError::is_too_large) is true, and whatever it answers, the client gets
//! `413 Payload Too Large` (HTTP/1: with `Connection: close`, and the connection closes; the
//! rest of the body is never read).
//!
//! # Invariants
//! - Waiting time is counted from the first `Pending` poll to the next frame, never while a
//!   frame was ready at once; a timer is armed for the moment the rate would be broken, so a
//!   client that sends nothing at all is caught too.
//! - A handler never receives more than the cap's worth of data bytes.
//! - Once failed (too slow or too large), the body stays failed: every later poll yields the
//!   same error and never data, and the request is marked so its response becomes a 408 or a
//!   413 (the first failure wins).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
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
/// server's minimum data rate and maximum size applied. Read it with
/// [`BodyExt`](crate::BodyExt) (`.collect().await`, `.frame().await`).
pub struct Incoming {
    inner: hyper::body::Incoming,
    watch: Option<RateWatch>,
    /// The most data bytes the body may carry; `None`: no cap.
    max_size: Option<u64>,
    /// Data bytes handed out so far.
    received: u64,
    /// Set once the body failed a limit: every later poll repeats it.
    failed: Option<Failure>,
    /// Shared with the request's response future, which answers 408 or 413 when set.
    refusal: Arc<Refusal>,
}

/// A limit the body broke.
#[derive(Debug, Clone, Copy)]
enum Failure {
    TooSlow(MinDataRate),
    TooLarge(u64),
}

impl Failure {
    fn error(self) -> BodyError {
        match self {
            Failure::TooSlow(rate) => BodyError::TooSlow { rate },
            Failure::TooLarge(limit) => BodyError::TooLarge { limit },
        }
    }
}

/// Why the server refuses a request because of its body, as the response future sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Slower than the minimum data rate: 408.
    TooSlow,
    /// Larger than the maximum size: 413.
    TooLarge,
}

/// One request's [`Refused`] verdict, written by its body, read by its response future.
#[derive(Debug, Default)]
pub(crate) struct Refusal(AtomicU8);

impl Refusal {
    const NONE: u8 = 0;
    const TOO_SLOW: u8 = 1;
    const TOO_LARGE: u8 = 2;

    /// Records `why`, unless a verdict is already recorded (the first failure wins).
    fn refuse(&self, why: Refused) {
        let code = match why {
            Refused::TooSlow => Refusal::TOO_SLOW,
            Refused::TooLarge => Refusal::TOO_LARGE,
        };
        let _ = self
            .0
            .compare_exchange(Refusal::NONE, code, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The verdict, if the body broke a limit.
    pub(crate) fn get(&self) -> Option<Refused> {
        match self.0.load(Ordering::Relaxed) {
            Refusal::TOO_SLOW => Some(Refused::TooSlow),
            Refusal::TOO_LARGE => Some(Refused::TooLarge),
            _ => None,
        }
    }
}

/// The rate bookkeeping of one body.
struct RateWatch {
    rate: MinDataRate,
    /// Time spent waiting for bytes, up to the start of the current wait.
    waited: Duration,
    /// When the current wait began (the first `Pending` since the last frame).
    waiting_since: Option<Instant>,
    /// Fires when the current wait would break the rate; boxed to keep the body `Unpin`.
    timer: Option<Pin<Box<Sleep>>>,
}

impl RateWatch {
    fn frame_arrived(&mut self) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
        }
    }

    /// Called on a `Pending` poll of a body that has handed out `received` bytes: `Ready` once
    /// the rate is broken, else the timer is armed.
    fn poll_broken(&mut self, received: u64, cx: &mut Context<'_>) -> Poll<()> {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let allowed = self.rate.allowed_wait(received);
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
        max_size: Option<u64>,
        refusal: Arc<Refusal>,
    ) -> Incoming {
        let watch = rate.map(|rate| RateWatch {
            rate,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: None,
        });
        Incoming {
            inner,
            watch,
            max_size,
            received: 0,
            failed: None,
            refusal,
        }
    }

    /// Fails the body for good: marks the request refused and returns the error.
    fn fail(&mut self, failure: Failure) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.failed = Some(failure);
        self.watch = None; // nothing left to wait for
        self.refusal.refuse(match failure {
            Failure::TooSlow(_) => Refused::TooSlow,
            Failure::TooLarge(_) => Refused::TooLarge,
        });
        Poll::Ready(Some(Err(failure.error())))
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
        if let Some(failure) = this.failed {
            return Poll::Ready(Some(Err(failure.error())));
        }
        if let Some(limit) = this.max_size {
            // Declared too long (`Content-Length`; hyper's lower bound is what remains of it):
            // refused before a byte of it is read.
            if this.received.saturating_add(this.inner.size_hint().lower()) > limit {
                return this.fail(Failure::TooLarge(limit));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let bytes = frame.data_ref().map_or(0, Bytes::len) as u64;
                if let Some(limit) = this.max_size {
                    if this.received.saturating_add(bytes) > limit {
                        return this.fail(Failure::TooLarge(limit));
                    }
                }
                this.received += bytes;
                if let Some(watch) = &mut this.watch {
                    watch.frame_arrived();
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
                if watch.poll_broken(this.received, cx).is_pending() {
                    return Poll::Pending;
                }
                let rate = watch.rate;
                this.fail(Failure::TooSlow(rate))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed.is_none() && self.inner.is_end_stream()
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
            .field("max_size", &self.max_size)
            .field("received", &self.received)
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
    /// The body is larger than the server's maximum request body size (declared so by its
    /// `Content-Length`, or found so as it arrived); the client gets `413 Payload Too Large`
    /// whatever the handler answers.
    TooLarge {
        /// The cap it went over, in bytes
        /// ([`Server::max_request_body`](crate::Server::max_request_body)).
        limit: u64,
    },
}

impl BodyError {
    /// The client sent the body too slowly.
    pub fn is_too_slow(&self) -> bool {
        matches!(self, BodyError::TooSlow { .. })
    }

    /// The body is larger than the server accepts.
    pub fn is_too_large(&self) -> bool {
        matches!(self, BodyError::TooLarge { .. })
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
            BodyError::TooLarge { limit } => write!(
                f,
                "request body larger than the limit of {limit} bytes; change it with \
                 Server::max_request_body"
            ),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Hyper(error) => Some(error),
            BodyError::TooSlow { .. } | BodyError::TooLarge { .. } => None,
        }
    }
}
