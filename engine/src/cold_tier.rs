//! The cold tier of one cache: its store, the health actor with the
//! failover policy that watches it, and the translation between the cache's
//! world (its clock, its keys) and the store's (wall-clock deadlines, seeded
//! key hashes, bytes).
//!
//! It is the one seam between the cache and its disk: the cache's read and
//! write paths (`cache/cold.rs`), maintenance and the administration calls
//! use it through `CacheState::cold` and its vocabulary — `read`, `holds`,
//! `demote` (an entry leaving memory, or persisted), `on_write` (a write
//! stored hot: appended with write-through, else the old record forgotten),
//! `on_remove` — never the store beneath it.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cold::{ColdStats, ColdStore, ColdValue, RecoveryReport};
use crate::error::Error;
use crate::health::Health;
use crate::hot::{KeyHasher, NEVER};
use crate::stats::Counters;

/// The cold tier of one cache.
pub(crate) struct ColdTier {
    /// Declared before the store: the health actor holds a handle on it and
    /// must stop first.
    pub(crate) health: Health,
    store: ColdStore,
    /// Cache clock nanoseconds + this = the wall nanoseconds deadlines are
    /// stored in.
    pub(crate) offset: u64,
    /// The key hasher seeded from the cold directory (the cold index uses
    /// its raw hashes; the memory tiers use the same hasher).
    pub(crate) hasher: KeyHasher,
    /// Every write is appended, not only demotions.
    pub(crate) write_through: bool,
    /// Writes that should have reached the cold tier and did not (breaker
    /// open, a failed append): a durable acknowledgement must not cover
    /// them (see `durable.rs`).
    pub(crate) writes_missed: Arc<std::sync::atomic::AtomicU64>,
    /// Reads renew deadlines (time to idle, an `Expiry`): a demoted entry
    /// whose record is this very version may carry a later deadline than
    /// the record, and is appended again (see [`ColdTier::demote`]).
    renews_on_read: bool,
}

impl ColdTier {
    /// Opens the cold store (recovering it) and starts its health actor.
    pub(crate) fn open<K: DeserializeOwned + Hash>(
        mut config: crate::cold::ColdConfig,
        name: &str,
        clock: &crate::Clock,
        failover: Option<&crate::health::FailoverFactory>,
        write_policy: crate::WritePolicy,
        latency: Option<&crate::latency::LatencyListener>,
    ) -> Result<ColdTier, Error> {
        // Read before the store opens: recovery hashes the stored keys with
        // it. A directory that cannot be listed fails just below, clearly.
        let seed =
            crate::cold::seed::load_or_create(&*config.fs, &config.dir, crate::hot::random_seed());
        let hasher = KeyHasher::with_seed(seed);
        config.key_hash = key_hasher::<K>(hasher.clone());
        config.key_hash_id = seed;
        config.name = name.to_owned();
        let offset = clock.unix_offset();
        let now = {
            let clock = clock.clone();
            Box::new(move || clock.now_nanos().saturating_add(offset))
        };
        let store = ColdStore::open_with_clock(config, now)?;
        if let Some(listener) = latency {
            store.set_latency_listener(Arc::clone(listener));
        }
        let policy: Box<dyn crate::health::FailoverPolicy> = match failover {
            Some(factory) => {
                crate::policy::guarded(|| factory()).map_err(|e| Error::InvalidConfig {
                    reason: format!("failover policy: {e}"),
                })?
            }
            None => Box::new(crate::health::NativeBreaker::new(&[]).map_err(|e| {
                Error::InvalidConfig {
                    reason: format!("failover policy: {e}"),
                }
            })?),
        };
        let health = Health::start(name, Arc::new(store.clone()), policy)
            .map_err(|e| Error::spawn("health", e))?;
        Ok(ColdTier {
            health,
            store,
            offset,
            hasher,
            write_through: write_policy == crate::WritePolicy::WriteThrough,
            writes_missed: Arc::default(),
            renews_on_read: false,
        })
    }

    /// The tier, told whether reads renew deadlines.
    pub(crate) fn renewing(self, renews_on_read: bool) -> Self {
        ColdTier {
            renews_on_read,
            ..self
        }
    }

    pub(crate) fn clock_to_disk(&self, deadline: u64) -> u64 {
        if deadline == NEVER {
            NEVER
        } else {
            deadline.saturating_add(self.offset)
        }
    }

    pub(crate) fn disk_to_clock(&self, deadline: u64) -> u64 {
        if deadline == NEVER {
            NEVER
        } else {
            deadline.saturating_sub(self.offset)
        }
    }

