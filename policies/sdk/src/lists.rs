//! Several intrusive doubly linked lists over one slab of nodes, found
//! through one hash index. Each node belongs to exactly one list at a time;
//! lists keep their weight sums and counts. Nodes carry a small counter for
//! policies that need one (CLOCK bits, S3-FIFO frequencies).

use hashbrown::HashTable;

/// A node's number in the slab.
pub type NodeId = u32;

const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Node {
    hash_lo: u32,
    hash_hi: u32,
    weight: u32,
    prev: u32,
    next: u32,
    list: u8,
    counter: u8,
}

impl Node {
    fn hash(&self) -> u64 {
        u64::from(self.hash_lo) | (u64::from(self.hash_hi) << 32)
    }
}

/// `N` lists; list `l`'s head is its most recent end.
#[derive(Debug)]
pub struct Lists<const N: usize> {
    nodes: Vec<Node>,
    free: u32,
    heads: [u32; N],
    tails: [u32; N],
    weights: [u64; N],
    counts: [usize; N],
    index: HashTable<u32>,
}

impl<const N: usize> Default for Lists<N> {
    fn default() -> Self {
        Lists {
            nodes: Vec::new(),
            free: NIL,
            heads: [NIL; N],
            tails: [NIL; N],
            weights: [0; N],
            counts: [0; N],
            index: HashTable::new(),
        }
    }
}

impl<const N: usize> Lists<N> {
    /// The node for `hash`, in whichever list.
    pub fn find(&self, hash: u64) -> Option<NodeId> {
        let nodes = &self.nodes;
        self.index
            .find(hash, |&i| nodes[i as usize].hash() == hash)
            .copied()
    }

    /// The list `id` is in.
    pub fn list_of(&self, id: NodeId) -> usize {
        self.nodes[id as usize].list as usize
    }

    /// The hash of `id`.
    pub fn hash(&self, id: NodeId) -> u64 {
        self.nodes[id as usize].hash()
    }

    /// The weight of `id`.
    pub fn weight(&self, id: NodeId) -> u32 {
        self.nodes[id as usize].weight
    }

    /// Changes the weight of `id` (its list's sum follows).
    pub fn set_weight(&mut self, id: NodeId, weight: u32) {
        let n = &mut self.nodes[id as usize];
        let l = n.list as usize;
        self.weights[l] = self.weights[l] - u64::from(n.weight) + u64::from(weight);
        n.weight = weight;
    }

    /// The counter of `id`.
    pub fn counter(&self, id: NodeId) -> u8 {
        self.nodes[id as usize].counter
    }

    /// Sets the counter of `id`.
    pub fn set_counter(&mut self, id: NodeId, value: u8) {
        self.nodes[id as usize].counter = value;
    }

    /// Total weight in list `l`.
    pub fn weight_of(&self, l: usize) -> u64 {
        self.weights[l]
    }

    /// Number of nodes in list `l`.
    pub fn count(&self, l: usize) -> usize {
        self.counts[l]
    }

    /// The least recent node of list `l`.
    pub fn tail(&self, l: usize) -> Option<NodeId> {
        (self.tails[l] != NIL).then_some(self.tails[l])
    }

    /// The node after `id` towards the head (more recent).
    pub fn newer(&self, id: NodeId) -> Option<NodeId> {
        let p = self.nodes[id as usize].prev;
        (p != NIL).then_some(p)
    }

    /// Adds `hash` at the head of list `l`; the hash must not be present.
    pub fn push_front(&mut self, l: usize, hash: u64, weight: u32) -> NodeId {
        let node = Node {
            hash_lo: hash as u32,
            hash_hi: (hash >> 32) as u32,
            weight,
            prev: NIL,
            next: NIL,
            list: l as u8,
            counter: 0,
        };
        let id = if self.free != NIL {
            let id = self.free;
            self.free = self.nodes[id as usize].next;
            self.nodes[id as usize] = node;
            id
        } else {
            self.nodes.push(node);
            u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 nodes")
        };
        self.link_front(l, id);
        let nodes = &self.nodes;
        self.index
            .insert_unique(hash, id, |&i| nodes[i as usize].hash());
        id
    }

    /// Moves `id` to the head of list `l` (possibly another list).
    pub fn move_to_front(&mut self, id: NodeId, l: usize) {
        self.unlink(id);
        self.link_front(l, id);
    }

    /// Removes `id` entirely; returns its hash and weight.
    pub fn remove(&mut self, id: NodeId) -> (u64, u32) {
        self.unlink(id);
        let (hash, weight) = (self.hash(id), self.weight(id));
        let nodes = &self.nodes;
        if let Ok(entry) = self
            .index
            .find_entry(hash, |&i| i == id && nodes[i as usize].hash() == hash)
        {
            entry.remove();
        }
        self.nodes[id as usize].next = self.free;
        self.free = id;
        (hash, weight)
    }

    fn link_front(&mut self, l: usize, id: NodeId) {
        let head = self.heads[l];
        {
            let n = &mut self.nodes[id as usize];
            n.list = l as u8;
            n.prev = NIL;
            n.next = head;
        }
        if head != NIL {
            self.nodes[head as usize].prev = id;
        } else {
            self.tails[l] = id;
        }
        self.heads[l] = id;
        self.weights[l] += u64::from(self.nodes[id as usize].weight);
        self.counts[l] += 1;
    }

    fn unlink(&mut self, id: NodeId) {
        let (prev, next, l, w) = {
            let n = &self.nodes[id as usize];
            (n.prev, n.next, n.list as usize, n.weight)
        };
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else {
            self.heads[l] = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        } else {
            self.tails[l] = prev;
        }
        self.weights[l] -= u64::from(w);
        self.counts[l] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_order_weights_and_index() {
        let mut l: Lists<2> = Lists::default();
        let a = l.push_front(0, 10, 1);
        let b = l.push_front(0, 20, 2);
        let c = l.push_front(1, 30, 3);
        assert_eq!((l.weight_of(0), l.count(0), l.weight_of(1)), (3, 2, 3));
        assert_eq!(l.tail(0), Some(a));
        assert_eq!(l.newer(a), Some(b));
        l.move_to_front(a, 1);
        assert_eq!((l.tail(0), l.tail(1)), (Some(b), Some(c)));
        assert_eq!(l.list_of(a), 1);
        assert_eq!(l.find(10), Some(a));
        assert_eq!(l.remove(b), (20, 2));
        assert_eq!(l.find(20), None);
        assert_eq!((l.count(0), l.weight_of(0), l.weight_of(1)), (0, 0, 4));
        let d = l.push_front(0, 40, 5);
        assert_eq!(d, b, "slots are recycled");
        assert_eq!(l.find(40), Some(d));
    }
}
