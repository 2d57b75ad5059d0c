//! The listening side: `CancellationToken` (the walkie-talkie), `Registration` (a "call me
//! when it's called off" request) and `WhenCancelled` (await the call).

use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::registry::{Callback, SlotKey};
use super::state::{IfRunning, SourceState, WaiterState};
use super::Cancelled;
use crate::context::ExecutionContext;

/// Listens for cancellation from one [`CancellationTokenSource`](super::CancellationTokenSource)
/// — .NET's `CancellationToken`. It can observe cancellation but never request it.
///
/// Cheap to clone (one reference count) and `Send + Sync`: pass it down to every operation
/// that should stop when the source is cancelled. Tokens compare equal when they listen to the
/// same source; all [`none`](CancellationToken::none) tokens are equal.
///
/// ```
/// use brigade::cancel::{CancellationTokenSource, CancellationToken};
///
/// fn paint(rooms: u32, token: &CancellationToken) -> Result<u32, brigade::cancel::Cancelled> {
///     let mut painted = 0;
///     for _ in 0..rooms {
///         token.error_if_cancelled()?; // check the walkie-talkie between rooms
///         painted += 1;
///     }
///     Ok(painted)
/// }
///
/// let source = CancellationTokenSource::new();
/// assert_eq!(paint(3, &source.token()), Ok(3));
/// source.cancel();
/// assert!(paint(3, &source.token()).is_err());
/// ```
#[derive(Clone, Default)]
pub struct CancellationToken {
    /// `None` is [`CancellationToken::none`]: nothing to share, so nothing allocated (K10).
    state: Option<Arc<SourceState>>,
}

impl CancellationToken {
    /// A token that is never cancelled — .NET's `CancellationToken.None`, for callers with
    /// nothing to cancel. Costs no allocation (K10); callbacks registered on it are dropped
    /// unrun and its [`cancelled`](CancellationToken::cancelled) future never completes.
    ///
    /// ```
    /// use brigade::cancel::CancellationToken;
    ///
    /// let token = CancellationToken::none();
    /// assert!(!token.can_be_cancelled());
    /// assert!(token.error_if_cancelled().is_ok());
    /// assert_eq!(token, CancellationToken::default());
    /// ```
    pub const fn none() -> CancellationToken {
        CancellationToken { state: None }
    }

    pub(crate) fn from_state(state: Arc<SourceState>) -> CancellationToken {
        CancellationToken { state: Some(state) }
    }

    /// Whether cancellation has been requested. Already `true` when the first callback runs
    /// (K1). One atomic load; no lock.
    pub fn is_cancellation_requested(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|state| state.is_cancellation_requested())
    }

    /// Whether this token can ever be cancelled — .NET's `CanBeCanceled`. `false` for
    /// [`none`](CancellationToken::none), and for a token whose source was dropped without
    /// cancelling it; `true` once it is cancelled.
    pub fn can_be_cancelled(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|state| state.can_be_cancelled())
    }

    /// `Err(Cancelled)` if cancellation was requested, else `Ok(())` — .NET's
    /// `ThrowIfCancellationRequested`, shaped for `?`.
    ///
    /// ```
    /// use brigade::cancel::{CancellationTokenSource, Cancelled};
    ///
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    /// let work = || -> Result<&str, Cancelled> {
    ///     token.error_if_cancelled()?;
    ///     Ok("done")
    /// };
    /// assert_eq!(work(), Ok("done"));
    /// source.cancel();
    /// let error = work().unwrap_err();
    /// assert_eq!(error.token(), &source.token()); // it says which token
    /// ```
    pub fn error_if_cancelled(&self) -> Result<(), Cancelled> {
        if self.is_cancellation_requested() {
            Err(Cancelled::new(self.clone()))
        } else {
            Ok(())
        }
    }

    /// Asks for `callback` to run when cancellation is requested — .NET's `Register`.
    ///
    /// - Registered callbacks run on the thread that calls `cancel()`, most recently registered
    ///   first (K3).
    /// - If cancellation was already requested, `callback` runs right here, before `register`
    ///   returns (K2), and a panic in it propagates to the caller.
    /// - Dropping the returned [`Registration`] unregisters the callback (K5).
    /// - On [`none`](CancellationToken::none), or a token whose source was dropped uncancelled,
    ///   the callback is dropped unrun.
    ///
    /// Keep callbacks short: they run inside the canceller's `cancel()` call, one after the
    /// other.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use brigade::cancel::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let called_off = Arc::new(AtomicBool::new(false));
    /// let flag = called_off.clone();
    /// let _registration = source.token().register(move || flag.store(true, Ordering::SeqCst));
    /// source.cancel();
    /// assert!(called_off.load(Ordering::SeqCst));
    /// ```
    #[must_use = "dropping the Registration unregisters the callback at once; keep it (or call \
                  `.detach()`) for as long as the callback should stay registered"]
    pub fn register(&self, callback: impl FnOnce() + Send + 'static) -> Registration {
        let Some(state) = &self.state else {
            return Registration::inert();
        };
        // K3: the callback runs inside the ExecutionContext of this call, whichever thread
        // cancels (the same single allocation holds both).
        let context = ExecutionContext::capture();
        let callback = Box::new(move || context.run(callback));
        match state.register(Callback::User(callback)) {
            Some(key) => Registration::stored(state.clone(), key),
            None => Registration::inert(),
        }
    }

    /// A future that completes when cancellation is requested.
    ///
    /// It registers its task's waker on the first poll (re-polls refresh it without
    /// allocating) and unregisters it when dropped. On a token that can never be cancelled it
    /// never completes: combine it with other work (as
    /// [`with_cancellation`](super::CancellationExt::with_cancellation) does) rather than
    /// waiting on it alone.
    ///
    /// ```
    /// use brigade::cancel::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    /// let waiter = std::thread::spawn(move || brigade::block_on(token.cancelled()));
    /// source.cancel();
    /// waiter.join().unwrap();
    /// ```
    pub fn cancelled(&self) -> WhenCancelled {
        WhenCancelled {
            token: self.clone(),
            key: None,
            registered_waker: None,
        }
    }

    /// The process-unique id of the source this token listens to; `None` for
    /// [`none`](CancellationToken::none). Shown in [`Cancelled`]'s message.
    pub fn source_id(&self) -> Option<u64> {
        self.state.as_ref().map(|state| state.id())
    }

    pub(crate) fn state(&self) -> Option<&Arc<SourceState>> {
        self.state.as_ref()
    }
}

