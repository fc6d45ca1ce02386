//! FIFO: entries leave in the order they came; hits change nothing.

use goldylox_policy_sdk::{Build, Handler, Lists, Params, Pending};

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

impl Handler for Fifo {
    fn hit(&mut self, _hash: u64) {}

    fn write(&mut self, hash: u64, weight: u32) {
        match self.queue.find(hash) {
            Some(id) => {
                self.queue.set_weight(id, weight);
                self.fit(0);
            }
            None => self.insert(hash, weight),
        }
    }

    fn remove(&mut self, hash: u64) {
        if let Some(id) = self.queue.find(hash) {
            self.queue.remove(id);
        }
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        Fifo::evict_one(self)
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

goldylox_policy_sdk::eviction_policy_of_handler!(Fifo, "fifo");

goldylox_policy_sdk::export_eviction_policy!(Fifo);
