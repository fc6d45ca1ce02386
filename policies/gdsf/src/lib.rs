//! Frequency with dynamic aging: LFU-DA (Arlitt et al., 2000) and GDSF
//! (Cherkasova, 1998) with unit cost.
//!
//! Every resident entry has a priority `K = L + F` (LFU-DA) or
//! `K = L + F / S` (GDSF), where `F` counts its accesses (1 on insert, +1 per
//! hit or update), `S` is its weight, and `L`, the cache's age, is the
//! priority of the last entry evicted. The entry with the lowest priority
//! leaves; among equal priorities, the one whose priority was set first.
//! Ageing lets once-popular entries go; GDSF also prefers to keep small
//! objects, which raises the request hit ratio with byte capacities.
//!
//! These are the Rust twins of `policies/lfuda-py` (Python) and
//! `policies/gdsf-js` (JavaScript): the host's tests replay all three and
//! check that each decides exactly like its twin. Priorities are IEEE
//! doubles computed in the same order in every language, so the twins agree
//! bit for bit.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use goldylox_policy_sdk::{Build, EvictionPolicy, Handler, Params, Pending, answer, drive};

/// Heap entries beyond twice the resident count (plus this slack) trigger a
/// rebuild of the heap from the live entries.
const HEAP_SLACK: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Entry {
    priority: f64,
    seq: u64,
    freq: u64,
    weight: u32,
}

/// The shared machinery; `SIZE_AWARE` picks GDSF's `F / S` over LFU-DA's `F`.
#[derive(Debug)]
pub struct Aged<const SIZE_AWARE: bool> {
    entries: HashMap<u64, Entry>,
    /// (priority bits, sequence, hash), lowest first; stale entries (whose
    /// sequence is no longer the entry's) are skipped. Priorities are
    /// non-negative, so their bit patterns order like the numbers.
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    age: f64,
    used: u64,
    capacity: u64,
    next_seq: u64,
    pending: Pending,
}

/// LFU with dynamic aging.
pub type Lfuda = Aged<false>;
/// Greedy-dual size frequency (unit cost).
pub type Gdsf = Aged<true>;

impl<const SIZE_AWARE: bool> Build for Aged<SIZE_AWARE> {
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        if let Some((k, _)) = params.first() {
            return Err(format!("unknown parameter {k:?} (this policy takes none)"));
        }
        Ok(Aged {
            entries: HashMap::new(),
            heap: BinaryHeap::new(),
            age: 0.0,
            used: 0,
            capacity,
            next_seq: 0,
            pending: Pending::default(),
        })
    }
}

impl<const SIZE_AWARE: bool> Aged<SIZE_AWARE> {
    /// Whether `hash` is resident.
    pub fn contains(&self, hash: u64) -> bool {
        self.entries.contains_key(&hash)
    }

    fn priority(&self, freq: u64, weight: u32) -> f64 {
        if SIZE_AWARE {
            self.age + freq as f64 / f64::from(weight.max(1))
        } else {
            self.age + freq as f64
        }
    }

    /// Gives `hash` (resident) a fresh priority and queues it.
    fn enqueue(&mut self, hash: u64, freq: u64, weight: u32) {
        self.next_seq += 1;
        let entry = Entry {
            priority: self.priority(freq, weight),
            seq: self.next_seq,
            freq,
            weight,
        };
        self.entries.insert(hash, entry);
        self.heap
            .push(Reverse((entry.priority.to_bits(), entry.seq, hash)));
        if self.heap.len() > 2 * self.entries.len() + HEAP_SLACK {
            self.heap = self
                .entries
                .iter()
                .map(|(&h, e)| Reverse((e.priority.to_bits(), e.seq, h)))
                .collect();
        }
    }

    fn fit(&mut self, incoming: u64) {
        while self.used + incoming > self.capacity {
            let Some((hash, weight)) = Handler::evict_one(self) else {
                break;
            };
            self.pending.push(hash, weight);
        }
    }
}

impl<const SIZE_AWARE: bool> Handler for Aged<SIZE_AWARE> {
    fn hit(&mut self, hash: u64) {
        if let Some(e) = self.entries.get(&hash).copied() {
            self.enqueue(hash, e.freq + 1, e.weight);
        }
    }

    fn write(&mut self, hash: u64, weight: u32) {
        if let Some(e) = self.entries.get(&hash).copied() {
            self.used = self.used - u64::from(e.weight) + u64::from(weight);
            self.enqueue(hash, e.freq + 1, weight);
            self.fit(0);
        } else if u64::from(weight) > self.capacity {
            self.pending.push(hash, weight);
        } else {
            self.fit(u64::from(weight));
            self.used += u64::from(weight);
            self.enqueue(hash, 1, weight);
        }
    }

    fn remove(&mut self, hash: u64) {
        if let Some(e) = self.entries.remove(&hash) {
            self.used -= u64::from(e.weight);
        }
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        while let Some(Reverse((_, seq, hash))) = self.heap.pop() {
            let Some(e) = self.entries.get(&hash).copied() else {
                continue;
            };
            if e.seq != seq {
                continue;
            }
            self.entries.remove(&hash);
            self.used -= u64::from(e.weight);
            self.age = e.priority;
            return Some((hash, e.weight));
        }
        None
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

impl<const SIZE_AWARE: bool> EvictionPolicy for Aged<SIZE_AWARE> {
    fn name(&self) -> &'static str {
        if SIZE_AWARE { "gdsf" } else { "lfuda" }
    }

    fn apply(&mut self, kinds: &[u8], hashes: &[u64], weights: &[u32]) {
        drive(self, kinds, hashes, weights);
    }

    fn evict(&mut self, max: u32, need: u64) -> Vec<u64> {
        answer(self, max, need)
    }
}

goldylox_policy_sdk::export_eviction_policy!(Gdsf);

#[cfg(test)]
mod tests {
    use super::*;
    use goldylox_policy_sdk::kind::{HIT, INSERT};

    #[test]
    fn the_least_frequent_leaves_and_ages_the_cache() {
        let mut p = Lfuda::build(2, &[]).unwrap();
        p.apply(&[INSERT, INSERT, HIT, INSERT], &[1, 2, 1, 3], &[1, 1, 0, 1]);
        assert_eq!(p.evict(8, 0), vec![2]);
        // 2 left with priority 1, so the cache's age is 1: 3 entered at 2.
        assert_eq!(p.age, 1.0);
        assert!(p.contains(1) && p.contains(3));
    }

    #[test]
    fn gdsf_prefers_to_keep_small_objects() {
        let mut p = Gdsf::build(100, &[]).unwrap();
        p.apply(&[INSERT, INSERT, INSERT], &[1, 2, 3], &[60, 10, 40]);
        // 1 (60 bytes, priority 1/60) leaves before 2 (1/10).
        assert_eq!(p.evict(8, 0), vec![1]);
    }

    #[test]
    fn parameters_are_refused() {
        assert!(Gdsf::build(1, &[("x".into(), "1".into())]).is_err());
    }
}
