//! The calling-off side: `CancellationTokenSource` (the base station), including linked
//! sources.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::registry::Callback;
use super::state::SourceState;
use super::{CancellationToken, Registration};

/// Requests cancellation of the operations holding its tokens — .NET's
/// `CancellationTokenSource`, the base station the walkie-talkies listen to.
///
/// Hand [`token`](CancellationTokenSource::token)s to the work; call
/// [`cancel`](CancellationTokenSource::cancel) to call it off. Not `Clone`: one owner decides.
/// Share it in an `Arc` if several parties may cancel.
///
/// Dropping a source that was never cancelled means it never will be: its tokens report
/// [`can_be_cancelled`](CancellationToken::can_be_cancelled) `false`, the callbacks registered
/// on them are dropped unrun, and a linked source unregisters from its parents.
///
/// ```
/// use brigade::cancel::CancellationTokenSource;
/// use brigade::prelude::*;
///
/// # brigade::block_on(async {
/// let source = CancellationTokenSource::new();
/// let token = source.token();
/// let painter = brigade::spawn(async move {
///     // A job that would take forever, unless called off.
///     std::future::pending::<()>().with_cancellation(&token).await
/// });
/// source.cancel();
/// assert!(painter.await.is_err());
/// # });
/// ```
pub struct CancellationTokenSource {
    state: Arc<SourceState>,
    /// A linked source's registrations on its parents' tokens; dropping them unregisters it.
    parents: Vec<Registration>,
}

impl CancellationTokenSource {
    /// A source that is not cancelled.
    pub fn new() -> CancellationTokenSource {
        CancellationTokenSource {
            state: Arc::new(SourceState::new()),
            parents: Vec::new(),
        }
    }

    /// A source that is also cancelled when any of `parents` is — .NET's
    /// `CreateLinkedTokenSource` (K6):
    ///
    /// - cancelled synchronously, inside the parent's `cancel()`, when a parent is cancelled;
    /// - already cancelled on return if a parent already is;
    /// - cancelling it never cancels a parent;
    /// - dropping it unregisters it from its parents, so a long-lived parent does not
    ///   accumulate links from short-lived children.
    ///
    /// [`none`](CancellationToken::none) parents are skipped.
    ///
    /// ```
    /// use brigade::cancel::CancellationTokenSource;
    ///
    /// let shutdown = CancellationTokenSource::new(); // lives as long as the server
    /// let request = CancellationTokenSource::linked(&[shutdown.token()]); // one request
    /// request.cancel(); // the client went away: this request stops, the server goes on
    /// assert!(!shutdown.is_cancellation_requested());
    ///
    /// let next_request = CancellationTokenSource::linked(&[shutdown.token()]);
    /// shutdown.cancel(); // stopping the server stops every request in flight
    /// assert!(next_request.is_cancellation_requested());
    /// ```
    pub fn linked(parents: &[CancellationToken]) -> CancellationTokenSource {
        let mut source = CancellationTokenSource::new();
        for parent in parents {
            if source.is_cancellation_requested() {
                break; // a parent already cancelled us: no need to listen to the rest
            }
            let Some(parent_state) = parent.state() else {
                continue;
            };
            let child: Weak<SourceState> = Arc::downgrade(&source.state);
            // Runs `source.cancel()` right here if the parent is already cancelled.
            if let Some(key) = parent_state.register(Callback::Linked(child)) {
                source
                    .parents
                    .push(Registration::stored(parent_state.clone(), key));
            }
        }
        source
    }

    /// A source that cancels itself after `delay` — .NET's `new CancellationTokenSource(delay)`;
    /// the same as [`new`](Self::new) followed by [`cancel_after`](Self::cancel_after).
    /// With a zero delay it is already cancelled on return (K7).
    ///
    /// ```
    /// use std::time::Duration;
    /// use brigade::cancel::CancellationTokenSource;
    /// use brigade::prelude::*;
    ///
    /// # brigade::block_on(async {
    /// let deadline = CancellationTokenSource::with_timeout(Duration::from_millis(10));
    /// let slow = std::future::pending::<()>().with_cancellation(&deadline.token());
    /// assert!(slow.await.is_err(), "called off after 10 ms");
    ///
    /// assert!(CancellationTokenSource::with_timeout(Duration::ZERO).is_cancellation_requested());
    /// # });
    /// ```
    pub fn with_timeout(delay: Duration) -> CancellationTokenSource {
        let source = CancellationTokenSource::new();
        source.cancel_after(delay);
        source
    }

