//! The connection pool: one TCP connection reused for many requests to the same host —
//! what makes .NET's `HttpClient` worth keeping around (its `SocketsHttpHandler` pools the same
//! way, keyed by scheme, host and port, with `PooledConnectionIdleTimeout`).
//!
//! - **HTTP/1** carries one request at a time, so a connection is *checked out* for a request
//!   and *checked in* again once its response body has been read to the end (see
//!   `response::ResponseBody`). A response dropped half-read takes its connection with it:
//!   the unread rest would be in the way of the next response.
//! - **HTTP/2** multiplexes, so each host has one shared connection that every request uses
//!   at once; it is replaced when it closes. While it is being made, the other requests for
//!   that host wait for it instead of each opening a connection of their own.
//!
//! # Invariants
//! - An idle HTTP/1 connection is handed out only after `ready()` says it can take a request;
//!   a closed or expired one is dropped instead, which closes its socket.
//! - Idle connections are handed out newest first, so the oldest expire while the newest stay
//!   warm; at most `max_idle_per_host` wait per host (no cap by default, so a burst's
//!   connections are all reused by the next burst instead of being closed and reopened), and
//!   each waits at most `idle_timeout`
//!   (a reaper task sweeps every `idle_timeout / 2`; it holds only a weak reference, and ends
//!   when nothing is idle or the client is gone).
//! - The lock is never held across an await.
//! - A host's shared HTTP/2 connection leaves the pool as soon as its connection task ends
//!   (an [`Http2Ended`] notice), and is never installed once closed. Together with requests
//!   not keeping a handle while they wait for their response, this means a dead connection's
//!   last handle goes promptly: hyper can strand a request queued just as the connection
//!   closes, and hands it back (unsent, so the client resends it) only when that last handle
//!   drops. Before, such a request waited out its whole timeout.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};

/// Request bodies are whole byte buffers: cheap to clone, sized up front.
pub(crate) type RequestBody = Full<Bytes>;

/// Where a pooled connection goes: scheme, host and port (as .NET's pool is keyed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostKey {
    /// `https` (TLS) or `http`.
    pub(crate) https: bool,
    /// Lower-cased; an IPv6 literal keeps its brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The pool of one [`Client`](crate::Client) (and its clones).
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    state: Mutex<PoolState>,
    idle_timeout: Duration,
    max_idle_per_host: usize,
}

#[derive(Default)]
struct PoolState {
    idle_http1: HashMap<HostKey, Vec<IdleHttp1>>,
    http2: HashMap<HostKey, Http2Slot>,
    reaper_running: bool,
    /// `https` hosts whose server chose `h2` in ALPN: their requests go the HTTP/2 way.
    speaks_http2: HashSet<HostKey>,
    /// The id of the last HTTP/2 connection made.
    last_http2_id: u64,
}

/// A host's HTTP/2 connection: being made by one request (the others wait), or open.
enum Http2Slot {
    Connecting { waiting: Vec<Waker> },
    Open(SharedHttp2),
}

struct IdleHttp1 {
    sender: http1::SendRequest<RequestBody>,
    idle_since: Instant,
}

struct SharedHttp2 {
    sender: http2::SendRequest<RequestBody>,
    last_used: Instant,
    /// Which connection this is, so that a request that found it closed forgets this one and
    /// never a newer one another request has made meanwhile.
    id: u64,
}

