//! Latency events: how long the maintenance thread spent on the steps a
//! client's command can end up waiting behind, told to a listener (the
//! server's `LATENCY` monitor) as each ends.

use std::sync::Arc;
use std::time::Duration;

/// A step whose duration is reported.
///
/// ```
/// use goldylox::LatencyEvent;
/// assert_eq!(LatencyEvent::ExpireCycle.name(), "expire-cycle");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatencyEvent {
    /// One whole maintenance pass: drain the buffers, expire, prefetch,
    /// evict, hand the policies their events.
    MaintenancePass,
    /// The entries whose time to live ended, removed (and their values
    /// dropped) in one pass.
    ExpireCycle,
    /// Eviction from the hot and warm tiers in one pass, to stay within
    /// their budgets or make the room writers wait for.
    EvictionCycle,
    /// The end of a policy swap: the new instance catches up with what
    /// changed while it replayed and takes over, while maintenance waits.
    PolicySwap,
    /// The cold tier's writer making its appends durable (fsync of the
    /// segments, and of the directory when a segment is new): durable
    /// writes wait for it, and so do later appends.
    ColdSync,
    /// The cold tier's compactor rewriting one segment's live records:
    /// their appends queue with the writes, and reads of that segment's
    /// keys move to the new one.
    ColdCompaction,
}

impl LatencyEvent {
    /// Its name, as Redis names its own events (`expire-cycle`,
    /// `eviction-cycle`) and in their style for Goldylox's.
    ///
    /// ```
    /// assert_eq!(goldylox::LatencyEvent::EvictionCycle.name(), "eviction-cycle");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            LatencyEvent::MaintenancePass => "maintenance-pass",
            LatencyEvent::ExpireCycle => "expire-cycle",
            LatencyEvent::EvictionCycle => "eviction-cycle",
            LatencyEvent::PolicySwap => "policy-swap",
            LatencyEvent::ColdSync => "cold-fsync",
            LatencyEvent::ColdCompaction => "cold-compaction",
        }
    }
}

/// Told each event and how long it took.
pub(crate) type LatencyListener = Arc<dyn Fn(LatencyEvent, Duration) + Send + Sync>;