    /// Cancels this source once `delay` has passed — .NET's `CancelAfter` (K7).
    ///
    /// - Each call re-arms: the deadline becomes `now + delay`, replacing any earlier one
    ///   (sooner or later).
    /// - Once cancellation was requested, the call is ignored.
    /// - A zero delay cancels right here, synchronously, with the callbacks running on this
    ///   thread; `Duration::MAX` never fires (and disarms an earlier deadline).
    /// - [`try_reset`](Self::try_reset) and dropping the source disarm the timer.
    ///
    /// The timer is a small task on the current runtime (outside any, the default runtime)
    /// that sleeps until the deadline and then cancels the source — so when it fires, the
    /// callbacks run on one of that runtime's workers (keep them short), and a callback's
    /// panic goes to the runtime's unhandled-panic policy, there being no caller to re-raise
    /// it to. If that runtime shuts down first, the timer goes with it and never fires. A
    /// pending timer holds only a weak reference: it keeps neither the source nor its tokens
    /// alive.
    ///
    /// ```
    /// use std::time::Duration;
    /// use brigade::cancel::CancellationTokenSource;
    ///
    /// # brigade::block_on(async {
    /// let source = CancellationTokenSource::new();
    /// source.cancel_after(Duration::from_secs(3600)); // an hour for the whole job...
    /// source.cancel_after(Duration::from_millis(5)); // ...no: 5 ms (re-armed)
    /// source.token().cancelled().await;
    /// # });
    /// ```
    pub fn cancel_after(&self, delay: Duration) {
        self.state.cancel_after(delay);
    }

    /// A token listening to this source. Every call gives an equal token (same source).
    pub fn token(&self) -> CancellationToken {
        CancellationToken::from_state(self.state.clone())
    }

    /// Requests cancellation — .NET's `Cancel()`.
    ///
    /// Every registered callback runs here, on this thread, before `cancel` returns: most
    /// recently registered first (K3), with
    /// [`is_cancellation_requested`](CancellationTokenSource::is_cancellation_requested)
    /// already `true` (K1). Linked sources are cancelled the same way, inside this call (K6).
    ///
    /// Calling it again, or while another thread is still running the callbacks, does nothing.
    ///
    /// # Panics
    /// If callbacks panicked: after every callback has run, the panic is re-raised — with its
    /// original payload when one callback panicked, as an
    /// [`AggregatePanic`](crate::future::AggregatePanic) holding every payload when several
    /// did (K4).
    pub fn cancel(&self) {
        self.state.cancel();
    }

    /// Whether cancellation has been requested (by [`cancel`](Self::cancel), a parent or
    /// [`cancel_after`](Self::cancel_after)'s timer).
    pub fn is_cancellation_requested(&self) -> bool {
        self.state.is_cancellation_requested()
    }

    /// Makes the source reusable for a new operation if it was not cancelled — .NET's
    /// `TryReset`.
    ///
    /// Returns `false` (and changes nothing) once cancellation was requested: a cancelled
    /// source stays cancelled. Otherwise disarms any pending
    /// [`cancel_after`](Self::cancel_after) timer and returns `true`.
    ///
    /// Registrations are kept: they belong to operations still waiting on the token, which
    /// unregister them when they finish (dropping their [`Registration`]s or futures). Only the
    /// timer, which belonged to the previous use, is cleared.
    ///
    /// ```
    /// use brigade::cancel::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// assert!(source.try_reset());
    /// source.cancel();
    /// assert!(!source.try_reset());
    /// assert!(source.is_cancellation_requested());
    /// ```
    pub fn try_reset(&self) -> bool {
        self.state.try_reset()
    }

    /// The process-unique id of this source, shown in [`Cancelled`](super::Cancelled) errors
    /// and `Debug` output.
    pub fn id(&self) -> u64 {
        self.state.id()
    }

    /// Live registrations on this source (callbacks, waiting futures, linked children). For
    /// tests and diagnostics.
    #[doc(hidden)]
    pub fn registration_count(&self) -> usize {
        self.state.registration_count()
    }

    /// Slots in this source's registration storage, live or vacant: flat under churn (K6).
    /// For tests and diagnostics.
    #[doc(hidden)]
    pub fn registration_slots(&self) -> usize {
        self.state.registration_slots()
    }
}

impl Default for CancellationTokenSource {
    fn default() -> Self {
        CancellationTokenSource::new()
    }
}

impl Drop for CancellationTokenSource {
    fn drop(&mut self) {
        // Leave the parents first, so that none of them can cancel us while we shut down.
        // (If one is cancelling us on another thread right now, this waits until it is done.)
        self.parents.clear();
        self.state.abandon();
    }
}

impl fmt::Debug for CancellationTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationTokenSource")
            .field("id", &self.state.id())
            .field("cancelled", &self.is_cancellation_requested())
            .field("parents", &self.parents.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_pending_timer_holds_the_state_until_it_is_reset() {
        let source = CancellationTokenSource::new();
        source.cancel_after(Duration::from_secs(3600));
        assert_eq!(
            Arc::strong_count(&source.state),
            2,
            "the pending timer task keeps the source cancellable"
        );
        assert!(source.try_reset());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&source.state) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "a reset timer let go of nothing"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn linked_sources_leave_the_parent_storage_flat() {
        let parent = CancellationTokenSource::new();
        let keep: Vec<CancellationTokenSource> = (0..4)
            .map(|_| CancellationTokenSource::linked(&[parent.token()]))
            .collect();
        for _ in 0..10_000 {
            drop(CancellationTokenSource::linked(&[parent.token()]));
        }
        assert_eq!(parent.state.registration_slots(), keep.len() + 1);
        assert_eq!(parent.state.registration_count(), keep.len());
    }
}
