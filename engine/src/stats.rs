//! Statistics: the counters the maintenance thread and rare paths bump, and the
//! snapshot users read.
//!
//! Hot-path counters (hits, misses, inserts…) live in the caller stripes
//! (`crate::stripe`); everything here is bumped off the hot path, so plain
//! relaxed atomics suffice.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why an entry left the cache, as told to the removal listener.
///
/// ```
/// use goldylox::RemovalCause;
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
///     .removal_listener(|_k, _v, cause| assert_eq!(cause, RemovalCause::Replaced))
///     .build()?;
/// cache.insert(1, 1)?;
/// cache.insert(1, 2)?;
/// cache.run_pending_tasks();
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// The eviction policy chose it to make room.
    Evicted,
    /// Its time to live ran out.
    Expired,
    /// A write put a new value under its key.
    Replaced,
    /// The user removed it (`remove`, `clear`).
    Removed,
}

macro_rules! counters {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Default)]
        pub(crate) struct $name { $($(#[$fm])* pub(crate) $field: AtomicU64,)* }
    };
}

counters! {
    /// Counters bumped by maintenance and by rare caller paths.
    Counters {
        evicted, expired, replaced, removed,
        policy_batches, policy_events, victims_proposed,
        invalid_unknown, invalid_duplicate, invalid_excess, fallback_evictions, policy_failures,
        loader_runs, loader_errors, loader_panics, loader_waits,
        refreshes, refresh_failures, refreshes_discarded,
        weigher_panics, expiry_panics, listener_panics, write_backpressure, capacity_waits,
        room_waits,
        warm_hits, warm_misses, promotions, demotions, demotions_aborted, demotions_dropped,
        warm_corrupt,
        prefetch_observed, prefetch_proposed, prefetch_promoted, prefetch_failures,
        cold_hits, cold_misses, cold_promotions, cold_demotions, cold_already, cold_bypassed,
        cold_corrupt,
    }
}

impl Counters {
    #[inline]
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// The counter for removals of `cause`.
    pub(crate) fn removal(&self, cause: RemovalCause) -> &AtomicU64 {
        match cause {
            RemovalCause::Evicted => &self.evicted,
            RemovalCause::Expired => &self.expired,
            RemovalCause::Replaced => &self.replaced,
            RemovalCause::Removed => &self.removed,
        }
    }
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Hits and misses of one tier.
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// cache.get("k");
/// assert_eq!(cache.stats().hot.misses, 1);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Reads answered by this tier.
    pub hits: u64,
    /// Reads this tier could not answer.
    pub misses: u64,
}

impl TierStats {
    /// `hits / (hits + misses)`, or 0 with no reads.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v".into())?;
    /// cache.get("k");
    /// cache.get("j");
    /// assert_eq!(cache.stats().hot.hit_ratio(), 0.5);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// Removals by cause.
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// cache.insert("k".into(), "v".into())?;
/// cache.remove("k");
/// assert_eq!(cache.stats().removals.removed, 1);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemovalStats {
    /// Chosen by the policy to make room.
    pub evicted: u64,
    /// Reaped or found past their deadline.
    pub expired: u64,
    /// Overwritten by a new value.
    pub replaced: u64,
    /// Removed by the user.
    pub removed: u64,
}

/// What the policies did.
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// cache.insert("k".into(), "v".into())?;
/// cache.run_pending_tasks();
/// assert!(cache.stats().policy.events >= 1);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyStats {
    /// Batches applied.
    pub batches: u64,
    /// Events in those batches.
    pub events: u64,
    /// Victims the policy proposed.
    pub victims_proposed: u64,
    /// Proposals naming a hash the index does not hold (ignored).
    pub invalid_unknown: u64,
    /// Proposals naming a hash twice in one answer (ignored).
    pub invalid_duplicate: u64,
    /// Proposals past the number asked for (ignored).
    pub invalid_excess: u64,
    /// Entries the native fallback evicted because the policy's proposals did
    /// not bring the tier under its bound.
    pub fallback_evictions: u64,
    /// Policy calls that failed (the tier switched to the fallback).
    pub failures: u64,
}

