//! The machinery LRU and SIEVE share: a hash → node index, an intrusive doubly
//! linked list in a slab (u32 links, 20-byte nodes, no per-node allocation),
//! weight accounting, and the queue of victims chosen while applying inserts.
//!
//! The index is a `hashbrown::HashTable<u32>` of node numbers (the hash lives
//! in the node), so a bucket costs 5 bytes rather than a (u64, u32) pair's 17.
//!
//! A [`Discipline`] supplies what differs: what a hit does to a node and which
//! node leaves next.

use std::collections::VecDeque;
use std::hash::{BuildHasherDefault, Hasher};

use super::{EventBatch, EventKind, EvictionPolicy, PolicyError};

/// "No node".
pub(crate) const NIL: u32 = u32::MAX;

/// One tracked hash. `prev` points towards the head (newer), `next` towards
/// the tail (older). The hash is split in two halves so the node packs into
/// 20 bytes with 4-byte alignment.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    hash_lo: u32,
    hash_hi: u32,
    pub(crate) weight: u32,
    pub(crate) prev: u32,
    pub(crate) next: u32,
}

impl Node {
    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        u64::from(self.hash_lo) | (u64::from(self.hash_hi) << 32)
    }
}

/// A doubly linked list whose nodes live in one `Vec`, recycled through a free
/// list threaded on `next`.
#[derive(Debug, Default)]
pub(crate) struct List {
    nodes: Vec<Node>,
    /// One bit per node: SIEVE's visited bit (unused by LRU).
    visited: Vec<u64>,
    free: u32,
    pub(crate) head: u32,
    pub(crate) tail: u32,
}

impl List {
    fn new() -> Self {
        List {
            nodes: Vec::new(),
            visited: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
        }
    }

    pub(crate) fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    pub(crate) fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    pub(crate) fn visited(&self, i: u32) -> bool {
        self.visited[i as usize / 64] & (1 << (i % 64)) != 0
    }

