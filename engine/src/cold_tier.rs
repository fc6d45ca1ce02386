//! The cold tier of one cache: its store, the health actor with the
//! failover policy that watches it, and the translation between the cache's
//! world (its clock, its keys) and the store's (wall-clock deadlines, seeded
//! key hashes, bytes).
//!
//! The cache's read and write paths use it through `CacheState::cold`
//! (`cache/cold.rs`); maintenance demotes into it.

use std::hash::Hash;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cold::ColdStore;
use crate::error::Error;
use crate::health::Health;
use crate::hot::{KeyHasher, NEVER};
use crate::stats::Counters;

/// The cold tier of one cache.
pub(crate) struct ColdTier {
    /// Declared before the store: the health actor holds a handle on it and
    /// must stop first.
    pub(crate) health: Health,
    pub(crate) store: ColdStore,
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
        })
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

    /// Appends a demoted or persisted entry unless the cold tier already
    /// holds this very version; bypassed while the breaker is open. Call
    /// with the key's hot-shard lock held. Returns whether the cold tier
    /// holds it afterwards.
    pub(crate) fn demote<K: Serialize + Hash>(
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
}

/// The cold store's key hash for a cache of `K`: decode the stored key and
/// hash it as the cache does (`hasher.raw`).
pub(crate) fn key_hasher<K: DeserializeOwned + Hash>(hasher: KeyHasher) -> crate::cold::KeyHash {
    Arc::new(move |bytes: &[u8]| match postcard::from_bytes::<K>(bytes) {
        Ok(k) => hasher.raw(&k),
        Err(_) => crate::cold::bytes_hash(bytes),
    })
}
