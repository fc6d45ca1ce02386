//! LeCaR (Vietri et al., HotStorage '18): a policy that *learns* online
//! which of two experts — LRU (recency) and LFU (frequency) — to follow, by
//! regret minimisation. Each expert's evictions are remembered in its own
//! history; when a missed key is found in an expert's history, that expert
//! is penalised (the other's weight grows by `exp(learning_rate * r)` with
//! `r = discount^(age)`, so recent mistakes count more). Each eviction
//! follows an expert chosen at random in proportion to the weights, from a
//! seeded generator, so runs are reproducible.
//!
//! This is the predecessor's "ML eviction" done for real: the model is two
//! weights updated from the cache's own mistakes, cheap enough to run on
//! every miss.
//!
//! Parameters: `learning-rate` (0.45), `discount` (`0.005^(1/capacity)`),
//! `seed` (42).

use std::collections::{BTreeSet, HashMap};

use goldylox_policy_sdk::{Build, Handler, Params, Pending, param};

/// Per resident key: weight, frequency, last access time.
#[derive(Debug, Clone, Copy)]
struct Entry {
    weight: u32,
    freq: u64,
    last: u64,
}

/// A bounded history of evicted keys, oldest first.
#[derive(Debug, Default)]
struct History {
    order: BTreeSet<(u64, u64)>, // (evicted at, hash)
    when: HashMap<u64, u64>,
    weight: u64,
}

impl History {
    fn take(&mut self, hash: u64) -> Option<u64> {
        let t = self.when.remove(&hash)?;
        self.order.remove(&(t, hash));
        self.weight -= 1;
        Some(t)
    }

    fn push(&mut self, hash: u64, at: u64, capacity: u64) {
        self.take(hash);
        self.when.insert(hash, at);
        self.order.insert((at, hash));
        self.weight += 1;
        while self.weight > capacity.max(1) {
            let Some(&(t, h)) = self.order.iter().next() else {
                break;
            };
            self.order.remove(&(t, h));
            self.when.remove(&h);
            self.weight -= 1;
        }
    }
}

/// LeCaR over weights (histories count keys).
#[derive(Debug)]
pub struct LeCaR {
    entries: HashMap<u64, Entry>,
    by_recency: BTreeSet<(u64, u64)>,        // (last access, hash)
    by_frequency: BTreeSet<(u64, u64, u64)>, // (freq, last access, hash)
    used: u64,
    capacity: u64,
    history_lru: History,
    history_lfu: History,
    w_lru: f64,
    learning_rate: f64,
    discount: f64,
    time: u64,
    rng: u64,
    pending: Pending,
}

impl LeCaR {
    /// Whether `hash` is resident.
    pub fn contains(&self, hash: u64) -> bool {
        self.entries.contains_key(&hash)
    }

    /// The current weight of the LRU expert (the LFU expert has `1 - w`).
    pub fn lru_weight(&self) -> f64 {
        self.w_lru
    }

    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn touch(&mut self, hash: u64) {
        self.time += 1;
        let Some(e) = self.entries.get_mut(&hash) else {
            return;
        };
        self.by_recency.remove(&(e.last, hash));
        self.by_frequency.remove(&(e.freq, e.last, hash));
        e.freq += 1;
        e.last = self.time;
        self.by_recency.insert((e.last, hash));
        self.by_frequency.insert((e.freq, e.last, hash));
    }

    fn forget(&mut self, hash: u64) -> Option<Entry> {
        let e = self.entries.remove(&hash)?;
        self.by_recency.remove(&(e.last, hash));
        self.by_frequency.remove(&(e.freq, e.last, hash));
        self.used -= u64::from(e.weight);
        Some(e)
    }

    /// One eviction, by the expert the weights pick.
    fn evict_one(&mut self) -> Option<(u64, u32)> {
        let follow_lru = self.random() < self.w_lru;
        let hash = if follow_lru {
            self.by_recency.iter().next()?.1
        } else {
            self.by_frequency.iter().next()?.2
        };
        let e = self.forget(hash)?;
        let history = if follow_lru {
            &mut self.history_lru
        } else {
            &mut self.history_lfu
        };
        history.push(hash, self.time, self.capacity);
        Some((hash, e.weight))
    }

    fn learn(&mut self, hash: u64) {
        let (penalise_lru, at) = match (self.history_lru.take(hash), self.history_lfu.take(hash)) {
            (Some(t), _) => (true, t),
            (None, Some(t)) => (false, t),
            (None, None) => return,
        };
        let regret = self.discount.powf((self.time - at) as f64);
        let (mut lru, mut lfu) = (self.w_lru, 1.0 - self.w_lru);
        if penalise_lru {
            lfu *= (self.learning_rate * regret).exp();
        } else {
            lru *= (self.learning_rate * regret).exp();
        }
        self.w_lru = (lru / (lru + lfu)).clamp(0.01, 0.99);
    }

    fn miss(&mut self, hash: u64, weight: u32) {
        self.time += 1;
        self.learn(hash);
        if u64::from(weight) > self.capacity {
            self.pending.push(hash, weight);
            return;
        }
        while self.used + u64::from(weight) > self.capacity {
            let Some((h, w)) = self.evict_one() else {
                break;
            };
            self.pending.push(h, w);
        }
        let e = Entry {
            weight,
            freq: 1,
            last: self.time,
        };
        self.entries.insert(hash, e);
        self.by_recency.insert((e.last, hash));
        self.by_frequency.insert((e.freq, e.last, hash));
        self.used += u64::from(weight);
    }
}

impl Build for LeCaR {
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        let learning_rate: f64 = param(params, "learning-rate", 0.45)?;
        let discount: f64 = param(
            params,
            "discount",
            0.005f64.powf(1.0 / capacity.max(1) as f64),
        )?;
        let seed: u64 = param(params, "seed", 42)?;
        if !(learning_rate > 0.0 && discount > 0.0 && discount <= 1.0) {
            return Err(format!(
                "learning-rate must be > 0 and discount in (0, 1]; got {learning_rate}, {discount}"
            ));
        }
        Ok(LeCaR {
            entries: HashMap::new(),
            by_recency: BTreeSet::new(),
            by_frequency: BTreeSet::new(),
            used: 0,
            capacity,
            history_lru: History::default(),
            history_lfu: History::default(),
            w_lru: 0.5,
            learning_rate,
            discount,
            time: 0,
            rng: seed.max(1),
            pending: Pending::default(),
        })
    }
}

impl Handler for LeCaR {
    fn hit(&mut self, hash: u64) {
        self.touch(hash);
    }

    fn write(&mut self, hash: u64, weight: u32) {
        let Some(e) = self.entries.get_mut(&hash) else {
            return self.miss(hash, weight);
        };
        let old = e.weight;
        e.weight = weight;
        self.used = self.used - u64::from(old) + u64::from(weight);
        self.touch(hash);
        while self.used > self.capacity {
            let Some((h, w)) = LeCaR::evict_one(self) else {
                break;
            };
            self.pending.push(h, w);
        }
    }

    fn remove(&mut self, hash: u64) {
        self.forget(hash);
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        LeCaR::evict_one(self)
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

goldylox_policy_sdk::eviction_policy_of_handler!(LeCaR, "lecar");

goldylox_policy_sdk::export_eviction_policy!(LeCaR);
