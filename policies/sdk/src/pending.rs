//! The queue of victims a policy chose while applying events, answered by
//! its next `evict`.

use std::collections::VecDeque;

/// Victims chosen while applying events, waiting for the next `evict`.
///
/// A victim written again or removed before the host asked for it is taken
/// back by [`drive`](crate::drive) (see [`Pending::cancel`]): a rewritten one is tracked
/// again, so returning it later would evict a fresh write and leave the
/// policy tracking an entry the host no longer has; a removed one is gone.
///
/// Taking back is O(1): the queue keeps a sequence number per entry and a
/// table maps each queued hash to the number of its live entry; entries
/// whose number is no longer in the table are skipped when the queue is
/// answered. (It was a scan of the queue, which made a policy that had
/// queued many victims — e.g. one told of a resident set larger than its
/// capacity — quadratic in the removes that followed.)
#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<(u64, u32, u64)>,
    /// Each queued hash with the sequence number of its live entry (key
    /// hashes are already well mixed, so they index the table as they are).
    members: hashbrown::HashTable<(u64, u64)>,
    next: u64,
}

impl Pending {
    /// Queues a victim and its weight (a hash queued again moves to the
    /// back).
    pub fn push(&mut self, hash: u64, weight: u32) {
        self.next += 1;
        let seq = self.next;
        match self.members.find_mut(hash, |&(h, _)| h == hash) {
            Some(entry) => entry.1 = seq,
            None => {
                self.members.insert_unique(hash, (hash, seq), |&(h, _)| h);
            }
        }
        self.queue.push_back((hash, weight, seq));
    }

    /// Takes `hash` out of the queue; returns whether it was queued.
    pub fn cancel(&mut self, hash: u64) -> bool {
        match self.members.find_entry(hash, |&(h, _)| h == hash) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Number of queued victims.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The oldest live entry, taken out of the queue.
    fn pop(&mut self) -> Option<(u64, u32)> {
        while let Some((hash, weight, seq)) = self.queue.pop_front() {
            if let Ok(entry) = self
                .members
                .find_entry(hash, |&(h, s)| h == hash && s == seq)
            {
                entry.remove();
                return Some((hash, weight));
            }
        }
        None
    }

    /// The `evict` answer: queued victims first, then `more()` until `max`
    /// victims or `need` weight (whichever comes first), or `more` runs dry.
    pub fn answer(
        &mut self,
        max: u32,
        need: u64,
        mut more: impl FnMut() -> Option<(u64, u32)>,
    ) -> Vec<u64> {
        let mut out = Vec::new();
        let mut freed = 0u64;
        while out.len() < max as usize {
            let Some((hash, weight)) = self.pop() else {
                break;
            };
            out.push(hash);
            freed += u64::from(weight);
        }
        while out.len() < max as usize && freed < need {
            let Some((hash, weight)) = more() else { break };
            out.push(hash);
            freed += u64::from(weight);
        }
        out
    }
}
