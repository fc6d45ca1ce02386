//! How big the cache is and how it is doing: sizes, statistics, the warm
//! tier's pools, and running maintenance on demand.

use std::hash::Hash;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::builder::WritePolicy;
use crate::stats::CacheStats;
use crate::warm::WarmTier;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Number of distinct keys resident in all tiers (expired ones count
    /// until reaped). Without lower tiers this is O(shards). With them, keys
    /// move between tiers in the background, so the tiers are counted under
    /// every hot-shard read lock at once (movements hold a key's hot-shard
    /// write lock): the count is exact. The hot and warm tiers never hold
    /// the same key; the cold tier may also hold a key that is in memory (a
    /// promotion keeps the cold record), so with a cold tier the memory
    /// keys are walked to count each key once: O(keys in memory), during
    /// which writes wait.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("a".into(), "1".into())?;
    /// assert_eq!(cache.len(), 1);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        let s = self.shared();
        if s.warm.is_none() && s.cold.is_none() {
            return s.index.len();
        }
        s.index.with_all_read(|tables| {
            let hot: usize = tables.iter().map(|t| t.len()).sum();
            let warm = s.warm.as_ref().map_or(0, |w| w.index.len());
            hot + warm + self.cold_only_len(tables)
        })
    }

    /// True when no entry is resident.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// assert!(cache.is_empty());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Weighted size in bytes: resident entries plus writes in flight.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("a".into(), "1".into())?;
    /// assert!(cache.weighted_size() > 0);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn weighted_size(&self) -> u64 {
        self.shared().weighted.load(Ordering::Acquire)
    }

    /// The capacity in bytes.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// assert_eq!(cache.max_capacity(), 1 << 20);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn max_capacity(&self) -> u64 {
        self.shared().capacity
    }

    /// The largest weighted size the cache can reach: capacity plus slack.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// assert_eq!(cache.bound(), (1 << 20) + (1 << 20) / 16, "the default slack");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn bound(&self) -> u64 {
        self.shared().capacity + self.inner.slack
    }

    /// A snapshot of the statistics.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("a".into(), "1".into())?;
    /// cache.get("a");
    /// cache.get("b");
    /// let s = cache.stats();
    /// assert_eq!((s.hot.hits, s.hot.misses), (1, 1));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn stats(&self) -> CacheStats {
        let s = self.shared();
        let mut stats = CacheStats::collect(&s.counters, s.stripes.totals());
        stats.entries = s.index.len() as u64;
        stats.warm_entries = s.warm.as_ref().map_or(0, |w| w.index.len() as u64);
        stats.weighted_size = self.weighted_size();
        stats
    }

    /// The warm tier's pool figures (`None` without a warm tier).
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20)
    ///     .warm(4 << 20)
    ///     .build()?;
    /// assert!(cache.pool_stats().is_some());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn pool_stats(&self) -> Option<crate::PoolStats> {
        self.shared().warm.as_ref().map(WarmTier::pool_stats)
    }

    /// Defragments and rebalances the warm tier's pools now and reports what
    /// it reclaimed (`None` without a warm tier). The pool manager also does
    /// this on its own schedule.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20)
    ///     .warm(4 << 20)
    ///     .build()?;
    /// let report = cache.defragment().expect("a warm tier");
    /// # drop(report);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn defragment(&self) -> Option<crate::DefragReport> {
        self.shared().warm.as_ref().map(|w| w.pool.defragment())
    }

    /// The configured write policy.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// assert_eq!(cache.write_policy(), goldylox::WritePolicy::WriteBack);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn write_policy(&self) -> WritePolicy {
        self.inner.write_policy
    }

    /// Runs a maintenance pass now and waits for it: pending events reach the
    /// policy, expired entries are reaped, the tier is brought under its
    /// capacity. Useful in tests and before reading exact statistics.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("a".into(), "1".into())?;
    /// cache.run_pending_tasks();
    /// assert_eq!(cache.stats().inserts, 1);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn run_pending_tasks(&self) {
        let _ = self.sync(0);
    }
}