    /// Appends an entry leaving memory unless the cold tier already holds
    /// this very version; bypassed while the breaker is open. Call with
    /// the key's hot-shard lock held. Returns whether the cold tier holds
    /// it afterwards.
    ///
    /// Where reads renew deadlines, the record of this version may carry
    /// an older deadline than the entry: it is appended again, under a
    /// fresh version drawn from `versions` (the cache's counter), because
    /// the store tells a key's appends apart by version.
    pub(crate) fn demote<K: Serialize + Hash>(
        &self,
        counters: &Counters,
        versions: &std::sync::atomic::AtomicU64,
        key: &K,
        value: impl FnOnce() -> Option<Vec<u8>>,
        version: u64,
        deadline: u64,
    ) -> bool {
        let version = if self.renews_on_read
            && crate::expiry::is_managed(deadline)
            && self.holds_version(key, version)
        {
            versions.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            version
        };
        self.append(counters, key, value, version, deadline)
    }

    /// Appends a copy of an entry that stays in memory ([`Cache::persist`](crate::Cache::persist))
    /// unless the cold tier already holds this version (then a renewed
    /// deadline stays in memory only: after a restart the entry expires
    /// as its record says).
    pub(crate) fn persist_copy<K: Serialize + Hash>(
        &self,
        counters: &Counters,
        key: &K,
        value: impl FnOnce() -> Option<Vec<u8>>,
        version: u64,
        deadline: u64,
    ) -> bool {
        self.append(counters, key, value, version, deadline)
    }

    /// Appends `key`'s record of `version` unless the tier already holds
    /// it: what a demotion and a write-through both do.
    fn append<K: Serialize + Hash>(
        &self,
        counters: &Counters,
        key: &K,
        value: impl FnOnce() -> Option<Vec<u8>>,
        version: u64,
        deadline: u64,
    ) -> bool {
        let chash = self.hasher.raw(key);
        if self.store.tag_of(chash) == Some(version as u32) {
            Counters::bump(&counters.cold_already);
            return true;
        }
        if !self.health.usable() {
            Counters::bump(&counters.cold_bypassed);
            return false;
        }
        let (Ok(kb), Some(vb)) = (postcard::to_allocvec(key), value()) else {
            return false;
        };
        match self
            .store
            .put_hashed(chash, &kb, &vb, version, self.clock_to_disk(deadline))
        {
            Ok(()) => {
                Counters::bump(&counters.cold_demotions);
                true
            }
            Err(_) => {
                Counters::bump(&counters.cold_bypassed);
                false
            }
        }
    }
    /// The record of `key`, decoded: its key, value, version and deadline
    /// (in the cache clock). `None` when there is none, while the breaker
    /// bypasses the tier (counted), or when it does not decode (counted).
    pub(crate) fn read<K, V, Q>(&self, counters: &Counters, key: &Q) -> Option<(K, V, u64, u64)>
    where
        K: Borrow<Q> + DeserializeOwned,
        V: DeserializeOwned,
        Q: Hash + Eq + ?Sized,
    {
        if !self.health.usable() {
            Counters::bump(&counters.cold_bypassed);
            return None;
        }
        let mut decoded = None;
        let found =
            self.store.get_hashed(self.hasher.raw(key), |bytes| {
                match postcard::from_bytes::<K>(bytes) {
                    Ok(k) if k.borrow() == key => {
                        decoded = Some(k);
                        true
                    }
                    _ => false,
                }
            });
        self.health.report(found.is_ok());
        let ColdValue {
            value,
            version,
            expires,
        } = found.ok()??;
        let Ok(value) = postcard::from_bytes::<V>(&value) else {
            Counters::bump(&counters.cold_corrupt);
            return None;
        };
        Some((decoded?, value, version, self.disk_to_clock(expires)))
    }

    /// Whether the tier has a record of `key` (its index only: no I/O).
    pub(crate) fn holds<Q: Hash + ?Sized>(&self, key: &Q) -> bool {
        self.store.tag_of(self.hasher.raw(key)).is_some()
    }

    /// Whether the tier's record of `key` is this very version.
    pub(crate) fn holds_version<Q: Hash + ?Sized>(&self, key: &Q, version: u64) -> bool {
        self.store.tag_of(self.hasher.raw(key)) == Some(version as u32)
    }

