//! CLOCK (FIFO with reinsertion, second chance): a hit sets a counter; the
//! oldest entry leaves unless its counter is set, in which case the counter
//! drops by one and the entry goes back to the head.
//!
//! Parameter `n-bit-counter` (default 1) sets the counter's width, as in
//! libCacheSim.

use goldylox_policy_sdk::{Build, Handler, Lists, Params, Pending, param};

/// CLOCK over weights.
#[derive(Debug)]
pub struct Clock {
    queue: Lists<1>,
    capacity: u64,
    max_counter: u8,
    pending: Pending,
}

impl Clock {
    /// Whether `hash` is resident.
    pub fn contains(&self, hash: u64) -> bool {
        self.queue.find(hash).is_some()
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

    fn fit(&mut self, incoming: u64) {
        while self.queue.weight_of(0) + incoming > self.capacity {
            let Some(victim) = self.evict_one() else {
                break;
            };
            self.pending.push(victim.0, victim.1);
        }
    }

    fn touch(&mut self, id: goldylox_policy_sdk::NodeId) {
        let c = self.queue.counter(id);
        if c < self.max_counter {
            self.queue.set_counter(id, c + 1);
        }
    }
}

impl Build for Clock {
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        let bits: u8 = param(params, "n-bit-counter", 1)?;
        if !(1..=8).contains(&bits) {
            return Err(format!("n-bit-counter must be 1..=8, not {bits}"));
        }
        Ok(Clock {
            queue: Lists::default(),
            capacity,
            max_counter: ((1u16 << bits) - 1) as u8,
            pending: Pending::default(),
        })
    }
}

impl Handler for Clock {
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
        Clock::evict_one(self)
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

goldylox_policy_sdk::eviction_policy_of_handler!(Clock, "clock");

goldylox_policy_sdk::export_eviction_policy!(Clock);