/// Loader runs of `get_or_insert_with` and `try_get_or_insert_with`.
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// cache.get_or_insert_with("k".into(), || "v".into());
/// assert_eq!(cache.stats().loader.runs, 1);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoaderStats {
    /// Loaders run (one per missing key, however many callers asked).
    pub runs: u64,
    /// Loaders that returned an error.
    pub errors: u64,
    /// Loaders that panicked.
    pub panics: u64,
    /// Callers that waited for another caller's loader.
    pub waits: u64,
    /// Background reloads of refresh-after-write that returned a value.
    pub refreshes: u64,
    /// Reloads that failed or panicked (the old value stayed).
    pub refresh_failures: u64,
    /// Reloaded values not stored because the entry changed meanwhile.
    pub refreshes_discarded: u64,
}

/// Movement between the hot and warm tiers.
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// assert_eq!(cache.stats().movement.demotions, 0, "no warm tier");
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MovementStats {
    /// Warm hits copied up into the hot tier.
    pub promotions: u64,
    /// Hot evictions stored in the warm tier.
    pub demotions: u64,
    /// Demotions abandoned because the key was written meanwhile (the newer
    /// value stays hot).
    pub demotions_aborted: u64,
    /// Demotions refused (no room even after eviction and defragmentation,
    /// too large for a slab, or not admitted); those entries left the cache.
    pub demotions_dropped: u64,
    /// Warm entries whose bytes failed to decode (treated as misses).
    pub warm_corrupt: u64,
}

/// What the cache did with its cold tier.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
///     .build()?;
/// cache.insert("k".into(), "v".into())?;
/// cache.persist()?;
/// assert_eq!(cache.stats().cold_movement.demotions, 1);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColdMovementStats {
    /// Cold hits copied up into the hot tier.
    pub promotions: u64,
    /// Entries appended to the cold tier (demotions, write-through,
    /// [`Cache::persist`](crate::Cache::persist)).
    pub demotions: u64,
    /// Demotions skipped because the cold tier already held that version.
    pub already_cold: u64,
    /// Reads and demotions that skipped the cold tier because its breaker
    /// was open, or that it refused (such entries left the cache).
    pub bypassed: u64,
    /// Cold values that did not decode (treated as misses).
    pub corrupt: u64,
}

/// What the prefetch policy saw and did.
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// assert_eq!(cache.stats().prefetch.proposed, 0, "no prefetch policy");
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrefetchStats {
    /// Requests shown to it.
    pub observed: u64,
    /// Hashes it proposed.
    pub proposed: u64,
    /// Proposals promoted from the warm tier into the hot tier.
    pub promoted: u64,
    /// Calls that failed (the prefetch policy was dropped).
    pub failures: u64,
}

