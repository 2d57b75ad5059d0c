//! brigade
#![deny(missing_docs)]
#[allow(dead_code)]
mod loom;
