//! A sorted set: members with scores, ordered by (score, member) as
//! Redis's skiplist orders them.
//!
//! Two views of one set of members: `scores`, an insertion-ordered index
//! map member → score (`ZSCORE` in O(1), random draws, a `ZSCAN` cursor by
//! position), and `order`, the (score, member) pairs in order with
//! positions ([`Sorted`]: `ZADD`, `ZRANK`, `ZRANGE` in O(log n)). A member's
//! bytes are shared by both (`Arc<[u8]>`), stored once.

use std::cmp::Ordering;
use std::sync::Arc;

use indexmap::IndexMap;

use super::sorted::Sorted;

/// Bytes charged per member beyond its bytes: its entry in the map and
/// its index slot, its place in a chunk, and the shared allocation's
/// header.
pub const ZMEMBER_OVERHEAD: usize = 80;

/// A member and its score, ordered by score, then member bytes.
#[derive(Clone, Debug)]
pub struct Scored {
    /// The score (never NaN).
    pub score: f64,
    /// The member.
    pub member: Arc<[u8]>,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    /// Scores compare as numbers (so -0 equals 0, as in Redis), then
    /// members as bytes.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| self.member.cmp(&other.member))
    }
}

/// A sorted set.
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    scores: IndexMap<Arc<[u8]>, f64>,
    order: Sorted<Scored>,
    bytes: usize,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .order
                .iter()
                .zip(other.order.iter())
                .all(|(a, b)| a.score == b.score && a.member == b.member)
    }
}

impl Eq for ZSet {}

impl ZSet {
    /// Its bytes as charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether it has no member.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score (adding it if new); its previous score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan());
        // -0 is stored as 0, as Redis's compact encoding of a sorted set
        // (what holds every small one) stores it.
        let score = if score == 0.0 { 0.0 } else { score };
        if let Some((_, shared, old)) = self.scores.get_full_mut(member) {
            let previous = *old;
            if previous != score || previous.to_bits() != score.to_bits() {
                *old = score;
                let shared = Arc::clone(shared);
                self.order.remove(&Scored {
                    score: previous,
                    member: Arc::clone(&shared),
                });
                self.order.insert(Scored {
                    score,
                    member: shared,
                });
            }
            return Some(previous);
        }
        let shared: Arc<[u8]> = Arc::from(member);
        self.bytes += member.len() + ZMEMBER_OVERHEAD;
        self.scores.insert(Arc::clone(&shared), score);
        self.order.insert(Scored {
            score,
            member: shared,
        });
        None
    }

    /// Removes `member`; its score, if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (shared, score) = self.scores.swap_remove_entry(member)?;
        self.order.remove(&Scored {
            score,
            member: shared,
        });
        self.bytes -= member.len() + ZMEMBER_OVERHEAD;
        Some(score)
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let (shared, score) = self.scores.get_key_value(member)?;
        self.order.rank(&Scored {
            score: *score,
            member: Arc::clone(shared),
        })
    }

    /// The members in order.
    pub fn order(&self) -> &Sorted<Scored> {
        &self.order
    }

    /// The member and score at `at` in insertion order (random draws,
    /// `ZSCAN`).
    pub fn at(&self, at: usize) -> Option<(&[u8], f64)> {
        self.scores.get_index(at).map(|(m, s)| (&**m, *s))
    }

    /// Removes the members at ranks `start..end`, in order.
    pub fn drain(&mut self, start: usize, end: usize) -> Vec<Scored> {
        let gone = self.order.drain(start, end);
        for s in &gone {
            self.scores.swap_remove(&*s.member);
            self.bytes -= s.member.len() + ZMEMBER_OVERHEAD;
        }
        gone
    }

    /// Builds from (member, score) pairs in ascending order, as stored.
    pub fn from_sorted(pairs: Vec<(Vec<u8>, f64)>) -> Self {
        let mut scores = IndexMap::with_capacity(pairs.len());
        let mut order = Vec::with_capacity(pairs.len());
        let mut bytes = 0;
        for (member, score) in pairs {
            bytes += member.len() + ZMEMBER_OVERHEAD;
            let shared: Arc<[u8]> = Arc::from(member);
            scores.insert(Arc::clone(&shared), score);
            order.push(Scored {
                score,
                member: shared,
            });
        }
        ZSet {
            scores,
            order: Sorted::from_sorted(order),
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ZSet;

    #[test]
    fn scores_ranks_and_bytes_follow_changes() {
        let mut z = ZSet::default();
        assert_eq!(z.insert(b"b", 2.0), None);
        assert_eq!(z.insert(b"a", 2.0), None);
        assert_eq!(z.insert(b"c", 1.0), None);
        let order: Vec<&[u8]> = z.order().iter().map(|s| &*s.member).collect();
        assert_eq!(order, [&b"c"[..], b"a", b"b"], "score, then bytes");
        assert_eq!(z.insert(b"c", 3.0), Some(1.0));
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(z.rank(b"a"), Some(0));
        assert_eq!(z.remove(b"a"), Some(2.0));
        assert_eq!(z.rank(b"b"), Some(0));
        let gone = z.drain(0, 2);
        assert_eq!(gone.len(), 2);
        assert!(z.is_empty());
        assert_eq!(z.bytes(), 0);
    }
}
