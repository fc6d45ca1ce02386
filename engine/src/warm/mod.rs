//! The warm tier: entries evicted from the hot tier, encoded (postcard) and
//! compressed (zstd with a trained dictionary, when it pays) in slab memory
//! pools.
//!
//! Reads decode on the caller's thread. Movement between tiers is versioned
//! and serialised per key by the key's hot-shard write lock: a demotion is
//! applied only if the hot copy it was made from is still the newest, a
//! promotion only if the warm copy it read is still there, and every write
//! or remove invalidates the warm copy before releasing the hot lock. Lock
//! order: hot shard → warm shard → slab table → slab.

pub(crate) mod codec;
pub(crate) mod index;

use std::sync::Arc;

use crate::pool::manager::{PoolHandle, PoolStats};
pub(crate) use index::{WarmEntry, WarmIndex};

/// The warm tier of one cache.
pub(crate) struct WarmTier<K> {
    pub(crate) index: Arc<WarmIndex<K>>,
    pub(crate) pool: PoolHandle,
    /// Most slab bytes the tier may hold.
    pub(crate) capacity: u64,
    /// The compression dictionary, once trained.
    pub(crate) dict: codec::Dictionary,
}

impl<K: std::hash::Hash + Eq + Send + Sync + 'static> WarmTier<K> {
    pub(crate) fn start(name: &str, capacity: u64, shards: usize) -> std::io::Result<Self> {
        let index = Arc::new(WarmIndex::new(shards));
        let pool = PoolHandle::start(
            name,
            capacity,
            Arc::clone(&index) as Arc<dyn crate::pool::Relocate>,
        )?;
        Ok(WarmTier {
            index,
            pool,
            capacity,
            dict: codec::Dictionary::default(),
        })
    }

    /// Reads the encoded bytes of `entry` (called under its shard lock).
    pub(crate) fn bytes_of(&self, entry: &WarmEntry<K>, out: &mut Vec<u8>) -> bool {
        self.pool
            .table
            .read(entry.loc, entry.slot_size, entry.len, out)
    }

    /// Decodes a warm entry's value (called under its shard lock).
    pub(crate) fn decode<V: serde::de::DeserializeOwned>(&self, entry: &WarmEntry<K>) -> Option<V> {
        let mut buf = Vec::with_capacity(entry.len as usize);
        self.bytes_of(entry, &mut buf)
            .then(|| codec::decode(&buf, entry.codec, self.dict.get()))
            .flatten()
    }

    /// Pool figures.
    pub(crate) fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }
}
