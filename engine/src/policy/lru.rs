//! Least recently used: a hit moves the entry to the head; the tail leaves.

use super::list::{Discipline, List, ListPolicy};
use super::{EventBatch, EvictionPolicy, PolicyError};

/// Textbook LRU over weights: on an insert that does not fit, the least
/// recently used entries leave before the new one is admitted. With unit
/// weights its hit ratio equals libCacheSim's LRU exactly.
pub struct Lru(ListPolicy<LruOrder>);

#[derive(Default)]
pub(crate) struct LruOrder;

impl Discipline for LruOrder {
    const NAME: &'static str = "lru";

    fn on_hit(&mut self, list: &mut List, i: u32) {
        list.move_to_front(i);
    }

    fn on_remove(&mut self, _list: &List, _i: u32) {}

    fn pick_victim(&mut self, list: &mut List) -> u32 {
        list.tail
    }
}

impl Lru {
    /// An empty LRU holding at most `capacity` weight.
    pub fn new(capacity: u64) -> Self {
        Lru(ListPolicy::new(capacity))
    }

    /// Number of tracked hashes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Whether `hash` is tracked (resident, in the policy's view).
    pub fn contains(&self, hash: u64) -> bool {
        self.0.contains(hash)
    }
}

impl EvictionPolicy for Lru {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        self.0.apply(batch)
    }
    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        self.0.evict(max, need, out)
    }
}
