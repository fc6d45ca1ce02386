//! {{name}}: an eviction policy for goldylox.
//!
//! It starts as CLOCK (FIFO with second chances): a hit raises an entry's
//! counter up to `max_freq`; the oldest entry leaves unless its counter is
//! set, in which case the counter drops by one and the entry goes back to
//! the head. Change it into your own algorithm: the SDK's `Handler` trait
//! turns batches into per-event calls and keeps the contract of
//! wit/policy.wit (pending victims, take-backs) for you.
//!
//! Build: `goldylox policy build`. Test: `cargo test`.

use goldylox_policy_sdk::{
    Build, EvictionPolicy, Handler, Lists, NodeId, Params, Pending, answer, drive, param,
};

/// The policy's state. `Lists<1>` is one intrusive list (with a hash index)
/// over the resident entries; it tracks each list's total weight.
pub struct Policy {
    queue: Lists<1>,
    capacity: u64,
    max_freq: u8,
    pending: Pending,
}

impl Build for Policy {
    /// Called once by the host's `init`, with the tier's capacity (in weight
    /// units) and the `key=value` parameters of the configuration. An error
    /// names the bad parameter; the host refuses the policy and shows it.
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        let max_freq: u8 = param(params, "max_freq", 1)?;
        if max_freq == 0 {
            return Err("max_freq must be at least 1".into());
        }
        Ok(Policy {
            queue: Lists::default(),
            capacity,
            max_freq,
            pending: Pending::default(),
        })
    }
}

impl Policy {
    /// Whether `hash` is resident (for tests).
    pub fn contains(&self, hash: u64) -> bool {
        self.queue.find(hash).is_some()
    }

    fn touch(&mut self, id: NodeId) {
        let c = self.queue.counter(id);
        if c < self.max_freq {
            self.queue.set_counter(id, c + 1);
        }
    }

    /// Queues victims until `incoming` more weight fits.
    fn fit(&mut self, incoming: u64) {
        while self.queue.weight_of(0) + incoming > self.capacity {
            let Some((hash, weight)) = Handler::evict_one(self) else {
                break;
            };
            self.pending.push(hash, weight);
        }
    }
}

impl Handler for Policy {
    fn hit(&mut self, hash: u64) {
        if let Some(id) = self.queue.find(hash) {
            self.touch(id);
        }
    }

    fn write(&mut self, hash: u64, weight: u32) {
        match self.queue.find(hash) {
            Some(id) => {
                self.touch(id);
                self.queue.set_weight(id, weight);
                self.fit(0);
            }
            // Heavier than the whole tier: it can only leave again.
            None if u64::from(weight) > self.capacity => self.pending.push(hash, weight),
            None => {
                self.fit(u64::from(weight));
                self.queue.push_front(0, hash, weight);
            }
        }
    }

    fn remove(&mut self, hash: u64) {
        if let Some(id) = self.queue.find(hash) {
            self.queue.remove(id);
        }
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        loop {
            let tail = self.queue.tail(0)?;
            let c = self.queue.counter(tail);
            if c == 0 {
                return Some(self.queue.remove(tail));
            }
            self.queue.set_counter(tail, c - 1);
            self.queue.move_to_front(tail, 0);
        }
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

impl EvictionPolicy for Policy {
    fn name(&self) -> &'static str {
        "{{name}}"
    }

    fn apply(&mut self, kinds: &[u8], hashes: &[u64], weights: &[u32]) {
        drive(self, kinds, hashes, weights);
    }

    fn evict(&mut self, max: u32, need: u64) -> Vec<u64> {
        answer(self, max, need)
    }
}

goldylox_policy_sdk::export_eviction_policy!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use goldylox_policy_sdk::kind::{HIT, INSERT};

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_hit_entry_gets_a_second_chance() {
        let mut p = Policy::build(2, &params(&[])).unwrap();
        p.apply(&[INSERT, INSERT, HIT, INSERT], &[1, 2, 1, 3], &[1, 1, 0, 1]);
        // 1 was hit, so 2 (the oldest without a chance) made room for 3.
        assert_eq!(p.evict(8, 0), vec![2]);
        assert!(p.contains(1) && p.contains(3));
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let err = Policy::build(2, &params(&[("max_freq", "0")])).err().unwrap();
        assert!(err.contains("max_freq"), "{err}");
        assert!(Policy::build(2, &params(&[("max_freq", "x")])).is_err());
    }
}
