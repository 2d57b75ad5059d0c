//! The concurrency facade: std's atomics, cells and threads normally, loom's under `cfg(loom)`.
//!
//! The lock-free pieces where two threads meet — the task state word, the local run queue, the
//! parker, the idle/notify protocol, the combinators' child-wake flags — take their primitives
//! from here rather than from `std`, so the same code is model-checked by
//! [loom](https://docs.rs/loom) with `RUSTFLAGS="--cfg loom"`. Plain mutex-protected
//! bookkeeping (the owned-task list, the blocking pool, counters) uses `std` directly.
//!
//! `UnsafeCell` is wrapped so both builds share loom's closure-based API (`with`, `with_mut`):
//! under loom every access is tracked and a racy one fails the model.

#[cfg(not(loom))]
mod imp {
    pub(crate) mod sync {
        pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

        pub(crate) mod atomic {
            pub(crate) use std::sync::atomic::{
                fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
            };
        }
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{current, park, yield_now, Thread, ThreadId};
    }

    pub(crate) mod cell {
        /// `std::cell::UnsafeCell` behind loom's closure API, so code reads the same under loom.
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

        impl<T> UnsafeCell<T> {
            pub(crate) const fn new(value: T) -> Self {
                Self(std::cell::UnsafeCell::new(value))
            }

            pub(crate) fn into_inner(self) -> T {
                self.0.into_inner()
            }
        }

        impl<T: ?Sized> UnsafeCell<T> {
            /// Gives the closure a shared raw pointer to the contents.
            #[inline(always)]
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                f(self.0.get())
            }

            /// Gives the closure a unique raw pointer to the contents.
            #[inline(always)]
            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                f(self.0.get())
            }
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) mod sync {
        pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

        pub(crate) mod atomic {
            pub(crate) use loom::sync::atomic::{
                fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
            };
        }
    }

    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, park, yield_now, Thread, ThreadId};
    }

    pub(crate) mod cell {
        pub(crate) use loom::cell::UnsafeCell;
    }
}

pub(crate) use imp::*;
