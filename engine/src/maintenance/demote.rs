//! Maintenance's side of the warm tier: demoting hot victims into it,
//! evicting from it with its own policy, reaping its expired entries.
//!
//! A demotion is prepared without locks (copy the value, encode, compress,
//! get a slot from the pool manager, write the bytes) and committed under the
//! key's hot-shard write lock: the hot entry is removed and the warm entry
//! inserted only if the hot entry still carries the version that was copied.
//! Otherwise the key was written meanwhile, the newer value stays hot and the
//! slot goes back.

use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Maintenance;
use super::tier::Source;
use crate::hot::{NEVER, Slot};
use crate::policy::{EventKind, PolicyTier};
use crate::pool::SlabLoc;
use crate::pool::alloc::AllocError;
use crate::pool::manager::Grant;
use crate::stats::{Counters, RemovalCause};
use crate::warm::codec::{self, Codec};
use crate::warm::{WarmEntry, WarmTier};

/// A hot entry on its way down.
struct Candidate<K, V> {
    hash: u64,
    slot: Slot<K, V>,
    /// The encoding, if it was admitted and encodes.
    bytes: Option<(Vec<u8>, Codec)>,
    grant: Option<Grant>,
}

impl<K, V> Maintenance<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Evicts the hot entries of `victims`, demoting them to the warm tier
    /// where it admits them and has room; returns the hot bytes freed.
    pub(super) fn demote_victims(&mut self, victims: &[u64], source: Source) -> u64 {
        let mut candidates = self.candidates(victims);
        self.make_room(&mut candidates);
        let shared = std::sync::Arc::clone(&self.shared);
        let warm = shared.warm.as_ref().expect("demotion needs a warm tier");
        let mut freed = 0u64;
        let mut returned = Vec::new();
        for c in candidates {
            freed += self.move_down(c, warm, source, &mut returned);
        }
        warm.pool.free(returned);
        freed
    }

    /// Step 1: every copy of each victim, asked of the warm policy and
    /// encoded if admitted, outside any lock.
    fn candidates(&mut self, victims: &[u64]) -> Vec<Candidate<K, V>> {
        let mut candidates = Vec::with_capacity(victims.len());
        for &hash in victims {
            let copies = self.shared.index.snapshot(hash);
            if copies.is_empty() {
                Counters::bump(&self.shared.counters.invalid_unknown);
            }
            for slot in copies {
                let now = self.shared.clock.now_nanos();
                let admitted = match self.warm.as_mut() {
                    Some(policy) if policy.is_live() => {
                        let verdict = policy.slot().admit(hash, 0, now);
                        if verdict.is_none() {
                            self.fail_warm_policy();
                        }
                        verdict.unwrap_or(true)
                    }
                    _ => true,
                };
                let bytes = admitted.then(|| self.encode(&slot.value)).flatten();
                candidates.push(Candidate {
                    hash,
                    slot,
                    bytes,
                    grant: None,
                });
            }
        }
        candidates
    }

    /// Step 2: pool slots for everything that will go down; if the pool is
    /// short, evict from the warm tier once, defragment, and try again.
    fn make_room(&mut self, candidates: &mut [Candidate<K, V>]) {
        self.grant(candidates);
        let short: u64 = candidates
            .iter()
            .filter(|c| c.bytes.is_some() && c.grant.is_none())
            .map(|c| c.bytes.as_ref().map_or(0, |b| b.0.len() as u64))
            .sum();
        if short > 0 {
            self.evict_warm(short);
            if let Some(warm) = &self.shared.warm {
                warm.pool.defragment();
            }
            self.grant(candidates);
        }
    }

    /// Step 3, for one candidate: writes its bytes into its slot, then,
    /// under the key's hot-shard lock, removes the hot entry (if it is
    /// still this version) and puts it in the warm index, or offers it to
    /// the cold tier when the warm tier refused it. Slots that end up
    /// unused go to `returned`. Returns the hot bytes freed.
    fn move_down(
        &mut self,
        c: Candidate<K, V>,
        warm: &WarmTier<K>,
        source: Source,
        returned: &mut Vec<SlabLoc>,
    ) -> u64 {
        if let (Some(grant), Some((bytes, _))) = (&c.grant, &c.bytes)
            && !warm.pool.table.write(grant.loc, grant.slot_size, bytes)
        {
            returned.push(grant.loc);
            return 0;
        }
        let mut table = self.shared.index.shard(c.hash).write();
        let Some(slot) = table.remove_version(
            &self.shared.index.hasher,
            c.hash,
            &c.slot.key,
            c.slot.version,
        ) else {
            drop(table);
            // Written or removed meanwhile: nothing to evict here.
            if let Some(grant) = c.grant {
                returned.push(grant.loc);
                Counters::bump(&self.shared.counters.demotions_aborted);
            }
            return 0;
        };
        let w = u64::from(slot.weight);
        self.shared.weighted.fetch_sub(w, Ordering::AcqRel);
        if source == Source::Fallback {
            Counters::bump(&self.shared.counters.fallback_evictions);
        }
        let (Some(grant), Some((bytes, codec))) = (c.grant, c.bytes) else {
            // The warm tier refused it: the cold tier may take it, still
            // under the key's hot-shard lock.
            let now = self.shared.clock.now_nanos();
            let kept = self.shared.cold.as_ref().is_some_and(|cold| {
                !slot.expired(|| now)
                    && cold.demote(
                        &self.shared.counters,
                        &self.shared.version,
                        &slot.key,
                        || postcard::to_allocvec(&slot.value).ok(),
                        slot.version,
                        slot.expires_at.get(),
                    )
            });
            drop(table);
            if !kept {
                Counters::bump(&self.shared.counters.demotions_dropped);
                self.shared
                    .notify(slot.key, slot.value, RemovalCause::Evicted);
            }
            return w;
        };
        let entry = WarmEntry {
            hash: c.hash,
            key: slot.key,
            loc: grant.loc,
            slot_size: grant.slot_size,
            len: bytes.len() as u32,
            codec,
            version: slot.version,
            expires_at: slot.expires_at.get(),
            weight: slot.weight,
        };
        let lost = warm.index.insert(entry);
        drop(table);
        returned.extend(lost);
        Counters::bump(&self.shared.counters.demotions);
        self.push_warm(EventKind::Insert, c.hash, grant.slot_size);
        w
    }

    /// Serialises and compresses a value; feeds the dictionary trainer
    /// until it has enough samples.
    fn encode(&mut self, value: &V) -> Option<(Vec<u8>, Codec)> {
        let warm = self.shared.warm.as_ref()?;
        let raw = codec::serialize(value).ok()?;
        self.trainer.feed(&raw, &warm.dict);
        Some(codec::compress(raw, warm.dict.get()))
    }

    /// Asks the pool manager for slots for the candidates that still need one.
    fn grant(&mut self, candidates: &mut [Candidate<K, V>]) {
        let Some(warm) = &self.shared.warm else {
            return;
        };
        let wanted: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].bytes.is_some() && candidates[i].grant.is_none())
            .collect();
        if wanted.is_empty() {
            return;
        }
        let items = wanted
            .iter()
            .map(|&i| {
                let len = candidates[i].bytes.as_ref().map_or(0, |b| b.0.len());
                (u32::try_from(len).unwrap_or(u32::MAX), candidates[i].hash)
            })
            .collect();
        for (i, result) in wanted.into_iter().zip(warm.pool.alloc(items)) {
            match result {
                Ok(grant) => candidates[i].grant = Some(grant),
                Err(AllocError::TooLarge) => candidates[i].bytes = None,
                Err(AllocError::NoSpace) => {}
            }
        }
    }

    pub(super) fn push_warm(&mut self, kind: EventKind, hash: u64, weight: u32) {
        if self
            .warm
            .as_mut()
            .is_some_and(|w| w.push(kind, hash, weight))
        {
            self.flush_warm();
        }
    }

    pub(super) fn flush_warm(&mut self) {
        let now = self.shared.clock.now_nanos();
        if self
            .warm
            .as_mut()
            .is_some_and(|w| w.flush(now, &self.shared.counters))
        {
            self.seed_fallback(PolicyTier::Warm);
        }
    }

    /// The warm policy failed when asked to admit: the fallback decides.
    fn fail_warm_policy(&mut self) {
        Counters::bump(&self.shared.counters.policy_failures);
        self.seed_fallback(PolicyTier::Warm);
    }

    /// Evicts warm entries: those the warm policy already chose, and more
    /// until `need` slot bytes are freed.
    pub(super) fn evict_warm(&mut self, need: u64) {
        self.flush_warm();
        let shared = std::sync::Arc::clone(&self.shared);
        let Some(warm) = &shared.warm else { return };
        let mut freed = 0u64;
        for _ in 0..crate::policy::EVICT_ROUNDS_MAX {
            let Some(policy) = self.warm.as_mut() else {
                return;
            };
            let mut victims = Vec::new();
            let want = need.saturating_sub(freed);
            let now = shared.clock.now_nanos();
            let source = if policy.is_live() {
                if !policy.propose(want, &mut victims, now, &shared.counters) {
                    self.seed_fallback(PolicyTier::Warm);
                    continue;
                }
                Source::Policy
            } else {
                policy.propose_fallback(want, &mut victims);
                Source::Fallback
            };
            if victims.is_empty() {
                return;
            }
            policy.forget(&victims, source, now, &shared.counters);
            let mut locs = Vec::with_capacity(victims.len());
            let mut gone = Vec::new();
            for hash in victims {
                // Into the cold tier under the key's hot-shard lock, so no
                // write of the key can slip between its warm and cold copy.
                let hot = shared
                    .cold
                    .as_ref()
                    .map(|_| shared.index.shard(hash).write());
                while let Some(entry) = warm.index.take_hash_if(hash, |_| true) {
                    freed += u64::from(entry.slot_size);
                    if self.warm_to_cold(&entry, now) {
                        locs.push(entry.loc);
                    } else {
                        gone.push(entry);
                    }
                }
                drop(hot);
            }
            // The listener hears of entries that left the cache after the
            // locks are released (it may use the cache).
            for entry in gone {
                let loc = entry.loc;
                self.notify_warm(entry, RemovalCause::Evicted);
                locs.push(loc);
            }
            warm.pool.free(locs);
            if freed >= need {
                return;
            }
        }
    }

    /// Appends an evicted warm entry to the cold tier (if there is one, it
    /// is usable and the entry is live); whether the cold tier holds it.
    /// Call with the key's hot-shard lock held, before freeing its slot.
    fn warm_to_cold(&self, entry: &WarmEntry<K>, now: u64) -> bool {
        let (Some(cold), Some(warm)) = (&self.shared.cold, &self.shared.warm) else {
            return false;
        };
        if entry.expires_at != NEVER && entry.expires_at <= now {
            return false;
        }
        let mut buf = Vec::new();
        cold.demote(
            &self.shared.counters,
            &self.shared.version,
            &entry.key,
            || {
                warm.bytes_of(entry, &mut buf).then_some(())?;
                codec::decompress(&buf, entry.codec, warm.dict.get()).map(|raw| raw.into_owned())
            },
            entry.version,
            entry.expires_at,
        )
    }

    /// Reaps the expired warm entries of `hash`; whether there were any.
    pub(super) fn expire_warm(&mut self, hash: u64, now: u64) -> bool {
        let shared = std::sync::Arc::clone(&self.shared);
        let Some(warm) = &shared.warm else {
            return false;
        };
        let mut locs = Vec::new();
        while let Some(entry) = warm
            .index
            .take_hash_if(hash, |e| e.expires_at != NEVER && e.expires_at <= now)
        {
            locs.push(entry.loc);
            self.notify_warm(entry, RemovalCause::Expired);
            self.push_warm(EventKind::Remove, hash, 0);
        }
        let any = !locs.is_empty();
        warm.pool.free(locs);
        any
    }

    /// Reports a warm entry leaving the cache (decoding it only if someone
    /// listens). Call before freeing its slot.
    fn notify_warm(&self, entry: WarmEntry<K>, cause: RemovalCause) {
        let s = &self.shared;
        let decoded = s
            .listener
            .as_ref()
            .and_then(|_| s.warm.as_ref()?.decode::<V>(&entry));
        match decoded {
            Some(value) => s.notify(entry.key, value, cause),
            None => {
                s.departed(&entry.key, cause);
                Counters::bump(s.counters.removal(cause));
            }
        }
    }
}
