//! ARC (Megiddo & Modha, FAST '03): two LRU lists, T1 (seen once recently)
//! and T2 (seen at least twice), with ghost lists B1 and B2 remembering what
//! each dropped; a hit in a ghost list moves the target size `p` of T1
//! towards the list that would have kept the key.
//!
//! The details the paper leaves open follow libCacheSim (the reference the
//! tests compare against): `p` is a real number, adapted by
//! `max(|B2|/|B1|, 1)` on a B1 hit and `max(|B1|/|B2|, 1)` on a B2 hit; a
//! ghost hit makes room with REPLACE only if the cache is full; on a plain
//! miss with `|T1| + |B1|` full, B1's oldest ghost goes if B1 is not empty,
//! otherwise T1's oldest entry leaves without a ghost; REPLACE takes from T1
//! when T2 is empty.

use goldylox_policy_sdk::{Build, Handler, Lists, Params, Pending};

const T1: usize = 0;
const T2: usize = 1;
const B1: usize = 2;
const B2: usize = 3;

/// ARC over weights.
#[derive(Debug)]
pub struct Arc {
    lists: Lists<4>,
    capacity: u64,
    p: f64,
    pending: Pending,
}

impl Arc {
    /// Whether `hash` is resident (in T1 or T2).
    pub fn contains(&self, hash: u64) -> bool {
        self.lists
            .find(hash)
            .is_some_and(|id| self.lists.list_of(id) <= T2)
    }

    /// The node of a resident (T1 or T2) `hash`.
    fn resident(&self, hash: u64) -> Option<goldylox_policy_sdk::NodeId> {
        self.lists
            .find(hash)
            .filter(|&id| self.lists.list_of(id) <= T2)
    }

    fn size(&self, l: usize) -> u64 {
        self.lists.weight_of(l)
    }

    /// REPLACE: demote T1's or T2's oldest entry to its ghost list.
    fn replace(&mut self, in_b2: bool) -> Option<(u64, u32)> {
        let t1 = self.size(T1) as f64;
        let from_t1 = (t1 > 0.0 && (t1 > self.p || (t1 == self.p && in_b2))) || self.size(T2) == 0;
        let (data, ghost) = if from_t1 { (T1, B1) } else { (T2, B2) };
        let tail = self.lists.tail(data)?;
        let victim = (self.lists.hash(tail), self.lists.weight(tail));
        self.lists.move_to_front(tail, ghost);
        Some(victim)
    }

    /// One eviction on a miss that hit no ghost list (the paper's case IV).
    fn evict_miss(&mut self, w: u64) -> Option<(u64, u32)> {
        if self.size(T1) + self.size(B1) + w > self.capacity {
            match self.lists.tail(B1) {
                Some(old) => {
                    self.lists.remove(old);
                    self.replace(false)
                }
                None => {
                    let tail = self.lists.tail(T1)?;
                    Some(self.lists.remove(tail))
                }
            }
        } else {
            let total = self.size(T1) + self.size(B1) + self.size(T2) + self.size(B2);
            if total >= 2 * self.capacity
                && let Some(old) = self.lists.tail(B2)
            {
                self.lists.remove(old);
            }
            self.replace(false)
        }
    }

    fn miss(&mut self, hash: u64, weight: u32) {
        let w = u64::from(weight);
        let ghost = self.lists.find(hash).map(|id| (id, self.lists.list_of(id)));
        let (in_b1, in_b2) = (
            matches!(ghost, Some((_, B1))),
            matches!(ghost, Some((_, B2))),
        );
        if let Some((id, _)) = ghost {
            let (b1, b2) = (self.size(B1) as f64, self.size(B2) as f64);
            if in_b1 {
                self.p = (self.p + (b2 / b1).max(1.0)).min(self.capacity as f64);
            } else {
                self.p = (self.p - (b1 / b2).max(1.0)).max(0.0);
            }
            self.lists.remove(id);
        }
        if w > self.capacity {
            self.pending.push(hash, weight);
            return;
        }
        while self.size(T1) + self.size(T2) + w > self.capacity {
            let victim = if in_b1 || in_b2 {
                self.replace(in_b2)
            } else {
                self.evict_miss(w)
            };
            let Some((h, vw)) = victim else { break };
            self.pending.push(h, vw);
        }
        let list = if in_b1 || in_b2 { T2 } else { T1 };
        self.lists.push_front(list, hash, weight);
    }

    fn fit(&mut self) {
        while self.size(T1) + self.size(T2) > self.capacity {
            let Some((h, w)) = self.evict_miss(0) else {
                break;
            };
            self.pending.push(h, w);
        }
    }
}

impl Build for Arc {
    fn build(capacity: u64, _params: &Params) -> Result<Self, String> {
        Ok(Arc {
            lists: Lists::default(),
            capacity,
            p: 0.0,
            pending: Pending::default(),
        })
    }
}

impl Handler for Arc {
    fn hit(&mut self, hash: u64) {
        if let Some(id) = self.resident(hash) {
            self.lists.move_to_front(id, T2);
        }
    }

    fn write(&mut self, hash: u64, weight: u32) {
        match self.resident(hash) {
            Some(id) => {
                self.lists.move_to_front(id, T2);
                self.lists.set_weight(id, weight);
                self.fit();
            }
            None => self.miss(hash, weight),
        }
    }

    fn remove(&mut self, hash: u64) {
        if let Some(id) = self.lists.find(hash) {
            self.lists.remove(id);
        }
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        self.evict_miss(0)
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

goldylox_policy_sdk::eviction_policy_of_handler!(Arc, "arc");

goldylox_policy_sdk::export_eviction_policy!(Arc);
