//! The collection types a key may hold — hash, list, set — each keeping
//! its size in bytes up to date, so weighing a value of a million members
//! costs nothing (the engine weighs a value at every write).
//!
//! Hashes and sets are insertion-ordered index maps: a member at a
//! position gives O(1) random draws (`HRANDFIELD`, `SPOP`) and a cursor
//! that survives changes (`HSCAN`, `SSCAN`, see [`scan_positions`]).
//! Removal from a small one keeps the order (as Redis's listpack does);
//! from a large one it moves the last member into the gap, O(1).

use std::collections::VecDeque;

use indexmap::{IndexMap, IndexSet};

/// Members up to which removal keeps insertion order (Redis's
/// `hash-max-listpack-entries` default): beyond, removal is O(1).
const ORDERED_UP_TO: usize = 128;

/// Bytes charged per hash field beyond its name and value (the map's
/// entry, index slot and two allocations).
pub const FIELD_OVERHEAD: usize = 48;
/// Bytes charged per list element beyond its bytes (its pointer and
/// length in the ring, and the allocation).
pub const ELEMENT_OVERHEAD: usize = 24;
/// Bytes charged per set member beyond its bytes.
pub const MEMBER_OVERHEAD: usize = 40;

/// A hash's fields, in insertion order.
pub type Fields = IndexMap<Vec<u8>, Vec<u8>>;

/// A hash: field → value; never empty when stored (the last field's
/// removal removes the key, as in Redis).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hash {
    fields: Fields,
    bytes: usize,
}

impl Hash {
    /// Its bytes as charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sets `field` to `value`; the previous value, if any.
    pub fn insert(&mut self, field: Vec<u8>, value: Vec<u8>) -> Option<Vec<u8>> {
        let added = value.len();
        match self.fields.get_mut(&field) {
            Some(old) => {
                self.bytes = self.bytes + added - old.len();
                Some(std::mem::replace(old, value))
            }
            None => {
                self.bytes += field.len() + added + FIELD_OVERHEAD;
                self.fields.insert(field, value);
                None
            }
        }
    }

    /// Removes `field`; its value, if it was there.
    pub fn remove(&mut self, field: &[u8]) -> Option<Vec<u8>> {
        let (f, v) = if self.fields.len() <= ORDERED_UP_TO {
            self.fields.shift_remove_entry(field)?
        } else {
            self.fields.swap_remove_entry(field)?
        };
        self.bytes -= f.len() + v.len() + FIELD_OVERHEAD;
        Some(v)
    }
}

impl std::ops::Deref for Hash {
    type Target = Fields;
    fn deref(&self) -> &Fields {
        &self.fields
    }
}

impl FromIterator<(Vec<u8>, Vec<u8>)> for Hash {
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>>(pairs: I) -> Self {
        let mut hash = Hash::default();
        for (f, v) in pairs {
            hash.insert(f, v);
        }
        hash
    }
}

/// A list of byte strings: O(1) at both ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    items: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl List {
    /// Its bytes as charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn cost(item: &[u8]) -> usize {
        item.len() + ELEMENT_OVERHEAD
    }

    /// Adds `item` at the head (`left`) or the tail.
    pub fn push(&mut self, item: Vec<u8>, left: bool) {
        self.bytes += Self::cost(&item);
        if left {
            self.items.push_front(item);
        } else {
            self.items.push_back(item);
        }
    }

    /// Takes the head (`left`) or tail element.
    pub fn pop(&mut self, left: bool) -> Option<Vec<u8>> {
        let item = if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        }?;
        self.bytes -= Self::cost(&item);
        Some(item)
    }

    /// Inserts `item` at position `at` (≤ len).
    pub fn insert(&mut self, at: usize, item: Vec<u8>) {
        self.bytes += Self::cost(&item);
        self.items.insert(at, item);
    }

    /// Removes the element at `at`.
    pub fn remove(&mut self, at: usize) -> Option<Vec<u8>> {
        let item = self.items.remove(at)?;
        self.bytes -= Self::cost(&item);
        Some(item)
    }

    /// Replaces the element at `at` (< len).
    pub fn set(&mut self, at: usize, item: Vec<u8>) {
        let slot = &mut self.items[at];
        self.bytes = self.bytes + item.len() - slot.len();
        *slot = item;
    }

    /// Keeps only positions `start..end`.
    pub fn keep(&mut self, start: usize, end: usize) {
        let end = end.min(self.items.len());
        if start >= end {
            self.items.clear();
            self.bytes = 0;
            return;
        }
        let tail: usize = self.items.drain(end..).map(|i| Self::cost(&i)).sum();
        let head: usize = self.items.drain(..start).map(|i| Self::cost(&i)).sum();
        self.bytes -= tail + head;
    }

    /// Keeps the elements `keep` accepts, in order; how many went.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) -> usize {
        let before = self.items.len();
        let mut freed = 0;
        self.items.retain(|item| {
            let kept = keep(item);
            if !kept {
                freed += Self::cost(item);
            }
            kept
        });
        self.bytes -= freed;
        before - self.items.len()
    }
}