impl PartialEq for CancellationToken {
    /// Identity: equal when both listen to the same source (or both are `none`).
    fn eq(&self, other: &Self) -> bool {
        match (&self.state, &other.state) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for CancellationToken {}

impl Hash for CancellationToken {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        self.source_id().hash(hasher);
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            None => f.write_str("CancellationToken::none()"),
            Some(state) => f
                .debug_struct("CancellationToken")
                .field("source", &state.id())
                .field("cancelled", &state.is_cancellation_requested())
                .finish(),
        }
    }
}

/// A callback registered with [`CancellationToken::register`]. Dropping it unregisters the
/// callback — .NET's `CancellationTokenRegistration.Dispose`.
///
/// If the callback is running on another thread at that moment (a `cancel()` in progress),
/// dropping the registration waits for it to return, so that afterwards the callback is
/// neither running nor going to run, and whatever it uses may be torn down. Dropped inside its
/// own callback, it does not wait (that would deadlock) (K5).
///
/// ```
/// use brigade::cancel::CancellationTokenSource;
///
/// let source = CancellationTokenSource::new();
/// let registration = source.token().register(|| unreachable!("unregistered first"));
/// assert!(registration.unregister(), "it was still waiting, so it will never run");
/// source.cancel();
/// ```
#[must_use = "dropping the Registration unregisters the callback at once"]
pub struct Registration {
    /// The source and the slot holding the callback; `None` when nothing is registered (the
    /// callback already ran, the token was `none`, or the registration was detached).
    entry: Option<(Arc<SourceState>, SlotKey)>,
}

impl Registration {
    fn inert() -> Registration {
        Registration { entry: None }
    }

    pub(crate) fn stored(state: Arc<SourceState>, key: SlotKey) -> Registration {
        Registration {
            entry: Some((state, key)),
        }
    }

    /// Unregisters the callback, like dropping the registration (and waiting the same way if
    /// it is running on another thread). Returns `true` if the callback was still waiting and
    /// now will never run; `false` if it already ran (or is running), or never was stored
    /// (registered on an already-cancelled or a `none` token).
    pub fn unregister(mut self) -> bool {
        match self.entry.take() {
            Some((state, key)) => state.unregister(key, IfRunning::Wait),
            None => false,
        }
    }

    /// Lets go of the registration without unregistering: the callback stays registered until
    /// the source is cancelled or dropped. For fire-and-forget callbacks on short-lived
    /// sources; on a long-lived source, each detached callback occupies storage until then.
    pub fn detach(mut self) {
        self.entry = None;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some((state, key)) = self.entry.take() {
            state.unregister(key, IfRunning::Wait);
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("source", &self.entry.as_ref().map(|(state, _)| state.id()))
            .finish()
    }
}

/// The future returned by [`CancellationToken::cancelled`]: completes when cancellation is
/// requested.
#[must_use = "futures do nothing unless awaited"]
pub struct WhenCancelled {
    token: CancellationToken,
    /// This waiter's slot in the source's registration list, once it has polled.
    key: Option<SlotKey>,
    /// A copy of the waker in that slot: a re-poll by the same task need not take the lock.
    registered_waker: Option<Waker>,
}

impl WhenCancelled {
    /// Polls for cancellation: the same as `Future::poll`, for futures that hold a
    /// `WhenCancelled` beside other state (like [`WithCancellation`](super::WithCancellation)).
    pub(crate) fn poll_cancelled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(state) = self.token.state() else {
            return Poll::Pending; // `none` never cancels
        };
        if state.is_cancellation_requested() {
            return Poll::Ready(());
        }
        // Our waker is already in the slot: cancel() will wake it (it sets the flag checked
        // above, under the lock, before it takes any waker out of the list).
        if self
            .registered_waker
            .as_ref()
            .is_some_and(|registered| registered.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        match state.register_waker(&mut self.key, cx.waker()) {
            WaiterState::Cancelled => Poll::Ready(()),
            WaiterState::Waiting => {
                self.registered_waker = Some(cx.waker().clone());
                Poll::Pending
            }
            WaiterState::NeverCancelled => Poll::Pending,
        }
    }

    /// The token this future listens to.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Future for WhenCancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_cancelled(cx)
    }
}

impl Drop for WhenCancelled {
    fn drop(&mut self) {
        if let (Some(state), Some(key)) = (self.token.state(), self.key) {
            state.unregister(key, IfRunning::DontWait);
        }
    }
}

impl fmt::Debug for WhenCancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenCancelled")
            .field("token", &self.token)
            .field("registered", &self.key.is_some())
            .finish()
    }
}
