//! Prefetch policies: they watch the stream of requests and name keys (by
//! hash) worth bringing into the hot tier before they are asked for.
//!
//! The maintenance thread hands a prefetch policy every request it sampled
//! from the read buffers — hot hits, and hot misses (which the cache records
//! only when a prefetch policy is configured) — then asks it for proposals.
//! A proposal is a hint: the engine promotes a proposed entry from the warm
//! tier into the hot tier if it is there and live, and if the hot tier stays
//! within its capacity plus half its slack; the eviction that follows in the
//! same pass makes room as the hot policy chooses. At most 64 proposals are
//! taken per pass. Unknown hashes cost a lookup.
//! A failing prefetch policy is dropped (prefetching stops; nothing else
//! changes) and counted.

use std::sync::Arc;

use super::PolicyError;

/// A batch-driven prefetch policy.
pub trait PrefetchPolicy: Send {
    /// A short name for statistics and logs.
    fn name(&self) -> &str;

    /// Observes requests in order: `hits[i]` is 1 if `hashes[i]` was found
    /// in the hot tier, 0 if not.
    fn observe(&mut self, hashes: &[u64], hits: &[u8]) -> Result<(), PolicyError>;

    /// Appends at most `max` hashes worth loading now, most promising first.
    fn propose(&mut self, max: u32, out: &mut Vec<u64>) -> Result<(), PolicyError>;
}

/// Builds a prefetch policy whose state is bounded to `capacity` entries.
pub trait PrefetchFactory: Send + Sync {
    /// Builds the policy.
    fn build(&self, capacity: u64) -> Result<Box<dyn PrefetchPolicy>, PolicyError>;
}

/// A prefetch policy to build, as the builder holds it.
pub type PrefetchChoice = Arc<dyn PrefetchFactory>;
