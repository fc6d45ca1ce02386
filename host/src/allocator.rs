//! The process's allocator as INFO reports it. The `goldylox` binary runs
//! on jemalloc (as Redis does: values from a few bytes to a megabyte
//! fragment glibc's per-thread arenas) and says so with [`use_jemalloc`];
//! a program that embeds this crate keeps its own allocator, and INFO then
//! reports no allocator figures rather than jemalloc's empty ones.

use std::sync::atomic::{AtomicBool, Ordering};

use tikv_jemalloc_ctl::{background_thread, epoch, stats, version};

static JEMALLOC: AtomicBool = AtomicBool::new(false);

/// What the allocator holds, in bytes (jemalloc's `stats.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Its name and version, as Redis's `mem_allocator`.
    pub name: String,
    /// Bytes the program asked for and has not freed.
    pub allocated: u64,
    /// Bytes in the pages those allocations occupy.
    pub active: u64,
    /// Bytes of physical memory the allocator holds (its own metadata
    /// included).
    pub resident: u64,
}

/// Declares jemalloc the global allocator (the binary's `main` calls it
/// next to its `#[global_allocator]`), and starts its background thread,
/// which returns freed pages to the system on jemalloc's decay timer even
/// when the program stops allocating.
pub fn use_jemalloc() {
    JEMALLOC.store(true, Ordering::Relaxed);
    if let Err(e) = background_thread::write(true) {
        log::warn!("jemalloc: cannot start its background thread: {e}");
    }
}

/// The allocator's figures now, if it is jemalloc.
pub fn stats() -> Option<AllocatorStats> {
    if !JEMALLOC.load(Ordering::Relaxed) {
        return None;
    }
    // The statistics are a snapshot taken at each epoch advance.
    epoch::advance().ok()?;
    Some(AllocatorStats {
        name: format!("jemalloc-{}", version::read().ok()?.split('-').next()?),
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}