    /// A write of `key` (version `version`) is being stored hot: with
    /// write-through it is appended; otherwise, or if that append failed
    /// (counted as a write the tier missed), the old record is forgotten
    /// so that no reader or restart sees it again. Call with the key's
    /// hot-shard lock held.
    pub(crate) fn on_write<K: Serialize + Hash, V: Serialize>(
        &self,
        counters: &Counters,
        key: &K,
        value: &V,
        version: u64,
        deadline: u64,
    ) {
        if self.write_through {
            if self.append(
                counters,
                key,
                || postcard::to_allocvec(value).ok(),
                version,
                deadline,
            ) {
                return;
            }
            self.writes_missed.fetch_add(1, Ordering::AcqRel);
        }
        let chash = self.hasher.raw(key);
        if self.store.tag_of(chash).is_some() {
            let removed = postcard::to_allocvec(key)
                .map_err(|e| Error::Encode {
                    reason: e.to_string(),
                })
                .and_then(|kb| self.store.remove_hashed(chash, &kb, version));
            self.health.report(removed.is_ok());
        }
    }

    /// `key` is being removed: the tier forgets it and a tombstone of a
    /// fresh version (`next_version`, taken only if there is a record)
    /// keeps it from coming back. `known` is the key when a memory tier had
    /// it. Call with the key's hot-shard lock held; returns whether the tier
    /// had a record of it.
    pub(crate) fn on_remove<K, Q>(
        &self,
        key: &Q,
        known: Option<&K>,
        next_version: impl FnOnce() -> u64,
    ) -> bool
    where
        K: Borrow<Q> + Serialize + DeserializeOwned,
        Q: Hash + Eq + ?Sized,
    {
        let chash = self.hasher.raw(key);
        if self.store.tag_of(chash).is_none() {
            return false;
        }
        let version = next_version();
        let removed = match known.map(postcard::to_allocvec) {
            Some(Ok(kb)) => self.store.remove_hashed(chash, &kb, version),
            _ => self.store.remove_matching(
                chash,
                |bytes| postcard::from_bytes::<K>(bytes).is_ok_and(|k| k.borrow() == key),
                version,
            ),
        };
        self.health.report(removed.is_ok());
        if removed.is_err() {
            self.writes_missed.fetch_add(1, Ordering::AcqRel);
        }
        removed.unwrap_or(false)
    }

    /// Calls `f` with the bytes and deadline (the cache clock) of every
    /// stored key whose hash `want` accepts.
    pub(crate) fn keys_where(&self, want: impl Fn(u64) -> bool, mut f: impl FnMut(&[u8], u64)) {
        self.store.keys_where(want, |bytes, deadline| {
            f(bytes, self.disk_to_clock(deadline))
        });
    }

    /// Records the tier holds.
    pub(crate) fn len(&self) -> usize {
        self.store.len()
    }

    /// The highest version the tier holds (a new cache continues after it).
    pub(crate) fn max_version(&self) -> u64 {
        self.store.max_version()
    }

    /// Drops every record (a cache's `clear`).
    pub(crate) fn clear(&self) -> Result<(), Error> {
        self.store.clear()
    }

    /// Waits until everything appended so far is durable.
    pub(crate) fn sync(&self) -> Result<(), Error> {
        self.store.sync()
    }

    /// A mark of the appends so far, for [`ColdTier::when_durable`].
    pub(crate) fn durability_mark(&self) -> u64 {
        self.store.durability_mark()
    }

    /// Calls `done` once everything appended before `mark` is durable.
    pub(crate) fn when_durable(
        &self,
        mark: u64,
        done: impl FnOnce(Result<(), Error>) + Send + 'static,
    ) {
        self.store.when_durable(mark, done);
    }

    /// Runs a compaction pass now ([`ColdStore::compact`]).
    pub(crate) fn compact(&self, all: bool) -> Result<usize, Error> {
        self.store.compact(all)
    }

    /// The store's figures.
    pub(crate) fn stats(&self) -> ColdStats {
        self.store.stats()
    }

    /// What recovery found when the tier was opened.
    pub(crate) fn recovery(&self) -> &RecoveryReport {
        self.store.recovery()
    }

    /// The last I/O error, if the tier ever had one.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.store.last_error()
    }
}

/// The cold store's key hash for a cache of `K`: decode the stored key and
/// hash it as the cache does (`hasher.raw`).
pub(crate) fn key_hasher<K: DeserializeOwned + Hash>(hasher: KeyHasher) -> crate::cold::KeyHash {
    Arc::new(move |bytes: &[u8]| match postcard::from_bytes::<K>(bytes) {
        Ok(k) => hasher.raw(&k),
        Err(_) => crate::cold::bytes_hash(bytes),
    })
}
