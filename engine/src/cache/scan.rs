//! Walking the keys of every tier: the cursor behind Redis's `SCAN`,
//! `KEYS` and `RANDOMKEY`.
//!
//! Every tier hashes keys alike (one seeded hasher; the cold index keeps
//! its raw form) and picks shards from the same hash bits, so one range of
//! the hash space is one hot shard's part of every tier. A cursor names a
//! hot shard (its high 32 bits) and a position in the low 32 bits of the
//! hash. A step read-locks that hot shard and visits the keys of the shard
//! whose hash falls in the step's range, in the hot table, the warm shard
//! and the cold index (skipping cold records of keys a memory tier holds,
//! as the cold tier keeps copies of promoted keys). Every movement of a
//! key between tiers holds its hot-shard write lock, so a step sees each
//! key of its range exactly once; successive steps cover contiguous ranges
//! and the whole space once. Hence Redis's guarantee: a full iteration
//! returns every key present from its start to its end, never the same
//! key twice; keys written or removed meanwhile may or may not appear.

use std::hash::Hash;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::hot::{NEVER, memory_form};

/// Positions within a shard: the low 32 bits of a hash.
const SPAN: u64 = 1 << 32;
/// The most steps one shard is cut into: bounds a full iteration's work
/// at this many walks of each shard, whatever `count` asks.
const MAX_PARTS: u64 = 64;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// One step of a full iteration over the keys of every tier, from
    /// `cursor` (0 starts one): about `count` keys (a hint: a step may
    /// return more or fewer, or none) and the cursor to continue from, 0
    /// when the iteration is complete. Every key present throughout a full
    /// iteration is returned exactly once; expired keys are not. A step
    /// holds one hot shard's read lock (writers to that shard wait) while
    /// it walks that shard's part of each tier.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// for i in 0..100 {
    ///     cache.insert(format!("k{i}"), "v".into())?;
    /// }
    /// let (mut cursor, mut seen) = (0, 0);
    /// loop {
    ///     let (keys, next) = cache.scan(cursor, 10);
    ///     seen += keys.len();
    ///     if next == 0 { break; }
    ///     cursor = next;
    /// }
    /// assert_eq!(seen, 100);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<K>, u64) {
        let s = self.shared();
        let shard = (cursor >> 32) as usize;
        if shard >= s.index.shard_count() {
            return (Vec::new(), 0);
        }
        let start = cursor & (SPAN - 1);
        let now = s.clock.now_nanos();
        let live = |deadline: u64| deadline == NEVER || now < deadline;
        let table = s.index.shard_at(shard).read();
        // A hash of this shard (any one: only its shard bits matter).
        let probe = (shard as u64) << 40;
        let population = table.len()
            + s.warm
                .as_ref()
                .map_or(0, |w| w.index.len() / s.index.shard_count())
            + s.cold
                .as_ref()
                .map_or(0, |c| c.len() / s.index.shard_count());
        let parts = (population / count.max(1)).clamp(1, MAX_PARTS as usize) as u64;
        let end = (start + SPAN / parts).min(SPAN);
        let in_range = |hash: u64| (start..end).contains(&(hash & (SPAN - 1)));
        let mut keys = Vec::new();
        for slot in table.iter() {
            if live(slot.expires_at.get()) && in_range(s.index.hasher.hash(&slot.key)) {
                keys.push(slot.key.clone());
            }
        }
        if let Some(warm) = &s.warm {
            warm.index.for_each_in_shard_of(probe, |e| {
                if live(e.expires_at) && in_range(e.hash) {
                    keys.push(e.key.clone());
                }
            });
        }
        if let Some(cold) = &s.cold {
            let want = |raw: u64| {
                let hash = memory_form(raw);
                s.index.shard_of(hash) == shard && in_range(hash)
            };
            cold.keys_where(want, |bytes, deadline| {
                let Ok(key) = postcard::from_bytes::<K>(bytes) else {
                    return;
                };
                let hash = s.index.hasher.hash(&key);
                let in_memory = table.get(hash, &key).is_some() || self.warm_contains(hash, &key);
                if !in_memory && live(deadline) {
                    keys.push(key);
                }
            });
        }
        drop(table);
        let next = if end < SPAN {
            ((shard as u64) << 32) | end
        } else if shard + 1 < s.index.shard_count() {
            ((shard as u64) + 1) << 32
        } else {
            0
        };
        (keys, next)
    }

    /// Calls `f` with every key of every tier, one [`Cache::scan`] step at
    /// a time (the same guarantee: each key present throughout, once).
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("a".into(), "1".into())?;
    /// let mut keys = Vec::new();
    /// cache.for_each_key(|k| keys.push(k));
    /// assert_eq!(keys, ["a"]);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn for_each_key(&self, mut f: impl FnMut(K)) {
        let mut cursor = 0;
        loop {
            let (keys, next) = self.scan(cursor, usize::MAX);
            keys.into_iter().for_each(&mut f);
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// A key chosen at random from every tier (`None` if the cache is
    /// empty): a random place in the hash space, then the first step from
    /// there that finds keys, wrapping around. Keys in sparse stretches of
    /// the space are likelier picks, as with Redis's `RANDOMKEY`.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// assert_eq!(cache.random_key(), None);
    /// cache.insert("a".into(), "1".into())?;
    /// assert_eq!(cache.random_key().as_deref(), Some("a"));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn random_key(&self) -> Option<K> {
        let s = self.shared();
        let shards = s.index.shard_count() as u64;
        let r = crate::hot::random_seed();
        let start = ((r % shards) << 32) | (r >> 32);
        let mut cursor = start;
        let mut wrapped = false;
        loop {
            let (keys, next) = self.scan(cursor, 1);
            if !keys.is_empty() {
                let pick = (crate::hot::random_seed() % keys.len() as u64) as usize;
                return keys.into_iter().nth(pick);
            }
            if next == 0 {
                if wrapped || start == 0 {
                    return None;
                }
                wrapped = true;
            } else if wrapped && next >= start {
                return None; // around once: empty
            }
            cursor = next;
        }
    }
}
