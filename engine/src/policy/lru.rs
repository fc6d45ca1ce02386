//! Least recently used: a hit moves the entry to the head; the tail leaves.

use super::list::{Discipline, List, list_policy};

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

list_policy!(
    /// Textbook LRU over weights: on an insert that does not fit, the least
    /// recently used entries leave before the new one is admitted. With unit
    /// weights its hit ratio equals libCacheSim's LRU exactly.
    Lru,
    LruOrder
);
