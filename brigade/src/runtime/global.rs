//! The process-wide default runtime, started on first use — like .NET's static `ThreadPool`,
//! which is simply there. `brigade::spawn` and `brigade::block_on` use it when no runtime is
//! current. It lives until the process exits.

use std::sync::OnceLock;

use super::{Handle, Runtime};

static DEFAULT: OnceLock<Runtime> = OnceLock::new();

/// The default runtime's handle, starting it (one worker per core) if needed.
pub(crate) fn default_handle() -> &'static Handle {
    DEFAULT
        .get_or_init(|| {
            Runtime::builder().build().unwrap_or_else(|error| {
                panic!("brigade: could not start the default runtime: {error}")
            })
        })
        .handle()
}
