//! `for_each_concurrent`: .NET's `Parallel.ForEachAsync` — run an async body for every item,
//! at most `limit` at a time, each body a task on the pool (so bodies run in parallel).
//!
//! # Invariants
//! - At most `limit` bodies exist at any moment: a new one is spawned only after a previous
//!   one's future is gone (G4).
//! - The first failure (an `Err`, or a panic) stops the loop: no body starts after it, the
//!   bodies in flight are cancelled (the loop's group is fail-fast), and the call returns once
//!   every body has stopped — as `ForEachAsync` cancels its token and waits for the bodies.
//! - A cancelled token stops the loop the same way (G6).

use std::future::Future;
use std::panic::resume_unwind;

use super::{GroupError, TaskGroup};
use crate::cancel::CancellationToken;
use crate::future::AggregatePanic;
use crate::task::TaskError;

/// Runs `body(item)` for every item, at most `limit` bodies at a time, each as a task on the
/// current runtime; returns the first error.
///
/// On the first `Err` (or panic) no new body starts, the bodies in flight are cancelled —
/// dropped at their next await, Rust's form of `ForEachAsync` cancelling its token — and
/// the call returns `Err(first error)` once all of them have stopped. A panic is re-raised
/// after that.
///
/// # Panics
/// At once if `limit` is 0 (nothing could ever run).
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// # brigade::block_on(async {
/// let total = Arc::new(AtomicU32::new(0));
/// let outcome = brigade::for_each_concurrent(1..=10u32, 3, |n| {
///     let total = total.clone();
///     async move {
///         total.fetch_add(n, Ordering::Relaxed);
///         Ok::<(), std::io::Error>(())
///     }
/// })
/// .await;
/// assert!(outcome.is_ok());
/// assert_eq!(total.load(Ordering::Relaxed), 55);
/// # });
/// ```
#[track_caller]
pub fn for_each_concurrent<I, F, Fut, E>(
    items: I,
    limit: usize,
    body: F,
) -> impl Future<Output = Result<(), E>>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    check_limit(limit);
    let running = run(items.into_iter(), limit, body, CancellationToken::none());
    async move {
        match running.await {
            Ok(()) => Ok(()),
            Err(GroupError::Failed(error)) => Err(error),
            // Only runtime shutdown cancels a body of a loop without a token; the task awaiting
            // this is being dropped by the same shutdown.
            Err(GroupError::Cancelled) => {
                panic!("for_each_concurrent: a body was cancelled by runtime shutdown")
            }
        }
    }
}

/// [`for_each_concurrent`] that also stops when `token` is cancelled: no new body starts, the
/// bodies in flight are cancelled, and the call returns `Err(GroupError::Cancelled)` once they
/// have stopped (unless a body failed first: `Err(GroupError::Failed(error))`).
///
/// # Panics
/// At once if `limit` is 0.
///
/// ```
/// use brigade::cancel::CancellationTokenSource;
/// use brigade::group::GroupError;
///
/// # brigade::block_on(async {
/// let source = CancellationTokenSource::new();
/// source.cancel();
/// let outcome = brigade::group::for_each_concurrent_with_token(0..100, 4, &source.token(), |_| async {
///     Ok::<(), ()>(())
/// })
/// .await;
/// assert_eq!(outcome, Err(GroupError::Cancelled));
/// # });
/// ```
#[track_caller]
pub fn for_each_concurrent_with_token<I, F, Fut, E>(
    items: I,
    limit: usize,
    token: &CancellationToken,
    body: F,
) -> impl Future<Output = Result<(), GroupError<E>>>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    check_limit(limit);
    run(items.into_iter(), limit, body, token.clone())
}

#[track_caller]
fn check_limit(limit: usize) {
    assert!(
        limit > 0,
        "for_each_concurrent: limit must be at least 1 (it is how many bodies may run at once)"
    );
}

async fn run<I, F, Fut, E>(
    mut items: I,
    limit: usize,
    mut body: F,
    token: CancellationToken,
) -> Result<(), GroupError<E>>
where
    I: Iterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    let mut group = TaskGroup::<Result<(), E>>::builder()
        .fail_fast()
        .cancelled_by(&token)
        .build();
    let stop = group.token();
    let mut first_error = None;
    let mut panics = Vec::new();
    let mut cancelled = false;
    loop {
        // Start bodies while there is room; `len` counts bodies not yet joined, so the ones
        // in flight never exceed it.
        while group.len() < limit {
            if stop.is_cancellation_requested() {
                // Items left unprocessed because of a cancellation (not a failure) count as
                // cancelled.
                cancelled |= first_error.is_none() && items.next().is_some();
                break;
            }
            match items.next() {
                Some(item) => {
                    group.spawn(body(item));
                }
                None => break,
            }
        }
        match group.join_next().await {
            None => break,
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(error))) => {
                // The fail-fast group has already cancelled the others.
                first_error.get_or_insert(error);
            }
            Some(Err(TaskError::Panicked(payload))) => panics.push(payload),
            Some(Err(_)) => cancelled = true,
        }
    }
    match panics.len() {
        0 => {}
        1 => resume_unwind(panics.pop().expect("one panic")),
        _ => resume_unwind(Box::new(AggregatePanic { payloads: panics })),
    }
    match first_error {
        Some(error) => Err(GroupError::Failed(error)),
        None if cancelled => Err(GroupError::Cancelled),
        None => Ok(()),
    }
}
