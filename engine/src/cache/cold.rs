//! The caller's side of the cold tier: reading and promoting, keeping the
//! cold copy of a key coherent with writes and removes, write-through, and
//! persisting the memory tiers.
//!
//! The cold tier is *inclusive* for entries that did not change: a promoted
//! entry keeps its cold record, so demoting it again costs nothing. Every
//! write or remove of a key that has a cold record drops its index entry and
//! appends a tombstone (or, with write-through, the new record) while the
//! key's hot-shard lock is held, so no reader sees the old record again and
//! no restart brings it back. The cold index is keyed by the cache's seeded
//! key hash (the raw form of the memory tiers' hash), with the seed kept in
//! the cold directory, so it is the same in every process: lookups by any
//! borrowed form of the key work, recovery can rebuild it from the stored
//! keys, and a scan walks one hash range of every tier at once.

use std::borrow::Borrow;
use std::hash::Hash;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::error::Error;
use crate::hot::{ExpiresAt, Slot};
use crate::policy::EventKind;
use crate::shared::WriteEvent;
use crate::stats::Counters;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The cold store's figures (`None` without a cold tier).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// cache.insert("k".into(), "v".into())?;
    /// let stats = cache.cold_stats().expect("a cold tier");
    /// # drop(stats);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn cold_stats(&self) -> Option<crate::cold::ColdStats> {
        self.shared().cold.as_ref().map(|c| c.stats())
    }

    /// Keys the cold tier holds that no memory tier holds, given the hot
    /// tier's `tables` read-locked.
    pub(super) fn cold_only_len(&self, tables: &[&crate::hot::Table<K, V>]) -> usize {
        let s = self.shared();
        let Some(cold) = &s.cold else { return 0 };
        let on_disk = |key: &K| cold.holds(key);
        let hot = tables
            .iter()
            .map(|t| t.iter().filter(|slot| on_disk(&slot.key)).count())
            .sum::<usize>();
        let warm = s.warm.as_ref().map_or(0, |w| w.index.count_keys(on_disk));
        cold.len().saturating_sub(hot + warm)
    }

    /// What recovery found when the cold tier was opened.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// let report = cache.cold_recovery().expect("a cold tier");
    /// assert_eq!(report.entries, 0, "a new directory");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn cold_recovery(&self) -> Option<crate::cold::RecoveryReport> {
        self.shared().cold.as_ref().map(|c| c.recovery().clone())
    }

    /// The cold tier's circuit breaker state and figures.
    ///
    /// ```
    /// use goldylox::health::BreakerState;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// let (state, _stats) = cache.cold_health().expect("a cold tier");
    /// assert_eq!(state, BreakerState::Closed, "the disk is healthy");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn cold_health(&self) -> Option<(crate::health::BreakerState, crate::health::HealthStats)> {
        self.shared()
            .cold
            .as_ref()
            .map(|c| (c.health.state(), c.health.stats()))
    }

    /// The cold tier's last I/O error (what failed, with the operating
    /// system's message), if it ever had one.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// assert_eq!(cache.cold_last_error(), None);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn cold_last_error(&self) -> Option<String> {
        self.shared().cold.as_ref().and_then(|c| c.last_error())
    }

    /// Waits until everything appended to the cold tier so far is durable.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// cache.persist()?;
    /// cache.sync_cold()?; // what the cold tier holds is on disk
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn sync_cold(&self) -> Result<(), Error> {
        match &self.shared().cold {
            Some(c) => c.sync(),
            None => Ok(()),
        }
    }

    /// Runs a compaction pass over the cold tier's sealed segments now and
    /// waits for it: every segment with any garbage if `all`, otherwise
    /// those at the configured threshold (the pass the tier runs by itself
    /// after each seal), and evicts segments past the capacity. Returns how
    /// many segments were compacted or evicted (0 without a cold tier).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// let segments = cache.compact_cold(true)?;
    /// # drop(segments);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn compact_cold(&self, all: bool) -> Result<usize, Error> {
        match &self.shared().cold {
            Some(c) => c.compact(all),
            None => Ok(0),
        }
    }

    /// Reads the cold record of `key`: the decoded key and value, version
    /// and deadline (in the cache clock).
    fn cold_read<Q>(&self, key: &Q) -> Option<(K, V, u64, u64)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        s.cold.as_ref()?.read(&s.counters, key)
    }

    /// A miss in the memory tiers: read the cold record, then promote it if
    /// it is still the newest (the key's hot-shard lock decides).
    pub(super) fn get_cold<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let cold = s.cold.as_ref()?;
        let Some((k, value, version, expires_at)) = self.cold_read(key) else {
            Counters::bump(&s.counters.cold_misses);
            return None;
        };
        Counters::bump(&s.counters.cold_hits);
        let Ok(weight) = self.weigh(&k, &value) else {
            return Some(value);
        };
        if u64::from(weight) > s.capacity || self.reserve(weight).is_err() {
            return Some(value);
        }
        let mut table = s.index.shard(hash).write();
        let unchanged = table.get(hash, key).is_none()
            && !self.warm_contains(hash, key)
            && cold.holds_version(key, version);
        if !unchanged {
            // Written, removed or promoted meanwhile; what we read was the
            // current value when we read it.
            drop(table);
            self.release(u64::from(weight));
            return Some(value);
        }
        let expires_at = self.renew_promoted(&k, &value, expires_at);
        let slot = Slot {
            version,
            expires_at: ExpiresAt::new(expires_at),
            weight,
            written_at: 0,
            key: k,
            value: value.clone(),
        };
        let position = table.insert_new(&s.index.hasher, hash, slot);
        drop(table);
        Counters::bump(&s.counters.cold_promotions);
        self.send(
            WriteEvent::hot(EventKind::Insert, hash, weight, expires_at).at(position, version),
        );
        Some(value)
    }

    /// The live cold value of `key` and its deadline. Call with the key's
    /// hot-shard lock held.
    pub(super) fn cold_current<Q>(&self, key: &Q) -> Option<(V, u64)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.cold_read(key).map(|(_, v, _, deadline)| (v, deadline))
    }

    /// A write of `key` (version `version`) is being stored hot: with
    /// write-through append it, else make sure the cold tier forgets the old
    /// record. Call with the key's hot-shard lock held.
    pub(super) fn cold_on_write(&self, key: &K, value: &V, version: u64, deadline: u64) {
        let s = self.shared();
        if let Some(cold) = &s.cold {
            cold.on_write(&s.counters, key, value, version, deadline);
        }
    }

    /// `key` is being removed: the cold tier forgets it and a tombstone
    /// keeps it from coming back. `known` is the key when a memory tier had
    /// it. Call with the key's hot-shard lock held; returns whether the
    /// cold tier had a record of it.
    pub(super) fn cold_on_remove<Q>(&self, key: &Q, known: Option<&K>) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let Some(cold) = &s.cold else { return false };
        cold.on_remove(key, known, || {
            s.version.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1
        })
    }

    /// Writes every hot and warm entry the cold tier does not hold yet into
    /// it and waits until they are durable: a restart then finds everything
    /// the cache held. [`Cache::shutdown`] does this with a write-back cold
    /// tier. Returns how many entries were written.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// cache.insert("k".into(), "v".into())?;
    /// assert_eq!(cache.persist()?, 1);
    /// assert_eq!(cache.persist()?, 0, "already held");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn persist(&self) -> Result<u64, Error> {
        let s = self.shared();
        let Some(cold) = &s.cold else {
            return Ok(0);
        };
        let mut written = 0u64;
        let before = s
            .counters
            .cold_demotions
            .load(std::sync::atomic::Ordering::Relaxed);
        s.index.for_each_shard(|table| {
            for slot in table.iter() {
                cold.persist_copy(
                    &s.counters,
                    &slot.key,
                    || postcard::to_allocvec(&slot.value).ok(),
                    slot.version,
                    slot.expires_at.get(),
                );
            }
        });
        if let Some(warm) = &s.warm {
            let mut hashes = Vec::new();
            warm.index.for_each(|h, _| hashes.push(h));
            for hash in hashes {
                let _table = s.index.shard(hash).write();
                warm.index.for_each_of(hash, |e| {
                    let mut buf = Vec::new();
                    cold.persist_copy(
                        &s.counters,
                        &e.key,
                        || {
                            warm.bytes_of(e, &mut buf).then_some(())?;
                            crate::warm::codec::decompress(&buf, e.codec, warm.dict.get())
                                .map(|raw| raw.into_owned())
                        },
                        e.version,
                        e.expires_at,
                    );
                });
            }
        }
        written += s
            .counters
            .cold_demotions
            .load(std::sync::atomic::Ordering::Relaxed)
            - before;
        cold.sync()?;
        Ok(written)
    }
}
