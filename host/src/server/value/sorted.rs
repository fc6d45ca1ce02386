//! An ordered sequence with positions: what a sorted set needs for
//! `ZADD` (insert in order), `ZRANK` (position of a member) and `ZRANGE`
//! (members from a position) in O(log n).
//!
//! Elements live in sorted chunks of at most `SPLIT_AT` (a chunk is one
//! allocation, scanned and shifted with `memmove`, which beats a tree's
//! pointer chasing at these sizes, as Python's `sortedcontainers` shows).
//! A Fenwick tree over the chunks' lengths turns a position into a chunk
//! and back in O(log chunks).

/// A chunk that grows past this splits in two.
const SPLIT_AT: usize = 512;

/// Elements in ascending order, with positions.
#[derive(Clone, Debug)]
pub struct Sorted<T> {
    /// Non-empty sorted chunks; every element of a chunk precedes the next
    /// chunk's.
    chunks: Vec<Vec<T>>,
    /// The chunks' lengths, as a Fenwick tree.
    counts: Fenwick,
    len: usize,
}

impl<T> Default for Sorted<T> {
    fn default() -> Self {
        Sorted {
            chunks: Vec::new(),
            counts: Fenwick::default(),
            len: 0,
        }
    }
}

impl<T: Ord> Sorted<T> {
    /// An empty sequence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds from elements already in ascending order.
    pub fn from_sorted(items: Vec<T>) -> Self {
        debug_assert!(items.windows(2).all(|w| w[0] < w[1]));
        let len = items.len();
        let mut chunks = Vec::with_capacity(len.div_ceil(SPLIT_AT / 2));
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            chunks.push(items.by_ref().take(SPLIT_AT / 2).collect());
        }
        let mut sorted = Sorted {
            chunks,
            counts: Fenwick::default(),
            len,
        };
        sorted.recount();
        sorted
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk that holds `x`, or would: the first whose last element is
    /// not below it (the last chunk for an element above them all).
    fn chunk_for(&self, x: &T) -> usize {
        let i = self
            .chunks
            .partition_point(|c| c.last().expect("chunks are non-empty") < x);
        i.min(self.chunks.len().saturating_sub(1))
    }

    /// Inserts `x` (not already present).
    pub fn insert(&mut self, x: T) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(vec![x]);
            self.recount();
            return;
        }
        let ci = self.chunk_for(&x);
        let chunk = &mut self.chunks[ci];
        let at = chunk.partition_point(|y| *y < x);
        chunk.insert(at, x);
        if chunk.len() > SPLIT_AT {
            let tail = chunk.split_off(SPLIT_AT / 2);
            self.chunks.insert(ci + 1, tail);
            self.recount();
        } else {
            self.counts.add(ci, 1);
        }
    }

    /// Removes `x`; whether it was present.
    pub fn remove(&mut self, x: &T) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let ci = self.chunk_for(x);
        let Ok(at) = self.chunks[ci].binary_search(x) else {
            return false;
        };
        self.chunks[ci].remove(at);
        self.after_removal(ci);
        true
    }

    /// Bookkeeping after one element left chunk `ci`.
    fn after_removal(&mut self, ci: usize) {
        self.len -= 1;
        if self.chunks[ci].is_empty() {
            self.chunks.remove(ci);
            self.recount();
        } else {
            self.counts.sub(ci, 1);
        }
    }

    /// The position of `x`, if present.
    pub fn rank(&self, x: &T) -> Option<usize> {
        if self.chunks.is_empty() {
            return None;
        }
        let ci = self.chunk_for(x);
        let at = self.chunks[ci].binary_search(x).ok()?;
        Some(self.counts.prefix(ci) + at)
    }

    /// How many leading elements satisfy `below` (which holds for a prefix
    /// of the sequence and not after): the position of the first that
    /// does not.
    pub fn count_while(&self, below: impl Fn(&T) -> bool) -> usize {
        let ci = self
            .chunks
            .partition_point(|c| below(c.last().expect("chunks are non-empty")));
        if ci == self.chunks.len() {
            return self.len;
        }
        self.counts.prefix(ci) + self.chunks[ci].partition_point(below)
    }

    /// The chunk and offset of position `i` (< len).
    fn locate(&self, i: usize) -> (usize, usize) {
        self.counts.find(i)
    }

    /// The element at position `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        (i < self.len).then(|| {
            let (ci, at) = self.locate(i);
            &self.chunks[ci][at]
        })
    }

    /// The elements from position `i` on, ascending.
    pub fn iter_from(&self, i: usize) -> impl Iterator<Item = &T> {
        let (ci, at) = if i < self.len {
            self.locate(i)
        } else {
            (self.chunks.len(), 0)
        };
        self.chunks
            .get(ci)
            .map(|c| &c[at..])
            .into_iter()
            .flatten()
            .chain(self.chunks.iter().skip(ci + 1).flatten())
    }

    /// The elements from position `i` down to the first, descending.
    pub fn iter_back_from(&self, i: usize) -> impl Iterator<Item = &T> {
        let (ci, at) = if i < self.len {
            self.locate(i)
        } else {
            (0, usize::MAX)
        };
        let head = (at != usize::MAX).then(|| self.chunks[ci][..=at].iter().rev());
        let rest = if at == usize::MAX { 0 } else { ci };
        head.into_iter().flatten().chain(
            self.chunks[..rest]
                .iter()
                .rev()
                .flat_map(|c| c.iter().rev()),
        )
    }

    /// Every element, ascending.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// Removes and returns the elements at positions `start..end`.
    pub fn drain(&mut self, start: usize, end: usize) -> Vec<T> {
        let end = end.min(self.len);
        if start >= end {
            return Vec::new();
        }
        let mut taken = Vec::with_capacity(end - start);
        let (mut ci, mut at) = self.locate(start);
        let mut left = end - start;
        while left > 0 {
            let chunk = &mut self.chunks[ci];
            let n = left.min(chunk.len() - at);
            taken.extend(chunk.drain(at..at + n));
            left -= n;
            ci += 1;
            at = 0;
        }
        self.chunks.retain(|c| !c.is_empty());
        self.len -= taken.len();
        self.recount();
        taken
    }

    /// Rebuilds the Fenwick tree from the chunks (after a split or an
    /// emptied chunk: O(chunks), once per many inserts).
    fn recount(&mut self) {
        self.counts = Fenwick::build(self.chunks.iter().map(Vec::len));
    }
}

