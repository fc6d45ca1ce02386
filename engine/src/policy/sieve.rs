//! SIEVE (Zhang et al., NSDI '24): a FIFO queue with a visited bit and a hand
//! that sweeps from the oldest entry towards the newest, clearing bits, and
//! evicts the first unvisited entry it finds. New entries enter at the head;
//! nothing moves on a hit.

use super::list::{Discipline, List, NIL, list_policy};

/// The hand: the node to examine next, or `NIL` for "start at the tail".
pub(crate) struct SieveHand(u32);

impl Default for SieveHand {
    fn default() -> Self {
        SieveHand(NIL)
    }
}

impl Discipline for SieveHand {
    const NAME: &'static str = "sieve";

    fn on_hit(&mut self, list: &mut List, i: u32) {
        list.set_visited(i, true);
    }

    fn on_remove(&mut self, list: &List, i: u32) {
        if self.0 == i {
            self.0 = list.node(i).prev;
        }
    }

    fn pick_victim(&mut self, list: &mut List) -> u32 {
        let mut o = if self.0 != NIL { self.0 } else { list.tail };
        while list.visited(o) {
            list.set_visited(o, false);
            o = list.node(o).prev;
            if o == NIL {
                o = list.tail;
            }
        }
        // Park the hand on the victim; `on_remove` then moves it to the
        // victim's newer neighbour, as the algorithm prescribes.
        self.0 = o;
        o
    }
}

list_policy!(
    /// Textbook SIEVE over weights; with unit weights its hit ratio equals
    /// libCacheSim's SIEVE exactly. It is the engine's fallback policy.
    Sieve,
    SieveHand
);
