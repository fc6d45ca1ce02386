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
///
/// ```
/// use goldylox::{PolicyError, PrefetchPolicy};
/// /// Proposes the key after each missed one (hashes stand for keys here).
/// #[derive(Default)]
/// struct NextKey(Vec<u64>);
/// impl PrefetchPolicy for NextKey {
///     fn name(&self) -> &str { "next-key" }
///     fn observe(&mut self, hashes: &[u64], hits: &[u8]) -> Result<(), PolicyError> {
///         let misses = hashes.iter().zip(hits).filter(|&(_, hit)| *hit == 0);
///         self.0.extend(misses.map(|(h, _)| h + 1));
///         Ok(())
///     }
///     fn propose(&mut self, max: u32, out: &mut Vec<u64>) -> Result<(), PolicyError> {
///         out.extend(self.0.drain(..(max as usize).min(self.0.len())));
///         Ok(())
///     }
/// }
/// let mut p = NextKey::default();
/// p.observe(&[10, 20], &[0, 1])?;
/// let mut out = Vec::new();
/// p.propose(8, &mut out)?;
/// assert_eq!(out, [11]);
/// # Ok::<(), PolicyError>(())
/// ```
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
///
/// ```
/// use goldylox::{PolicyError, PrefetchFactory, PrefetchPolicy};
/// struct Nothing;
/// impl PrefetchPolicy for Nothing {
///     fn name(&self) -> &str { "nothing" }
///     fn observe(&mut self, _: &[u64], _: &[u8]) -> Result<(), PolicyError> { Ok(()) }
///     fn propose(&mut self, _: u32, _: &mut Vec<u64>) -> Result<(), PolicyError> { Ok(()) }
/// }
/// struct NothingFactory;
/// impl PrefetchFactory for NothingFactory {
///     fn build(&self, _state: u64) -> Result<Box<dyn PrefetchPolicy>, PolicyError> {
///         Ok(Box::new(Nothing))
///     }
/// }
/// assert_eq!(NothingFactory.build(1024)?.name(), "nothing");
/// # Ok::<(), PolicyError>(())
/// ```
pub trait PrefetchFactory: Send + Sync {
    /// Builds the policy.
    fn build(&self, capacity: u64) -> Result<Box<dyn PrefetchPolicy>, PolicyError>;
}

/// A prefetch policy to build, as the builder holds it.
///
/// ```
/// // What `CacheBuilder::prefetch` takes: a shared factory.
/// fn choose(f: goldylox::policy::PrefetchChoice) -> goldylox::policy::PrefetchChoice { f }
/// # let _ = choose;
/// ```
pub type PrefetchChoice = Arc<dyn PrefetchFactory>;