/// Prefix sums of chunk lengths (a binary indexed tree, 1-based inside).
#[derive(Clone, Debug, Default)]
struct Fenwick {
    tree: Vec<usize>,
}

impl Fenwick {
    fn build(lens: impl Iterator<Item = usize>) -> Self {
        let mut tree: Vec<usize> = std::iter::once(0).chain(lens).collect();
        for i in 1..tree.len() {
            let parent = i + (i & i.wrapping_neg());
            if parent < tree.len() {
                tree[parent] += tree[i];
            }
        }
        Fenwick { tree }
    }

    fn add(&mut self, i: usize, n: usize) {
        let mut i = i + 1;
        while i < self.tree.len() {
            self.tree[i] += n;
            i += i & i.wrapping_neg();
        }
    }

    fn sub(&mut self, i: usize, n: usize) {
        let mut i = i + 1;
        while i < self.tree.len() {
            self.tree[i] -= n;
            i += i & i.wrapping_neg();
        }
    }

    /// The sum of the first `i` lengths.
    fn prefix(&self, i: usize) -> usize {
        let (mut i, mut sum) = (i, 0);
        while i > 0 {
            sum += self.tree[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }

    /// The chunk holding position `k` and the offset in it.
    fn find(&self, mut k: usize) -> (usize, usize) {
        let mut at = 0;
        let mut step = (self.tree.len()).next_power_of_two() / 2;
        while step > 0 {
            let next = at + step;
            if next < self.tree.len() && self.tree[next] <= k {
                at = next;
                k -= self.tree[next];
            }
            step /= 2;
        }
        (at, k)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::Sorted;

    proptest! {
        /// Every operation agrees with a BTreeSet, across many splits.
        #[test]
        fn agrees_with_a_btreeset(ops in prop::collection::vec((0u8..4, 0u32..3_000), 1..6_000)) {
            let mut s = Sorted::new();
            let mut model = BTreeSet::new();
            for (op, x) in ops {
                match op {
                    0 | 1 => if model.insert(x) { s.insert(x) },
                    2 => prop_assert_eq!(s.remove(&x), model.remove(&x)),
                    _ => {
                        let start = (x as usize) % (model.len() + 1);
                        let end = (start + 40).min(model.len());
                        let want: Vec<u32> = model.iter().skip(start).take(end - start).copied().collect();
                        prop_assert_eq!(s.drain(start, end), want.clone());
                        for w in want { model.remove(&w); }
                    }
                }
                prop_assert_eq!(s.len(), model.len());
            }
            let all: Vec<u32> = model.iter().copied().collect();
            prop_assert_eq!(s.iter().copied().collect::<Vec<_>>(), all.clone());
            for (i, x) in all.iter().enumerate() {
                prop_assert_eq!(s.rank(x), Some(i));
                prop_assert_eq!(s.get(i), Some(x));
                prop_assert_eq!(s.count_while(|y| y < x), i);
            }
            for i in [0, all.len() / 2, all.len().saturating_sub(1), all.len()] {
                prop_assert_eq!(s.iter_from(i).copied().collect::<Vec<_>>(), all[i.min(all.len())..].to_vec());
                let back: Vec<u32> = s.iter_back_from(i).copied().collect();
                let want: Vec<u32> = if i < all.len() { all[..=i].iter().rev().copied().collect() } else { Vec::new() };
                prop_assert_eq!(back, want);
            }
            let rebuilt = Sorted::from_sorted(all.clone());
            prop_assert_eq!(rebuilt.iter().copied().collect::<Vec<_>>(), all);
        }
    }
}
