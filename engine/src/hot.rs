//! The hot tier: decoded values in a sharded concurrent index, read and written
//! on the caller's thread.
//!
//! Each shard is a [`Table`] under a `parking_lot` reader-writer lock, padded
//! to its own cache line. A table keeps its entries in a dense `Vec` of
//! [`Slot`]s (removal swaps the last slot in) and finds them through a
//! `hashbrown::HashTable<u32>` of slot numbers, so an empty bucket costs 5
//! bytes instead of a whole slot and no per-entry allocation or reference
//! count exists. A hit clones the value under the read lock. The shard is
//! chosen from bits 40.. of the key hash and the bucket from the low bits, so
//! the two are independent.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use hashbrown::HashTable;
use parking_lot::RwLock;

/// `expires_at` of an entry that never expires.
pub(crate) const NEVER: u64 = u64::MAX;

/// One resident entry.
pub(crate) struct Slot<K, V> {
    /// The version of the mutation that wrote this copy.
    pub(crate) version: u64,
    /// Clock nanoseconds at which the entry expires, or [`NEVER`]; a read
    /// may move it (time to idle, [`Expiry`](crate::Expiry)).
    pub(crate) expires_at: ExpiresAt,
    /// The weigher's verdict, counted against capacity.
    pub(crate) weight: u32,
    /// When this value was written ([`crate::expiry::write_stamp`]: whole
    /// seconds of the cache clock), kept only with refresh-after-write or
    /// a time to idle capped by a time to live (0 otherwise, and for a
    /// copy promoted from a lower tier, whose write time is not known); it
    /// fills the padding after `weight`, so it costs no memory.
    pub(crate) written_at: u32,
    pub(crate) key: K,
    pub(crate) value: V,
}

impl<K, V> Slot<K, V> {
    /// Whether the entry has expired at `now` (only reads the clock when the
    /// entry has a deadline).
    #[inline]
    pub(crate) fn expired(&self, now: impl FnOnce() -> u64) -> bool {
        let deadline = self.expires_at.get();
        deadline != NEVER && now() >= deadline
    }
}

/// An entry's deadline: written under the shard's write lock, and moved by
/// readers under its read lock when the cache's lifetime rules make reads
/// renew entries (they race only with each other, and any of their
/// answers is right). Relaxed atomics: the shard lock orders them against
/// writers and maintenance.
pub(crate) struct ExpiresAt(AtomicU64);

impl ExpiresAt {
    pub(crate) fn new(deadline: u64) -> Self {
        ExpiresAt(AtomicU64::new(deadline))
    }

    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets it under the write lock.
    pub(crate) fn set(&mut self, deadline: u64) {
        *self.0.get_mut() = deadline;
    }

    /// Moves it under the read lock (a read renewed the entry).
    pub(crate) fn renew(&self, deadline: u64) {
        self.0.store(deadline, Ordering::Relaxed);
    }
}

/// Set on a read-buffer entry that records a miss (key hashes never have it).
pub(crate) const MISS_BIT: u64 = 1 << 63;

/// The cache's key hasher: seeded (hash flooding resistance: a random seed
/// per cache, or the one its cold directory keeps so the cold index and
/// the memory tiers share one hash space), never 0 (0 marks an empty
/// read-buffer slot), top bit clear ([`MISS_BIT`]). The cold tier indexes
/// by the raw hash; [`memory_form`] maps it to this one.
#[derive(Clone)]
pub(crate) struct KeyHasher(foldhash::quality::FixedState);

impl KeyHasher {
    /// A hasher with `seed`.
    pub(crate) fn with_seed(seed: u64) -> Self {
        KeyHasher(foldhash::quality::FixedState::with_seed(seed))
    }

    /// A hasher with a random seed.
    pub(crate) fn random() -> Self {
        Self::with_seed(random_seed())
    }

    /// The raw seeded hash (the cold tier's index key).
    #[inline]
    pub(crate) fn raw<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.0.hash_one(key)
    }

    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        memory_form(self.raw(key))
    }
}

/// The memory tiers' form of a raw key hash: top bit cleared (the read
/// buffer uses it to tag misses), never 0.
#[inline]
pub(crate) fn memory_form(raw: u64) -> u64 {
    match raw & !MISS_BIT {
        0 => 1,
        h => h,
    }
}

/// A random 64-bit seed from the standard library's per-process keys.
pub(crate) fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x676f_6c64_796c_6f78_u64)
}

/// Where a write left its entry: its position in the shard's slab and the
/// version it wrote. A hint, not a handle: a removal moves the last slot
/// into the hole, and a later write changes the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resident {
    pub(crate) position: u32,
    pub(crate) version: u64,
}

/// One shard's entries.
pub(crate) struct Table<K, V> {
    index: HashTable<u32>,
    slots: Vec<Slot<K, V>>,
}

