//! The prefetch policy's side of maintenance: feeding it the sampled
//! requests, and promoting what it proposes from the warm tier.
//!
//! A promotion may take the hot tier past its capacity by at most half the
//! slack (the other half stays for writers); the eviction step of the same
//! pass, which runs next, brings it back under, as the hot policy chooses.

use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Maintenance;
use crate::hot::{NEVER, Slot};
use crate::policy::{EventKind, POLICY_BATCH_MAX};
use crate::shared::PREFETCH_MAX;
use crate::stats::Counters;

impl<K, V> Maintenance<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Records one sampled request for the prefetch policy.
    pub(super) fn observe(&mut self, hash: u64, hit: bool) {
        if self.prefetch.is_none() {
            return;
        }
        self.observed.push(hash);
        self.observed_hits.push(u8::from(hit));
        if self.observed.len() >= POLICY_BATCH_MAX {
            self.flush_observed();
        }
    }

    fn flush_observed(&mut self) {
        let Some(policy) = &mut self.prefetch else {
            return;
        };
        if self.observed.is_empty() {
            return;
        }
        Counters::add(
            &self.shared.counters.prefetch_observed,
            self.observed.len() as u64,
        );
        let (observed, hits) = (&self.observed, &self.observed_hits);
        let result = crate::policy::guarded(|| policy.observe(observed, hits));
        self.observed.clear();
        self.observed_hits.clear();
        if result.is_err() {
            self.drop_prefetch();
        }
    }

    fn drop_prefetch(&mut self) {
        self.prefetch = None;
        Counters::bump(&self.shared.counters.prefetch_failures);
    }

    /// Asks the prefetch policy for proposals and promotes those the warm
    /// tier holds and the hot tier has room for.
    pub(super) fn prefetch(&mut self) {
        self.flush_observed();
        if self.shared.warm.is_none() {
            return;
        }
        let Some(policy) = &mut self.prefetch else {
            return;
        };
        let mut proposals = Vec::with_capacity(PREFETCH_MAX as usize);
        if crate::policy::guarded(|| policy.propose(PREFETCH_MAX, &mut proposals)).is_err() {
            self.drop_prefetch();
            return;
        }
        proposals.truncate(PREFETCH_MAX as usize);
        let counters = &self.shared.counters;
        Counters::add(&counters.prefetch_proposed, proposals.len() as u64);
        for hash in proposals {
            if self.promote(hash) {
                Counters::bump(&self.shared.counters.prefetch_promoted);
            }
        }
    }

    /// Moves the live warm entry of `hash` into the hot tier if it fits
    /// within capacity plus half the slack. Holds the hot shard lock
    /// throughout, like every cross-tier move.
    fn promote(&mut self, hash: u64) -> bool {
        let shared = std::sync::Arc::clone(&self.shared);
        let Some(warm) = &shared.warm else {
            return false;
        };
        let now = shared.clock.now_nanos();
        let mut table = shared.index.shard(hash).write();
        let Some(entry) = warm.index.take_hash_if(hash, |e| {
            (e.expires_at == NEVER || now < e.expires_at) && table.get(hash, &e.key).is_none()
        }) else {
            return false;
        };
        let limit = shared.capacity.saturating_add(shared.slack / 2);
        if !reserve(&shared.weighted, u64::from(entry.weight), limit) {
            // No room: put it back (nobody else can have stored the key, we
            // hold its hot shard lock).
            if let Some(loc) = warm.index.insert(entry) {
                warm.pool.free(vec![loc]);
            }
            return false;
        }
        let Some(value) = warm.decode::<V>(&entry) else {
            Counters::bump(&shared.counters.warm_corrupt);
            shared
                .weighted
                .fetch_sub(u64::from(entry.weight), Ordering::AcqRel);
            if let Some(loc) = warm.index.insert(entry) {
                warm.pool.free(vec![loc]);
            }
            return false;
        };
        let (weight, loc) = (entry.weight, entry.loc);
        table.insert_new(
            &shared.index.hasher,
            hash,
            Slot {
                version: entry.version,
                expires_at: crate::hot::ExpiresAt::new(entry.expires_at),
                weight,
                written_at: 0,
                key: entry.key,
                value,
            },
        );
        drop(table);
        warm.pool.free(vec![loc]);
        Counters::bump(&shared.counters.promotions);
        self.push_warm(EventKind::Remove, hash, 0);
        self.push(EventKind::Insert, hash, weight);
        true
    }
}

/// Adds `weight` to `weighted` if the sum stays within `limit`.
fn reserve(weighted: &std::sync::atomic::AtomicU64, weight: u64, limit: u64) -> bool {
    weighted
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            (cur + weight <= limit).then_some(cur + weight)
        })
        .is_ok()
}
