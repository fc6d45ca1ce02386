//! The bounds a policy is measured against: Belady's OPT and the infinite
//! cache.

use std::collections::{BinaryHeap, HashMap, HashSet};

use super::sim::{Outcome, Requests};
use crate::trace::TraceOp;

/// Hits with an unbounded cache: every request after a key's first.
pub fn infinite_hits(trace: &[u64]) -> u64 {
    let distinct: HashSet<u64> = trace.iter().copied().collect();
    (trace.len() - distinct.len()) as u64
}

/// The infinite cache's outcome (hit bytes counted from the sizes): every
/// get of a key stored before (by a set, or by a missed get where misses
/// fill) and not deleted since hits.
pub fn infinite(requests: Requests<'_>) -> Outcome {
    let mut seen = HashSet::new();
    let mut outcome = Outcome::default();
    for (i, &k) in requests.keys.iter().enumerate() {
        match requests.op(i) {
            TraceOp::Get => {
                if seen.contains(&k) {
                    outcome.hits += 1;
                    outcome.hit_bytes += requests.bytes(i);
                } else if requests.fills_on_miss() {
                    seen.insert(k);
                }
            }
            TraceOp::Set => {
                seen.insert(k);
            }
            TraceOp::Delete => {
                seen.remove(&k);
            }
        }
    }
    outcome
}

/// `next[i]`: the index of the next get of `keys[i]` that the copy held
/// after record `i` can serve, or `usize::MAX` — none, or a set or delete
/// of the key comes first (it replaces or removes that copy).
fn next_uses(requests: &Requests<'_>) -> Vec<usize> {
    let keys = requests.keys;
    let mut next = vec![usize::MAX; keys.len()];
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, &k) in keys.iter().enumerate().rev() {
        if let Some(&j) = last.get(&k) {
            next[i] = j;
        }
        let useful = requests.op(i) == TraceOp::Get;
        last.insert(k, if useful { i } else { usize::MAX });
    }
    next
}

/// Belady's OPT with unit sizes: on a miss with a full cache, evict the
/// resident key whose next request is farthest away (never = infinity).
///
/// ```
/// use goldylox_host::replay::{Contender, hits, infinite_hits, opt_hits};
///
/// // A loop of three keys in a cache of two: LRU always misses, OPT keeps
/// // one key and hits every other round.
/// let trace = [1, 2, 3, 1, 2, 3, 1, 2, 3];
/// assert_eq!(hits(&Contender::parse("builtin:lru").unwrap(), &trace, 2).unwrap(), 0);
/// assert_eq!(opt_hits(&trace, 2), 3);
/// assert_eq!(infinite_hits(&trace), 6);
/// ```
pub fn opt_hits(trace: &[u64], size: u64) -> u64 {
    opt(Requests::unit(trace), size).hits
}

/// Belady's OPT over `requests` with room for `capacity` weight units.
/// In a capture, sets store their object (uncounted), deletes remove it,
/// and a missed get stores nothing.
///
/// With unit weights it is the optimum: on a miss with a full cache, the
/// resident key whose next request is farthest away leaves. With sizes
/// (byte capacities) exact OPT is NP-hard; this is the usual Belady-size
/// bound libCacheSim reports as well: the new object is admitted if it
/// fits at all, then objects leave farthest-next-use first (the new one
/// included) until the rest fits.
pub fn opt(requests: Requests<'_>, capacity: u64) -> Outcome {
    let mut outcome = Outcome::default();
    if capacity == 0 {
        return outcome;
    }
    let keys = requests.keys;
    let next = next_uses(&requests);
    let weight = |i: usize| requests.weights.map_or(1, |w| u64::from(w[i]));
    // Resident keys with their next use and weight; stale heap entries are
    // skipped lazily.
    let mut resident: HashMap<u64, (usize, u64)> = HashMap::new();
    let mut heap: BinaryHeap<(usize, u64)> = BinaryHeap::new();
    let mut used = 0u64;
    for (i, &k) in keys.iter().enumerate() {
        let op = requests.op(i);
        if op == TraceOp::Delete {
            if let Some((_, w)) = resident.remove(&k) {
                used -= w;
            }
            continue;
        }
        if op == TraceOp::Set
            && let Some((_, w)) = resident.remove(&k)
        {
            used -= w; // stored again below, with its new size
        } else if let Some(entry) = resident.get_mut(&k) {
            outcome.hits += 1;
            outcome.hit_bytes += requests.bytes(i);
            entry.0 = next[i];
            heap.push((next[i], k));
            continue;
        }
        if op == TraceOp::Get && !requests.fills_on_miss() {
            continue; // the miss stores nothing; its set, if any, will
        }
        let w = weight(i);
        if w > capacity {
            continue;
        }
        if requests.weights.is_none() && op == TraceOp::Get && used + w > capacity {
            // Unit sizes: make room among the residents first (the classic
            // formulation; a missed key is always cached). A set is stored
            // like a sized object: the farthest next use leaves, which may
            // be the set's own copy.
            evict_farthest(&mut heap, &mut resident, &mut used);
        }
        resident.insert(k, (next[i], w));
        heap.push((next[i], k));
        used += w;
        while used > capacity {
            evict_farthest(&mut heap, &mut resident, &mut used);
        }
    }
    outcome
}

fn evict_farthest(
    heap: &mut BinaryHeap<(usize, u64)>,
    resident: &mut HashMap<u64, (usize, u64)>,
    used: &mut u64,
) {
    while let Some((when, victim)) = heap.pop() {
        if resident.get(&victim).is_some_and(|&(n, _)| n == when) {
            let (_, w) = resident.remove(&victim).expect("checked");
            *used -= w;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{Contender, Progress, measure};

    /// `a` set, read twice, deleted, read (a miss that stores nothing),
    /// read again (still a miss); `b` read, never stored.
    const KEYS: [u64; 7] = [1, 1, 1, 1, 1, 1, 2];
    const OPS: [TraceOp; 7] = [
        TraceOp::Set,
        TraceOp::Get,
        TraceOp::Get,
        TraceOp::Delete,
        TraceOp::Get,
        TraceOp::Get,
        TraceOp::Get,
    ];

    fn requests() -> Requests<'static> {
        Requests {
            keys: &KEYS,
            weights: None,
            sizes: None,
            ops: Some(&OPS),
        }
    }

    #[test]
    fn sets_store_deletes_remove_and_misses_store_nothing() {
        assert_eq!(infinite(requests()).hits, 2);
        assert_eq!(opt(requests(), 10).hits, 2);
        let lru = Contender::parse("builtin:lru").unwrap();
        let got = measure(&lru, requests(), 10, &Progress::silent()).unwrap();
        assert_eq!(got.hits, 2);
        // Without operations every record is a get that fills on a miss.
        let plain = Requests::unit(&KEYS);
        assert_eq!(infinite(plain).hits, 5);
        assert_eq!(opt(plain, 10).hits, 5);
    }

    #[test]
    fn opt_keeps_no_copy_a_set_or_delete_will_replace() {
        // Room for one: 1 is set and read at once; 2 is set, then 1 is
        // set again (its old copy is worth nothing), then 2 is read.
        let keys = [1, 1, 2, 1, 2];
        let ops = [
            TraceOp::Set,
            TraceOp::Get,
            TraceOp::Set,
            TraceOp::Set,
            TraceOp::Get,
        ];
        let r = Requests {
            keys: &keys,
            weights: None,
            sizes: None,
            ops: Some(&ops),
        };
        // OPT keeps 2 when 1 is set again (1 has no later get): 2 hits.
        assert_eq!(opt(r, 1).hits, 2);
    }
}
