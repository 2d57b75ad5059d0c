//! `Cancelled`: the error of an operation stopped by a token — .NET's
//! `OperationCanceledException`, which also carries the token that stopped it.

use std::fmt;

use super::CancellationToken;

/// The operation was cancelled through [`token`](Cancelled::token).
///
/// Carries the token that was cancelled, so a caller that handed several tokens down (its own
/// and a timeout's, say) can tell which one stopped the work:
///
/// ```
/// use brigade::cancel::CancellationTokenSource;
///
/// let user = CancellationTokenSource::new();
/// let timeout = CancellationTokenSource::new();
/// let either = CancellationTokenSource::linked(&[user.token(), timeout.token()]);
/// timeout.cancel();
///
/// let error = either.token().error_if_cancelled().unwrap_err();
/// assert_eq!(error.token(), &either.token());
/// assert!(timeout.is_cancellation_requested() && !user.is_cancellation_requested());
/// println!("{error}"); // the operation was cancelled (cancellation source #..)
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Cancelled {
    token: CancellationToken,
}

impl Cancelled {
    pub(crate) fn new(token: CancellationToken) -> Cancelled {
        Cancelled { token }
    }

    /// The token whose cancellation stopped the operation; compare it with your own.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The process-unique id of the cancelled source.
    pub fn source_id(&self) -> u64 {
        self.token
            .source_id()
            .expect("a Cancelled error always comes from a token with a source")
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the operation was cancelled (cancellation source #{})",
            self.source_id()
        )
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("source", &self.source_id())
            .finish()
    }
}

impl std::error::Error for Cancelled {}
