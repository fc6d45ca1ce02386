//! The caller's side of the warm tier: reading and promoting, and keeping the
//! warm copy of a key coherent with writes and removes.
//!
//! Every function that changes which tier holds a key runs while the caller
//! holds the key's hot-shard write lock (or takes it), so all movements of
//! one key are serialised; see `crate::warm`.

use std::borrow::Borrow;
use std::hash::Hash;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::hot::{ExpiresAt, Slot};
use crate::policy::EventKind;
use crate::shared::WriteEvent;
use crate::stats::{Counters, RemovalCause};
use crate::warm::WarmEntry;

/// A warm copy taken out of the warm tier by a write or a remove.
pub(super) struct Displaced<K, V> {
    pub(super) key: K,
    /// The decoded value, when it was asked for and decodes.
    pub(super) value: Option<V>,
    pub(super) expired: bool,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Decodes a warm entry's bytes (called under its shard lock).
    fn decode_entry(&self, entry: &WarmEntry<K>) -> Option<V> {
        let warm = self.shared().warm.as_ref()?;
        let value = warm.decode(entry);
        if value.is_none() {
            Counters::bump(&self.shared().counters.warm_corrupt);
        }
        value
    }

    /// A hot miss: read the warm copy, then promote it if it is still the
    /// newest (the key's hot-shard lock decides).
    pub(super) fn get_warm<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let warm = s.warm.as_ref()?;
        let now = || s.clock.now_nanos();
        let found = warm.index.with(hash, key, |e| {
            let live = e.expires_at == crate::hot::NEVER || now() < e.expires_at;
            (
                live,
                e.version,
                e.weight,
                e.expires_at,
                live.then(|| self.decode_entry(e)).flatten(),
            )
        });
        let Some((true, version, weight, expires_at, Some(value))) = found else {
            Counters::bump(&s.counters.warm_misses);
            return None;
        };
        Counters::bump(&s.counters.warm_hits);
        // Room in the hot tier first: reserving may wait, which must not
        // happen under a shard lock.
        if self.reserve(weight).is_err() {
            return Some(value); // shut down: serve without promoting
        }
        let mut table = s.index.shard(hash).write();
        if let Some(slot) = table.get(hash, key) {
            // Someone stored the key meanwhile: theirs is newer.
            let current = (!slot.expired(now)).then(|| slot.value.clone());
            drop(table);
            self.release(u64::from(weight));
            return current.or(Some(value));
        }
        let Some(entry) = warm.index.take_if(hash, key, |e| e.version == version) else {
            // The warm copy left meanwhile (evicted or written over); it was
            // the current value when we read it.
            drop(table);
            self.release(u64::from(weight));
            return Some(value);
        };
        let expires_at = self.renew_promoted(&entry.key, &value, expires_at);
        let slot = Slot {
            version,
            expires_at: ExpiresAt::new(expires_at),
            weight,
            written_at: 0,
            key: entry.key,
            value: value.clone(),
        };
        let position = table.insert_new(&s.index.hasher, hash, slot);
        drop(table);
        warm.pool.free(vec![entry.loc]);
        Counters::bump(&s.counters.promotions);
        self.send(WriteEvent::warm_removed(hash));
        self.send(
            WriteEvent::hot(EventKind::Insert, hash, weight, expires_at).at(position, version),
        );
        Some(value)
    }

    /// A miss in every tier, read without the key's hot-shard lock, may
    /// have raced a movement of the key: a reader can miss the hot tier just
    /// before a promotion and the warm tier just after it. Every movement of
    /// a key holds its hot-shard write lock, so reading the tiers again
    /// under the read lock gives the settled answer (without promoting).
    pub(super) fn get_settled<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        if s.warm.is_none() && s.cold.is_none() {
            return None; // one tier: the first read was under its lock
        }
        let table = s.index.shard(hash).read();
        if let Some(slot) = table.get(hash, key) {
            return (!slot.expired(|| s.clock.now_nanos())).then(|| slot.value.clone());
        }
        let value = self
            .warm_current(hash, key)
            .or_else(|| self.cold_current(key))
            .map(|(v, _)| v);
        drop(table);
        value
    }

    /// The live warm value of `key` and its deadline, decoded. Call with the
    /// key's hot-shard lock held.
    pub(super) fn warm_current<Q>(&self, hash: u64, key: &Q) -> Option<(V, u64)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let warm = s.warm.as_ref()?;
        warm.index
            .with(hash, key, |e| {
                let live = e.expires_at == crate::hot::NEVER || s.clock.now_nanos() < e.expires_at;
                live.then(|| self.decode_entry(e).map(|v| (v, e.expires_at)))
                    .flatten()
            })
            .flatten()
    }

    /// Takes the warm copy of `key` out (a write or remove superseded it) and
    /// frees its slot. Call with the key's hot-shard lock held.
    pub(super) fn warm_discard<Q>(
        &self,
        hash: u64,
        key: &Q,
        want_value: bool,
    ) -> Option<Displaced<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let warm = s.warm.as_ref()?;
        let entry = warm.index.take_if(hash, key, |_| true)?;
        let expired =
            entry.expires_at != crate::hot::NEVER && s.clock.now_nanos() >= entry.expires_at;
        let value = if want_value || s.listener.is_some() {
            self.decode_entry(&entry)
        } else {
            None
        };
        warm.pool.free(vec![entry.loc]);
        // Under the hot-shard lock, so the policy hears of the removal before
        // any later write of this key; without waiting, because maintenance
        // may be waiting for the lock.
        self.send_under_lock(WriteEvent::warm_removed(hash));
        Some(Displaced {
            key: entry.key,
            value,
            expired,
        })
    }

    /// Reports a displaced warm copy to the listener with `cause` (or
    /// `Expired` if it had expired); returns its value if it was live.
    pub(super) fn settle_displaced(&self, d: Displaced<K, V>, cause: RemovalCause) -> Option<V> {
        let s = self.shared();
        let cause = if d.expired {
            RemovalCause::Expired
        } else {
            cause
        };
        let live = if d.expired { None } else { d.value.clone() };
        if d.value.is_none() {
            s.departed(&d.key, cause);
        }
        match d.value {
            Some(v) => s.notify(d.key, v, cause),
            None => Counters::bump(s.counters.removal(cause)),
        }
        live
    }

    /// Whether `key` has a live warm copy.
    pub(super) fn warm_contains<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        s.warm.as_ref().is_some_and(|warm| {
            warm.index
                .with(hash, key, |e| {
                    e.expires_at == crate::hot::NEVER || s.clock.now_nanos() < e.expires_at
                })
                .unwrap_or(false)
        })
    }

    /// The warm copy's deadline, if `key` has one.
    pub(super) fn warm_deadline<Q>(&self, hash: u64, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shared()
            .warm
            .as_ref()?
            .index
            .with(hash, key, |e| e.expires_at)
    }
}