impl Pool {
    pub(crate) fn new(idle_timeout: Duration, max_idle_per_host: usize) -> Pool {
        Pool {
            shared: Arc::new(PoolShared {
                state: Mutex::new(PoolState::default()),
                idle_timeout,
                max_idle_per_host,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.shared.lock()
    }

    /// An idle HTTP/1 connection to `key`, ready for a request, if the pool has one.
    pub(crate) async fn checkout_http1(
        &self,
        key: &HostKey,
    ) -> Option<http1::SendRequest<RequestBody>> {
        loop {
            let candidate = {
                let mut state = self.lock();
                let idle = state.idle_http1.get_mut(key)?;
                let candidate = idle.pop();
                if idle.is_empty() {
                    state.idle_http1.remove(key);
                }
                candidate?
            };
            if candidate.idle_since.elapsed() >= self.shared.idle_timeout
                || candidate.sender.is_closed()
            {
                continue; // dropping it closes the connection
            }
            let mut sender = candidate.sender;
            // Checked in after its response body ended, the connection is ready or about to
            // be; an error means the server closed it meanwhile.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Gives an HTTP/1 connection back after its response was read to the end.
    pub(crate) fn checkin_http1(&self, key: HostKey, sender: http1::SendRequest<RequestBody>) {
        if sender.is_closed() || self.shared.max_idle_per_host == 0 {
            return;
        }
        let start_reaper = {
            let mut state = self.lock();
            let idle = state.idle_http1.entry(key).or_default();
            if idle.len() >= self.shared.max_idle_per_host {
                return; // enough are waiting already; this one closes
            }
            idle.push(IdleHttp1 {
                sender,
                idle_since: Instant::now(),
            });
            !std::mem::replace(&mut state.reaper_running, true)
        };
        if start_reaper {
            self.start_reaper();
        }
    }

    /// The shared HTTP/2 connection to `key`; or, if there is none, the job of making it
    /// (for the first caller; later ones wait until it is done, then look again).
    pub(crate) async fn checkout_http2(&self, key: &HostKey) -> Http2Checkout {
        poll_fn(|cx| self.poll_checkout_http2(key, cx)).await
    }

    fn poll_checkout_http2(&self, key: &HostKey, cx: &mut Context<'_>) -> Poll<Http2Checkout> {
        let mut state = self.lock();
        match state.http2.get_mut(key) {
            Some(Http2Slot::Open(shared)) if !shared.sender.is_closed() => {
                shared.last_used = Instant::now();
                return Poll::Ready(Http2Checkout::Open(shared.sender.clone(), shared.id));
            }
            Some(Http2Slot::Connecting { waiting }) => {
                if !waiting.iter().any(|waker| waker.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
            Some(Http2Slot::Open(_)) | None => {} // closed or never made: make one
        }
        state.http2.insert(
            key.clone(),
            Http2Slot::Connecting {
                waiting: Vec::new(),
            },
        );
        Poll::Ready(Http2Checkout::Connect(Http2Connecting {
            pool: self.clone(),
            key: key.clone(),
            reported: false,
        }))
    }

    /// Whether requests to `key` go the HTTP/2 way: its server chose `h2` in ALPN.
    pub(crate) fn speaks_http2(&self, key: &HostKey) -> bool {
        self.lock().speaks_http2.contains(key)
    }

    /// A connection to `key` turned out to speak HTTP/2 (ALPN): remembers that the host does,
    /// and shares the connection as the host's; returns its id.
    pub(crate) fn adopt_http2(
        &self,
        key: &HostKey,
        sender: http2::SendRequest<RequestBody>,
    ) -> u64 {
        self.lock().speaks_http2.insert(key.clone());
        self.end_http2_connect(key, Some(sender))
    }

    /// The host's server answered HTTP/1.1 in ALPN this time: its requests go the HTTP/1 way.
    pub(crate) fn forget_http2(&self, key: &HostKey) {
        self.lock().speaks_http2.remove(key);
    }

    /// Forgets the shared HTTP/2 connection `id` to `key` (it turned out to be closed); a
    /// newer connection to `key` stays.
    pub(crate) fn remove_http2(&self, key: &HostKey, id: u64) {
        let mut state = self.lock();
        if let Some(Http2Slot::Open(shared)) = state.http2.get(key) {
            if shared.id == id {
                state.http2.remove(key);
            }
        }
    }

    /// Ends a connect job: `Some(sender)` opens the host's connection (returning its id),
    /// `None` (failure or cancellation) frees the job for the next request. Wakes the waiting
    /// requests either way.
    fn end_http2_connect(
        &self,
        key: &HostKey,
        sender: Option<http2::SendRequest<RequestBody>>,
    ) -> u64 {
        let (waiting, start_reaper, id) = {
            let mut state = self.lock();
            state.last_http2_id += 1;
            let id = state.last_http2_id;
            let previous = match sender {
                // Closed already (the connection ended before it was shared): not installed,
                // so the next request makes a new one.
                Some(sender) if sender.is_closed() => state.http2.remove(key),
                Some(sender) => {
                    let shared = SharedHttp2 {
                        sender,
                        last_used: Instant::now(),
                        id,
                    };
                    state.http2.insert(key.clone(), Http2Slot::Open(shared))
                }
                None => state.http2.remove(key),
            };
            let waiting = match previous {
                Some(Http2Slot::Connecting { waiting }) => waiting,
                _ => Vec::new(),
            };
            let opened = state.http2.contains_key(key);
            let start_reaper = opened && !std::mem::replace(&mut state.reaper_running, true);
            (waiting, start_reaper, id)
        };
        waiting.into_iter().for_each(Waker::wake);
        if start_reaper {
            self.start_reaper();
        }
        id
    }

    /// A notice for the task that drives a new HTTP/2 connection to `key`, to give when the
    /// connection ends. It holds the pool weakly: a connection must not keep its client alive.
    pub(crate) fn http2_ended_notice(&self, key: &HostKey) -> Http2Ended {
        Http2Ended {
            pool: Arc::downgrade(&self.shared),
            key: key.clone(),
        }
    }

    /// How many HTTP/1 connections wait idle for `key` (for tests and diagnostics).
    pub(crate) fn idle_count(&self, key: &HostKey) -> usize {
        self.lock().idle_http1.get(key).map_or(0, Vec::len)
    }

    fn start_reaper(&self) {
        let pool = Arc::downgrade(&self.shared);
        let period = (self.shared.idle_timeout / 2).max(Duration::from_millis(10));
        brigade::spawn(reap_idle_connections(pool, period)).detach();
    }
}

impl PoolShared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Only maps of connections live under the lock; a panic cannot leave them torn.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops expired idle connections; returns whether anything is still pooled. Clears
    /// `reaper_running` when nothing is, under the same lock a checkin sets it under.
    fn sweep(&self) -> bool {
        let mut expired = Vec::new();
        let mut state = self.lock();
        let idle_timeout = self.idle_timeout;
        state.idle_http1.retain(|_, idle| {
            idle.retain(|conn| {
                conn.idle_since.elapsed() < idle_timeout && !conn.sender.is_closed()
            });
            !idle.is_empty()
        });
        state.http2.retain(|_, slot| match slot {
            Http2Slot::Connecting { .. } => true,
            Http2Slot::Open(shared) => {
                let keep = shared.last_used.elapsed() < idle_timeout && !shared.sender.is_closed();
                if !keep {
                    expired.push(shared.sender.clone());
                }
                keep
            }
        });
        let anything_left = !state.idle_http1.is_empty() || !state.http2.is_empty();
        state.reaper_running = anything_left;
        drop(state);
        drop(expired); // outside the lock: dropping the last sender closes a connection
        anything_left
    }
}

/// What [`Pool::checkout_http2`] found.
pub(crate) enum Http2Checkout {
    /// The host's shared connection, and its id (for [`Pool::remove_http2`]).
    Open(http2::SendRequest<RequestBody>, u64),
    /// No connection: this request makes it, and reports back through the job.
    Connect(Http2Connecting),
}

/// The job of making a host's HTTP/2 connection. [`opened`](Self::opened) shares the new
/// connection; dropped without it (the connect failed, or the request was cancelled or timed
/// out meanwhile), it lets the next waiting request try.
pub(crate) struct Http2Connecting {
    pool: Pool,
    key: HostKey,
    reported: bool,
}

impl Http2Connecting {
    /// Shares the new connection; returns its id.
    pub(crate) fn opened(mut self, sender: http2::SendRequest<RequestBody>) -> u64 {
        self.reported = true;
        self.pool.end_http2_connect(&self.key, Some(sender))
    }
}

impl Drop for Http2Connecting {
    fn drop(&mut self) {
        if !self.reported {
            let _ = self.pool.end_http2_connect(&self.key, None);
        }
    }
}

/// Given by a connection task when its HTTP/2 connection ends: the pool forgets the host's
/// shared connection if it is closed (a newer, open one stays).
pub(crate) struct Http2Ended {
    pool: Weak<PoolShared>,
    key: HostKey,
}

impl Http2Ended {
    pub(crate) fn give(self) {
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        let removed = {
            let mut state = pool.lock();
            match state.http2.get(&self.key) {
                Some(Http2Slot::Open(shared)) if shared.sender.is_closed() => {
                    state.http2.remove(&self.key)
                }
                _ => None,
            }
        };
        drop(removed); // outside the lock: dropping a sender may free hyper's channel
    }
}

async fn reap_idle_connections(pool: Weak<PoolShared>, period: Duration) {
    loop {
        brigade::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else {
            return; // the client is gone, and its connections with it
        };
        if !pool.sweep() {
            return;
        }
    }
}
