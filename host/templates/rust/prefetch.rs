//! {{name}}: a prefetch policy for goldylox.
//!
//! It starts as a first-order successor predictor: it remembers, for each
//! requested hash, the hash requested right after it, and after a miss
//! proposes the successor of the hash that missed (and that successor's
//! successor, up to `depth`). Change it into your own predictor.
//!
//! Build: `goldylox policy build`. Test: `cargo test`.

use std::collections::HashMap;

use goldylox_policy_sdk::{Build, Params, PrefetchPolicy, param};

/// The predictor's state.
pub struct Policy {
    next: HashMap<u64, u64>,
    capacity: usize,
    depth: u32,
    last: Option<u64>,
    wanted: Vec<u64>,
}

impl Build for Policy {
    /// `capacity` bounds the entries remembered; `depth` (parameter, default
    /// 1) is how far to follow the chain of successors.
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        let depth: u32 = param(params, "depth", 1)?;
        if depth == 0 {
            return Err("depth must be at least 1".into());
        }
        Ok(Policy {
            next: HashMap::new(),
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX).max(1),
            depth,
            last: None,
            wanted: Vec::new(),
        })
    }
}

impl PrefetchPolicy for Policy {
    fn observe(&mut self, hashes: &[u64], hits: &[u8]) {
        for (&hash, &hit) in hashes.iter().zip(hits) {
            if let Some(last) = self.last {
                if self.next.len() < self.capacity || self.next.contains_key(&last) {
                    self.next.insert(last, hash);
                }
            }
            self.last = Some(hash);
            if hit == 0 {
                let mut at = hash;
                for _ in 0..self.depth {
                    match self.next.get(&at) {
                        Some(&n) if n != hash => {
                            self.wanted.push(n);
                            at = n;
                        }
                        _ => break,
                    }
                }
            }
        }
    }

    fn propose(&mut self, max: u32) -> Vec<u64> {
        let take = self.wanted.len().min(max as usize);
        let out = self.wanted.drain(..take).collect();
        self.wanted.clear();
        out
    }
}

goldylox_policy_sdk::export_prefetch_policy!(Policy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_miss_proposes_what_followed_it_last_time() {
        let mut p = Policy::build(100, &[]).unwrap();
        p.observe(&[1, 2, 3], &[1, 1, 1]);
        p.observe(&[1], &[0]);
        assert_eq!(p.propose(8), vec![2]);
        assert!(p.propose(8).is_empty());
    }
}