impl std::ops::Deref for List {
    type Target = VecDeque<Vec<u8>>;
    fn deref(&self) -> &VecDeque<Vec<u8>> {
        &self.items
    }
}

impl FromIterator<Vec<u8>> for List {
    fn from_iter<I: IntoIterator<Item = Vec<u8>>>(items: I) -> Self {
        let mut list = List::default();
        for item in items {
            list.push(item, false);
        }
        list
    }
}

/// Members of a set.
pub type Members = IndexSet<Vec<u8>>;

/// A set of byte strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    members: Members,
    bytes: usize,
}

impl Set {
    /// Its bytes as charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds `member`; whether it was new.
    pub fn insert(&mut self, member: Vec<u8>) -> bool {
        let cost = member.len() + MEMBER_OVERHEAD;
        let added = self.members.insert(member);
        if added {
            self.bytes += cost;
        }
        added
    }

    /// Removes `member`; whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let removed = if self.members.len() <= ORDERED_UP_TO {
            self.members.shift_remove(member)
        } else {
            self.members.swap_remove(member)
        };
        if removed {
            self.bytes -= member.len() + MEMBER_OVERHEAD;
        }
        removed
    }

    /// Removes and returns the member at position `at` (< len).
    pub fn take_at(&mut self, at: usize) -> Option<Vec<u8>> {
        let member = self.members.swap_remove_index(at)?;
        self.bytes -= member.len() + MEMBER_OVERHEAD;
        Some(member)
    }
}

impl std::ops::Deref for Set {
    type Target = Members;
    fn deref(&self) -> &Members {
        &self.members
    }
}

impl FromIterator<Vec<u8>> for Set {
    fn from_iter<I: IntoIterator<Item = Vec<u8>>>(members: I) -> Self {
        let mut set = Set::default();
        for m in members {
            set.insert(m);
        }
        set
    }
}

/// One step of a `*SCAN` over a collection of `len` members by position:
/// the positions to visit (`count` of them, descending) and the next
/// cursor (0: done).
///
/// A cursor is the number of positions still to visit, counted from 0,
/// and the scan walks down. A removal moves the last member into the gap;
/// the last member was visited already (the scan starts at the top), so it
/// is either visited again (a duplicate, which SCAN allows) or stays among
/// the visited — never skipped. Members added go at the top, among the
/// visited: a scan may miss them, as SCAN may. Cursor 0 starts a scan; a
/// cursor beyond the collection (it shrank) is clamped.
pub fn scan_positions(len: usize, cursor: u64, count: usize) -> (std::ops::Range<usize>, u64) {
    let top = if cursor == 0 {
        len
    } else {
        (cursor as usize).min(len)
    };
    let bottom = top.saturating_sub(count.max(1));
    (bottom..top, bottom as u64)
}

#[cfg(test)]
mod tests {
    use super::{Hash, List, Set, scan_positions};

    #[test]
    fn sizes_follow_every_change() {
        let mut h = Hash::default();
        h.insert(b"f".to_vec(), b"vv".to_vec());
        h.insert(b"f".to_vec(), b"v".to_vec());
        h.insert(b"g".to_vec(), b"".to_vec());
        assert_eq!(h.bytes(), 1 + 1 + 1 + 2 * super::FIELD_OVERHEAD);
        h.remove(b"f");
        h.remove(b"g");
        assert_eq!(h.bytes(), 0);

        let mut l: List = [b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]
            .into_iter()
            .collect();
        l.set(1, b"b".to_vec());
        l.keep(1, 3);
        assert_eq!(
            l.iter().cloned().collect::<Vec<_>>(),
            [b"b".to_vec(), b"ccc".to_vec()]
        );
        assert_eq!(l.retain(|x| x != b"b"), 1);
        assert_eq!(l.bytes(), 3 + super::ELEMENT_OVERHEAD);
        l.pop(true);
        assert_eq!(l.bytes(), 0);

        let mut s: Set = (0..300u32).map(|i| i.to_string().into_bytes()).collect();
        for i in 0..300u32 {
            assert!(s.remove(i.to_string().as_bytes()));
        }
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn a_scan_by_position_sees_every_member_that_stays() {
        // Remove members behind and ahead of the cursor while scanning: all
        // that stayed throughout are seen.
        let mut s: Set = (0..1_000u32).map(|i| i.to_string().into_bytes()).collect();
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0u32;
        loop {
            let (positions, next) = scan_positions(s.len(), cursor, 37);
            for at in positions {
                seen.insert(s.get_index(at).unwrap().clone());
            }
            // Members divisible by 7 go, whichever side of the cursor.
            for i in (round * 70..round * 70 + 70).filter(|i| i % 7 == 0) {
                s.remove(i.to_string().as_bytes());
            }
            round += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in (0..1_000u32).filter(|i| i % 7 != 0) {
            assert!(seen.contains(i.to_string().as_bytes()), "{i} missed");
        }
    }
}