impl<K: Hash + Eq, V> Table<K, V> {
    fn new() -> Self {
        Table {
            index: HashTable::new(),
            slots: Vec::new(),
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn position<Q>(&self, hash: u64, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| slots[i as usize].key.borrow() == key)
            .map(|&i| i as usize)
    }

    /// The entry for `key`.
    #[inline]
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q) -> Option<&Slot<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.position(hash, key).map(|i| &self.slots[i])
    }

    /// The entry for `key`, mutably, and its position in the slab (what a
    /// [`Resident`] hint names).
    pub(crate) fn get_mut_at<Q>(&mut self, hash: u64, key: &Q) -> Option<(u32, &mut Slot<K, V>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let i = self.position(hash, key)?;
        Some((i as u32, &mut self.slots[i]))
    }

    /// Adds an entry whose key is known to be absent; returns its position
    /// in the slab.
    pub(crate) fn insert_new(&mut self, hasher: &KeyHasher, hash: u64, slot: Slot<K, V>) -> u32 {
        let i = u32::try_from(self.slots.len()).expect("fewer than 2^32 entries per shard");
        self.slots.push(slot);
        let slots = &self.slots;
        self.index
            .insert_unique(hash, i, |&j| hasher.hash(&slots[j as usize].key));
        i
    }

    /// Removes the first entry among those in `hash`'s probe sequence that
    /// `pred` accepts.
    fn remove_where(
        &mut self,
        hasher: &KeyHasher,
        hash: u64,
        mut pred: impl FnMut(&Slot<K, V>) -> bool,
    ) -> Option<Slot<K, V>> {
        let slots = &self.slots;
        let entry = self
            .index
            .find_entry(hash, |&i| pred(&slots[i as usize]))
            .ok()?;
        let i = entry.remove().0 as usize;
        Some(self.take(hasher, i))
    }

    /// Removes the entry for `key`.
    pub(crate) fn remove<Q>(&mut self, hasher: &KeyHasher, hash: u64, key: &Q) -> Option<Slot<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.remove_where(hasher, hash, |s| s.key.borrow() == key)
    }

    /// Removes the entry for `key` if it still carries `version`.
    pub(crate) fn remove_version(
        &mut self,
        hasher: &KeyHasher,
        hash: u64,
        key: &K,
        version: u64,
    ) -> Option<Slot<K, V>> {
        self.remove_where(hasher, hash, |s| s.key == *key && s.version == version)
    }

    /// Removes one entry whose key hashes to `hash` and that satisfies `pred`.
    pub(crate) fn remove_hash_if(
        &mut self,
        hasher: &KeyHasher,
        hash: u64,
        mut pred: impl FnMut(&Slot<K, V>) -> bool,
    ) -> Option<Slot<K, V>> {
        self.remove_where(hasher, hash, |s| hasher.hash(&s.key) == hash && pred(s))
    }

    /// Takes slot `i` (already unlinked from the index) out of the slab,
    /// moving the last slot into its place.
    fn take(&mut self, hasher: &KeyHasher, i: usize) -> Slot<K, V> {
        let last = self.slots.len() - 1;
        if i != last {
            let moved = hasher.hash(&self.slots[last].key);
            let link = self
                .index
                .find_mut(moved, |&j| j as usize == last)
                .expect("every slot is linked from the index");
            *link = i as u32;
        }
        let slot = self.slots.swap_remove(i);
        if self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to(self.slots.len() * 2);
            self.index.shrink_to(self.slots.len() * 2, |&j| {
                hasher.hash(&self.slots[j as usize].key)
            });
        }
        slot
    }

    /// The entries, in slab order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Slot<K, V>> {
        self.slots.iter()
    }
}

pub(crate) type Shard<K, V> = CachePadded<RwLock<Table<K, V>>>;

/// The sharded index.
pub(crate) struct HotIndex<K, V> {
    shards: Box<[Shard<K, V>]>,
    mask: usize,
    pub(crate) hasher: KeyHasher,
}

impl<K: Hash + Eq, V> HotIndex<K, V> {
    /// `n` shards, rounded up to a power of two, hashing with `hasher`.
    pub(crate) fn new(n: usize, hasher: KeyHasher) -> Self {
        let n = n.max(1).next_power_of_two();
        HotIndex {
            shards: (0..n)
                .map(|_| CachePadded::new(RwLock::new(Table::new())))
                .collect(),
            mask: n - 1,
            hasher,
        }
    }

    /// The shard that holds `hash`.
    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> &RwLock<Table<K, V>> {
        &self.shards[self.shard_of(hash)]
    }

    /// The number of the shard that holds `hash` (the same bits choose the
    /// warm tier's shard and the cold index's, so a scan can walk one hot
    /// shard's keys in every tier).
    #[inline]
    pub(crate) fn shard_of(&self, hash: u64) -> usize {
        (hash >> 40) as usize & self.mask
    }

    /// The number of shards.
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Shard `i`, by number.
    pub(crate) fn shard_at(&self, i: usize) -> &RwLock<Table<K, V>> {
        &self.shards[i]
    }

    /// Removes one entry with this hash that satisfies `pred`.
    pub(crate) fn remove_if(
        &self,
        hash: u64,
        pred: impl FnMut(&Slot<K, V>) -> bool,
    ) -> Option<Slot<K, V>> {
        self.shard(hash)
            .write()
            .remove_hash_if(&self.hasher, hash, pred)
    }

