//! `AsyncLocal<T>`: a variable whose value belongs to the logical operation, not the thread —
//! .NET's `AsyncLocal<T>` (seed section 4).
//!
//! An `AsyncLocal` is only a key; its values live in the current
//! [`ExecutionContext`](super::ExecutionContext). Setting a value replaces the current
//! context with a copy holding it (copy-on-write), so contexts captured earlier keep the old
//! value.
//!
//! # Invariants
//! - A key is assigned on first write, from a process-wide counter, and never reused: two
//!   locals never share values, even when one was a short-lived non-`static` local.
//! - The value stored under a local's key always has the local's type `T`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::scope::ContextScope;
use super::values::{self, Value, Values};
use super::{current, ExecutionContext};

/// A value that flows with async code: visible to the task that set it across awaits and
/// thread hops, and to everything it spawns afterwards (a snapshot taken at the spawn).
///
/// Declare it as a `static`; [`AsyncLocal::new`] is `const`.
///
/// ```
/// use brigade::context::AsyncLocal;
///
/// static REQUEST_ID: AsyncLocal<u64> = AsyncLocal::new();
///
/// brigade::block_on(async {
///     REQUEST_ID.set(42);
///     let child = brigade::spawn(async { REQUEST_ID.get() });
///     REQUEST_ID.set(43); // the child took its snapshot at the spawn
///     assert_eq!(child.await, Some(42));
///     assert_eq!(REQUEST_ID.get(), Some(43));
/// });
/// ```
///
/// Values are shared between every context that carries them, so `T` must be
/// `Send + Sync + 'static`; use `Arc<Mutex<..>>` for state the flow mutates in place.
pub struct AsyncLocal<T> {
    /// 0 until the first write assigns a key.
    key: AtomicU64,
    flows: bool,
    _value: PhantomData<fn() -> T>,
}

/// Where keys come from. `Relaxed`: a key only has to be unique; nothing is published with it.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

impl<T> AsyncLocal<T> {
    /// A local that flows into spawned work (`spawn`, `run`, `spawn_local`, timer and
    /// cancellation callbacks).
    pub const fn new() -> AsyncLocal<T> {
        AsyncLocal {
            key: AtomicU64::new(0),
            flows: true,
            _value: PhantomData,
        }
    }

    /// A task-only local: visible in the task (or thread) that set it, across its awaits, but
    /// never captured into spawned work (C6). For values that must not cross a spawn, such as
    /// a transaction's list of callbacks to run on commit.
    pub const fn task_only() -> AsyncLocal<T> {
        AsyncLocal {
            key: AtomicU64::new(0),
            flows: false,
            _value: PhantomData,
        }
    }

    /// Whether this local stays in its task ([`AsyncLocal::task_only`]).
    pub fn is_task_only(&self) -> bool {
        !self.flows
    }

    /// This local's key, assigning one on first use.
    pub(super) fn key(&self) -> u64 {
        match self.key.load(Relaxed) {
            0 => {
                let fresh = NEXT_KEY.fetch_add(1, Relaxed);
                match self.key.compare_exchange(0, fresh, Relaxed, Relaxed) {
                    Ok(_) => fresh,
                    // Another thread assigned one first; theirs stands.
                    Err(assigned) => assigned,
                }
            }
            key => key,
        }
    }

    /// The key if one was assigned: a local never written has no value anywhere.
    fn assigned_key(&self) -> Option<u64> {
        match self.key.load(Relaxed) {
            0 => None,
            key => Some(key),
        }
    }
}

impl<T: Send + Sync + 'static> AsyncLocal<T> {
    /// Sets the value for the current flow (the running task, or this thread outside tasks).
    ///
    /// Work spawned before keeps what it captured; work spawned after sees this value.
    pub fn set(&self, value: T) {
        self.store(Some(Arc::new(value)));
    }

    /// Removes the value from the current flow.
    pub fn clear(&self) {
        if self.assigned_key().is_some() {
            self.store(None);
        }
    }

    fn store(&self, value: Option<Value>) {
        let key = self.key();
        let flows = self.flows;
        current::update(|map| {
            let suppressed = map.is_some_and(|m| m.flow_suppressed);
            let entries = values::with_entry(map, key, flows, value);
            Some(Values::build(entries, suppressed))
        });
    }

    /// A clone of the current value, if one is set.
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|value| value.cloned())
    }

    /// Calls `f` with a reference to the current value (no clone).
    ///
    /// # Panics
    /// If `f` changes the current context (sets a local, runs a context, polls a scope):
    /// the reference it holds would dangle. Make changes after `with` returns.
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let Some(key) = self.assigned_key() else {
            return f(None);
        };
        current::with_values(|map| f(map.and_then(|map| map.get(key)).map(downcast::<T>)))
    }

    /// Runs `future` with this local set to `value`, and only while it runs: the enclosing
    /// code keeps its own value, before, between polls and after (C3). The rest of the
    /// context is the one current at the first poll.
    ///
    /// ```
    /// use brigade::context::AsyncLocal;
    ///
    /// static TENANT: AsyncLocal<&'static str> = AsyncLocal::new();
    ///
    /// brigade::block_on(async {
    ///     TENANT.set("outer");
    ///     let inner = TENANT.scope("inner", async { TENANT.get() }).await;
    ///     assert_eq!(inner, Some("inner"));
    ///     assert_eq!(TENANT.get(), Some("outer"));
    /// });
    /// ```
    pub fn scope<F: Future>(&self, value: T, future: F) -> ContextScope<F> {
        ContextScope::with_value(self.key(), self.flows, Arc::new(value), future)
    }

    /// The value as seen from `context` (for diagnostics and tests; inside code, use `get`).
    pub fn get_in(&self, context: &ExecutionContext) -> Option<T>
    where
        T: Clone,
    {
        let key = self.assigned_key()?;
        let map = context.values.as_ref()?;
        map.get(key).map(downcast::<T>).cloned()
    }
}

fn downcast<T: 'static>(value: &Value) -> &T {
    value
        .downcast_ref::<T>()
        .expect("an AsyncLocal's key only ever holds values of its own type")
}

impl<T> Default for AsyncLocal<T> {
    fn default() -> AsyncLocal<T> {
        AsyncLocal::new()
    }
}

impl<T> fmt::Debug for AsyncLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncLocal")
            .field("type", &std::any::type_name::<T>())
            .field("task_only", &!self.flows)
            .finish()
    }
}
