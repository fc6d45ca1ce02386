//! The cold tier's RAM index: key hash → where the newest record lives.
//!
//! An entry is 16 bytes ([`Loc`]) beside its 8-byte hash key in a sharded
//! hashbrown map. The full key is not kept: it is stored in the record and
//! compared on every read, so two keys whose 64-bit hashes collide cost a
//! miss, never a wrong value.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::RwLock;

/// Where a record lives, or that one is on its way (`seg == PENDING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) seg: u32,
    pub(crate) offset: u32,
    /// Bytes of the whole record.
    pub(crate) len: u32,
    /// The low 32 bits of the record's version: enough to tell a pending
    /// append from a newer one of the same key while both are in flight
    /// (the writer's queue is far shorter than 2^32).
    pub(crate) tag: u32,
}

/// `Loc::seg` of an entry whose record the writer has not appended yet.
pub(crate) const PENDING: u32 = u32::MAX;

impl Loc {
    pub(crate) fn pending(version: u64) -> Loc {
        Loc {
            seg: PENDING,
            offset: 0,
            len: 0,
            tag: version as u32,
        }
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.seg == PENDING
    }
}

/// Keys are already well-mixed hashes: pass them through.
#[derive(Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map = HashMap<u64, Loc, BuildHasherDefault<PassThrough>>;

/// A record on its way to disk: a value (readable from the in-flight table
/// until it lands) or a tombstone.
pub(crate) struct Record {
    pub(crate) key: Vec<u8>,
    /// `None`: a tombstone.
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) version: u64,
    pub(crate) expires: u64,
}

impl Record {
    /// The bytes it holds, as the queue's byte bound counts them.
    pub(crate) fn bytes(&self) -> u64 {
        (self.key.len() + self.value.as_ref().map_or(0, Vec::len)) as u64
    }
}

/// Records queued for the writer, by key hash, so that a read between an
/// append and its landing finds the value instead of missing (a demoted
/// entry is never invisible). Entries leave when the writer points the
/// index at the record on disk (or drops it).
///
/// Each also keeps the key's last record *on disk* (`prev`) until the new
/// one lands: an index snapshot names it and compaction keeps it, so a
/// crash before the landing finds the older durable value, not nothing.
pub(crate) struct InFlight {
    shards: Box<[CachePadded<parking_lot::Mutex<InFlightMap>>]>,
    mask: usize,
}

/// An append in flight, and the key's last record on disk.
struct Pending {
    rec: Arc<Record>,
    prev: Option<Loc>,
}

type InFlightMap = HashMap<u64, Pending, BuildHasherDefault<PassThrough>>;

impl InFlight {
    pub(crate) fn new(shards: usize) -> Self {
        let n = shards.max(1).next_power_of_two();
        InFlight {
            shards: (0..n)
                .map(|_| CachePadded::new(parking_lot::Mutex::new(InFlightMap::default())))
                .collect(),
            mask: n - 1,
        }
    }

    fn shard(&self, hash: u64) -> &parking_lot::Mutex<InFlightMap> {
        &self.shards[(hash >> 40) as usize & self.mask]
    }

    /// The newest append of `hash` is `rec`; `replaced` is what the index
    /// named before (a record on disk, or an earlier pending append whose
    /// `prev` carries over).
    pub(crate) fn put(&self, hash: u64, rec: Arc<Record>, replaced: Option<Loc>) {
        let mut shard = self.shard(hash).lock();
        let prev = match replaced {
            Some(loc) if !loc.is_pending() => Some(loc),
            Some(_) => shard.get(&hash).and_then(|p| p.prev),
            None => None,
        };
        shard.insert(hash, Pending { rec, prev });
    }

    /// `hash` was removed: nothing of it is in flight any more. Returns the
    /// last record on disk it named.
    pub(crate) fn forget(&self, hash: u64) -> Option<Loc> {
        self.shard(hash).lock().remove(&hash).and_then(|p| p.prev)
    }

    /// The append of `hash` tagged `tag` landed (or was dropped); returns
    /// the record on disk it replaces.
    pub(crate) fn take(&self, hash: u64, tag: u32) -> Option<Loc> {
        let mut shard = self.shard(hash).lock();
        if shard
            .get(&hash)
            .is_some_and(|p| p.rec.version as u32 == tag)
        {
            return shard.remove(&hash).and_then(|p| p.prev);
        }
        None
    }

    /// The last record on disk of `hash` while an append of it is in flight.
    pub(crate) fn prev(&self, hash: u64) -> Option<Loc> {
        self.shard(hash).lock().get(&hash).and_then(|p| p.prev)
    }

    /// Compaction moved the last record on disk of `hash` from `from` to
    /// `to`; whether `from` was it.
    pub(crate) fn move_prev(&self, hash: u64, from: Loc, to: Loc) -> bool {
        let mut shard = self.shard(hash).lock();
        match shard.get_mut(&hash) {
            Some(p) if p.prev == Some(from) => {
                p.prev = Some(to);
                true
            }
            _ => false,
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            shard.lock().clear();
        }
    }

    /// The in-flight append of `hash` tagged `tag`, if it is still there.
    pub(crate) fn get(&self, hash: u64, tag: u32) -> Option<Arc<Record>> {
        self.shard(hash)
            .lock()
            .get(&hash)
            .filter(|p| p.rec.version as u32 == tag)
            .map(|p| Arc::clone(&p.rec))
    }
}

/// The sharded index.
pub(crate) struct ColdIndex {
    shards: Box<[CachePadded<RwLock<Map>>]>,
    mask: usize,
}

impl ColdIndex {
    pub(crate) fn new(shards: usize) -> Self {
        let n = shards.max(1).next_power_of_two();
        ColdIndex {
            shards: (0..n)
                .map(|_| CachePadded::new(RwLock::new(Map::default())))
                .collect(),
            mask: n - 1,
        }
    }

    /// The shard of `hash`: bits the map itself does not use for buckets.
    pub(crate) fn shard(&self, hash: u64) -> &RwLock<Map> {
        &self.shards[(hash >> 40) as usize & self.mask]
    }

    pub(crate) fn get(&self, hash: u64) -> Option<Loc> {
        self.shard(hash).read().get(&hash).copied()
    }

    /// Fills the (empty) index with `entries`, sizing each shard once;
    /// returns how many.
    pub(crate) fn load(&self, entries: impl Iterator<Item = (u64, Loc)>) -> u64 {
        let mut parts: Vec<Vec<(u64, Loc)>> = vec![Vec::new(); self.shards.len()];
        for (h, loc) in entries {
            parts[(h >> 40) as usize & self.mask].push((h, loc));
        }
        let mut n = 0;
        for (shard, part) in self.shards.iter().zip(parts) {
            let mut map = shard.write();
            map.reserve(part.len());
            n += part.len() as u64;
            map.extend(part);
        }
        n
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Calls `f` on every entry, one shard read-locked at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, Loc)) {
        for shard in self.shards.iter() {
            for (&h, &loc) in shard.read().iter() {
                f(h, loc);
            }
        }
    }

    /// Removes every entry; returns what they held.
    pub(crate) fn drain(&self) -> Vec<Loc> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            out.extend(shard.write().drain().map(|(_, l)| l));
        }
        out
    }

    /// Bytes of table memory the shards hold (buckets of key + entry, plus
    /// one control byte each).
    pub(crate) fn table_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().capacity() * (std::mem::size_of::<(u64, Loc)>() + 1))
            .sum()
    }
}
