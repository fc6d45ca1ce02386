//! The atomics of the engine's hand-written lock-free structure (the read
//! ring in `stripe`), swappable for loom's under `--cfg loom` so that loom
//! can explore every interleaving of it:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" cargo test -p goldylox --lib --release loom
//! ```

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
