//! The warm tier's index: a sharded map from key to where its encoded value
//! lives in the slab pool.

use std::borrow::Borrow;
use std::hash::Hash;

use crossbeam_utils::CachePadded;
use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::pool::{Relocate, SlabLoc};

/// One warm entry.
pub(crate) struct WarmEntry<K> {
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) loc: SlabLoc,
    pub(crate) slot_size: u32,
    /// Encoded length in bytes.
    pub(crate) len: u32,
    pub(crate) codec: super::codec::Codec,
    pub(crate) version: u64,
    pub(crate) expires_at: u64,
    /// The hot-tier weight the entry had (restored on promotion).
    pub(crate) weight: u32,
}

type Shard<K> = CachePadded<RwLock<HashTable<WarmEntry<K>>>>;

pub(crate) struct WarmIndex<K> {
    shards: Box<[Shard<K>]>,
    mask: usize,
}

impl<K: Hash + Eq> WarmIndex<K> {
    pub(crate) fn new(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        WarmIndex {
            shards: (0..n)
                .map(|_| CachePadded::new(RwLock::new(HashTable::new())))
                .collect(),
            mask: n - 1,
        }
    }

    pub(crate) fn shard(&self, hash: u64) -> &RwLock<HashTable<WarmEntry<K>>> {
        &self.shards[(hash >> 40) as usize & self.mask]
    }

    /// Calls `f` with the entry for `key` under the shard read lock.
    pub(crate) fn with<Q, R>(
        &self,
        hash: u64,
        key: &Q,
        f: impl FnOnce(&WarmEntry<K>) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let table = self.shard(hash).read();
        table
            .find(hash, |e| e.hash == hash && e.key.borrow() == key)
            .map(f)
    }

    /// Removes the entry for `key` if `pred` accepts it. The caller owns its
    /// slot from then on (defragmentation will not move an unindexed item)
    /// and must free it.
    pub(crate) fn take_if<Q>(
        &self,
        hash: u64,
        key: &Q,
        pred: impl FnOnce(&WarmEntry<K>) -> bool,
    ) -> Option<WarmEntry<K>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut table = self.shard(hash).write();
        let entry = table
            .find_entry(hash, |e| e.hash == hash && e.key.borrow() == key)
            .ok()?;
        if !pred(entry.get()) {
            return None;
        }
        Some(entry.remove().0)
    }

    /// Removes one entry whose key hashes to `hash` and that `pred` accepts.
    pub(crate) fn take_hash_if(
        &self,
        hash: u64,
        mut pred: impl FnMut(&WarmEntry<K>) -> bool,
    ) -> Option<WarmEntry<K>> {
        let mut table = self.shard(hash).write();
        let entry = table.find_entry(hash, |e| e.hash == hash && pred(e)).ok()?;
        Some(entry.remove().0)
    }

    /// Stores `entry` unless a copy with a newer version is already there.
    /// Returns the slot that lost (the displaced copy's or the new one's),
    /// which the caller must free.
    pub(crate) fn insert(&self, entry: WarmEntry<K>) -> Option<SlabLoc> {
        let hash = entry.hash;
        let mut table = self.shard(hash).write();
        match table.find_mut(hash, |e| e.hash == hash && e.key == entry.key) {
            Some(existing) if existing.version > entry.version => Some(entry.loc),
            Some(existing) => Some(std::mem::replace(existing, entry).loc),
            None => {
                table.insert_unique(hash, entry, |e| e.hash);
                None
            }
        }
    }

    /// Whether an entry whose key hashes to `hash` expires exactly at
    /// `deadline` (a timer for it is still current).
    /// Whether any entry has key hash `hash`.
    pub(crate) fn contains_hash(&self, hash: u64) -> bool {
        self.shard(hash)
            .read()
            .find(hash, |e| e.hash == hash)
            .is_some()
    }

    pub(crate) fn has_deadline(&self, hash: u64, deadline: u64) -> bool {
        self.shard(hash)
            .read()
            .find(hash, |e| e.hash == hash && e.expires_at == deadline)
            .is_some()
    }

    /// Calls `f` with the deadline of every entry whose key hashes to
    /// `hash`.
    pub(crate) fn deadlines_of(&self, hash: u64, mut f: impl FnMut(u64)) {
        let table = self.shard(hash).read();
        for e in table.iter_hash(hash).filter(|e| e.hash == hash) {
            f(e.expires_at);
        }
    }

    /// Calls `f(hash, deadline)` for every entry, one shard at a time.
    pub(crate) fn for_each_deadline(&self, mut f: impl FnMut(u64, u64)) {
        for shard in self.shards.iter() {
            for e in shard.read().iter() {
                f(e.hash, e.expires_at);
            }
        }
    }

    /// How many keys satisfy `f`, one shard at a time.
    pub(crate) fn count_keys(&self, mut f: impl FnMut(&K) -> bool) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().iter().filter(|e| f(&e.key)).count())
            .sum()
    }

    /// Calls `f(hash, slot_size)` for every entry, one shard at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, u32)) {
        for shard in self.shards.iter() {
            for e in shard.read().iter() {
                f(e.hash, e.slot_size);
            }
        }
    }

    /// Calls `f` with every entry whose key hashes to `hash`, under the
    /// shard's read lock.
    pub(crate) fn for_each_of(&self, hash: u64, mut f: impl FnMut(&WarmEntry<K>)) {
        let table = self.shard(hash).read();
        for e in table.iter().filter(|e| e.hash == hash) {
            f(e);
        }
    }

    /// Calls `f` with every entry of the shard that holds hashes whose
    /// shard bits are those of `hash`, under that shard's read lock.
    pub(crate) fn for_each_in_shard_of(&self, hash: u64, f: impl FnMut(&WarmEntry<K>)) {
        self.shard(hash).read().iter().for_each(f);
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Takes every entry out, one shard at a time.
    pub(crate) fn drain_shards(&self, mut f: impl FnMut(Vec<WarmEntry<K>>)) {
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *shard.write());
            f(taken.into_iter().collect());
        }
    }
}

impl<K: Hash + Eq + Send + Sync> Relocate for WarmIndex<K> {
    fn relocate(
        &self,
        owner: u64,
        from: SlabLoc,
        to: SlabLoc,
        copy: &mut dyn FnMut() -> bool,
    ) -> bool {
        let mut table = self.shard(owner).write();
        match table.find_mut(owner, |e| e.hash == owner && e.loc == from) {
            Some(entry) if copy() => {
                entry.loc = to;
                true
            }
            _ => false,
        }
    }
}