    pub(crate) fn set_visited(&mut self, i: u32, on: bool) {
        let word = &mut self.visited[i as usize / 64];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    fn push_front(&mut self, hash: u64, weight: u32) -> u32 {
        let node = Node {
            hash_lo: hash as u32,
            hash_hi: (hash >> 32) as u32,
            weight,
            prev: NIL,
            next: self.head,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        } else {
            let i = u32::try_from(self.nodes.len()).expect("more than 2^32 - 1 tracked entries");
            self.nodes.push(node);
            if self.visited.len() * 64 < self.nodes.len() {
                self.visited.push(0);
            }
            i
        };
        self.set_visited(i, false);
        if self.head != NIL {
            self.nodes[self.head as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
        i
    }

    fn detach(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
    }

    /// Unlinks node `i` and recycles its slot.
    fn remove(&mut self, i: u32) {
        self.detach(i);
        let n = &mut self.nodes[i as usize];
        n.prev = NIL;
        n.next = self.free;
        self.free = i;
    }

    /// Moves node `i` to the head (most recent).
    pub(crate) fn move_to_front(&mut self, i: u32) {
        if self.head == i {
            return;
        }
        self.detach(i);
        let n = &mut self.nodes[i as usize];
        n.prev = NIL;
        n.next = self.head;
        if self.head != NIL {
            self.nodes[self.head as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }
}

/// What distinguishes one list-based policy from another.
pub(crate) trait Discipline: Send + Default {
    /// The policy's name.
    const NAME: &'static str;
    /// A hit (or an update, which is an access) on node `i`.
    fn on_hit(&mut self, list: &mut List, i: u32);
    /// Node `i` is about to leave the list (removed or evicted).
    fn on_remove(&mut self, list: &List, i: u32);
    /// The node to evict next; the list is not empty.
    fn pick_victim(&mut self, list: &mut List) -> u32;
}

/// A hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A set of key hashes.
pub(crate) type HashSet64 = hashbrown::HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// A map from key hashes.
pub(crate) type HashMap64<V> = hashbrown::HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// A list-based policy with weight accounting; see the module docs.
pub(crate) struct ListPolicy<D: Discipline> {
    index: hashbrown::HashTable<u32>,
    list: List,
    used: u64,
    capacity: u64,
    /// Victims chosen while applying writes, returned by the next `evict`.
    pending: VecDeque<(u64, u32)>,
    /// The hashes in `pending`, so that a victim written again or removed
    /// before the host evicted it is taken back (a rewritten one is tracked
    /// again; a removed one is gone, and naming it would only be ignored).
    pending_set: HashSet64,
    discipline: D,
}

impl<D: Discipline> ListPolicy<D> {
    pub(crate) fn new(capacity: u64) -> Self {
        ListPolicy {
            index: hashbrown::HashTable::new(),
            list: List::new(),
            used: 0,
            capacity,
            pending: VecDeque::new(),
            pending_set: HashSet64::default(),
            discipline: D::default(),
        }
    }

    /// Number of tracked hashes.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The node tracking `hash`.
    #[inline]
    fn find(&self, hash: u64) -> Option<u32> {
        let list = &self.list;
        self.index
            .find(hash, |&i| list.node(i).hash() == hash)
            .copied()
    }

    /// Stops tracking `hash` in the index (the node stays linked).
    fn unindex(&mut self, hash: u64) -> Option<u32> {
        let list = &self.list;
        let entry = self
            .index
            .find_entry(hash, |&i| list.node(i).hash() == hash)
            .ok()?;
        Some(entry.remove().0)
    }

    /// Whether `hash` is tracked.
    pub(crate) fn contains(&self, hash: u64) -> bool {
        self.find(hash).is_some()
    }

    fn hit(&mut self, hash: u64) {
        if let Some(i) = self.find(hash) {
            self.discipline.on_hit(&mut self.list, i);
        }
    }

    fn queue_victim(&mut self, victim: (u64, u32)) {
        self.pending_set.insert(victim.0);
        self.pending.push_back(victim);
    }

    /// Takes back a queued victim that was written again or removed.
    fn cancel_victim(&mut self, hash: u64) {
        if self.pending_set.remove(&hash) {
            self.pending.retain(|&(h, _)| h != hash);
        }
    }

    fn insert(&mut self, hash: u64, weight: u32) {
        if self.find(hash).is_some() {
            return self.update(hash, weight);
        }
        self.cancel_victim(hash);
        let w = u64::from(weight);
        if w > self.capacity {
            self.queue_victim((hash, weight));
            return;
        }
        while self.used + w > self.capacity {
            let Some(victim) = self.evict_one() else {
                break;
            };
            self.queue_victim(victim);
        }
        let i = self.list.push_front(hash, weight);
        let list = &self.list;
        self.index.insert_unique(hash, i, |&j| list.node(j).hash());
        self.used += w;
    }

    fn update(&mut self, hash: u64, weight: u32) {
        let Some(i) = self.find(hash) else {
            return self.insert(hash, weight);
        };
        let node = self.list.node_mut(i);
        self.used = self.used - u64::from(node.weight) + u64::from(weight);
        node.weight = weight;
        self.discipline.on_hit(&mut self.list, i);
        while self.used > self.capacity {
            let Some(victim) = self.evict_one() else {
                break;
            };
            self.queue_victim(victim);
        }
    }

    fn remove(&mut self, hash: u64) {
        if let Some(i) = self.unindex(hash) {
            self.unlink(i);
        } else {
            // The host removed it before taking it as a victim.
            self.cancel_victim(hash);
        }
    }

    fn unlink(&mut self, i: u32) -> (u64, u32) {
        self.discipline.on_remove(&self.list, i);
        let (hash, weight) = {
            let n = self.list.node(i);
            (n.hash(), n.weight)
        };
        self.used -= u64::from(weight);
        self.list.remove(i);
        (hash, weight)
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        if self.list.tail == NIL {
            return None;
        }
        let i = self.discipline.pick_victim(&mut self.list);
        let hash = self.list.node(i).hash();
        self.unindex(hash);
        Some(self.unlink(i))
    }
}

impl<D: Discipline> EvictionPolicy for ListPolicy<D> {
    fn name(&self) -> &str {
        D::NAME
    }

    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        for (kind, hash, weight) in batch.iter() {
            match kind {
                EventKind::Hit => self.hit(hash),
                EventKind::Insert => self.insert(hash, weight),
                EventKind::Update => self.update(hash, weight),
                EventKind::Remove => self.remove(hash),
            }
        }
        Ok(())
    }

    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        let mut freed = 0u64;
        let mut n = 0u32;
        while n < max {
            let Some((hash, weight)) = self.pending.pop_front() else {
                break;
            };
            self.pending_set.remove(&hash);
            out.push(hash);
            freed += u64::from(weight);
            n += 1;
        }
        while n < max && freed < need {
            let Some((hash, weight)) = self.evict_one() else {
                break;
            };
            out.push(hash);
            freed += u64::from(weight);
            n += 1;
        }
        Ok(())
    }
}

/// Declares a public policy type wrapping `ListPolicy<$discipline>`.
macro_rules! list_policy {
    ($(#[$doc:meta])* $name:ident, $discipline:ty) => {
        $(#[$doc])*
        pub struct $name(crate::policy::list::ListPolicy<$discipline>);

        impl $name {
            /// An empty policy holding at most `capacity` weight.
            ///
            #[doc = concat!("```\nlet p = goldylox::", stringify!($name), "::new(1 << 20);\nassert!(p.is_empty());\n```")]
            pub fn new(capacity: u64) -> Self {
                $name(crate::policy::list::ListPolicy::new(capacity))
            }

            /// Number of tracked hashes.
            ///
            #[doc = concat!("```\nuse goldylox::{EventBatch, EventKind, EvictionPolicy};\nlet mut p = goldylox::", stringify!($name), "::new(1 << 20);\nlet mut batch = EventBatch::with_capacity(1);\nbatch.push(EventKind::Insert, 7, 100);\np.apply(&batch).unwrap();\nassert_eq!(p.len(), 1);\n```")]
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// True when nothing is tracked.
            ///
            #[doc = concat!("```\nassert!(goldylox::", stringify!($name), "::new(1 << 20).is_empty());\n```")]
            pub fn is_empty(&self) -> bool {
                self.0.len() == 0
            }

            /// Whether `hash` is tracked (resident, in the policy's view).
            ///
            #[doc = concat!("```\nuse goldylox::{EventBatch, EventKind, EvictionPolicy};\nlet mut p = goldylox::", stringify!($name), "::new(1 << 20);\nlet mut batch = EventBatch::with_capacity(1);\nbatch.push(EventKind::Insert, 7, 100);\np.apply(&batch).unwrap();\nassert!(p.contains(7) && !p.contains(8));\n```")]
            pub fn contains(&self, hash: u64) -> bool {
                self.0.contains(hash)
            }
        }

        impl crate::policy::EvictionPolicy for $name {
            fn name(&self) -> &str {
                self.0.name()
            }
            fn apply(&mut self, batch: &crate::policy::EventBatch) -> Result<(), crate::policy::PolicyError> {
                self.0.apply(batch)
            }
            fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), crate::policy::PolicyError> {
                self.0.evict(max, need, out)
            }
        }
    };
}
pub(crate) use list_policy;
