//! Reads that renew deadlines: time to idle and an [`Expiry`]'s
//! `expire_after_read` (see `crate::expiry`). A hot hit moves the slot's
//! deadline under the shard read lock; a copy promoted from the warm or
//! cold tier is renewed as it is promoted.
//!
//! [`Expiry`]: crate::Expiry

use std::hash::Hash;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::hot::Slot;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// A hot hit on `slot` (read-locked) renews its deadline if the rules
    /// say so. Returns the new deadline if it moved earlier: maintenance
    /// must file a timer for it (one that moved later is found by the
    /// timer it already has).
    #[inline]
    pub(super) fn renew(&self, slot: &Slot<K, V>) -> Option<u64> {
        if !self.shared().renews_on_read {
            return None;
        }
        self.renew_hit(slot)
    }

    fn renew_hit(&self, slot: &Slot<K, V>) -> Option<u64> {
        let s = self.shared();
        let current = slot.expires_at.get();
        let renewed = self.inner.lifetime.read(
            s.clock.now_nanos(),
            &slot.key,
            &slot.value,
            current,
            slot.written_at,
            &s.counters,
        )?;
        slot.expires_at.renew(renewed);
        (renewed < current).then_some(renewed)
    }

    /// The deadline of a copy of `key` promoted from a lower tier by a
    /// read, which had `deadline` there.
    pub(super) fn renew_promoted(&self, key: &K, value: &V, deadline: u64) -> u64 {
        let s = self.shared();
        if !s.renews_on_read {
            return deadline;
        }
        // Its write time is not known (stamp 0).
        self.inner
            .lifetime
            .read(s.clock.now_nanos(), key, value, deadline, 0, &s.counters)
            .unwrap_or(deadline)
    }
}
