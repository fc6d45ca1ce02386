//! FIFO: entries leave in the order they came; hits change nothing.

use goldylox_policy_sdk::{Build, Event, EvictionPolicy, Lists, Params, Pending, events};

/// First in, first out, over weights.
#[derive(Debug)]
pub struct Fifo {
    queue: Lists<1>,
    capacity: u64,
    pending: Pending,
}

impl Fifo {
    /// Whether `hash` is resident.
    pub fn contains(&self, hash: u64) -> bool {
        self.queue.find(hash).is_some()
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        let tail = self.queue.tail(0)?;
        Some(self.queue.remove(tail))
    }

    fn fit(&mut self, incoming: u64) {
        while self.queue.weight_of(0) + incoming > self.capacity {
            let Some(victim) = self.evict_one() else {
                break;
            };
            self.pending.push(victim.0, victim.1);
        }
    }

    fn insert(&mut self, hash: u64, weight: u32) {
        if u64::from(weight) > self.capacity {
            self.pending.push(hash, weight);
            return;
        }
        self.fit(u64::from(weight));
        self.queue.push_front(0, hash, weight);
    }
}

impl Build for Fifo {
    fn build(capacity: u64, _params: &Params) -> Result<Self, String> {
        Ok(Fifo {
            queue: Lists::default(),
            capacity,
            pending: Pending::default(),
        })
    }
}

impl EvictionPolicy for Fifo {
    fn name(&self) -> &'static str {
        "fifo"
    }

    fn apply(&mut self, kinds: &[u8], hashes: &[u64], weights: &[u32]) {
        for event in events(kinds, hashes, weights) {
            match event {
                Event::Hit(_) => {}
                Event::Insert(h, w) | Event::Update(h, w) => match self.queue.find(h) {
                    Some(id) => {
                        self.queue.set_weight(id, w);
                        self.fit(0);
                    }
                    None => self.insert(h, w),
                },
                Event::Remove(h) => {
                    if let Some(id) = self.queue.find(h) {
                        self.queue.remove(id);
                    }
                }
            }
        }
    }

    fn evict(&mut self, max: u32, need: u64) -> Vec<u64> {
        let mut pending = std::mem::take(&mut self.pending);
        let out = pending.answer(max, need, || self.evict_one());
        self.pending = pending;
        out
    }
}

goldylox_policy_sdk::export_eviction_policy!(Fifo);
