//! Successor prediction over key hashes: a first-order Markov model of the
//! request stream. For every key it keeps the few keys that most often came
//! right after it, with counts; `propose` offers the confident successors of
//! the most recent requests that were not themselves just requested.
//!
//! State is bounded: at most `capacity` keys keep successor lists (the
//! least recently updated list goes first) and each list holds
//! `successors` entries (the weakest is replaced, its count inherited minus
//! one, so a new successor must prove itself — a space-saving count).
//!
//! Parameters: `successors` (4), `min-count` (2), `min-share` (0.3),
//! `lookback` (4, recent requests whose successors are considered).

use std::collections::{HashMap, VecDeque};

use goldylox_policy_sdk::{Build, Params, PrefetchPolicy, param};

#[derive(Debug, Default)]
struct Successors {
    next: Vec<(u64, u32)>,
    total: u32,
    /// When this list was last updated (for bounding the table).
    stamp: u64,
}

/// The successor predictor.
#[derive(Debug)]
pub struct Markov {
    table: HashMap<u64, Successors>,
    /// (stamp, key) in update order; stale pairs are skipped lazily.
    order: VecDeque<(u64, u64)>,
    capacity: usize,
    successors: usize,
    min_count: u32,
    min_share: f64,
    lookback: usize,
    recent: VecDeque<u64>,
    previous: Option<u64>,
    clock: u64,
}

impl Markov {
    fn learn(&mut self, from: u64, to: u64) {
        self.clock += 1;
        let entry = self.table.entry(from).or_default();
        entry.total = entry.total.saturating_add(1);
        entry.stamp = self.clock;
        if let Some(i) = entry.next.iter().position(|(h, _)| *h == to) {
            entry.next[i].1 = entry.next[i].1.saturating_add(1);
        } else if entry.next.len() < self.successors {
            entry.next.push((to, 1));
        } else if let Some(weakest) = entry.next.iter_mut().min_by_key(|(_, c)| *c) {
            // Replace the weakest; the newcomer inherits its count.
            *weakest = (to, weakest.1.max(1));
        }
        self.order.push_back((self.clock, from));
        while self.table.len() > self.capacity {
            let Some((stamp, key)) = self.order.pop_front() else {
                break;
            };
            if self.table.get(&key).is_some_and(|s| s.stamp == stamp) {
                self.table.remove(&key);
            }
        }
        // Keep the order queue from growing without bound with stale pairs.
        if self.order.len() > 4 * self.capacity.max(16) {
            let table = &self.table;
            self.order
                .retain(|&(stamp, key)| table.get(&key).is_some_and(|s| s.stamp == stamp));
        }
    }
}

impl Build for Markov {
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        let successors: usize = param(params, "successors", 4)?;
        let min_count: u32 = param(params, "min-count", 2)?;
        let min_share: f64 = param(params, "min-share", 0.3)?;
        let lookback: usize = param(params, "lookback", 4)?;
        if successors == 0 || lookback == 0 || !(0.0..=1.0).contains(&min_share) {
            return Err("successors and lookback must be positive, min-share in [0, 1]".into());
        }
        Ok(Markov {
            table: HashMap::new(),
            order: VecDeque::new(),
            capacity: usize::try_from(capacity.max(1)).unwrap_or(usize::MAX),
            successors,
            min_count,
            min_share,
            lookback,
            recent: VecDeque::new(),
            previous: None,
            clock: 0,
        })
    }
}

impl PrefetchPolicy for Markov {
    fn observe(&mut self, hashes: &[u64], _hits: &[u8]) {
        for &h in hashes {
            if let Some(prev) = self.previous
                && prev != h
            {
                self.learn(prev, h);
            }
            self.previous = Some(h);
            self.recent.push_back(h);
            if self.recent.len() > self.lookback {
                self.recent.pop_front();
            }
        }
    }

    fn propose(&mut self, max: u32) -> Vec<u64> {
        let mut candidates: Vec<(f64, u64)> = Vec::new();
        for (age, key) in self.recent.iter().rev().enumerate() {
            let Some(s) = self.table.get(key) else {
                continue;
            };
            for &(next, count) in &s.next {
                let share = f64::from(count) / f64::from(s.total.max(1));
                if count >= self.min_count
                    && share >= self.min_share
                    && !self.recent.contains(&next)
                {
                    // Nearer requests weigh more.
                    candidates.push((share / (age + 1) as f64, next));
                }
            }
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut out: Vec<u64> = Vec::new();
        for (_, h) in candidates {
            if out.len() >= max as usize {
                break;
            }
            if !out.contains(&h) {
                out.push(h);
            }
        }
        out
    }
}

goldylox_policy_sdk::export_prefetch_policy!(Markov);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicts_a_repeating_sequence_and_stays_bounded() {
        let mut m = Markov::build(64, &[]).unwrap();
        // A scan that repeats: 1 2 3 ... 20, three times.
        let seq: Vec<u64> = (0..3).flat_map(|_| 1..=20u64).collect();
        m.observe(&seq, &vec![0; seq.len()]);
        m.observe(&[5], &[0]);
        assert_eq!(m.propose(1), vec![6], "after 5 comes 6");
        // 20 is still within the look-back, and after 20 came 1.
        assert_eq!(m.propose(2), vec![6, 1]);
        // Noise never reaches the bound on shares: nothing confident.
        let mut noise = Markov::build(64, &[]).unwrap();
        let mut x = 1u64;
        let keys: Vec<u64> = (0..5_000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                (x >> 33) % 1_000
            })
            .collect();
        noise.observe(&keys, &vec![0; keys.len()]);
        assert!(noise.table.len() <= 64, "the table is bounded");
        assert!(noise.propose(8).len() <= 8);
    }

    #[test]
    fn refuses_bad_parameters() {
        assert!(Markov::build(10, &[("successors".into(), "0".into())]).is_err());
        assert!(Markov::build(10, &[("min-share".into(), "2".into())]).is_err());
    }
}
