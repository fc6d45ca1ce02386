//! S3-FIFO (Yang et al., SOSP '23): a small FIFO (10 %) filters one-hit
//! wonders, a main FIFO with a 2-bit CLOCK counter keeps the rest, and a
//! ghost FIFO (90 %, keys only) remembers what the small queue dropped so
//! that a quick return goes straight to main.
//!
//! # Which S3-FIFO
//!
//! This follows libCacheSim's `S3FIFO.c` as rewritten in December 2024 (the
//! version its Python package runs), whose warm-up rule differs from the
//! paper's: **until the first eviction, a new key goes to the main queue once
//! the small queue is full** (the original keeps filling the small queue).
//! The two differ by tens of points on loop-heavy traces. Also as there: a
//! key as heavy as the small queue is not admitted (unless it returns from
//! the ghost), keys move from small to main after `move-to-main-threshold`
//! (default 2) hits, and main's counter is capped at 3 and decremented on
//! each reinsertion.
//!
//! Parameters: `small-size-ratio` (0.10), `ghost-size-ratio` (0.90),
//! `move-to-main-threshold` (2).

use goldylox_policy_sdk::{Build, Handler, Lists, NodeId, Params, Pending, param};

const SMALL: usize = 0;
const MAIN: usize = 1;
const GHOST: usize = 2;

/// S3-FIFO over weights.
#[derive(Debug)]
pub struct S3Fifo {
    lists: Lists<3>,
    capacity: u64,
    small_capacity: u64,
    main_capacity: u64,
    ghost_capacity: u64,
    threshold: u8,
    has_evicted: bool,
    pending: Pending,
}

impl S3Fifo {
    /// Whether `hash` is resident (in the small or main queue).
    pub fn contains(&self, hash: u64) -> bool {
        self.lists
            .find(hash)
            .is_some_and(|id| self.lists.list_of(id) != GHOST)
    }

    fn occupied(&self) -> u64 {
        self.lists.weight_of(SMALL) + self.lists.weight_of(MAIN)
    }

    /// The node of a resident (not ghost) `hash`.
    fn resident(&self, hash: u64) -> Option<NodeId> {
        self.lists
            .find(hash)
            .filter(|&id| self.lists.list_of(id) != GHOST)
    }

    fn touch(&mut self, id: NodeId) {
        let c = self.lists.counter(id);
        self.lists.set_counter(id, c.saturating_add(1));
    }

    /// One eviction: decides between the queues each time, as libCacheSim's
    /// repeated `evict` calls do.
    fn evict_one(&mut self) -> Option<(u64, u32)> {
        loop {
            if self.occupied() == 0 {
                return None;
            }
            self.has_evicted = true;
            let from_main =
                self.lists.weight_of(MAIN) > self.main_capacity || self.lists.weight_of(SMALL) == 0;
            let victim = if from_main {
                self.evict_main()
            } else {
                self.evict_small()
            };
            if victim.is_some() {
                return victim;
            }
        }
    }

    fn evict_small(&mut self) -> Option<(u64, u32)> {
        while let Some(tail) = self.lists.tail(SMALL) {
            if self.lists.counter(tail) >= self.threshold {
                self.lists.move_to_front(tail, MAIN);
                self.lists.set_counter(tail, 0);
                continue;
            }
            let (hash, weight) = (self.lists.hash(tail), self.lists.weight(tail));
            if u64::from(weight) <= self.ghost_capacity {
                while self.lists.weight_of(GHOST) + u64::from(weight) > self.ghost_capacity {
                    let Some(old) = self.lists.tail(GHOST) else {
                        break;
                    };
                    self.lists.remove(old);
                }
                self.lists.move_to_front(tail, GHOST);
                self.lists.set_counter(tail, 0);
            } else {
                self.lists.remove(tail);
            }
            return Some((hash, weight));
        }
        None
    }

    fn evict_main(&mut self) -> Option<(u64, u32)> {
        while let Some(tail) = self.lists.tail(MAIN) {
            let c = self.lists.counter(tail);
            if c >= 1 {
                self.lists.move_to_front(tail, MAIN);
                self.lists.set_counter(tail, c.min(3) - 1);
            } else {
                return Some(self.lists.remove(tail));
            }
        }
        None
    }

    fn fit(&mut self, incoming: u64) {
        while self.occupied() + incoming > self.capacity {
            let Some(victim) = self.evict_one() else {
                break;
            };
            self.pending.push(victim.0, victim.1);
        }
    }

    fn miss(&mut self, hash: u64, weight: u32) {
        let w = u64::from(weight);
        let ghost_hit = match self.lists.find(hash) {
            Some(id) if self.lists.list_of(id) == GHOST => {
                self.lists.remove(id);
                true
            }
            _ => false,
        };
        if w > self.small_capacity || w > self.capacity {
            self.pending.push(hash, weight); // never admitted
            return;
        }
        self.fit(w);
        let list = if ghost_hit {
            MAIN
        } else if w >= self.small_capacity {
            self.pending.push(hash, weight);
            return;
        } else if !self.has_evicted && self.lists.weight_of(SMALL) >= self.small_capacity {
            MAIN
        } else {
            SMALL
        };
        self.lists.push_front(list, hash, weight);
    }
}

impl Build for S3Fifo {
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        let small: f64 = param(params, "small-size-ratio", 0.10)?;
        let ghost: f64 = param(params, "ghost-size-ratio", 0.90)?;
        let threshold: u8 = param(params, "move-to-main-threshold", 2)?;
        if !(0.0..1.0).contains(&small) || !(0.0..=10.0).contains(&ghost) {
            return Err(format!(
                "small-size-ratio must be in [0, 1) and ghost-size-ratio in [0, 10]; got {small}, {ghost}"
            ));
        }
        let small_capacity = (capacity as f64 * small) as u64;
        Ok(S3Fifo {
            lists: Lists::default(),
            capacity,
            small_capacity,
            main_capacity: capacity - small_capacity,
            ghost_capacity: (capacity as f64 * ghost) as u64,
            threshold,
            has_evicted: false,
            pending: Pending::default(),
        })
    }
}

impl Handler for S3Fifo {
    fn hit(&mut self, hash: u64) {
        if let Some(id) = self.resident(hash) {
            self.touch(id);
        }
    }

    fn write(&mut self, hash: u64, weight: u32) {
        match self.resident(hash) {
            Some(id) => {
                self.touch(id);
                self.lists.set_weight(id, weight);
                self.fit(0);
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
        S3Fifo::evict_one(self)
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

goldylox_policy_sdk::eviction_policy_of_handler!(S3Fifo, "s3fifo");

goldylox_policy_sdk::export_eviction_policy!(S3Fifo);