/// A snapshot of a cache's statistics. Counters are monotonic; each is read
/// atomically but the snapshot as a whole is not one instant.
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// let s: goldylox::CacheStats = cache.stats();
/// println!("{} entries, hot hit ratio {:.2}", s.entries, s.hot.hit_ratio());
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads of the hot tier.
    pub hot: TierStats,
    /// Reads of the warm tier (hot misses only).
    pub warm: TierStats,
    /// Reads that reached the cold tier (hot and warm missed).
    pub cold: TierStats,
    /// Movement into and out of the cold tier.
    pub cold_movement: ColdMovementStats,
    /// Movement between tiers.
    pub movement: MovementStats,
    /// The prefetch policy's work.
    pub prefetch: PrefetchStats,
    /// Entries resident in the warm tier.
    pub warm_entries: u64,
    /// Writes that stored a new key.
    pub inserts: u64,
    /// Writes that overwrote a key.
    pub updates: u64,
    /// Removals by the user.
    pub removes: u64,
    /// Entries that left the cache, by cause.
    pub removals: RemovalStats,
    /// Policy activity.
    pub policy: PolicyStats,
    /// Access hints dropped by the lossy read buffer.
    pub dropped_read_events: u64,
    /// Loader activity.
    pub loader: LoaderStats,
    /// Weigher calls that panicked.
    pub weigher_panics: u64,
    /// [`Expiry`](crate::Expiry) calls that panicked.
    pub expiry_panics: u64,
    /// Removal-listener calls that panicked.
    pub listener_panics: u64,
    /// Writes that found the write buffer full and waited for maintenance.
    pub write_backpressure: u64,
    /// Writes that found the cache over its bound and waited for eviction.
    pub capacity_waits: u64,
    /// Callers that awaited a pass with [`crate::Cache::when_room`]
    /// instead of blocking in a write.
    pub room_waits: u64,
    /// Entries resident now (including expired ones not yet reaped).
    pub entries: u64,
    /// Weighted size now, in bytes.
    pub weighted_size: u64,
}

impl CacheStats {
    pub(crate) fn collect(c: &Counters, callers: crate::stripe::CallerTotals) -> CacheStats {
        CacheStats {
            hot: TierStats {
                hits: callers.hits,
                misses: callers.misses,
            },
            warm: TierStats {
                hits: get(&c.warm_hits),
                misses: get(&c.warm_misses),
            },
            cold: TierStats {
                hits: get(&c.cold_hits),
                misses: get(&c.cold_misses),
            },
            cold_movement: ColdMovementStats {
                promotions: get(&c.cold_promotions),
                demotions: get(&c.cold_demotions),
                already_cold: get(&c.cold_already),
                bypassed: get(&c.cold_bypassed),
                corrupt: get(&c.cold_corrupt),
            },
            movement: MovementStats {
                promotions: get(&c.promotions),
                demotions: get(&c.demotions),
                demotions_aborted: get(&c.demotions_aborted),
                demotions_dropped: get(&c.demotions_dropped),
                warm_corrupt: get(&c.warm_corrupt),
            },
            prefetch: PrefetchStats {
                observed: get(&c.prefetch_observed),
                proposed: get(&c.prefetch_proposed),
                promoted: get(&c.prefetch_promoted),
                failures: get(&c.prefetch_failures),
            },
            warm_entries: 0,
            inserts: callers.inserts,
            updates: callers.updates,
            removes: callers.removes,
            removals: RemovalStats {
                evicted: get(&c.evicted),
                expired: get(&c.expired),
                replaced: get(&c.replaced),
                removed: get(&c.removed),
            },
            policy: PolicyStats {
                batches: get(&c.policy_batches),
                events: get(&c.policy_events),
                victims_proposed: get(&c.victims_proposed),
                invalid_unknown: get(&c.invalid_unknown),
                invalid_duplicate: get(&c.invalid_duplicate),
                invalid_excess: get(&c.invalid_excess),
                fallback_evictions: get(&c.fallback_evictions),
                failures: get(&c.policy_failures),
            },
            dropped_read_events: callers.dropped_reads,
            loader: LoaderStats {
                runs: get(&c.loader_runs),
                errors: get(&c.loader_errors),
                panics: get(&c.loader_panics),
                waits: get(&c.loader_waits),
                refreshes: get(&c.refreshes),
                refresh_failures: get(&c.refresh_failures),
                refreshes_discarded: get(&c.refreshes_discarded),
            },
            weigher_panics: get(&c.weigher_panics),
            expiry_panics: get(&c.expiry_panics),
            listener_panics: get(&c.listener_panics),
            write_backpressure: get(&c.write_backpressure),
            capacity_waits: get(&c.capacity_waits),
            room_waits: get(&c.room_waits),
            entries: 0,
            weighted_size: 0,
        }
    }
}