    /// Copies of every entry whose key hashes to `hash` (usually one).
    pub(crate) fn snapshot(&self, hash: u64) -> Vec<Slot<K, V>>
    where
        K: Clone,
        V: Clone,
    {
        let table = self.shard(hash).read();
        table
            .index
            .iter_hash(hash)
            .map(|&i| &table.slots[i as usize])
            .filter(|s| self.hasher.hash(&s.key) == hash)
            .map(|s| Slot {
                version: s.version,
                expires_at: ExpiresAt::new(s.expires_at.get()),
                weight: s.weight,
                written_at: s.written_at,
                key: s.key.clone(),
                value: s.value.clone(),
            })
            .collect()
    }

    /// Whether any entry's key hashes to `hash`.
    pub(crate) fn contains_hash(&self, hash: u64) -> bool {
        self.holds(hash, None)
    }

    /// Whether any entry's key hashes to `hash`. With a `hint` of where the
    /// write that made it left it, the common case costs one slot read and
    /// no hashing: versions are unique, so the slot at that position still
    /// carrying that version is the entry. Otherwise (the slot moved, or
    /// was rewritten or removed since) the index is probed and the
    /// candidates' keys hashed.
    pub(crate) fn holds(&self, hash: u64, hint: Option<Resident>) -> bool {
        let table = self.shard(hash).read();
        if let Some(at) = hint
            && table
                .slots
                .get(at.position as usize)
                .is_some_and(|s| s.version == at.version)
        {
            return true;
        }
        table
            .index
            .find(hash, |&i| {
                self.hasher.hash(&table.slots[i as usize].key) == hash
            })
            .is_some()
    }

    /// Whether an entry whose key hashes to `hash` expires exactly at
    /// `deadline` (a timer for it is still current).
    pub(crate) fn has_deadline(&self, hash: u64, deadline: u64) -> bool {
        let table = self.shard(hash).read();
        table
            .index
            .iter_hash(hash)
            .map(|&i| &table.slots[i as usize])
            .any(|s| s.expires_at.get() == deadline && self.hasher.hash(&s.key) == hash)
    }

    /// Calls `f` with the deadline of every entry whose key hashes to
    /// `hash`.
    pub(crate) fn deadlines_of(&self, hash: u64, mut f: impl FnMut(u64)) {
        let table = self.shard(hash).read();
        for &i in table.index.iter_hash(hash) {
            let s = &table.slots[i as usize];
            if self.hasher.hash(&s.key) == hash {
                f(s.expires_at.get());
            }
        }
    }

    /// Calls `f(hash, deadline)` for every entry, one shard at a time.
    pub(crate) fn for_each_deadline(&self, mut f: impl FnMut(u64, u64)) {
        for shard in self.shards.iter() {
            for s in shard.read().iter() {
                f(self.hasher.hash(&s.key), s.expires_at.get());
            }
        }
    }

    /// Number of entries (including expired ones not yet reaped).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Calls `f` with every shard's table, all read-locked at once (taken
    /// in shard order; no other code holds two hot-shard locks, so this
    /// cannot deadlock). Every movement of a key between tiers holds its
    /// hot-shard write lock, so `f` sees each key in exactly one place.
    /// Writers wait meanwhile: keep `f` short.
    pub(crate) fn with_all_read<R>(&self, f: impl FnOnce(&[&Table<K, V>]) -> R) -> R {
        let guards: Vec<_> = self.shards.iter().map(|shard| shard.read()).collect();
        let tables: Vec<&Table<K, V>> = guards.iter().map(|g| &**g).collect();
        f(&tables)
    }

    /// Calls `f(hash, weight)` for every entry, one shard at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, u32)) {
        for shard in self.shards.iter() {
            for s in shard.read().iter() {
                f(self.hasher.hash(&s.key), s.weight);
            }
        }
    }

    /// Calls `f` with each shard's table, write-locked so that no write to a
    /// key of that shard overtakes what `f` does with it.
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&Table<K, V>)) {
        for shard in self.shards.iter() {
            f(&shard.write());
        }
    }

    /// Takes every entry out of every shard, one shard at a time, handing each
    /// shard's entries to `f` after its lock is released.
    pub(crate) fn drain_shards(&self, mut f: impl FnMut(Vec<Slot<K, V>>)) {
        for shard in self.shards.iter() {
            let taken = std::mem::replace(&mut *shard.write(), Table::new());
            f(taken.slots);
        }
    }
}

#[cfg(test)]
mod tests {
    /// `written_at` lives in the padding after `weight`: a slot of two
    /// words of key and value is five words, as it was without it.
    #[test]
    fn the_write_time_costs_no_memory() {
        assert_eq!(std::mem::size_of::<super::Slot<u64, u64>>(), 40);
        assert_eq!(std::mem::size_of::<super::Slot<Vec<u8>, Vec<u8>>>(), 72);
    }
}
