//! The read calls of [`Cache`]: a hit in the hot tier under one shard read
//! lock, then the warm and cold tiers; peeks that count nothing.

use std::borrow::Borrow;
use std::hash::Hash;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::capture::CaptureOp;
use crate::hot::{MISS_BIT, NEVER};
use crate::shared::WriteEvent;
use crate::stripe::Op;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The value for `key`, if present and not expired.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v".into())?;
    /// assert_eq!(cache.get("k").as_deref(), Some("v"));
    /// assert_eq!(cache.get("absent"), None);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_with(key, V::clone)
    }

    /// Calls `f` with the value for `key`, if present and not expired,
    /// without cloning it: a hot value is lent while its shard is
    /// read-locked (a warm one is decoded first). Counts and records like
    /// [`Cache::get`]. For copying a value straight into an output buffer;
    /// `f` must be quick and must not use this cache.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "hello".into())?;
    /// let mut out = Vec::new();
    /// cache.get_with("k", |v| out.extend_from_slice(v.as_bytes()));
    /// assert_eq!(out, b"hello");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn get_with<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.read_hot(key, f) {
            Ok(result) => Some(result),
            Err((hash, f)) => self
                .get_warm(hash, key)
                .or_else(|| self.get_lower(hash, key))
                .map(|v| f(&v)),
        }
    }

    /// A read of the hot tier: `f` of the value, counted and recorded as a
    /// hit; or, on a miss (counted, and recorded when the policy observes
    /// misses), the key's hash and `f` back.
    pub(super) fn read_hot<Q, R, F: FnOnce(&V) -> R>(&self, key: &Q, f: F) -> Result<R, (u64, F)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let hash = s.index.hasher.hash(key);
        let table = s.index.shard(hash).read();
        if let Some(slot) = table.get(hash, key)
            && !slot.expired(|| s.clock.now_nanos())
        {
            self.refresh_if_due(hash, slot);
            let earlier = self.renew(slot);
            let result = f(&slot.value);
            let weight = slot.weight;
            drop(table);
            self.captured(CaptureOp::Get, hash, weight, NEVER);
            if let Some(deadline) = earlier {
                self.send(WriteEvent::timer(hash, deadline));
            }
            if s.stripes.record_hit(hash) {
                self.wake_for_reads();
            }
            return Ok(result);
        }
        drop(table);
        // A miss's size is not known here; the finished capture takes it
        // from the key's other records.
        self.captured(CaptureOp::Get, hash, 0, NEVER);
        s.stripes.count(Op::Miss);
        if s.observe_misses && s.stripes.record_hit(hash | MISS_BIT) {
            self.wake_for_reads();
        }
        Err((hash, f))
    }

    /// A miss in the hot and warm tiers: the cold tier, then the settled
    /// answer (see `get_settled`). With a cold tier this reads the disk.
    pub(super) fn get_lower<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_cold(hash, key)
            .or_else(|| self.get_settled(hash, key))
    }

    /// Calls `f` with the value for `key` in whichever tier holds it,
    /// without counting a hit or a miss, without telling the policy and
    /// without moving it between tiers (a warm or cold value is decoded for
    /// `f`): for looking at entries, as `SCAN … TYPE` or `MEMORY USAGE` do,
    /// without disturbing what the cache keeps. `f` must be quick and must
    /// not use this cache.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "hello".into())?;
    /// assert_eq!(cache.peek_with("k", |v| v.len()), Some(5));
    /// assert_eq!(cache.stats().hot.hits, 0, "a peek is not a hit");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn peek_with<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let hash = s.index.hasher.hash(key);
        // Under the key's hot-shard lock no movement can hide it.
        let table = s.index.shard(hash).read();
        self.current_under_lock(&table, hash, key, |v, _| f(v))
    }

    /// The value for `key` without counting a hit or a miss and without
    /// telling the policy.
    pub(super) fn peek(&self, key: &K) -> Option<V> {
        let s = self.shared();
        let hash = s.index.hasher.hash(key);
        let table = s.index.shard(hash).read();
        table
            .get(hash, key)
            .filter(|slot| !slot.expired(|| s.clock.now_nanos()))
            .map(|slot| slot.value.clone())
    }

    /// Whether `key` is present and not expired. Does not count as an access.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v".into())?;
    /// assert!(cache.contains_key("k"));
    /// assert!(!cache.contains_key("j"));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let hash = s.index.hasher.hash(key);
        let table = s.index.shard(hash).read();
        if let Some(slot) = table.get(hash, key) {
            return !slot.expired(|| s.clock.now_nanos());
        }
        // Still under the hot-shard lock, so the key cannot move between
        // the tiers while they are asked.
        let lower = self.warm_contains(hash, key) || self.cold_current(key).is_some();
        drop(table);
        lower
    }

    /// The remaining time to live of `key`: `None` if absent, `Some(None)` if
    /// it never expires.
    ///
    /// ```
    /// use std::time::Duration;
    /// use goldylox::Expiration;
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.put("a".into(), "1".into(), Expiration::After(Duration::from_secs(60)))?;
    /// cache.insert("b".into(), "2".into())?;
    /// assert!(cache.time_to_live("a").flatten() <= Some(Duration::from_secs(60)));
    /// assert_eq!(cache.time_to_live("b"), Some(None), "present, never expires");
    /// assert_eq!(cache.time_to_live("c"), None, "absent");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn time_to_live<Q>(&self, key: &Q) -> Option<Option<Duration>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let hash = s.index.hasher.hash(key);
        let table = s.index.shard(hash).read();
        // The lower tiers are asked under the hot-shard lock, so the key
        // cannot move between them meanwhile.
        let deadline = match table.get(hash, key) {
            Some(slot) => slot.expires_at.get(),
            None => match self.warm_deadline(hash, key) {
                Some(deadline) => deadline,
                None => self.cold_current(key)?.1,
            },
        };
        drop(table);
        if deadline == NEVER {
            return Some(None);
        }
        let now = s.clock.now_nanos();
        // Without the lifetime rules' mark bit (`crate::expiry`).
        let deadline_as_given = crate::expiry::as_given(deadline);
        (now < deadline).then(|| Some(Duration::from_nanos(deadline_as_given.saturating_sub(now))))
    }

    /// The values of several keys, in order.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("a".into(), "1".into())?;
    /// let values = cache.get_many(["a", "b"]);
    /// assert_eq!(values, vec![Some("1".to_string()), None]);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn get_many<'q, Q>(&self, keys: impl IntoIterator<Item = &'q Q>) -> Vec<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + 'q,
    {
        keys.into_iter().map(|k| self.get(k)).collect()
    }
}
