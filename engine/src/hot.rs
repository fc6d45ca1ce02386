//! The hot tier: decoded values in a sharded concurrent index, read and written
//! on the caller's thread.
//!
//! Each shard is a `hashbrown::HashTable` of [`Slot`]s under a `parking_lot`
//! reader-writer lock, padded to its own cache line. Slots are stored inline
//! (no per-entry allocation, no reference count): a hit clones the value under
//! the read lock. The shard is chosen from bits 40.. of the key hash and the
//! table position from the low bits, so the two are independent.

use std::hash::{BuildHasher, Hash};

use crossbeam_utils::CachePadded;
use hashbrown::HashTable;
use parking_lot::RwLock;

/// `expires_at` of an entry that never expires.
pub(crate) const NEVER: u64 = u64::MAX;

/// One resident entry.
pub(crate) struct Slot<K, V> {
    /// The key's hash (never 0); what the policy knows the entry by.
    pub(crate) hash: u64,
    /// The version of the mutation that wrote this copy.
    pub(crate) version: u64,
    /// Clock nanoseconds at which the entry expires, or [`NEVER`].
    pub(crate) expires_at: u64,
    /// The weigher's verdict, counted against capacity.
    pub(crate) weight: u32,
    pub(crate) key: K,
    pub(crate) value: V,
}

impl<K, V> Slot<K, V> {
    /// Whether the entry has expired at `now` (only reads the clock when the
    /// entry has a deadline).
    #[inline]
    pub(crate) fn expired(&self, now: impl FnOnce() -> u64) -> bool {
        self.expires_at != NEVER && now() >= self.expires_at
    }
}

/// A key hash that is never 0 (0 marks an empty read-buffer slot).
#[inline]
pub(crate) fn hash_key<Q: Hash + ?Sized>(hasher: &foldhash::fast::RandomState, key: &Q) -> u64 {
    match hasher.hash_one(key) {
        0 => 1,
        h => h,
    }
}

pub(crate) type Shard<K, V> = CachePadded<RwLock<HashTable<Slot<K, V>>>>;

/// The sharded index.
pub(crate) struct HotIndex<K, V> {
    shards: Box<[Shard<K, V>]>,
    mask: usize,
}

impl<K, V> HotIndex<K, V> {
    /// `n` shards, rounded up to a power of two.
    pub(crate) fn new(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        HotIndex {
            shards: (0..n)
                .map(|_| CachePadded::new(RwLock::new(HashTable::new())))
                .collect(),
            mask: n - 1,
        }
    }

    /// The shard that holds `hash`.
    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> &RwLock<HashTable<Slot<K, V>>> {
        &self.shards[(hash >> 40) as usize & self.mask]
    }

    /// Removes one slot with this hash that satisfies `pred`.
    pub(crate) fn remove_if(
        &self,
        hash: u64,
        mut pred: impl FnMut(&Slot<K, V>) -> bool,
    ) -> Option<Slot<K, V>> {
        let mut table = self.shard(hash).write();
        match table.find_entry(hash, |s| s.hash == hash && pred(s)) {
            Ok(entry) => Some(entry.remove().0),
            Err(_) => None,
        }
    }

    /// Whether any slot has this hash.
    pub(crate) fn contains_hash(&self, hash: u64) -> bool {
        let table = self.shard(hash).read();
        table.find(hash, |s| s.hash == hash).is_some()
    }

    /// The latest deadline among slots with this hash, if any slot has it.
    pub(crate) fn expiry_of(&self, hash: u64) -> Option<u64> {
        let table = self.shard(hash).read();
        table
            .iter_hash(hash)
            .filter(|s| s.hash == hash)
            .map(|s| s.expires_at)
            .max()
    }

    /// Number of slots (including expired ones not yet reaped).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Calls `f(hash, weight)` for every slot, one shard at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, u32)) {
        for shard in self.shards.iter() {
            for s in shard.read().iter() {
                f(s.hash, s.weight);
            }
        }
    }

    /// Takes every slot out of every shard, one shard at a time.
    pub(crate) fn drain_shards(&self, mut f: impl FnMut(Vec<Slot<K, V>>)) {
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *shard.write());
            f(taken.into_iter().collect());
        }
    }
}
