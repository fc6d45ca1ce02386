//! The one write path and the one remove path, each in three phases so
//! that several keys can be changed under their locks at once
//! ([`super::batch`]):
//!
//! 1. *prepare*, before any lock: weigh the entry, reserve its capacity
//!    (waiting for room if need be), take a version;
//! 2. *apply*, under the key's hot-shard write lock: examine the live value
//!    in whichever tier holds it, store or remove, keep the warm and cold
//!    copies coherent;
//! 3. *finish*, after every lock is released: tell maintenance, settle
//!    displaced warm copies, notify the listener, count.
//!
//! Nothing in phase 3 may run under a hot-shard lock: telling maintenance
//! can wait for it, and it takes those locks.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::tiers::Displaced;
use super::{Cache, Deadline, Written};
use crate::capture::CaptureOp;
use crate::error::Error;
use crate::hot::{ExpiresAt, NEVER, Slot, Table};
use crate::policy::EventKind;
use crate::shared::WriteEvent;
use crate::stats::{Counters, RemovalCause};
use crate::stripe::Op;

/// A write weighed, reserved and versioned, not yet applied.
pub(super) struct Prepared<K, V> {
    pub(super) key: K,
    value: V,
    pub(super) hash: u64,
    pub(super) weight: u32,
    version: u64,
}

/// What an applied write leaves for [`Cache::finish_write`].
pub(super) enum Applied<K, V> {
    /// `cond` refused: the reservation goes back.
    Refused { weight: u32, current: Option<V> },
    /// A new hot entry; a warm or cold copy it replaced, if any.
    Inserted {
        event: WriteEvent,
        displaced: Option<Displaced<K, V>>,
        lower_current: Option<V>,
    },
    /// A hot entry replaced in place.
    Updated {
        event: WriteEvent,
        old_weight: u32,
        old_key: Option<K>,
        old_value: V,
        expired: bool,
    },
}

/// What an applied remove leaves for [`Cache::finish_remove`].
pub(super) struct Removed<K, V> {
    hash: u64,
    slot: Option<Slot<K, V>>,
    displaced: Option<Displaced<K, V>>,
    from_cold: Option<V>,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The one write path: prepare, apply `cond` to the live current value
    /// under the shard lock, store, finish.
    ///
    /// `look` says whether `cond` inspects the current value; only then is a
    /// warm copy decoded to show it.
    pub(super) fn write(
        &self,
        key: K,
        value: V,
        expiry: Deadline,
        look: bool,
        cond: impl FnOnce(Option<&V>) -> bool,
    ) -> Result<Written<V>, Error> {
        let p = self.prepare(key, value, true)?;
        let s = self.shared();
        let mut table = s.index.shard(p.hash).write();
        let applied = self.apply_write(&mut table, p, expiry, look, cond);
        drop(table);
        Ok(self.finish_write(applied, look))
    }

    /// Phase 1: weigh `key` and `value` and reserve their weight, waiting
    /// for room if `wait` (a caller holding hot-shard locks must not wait:
    /// maintenance needs them to make room; it runs past the bound instead,
    /// and maintenance catches up).
    pub(super) fn prepare(&self, key: K, value: V, wait: bool) -> Result<Prepared<K, V>, Error> {
        let s = self.shared();
        if s.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let hash = s.index.hasher.hash(&key);
        let weight = self.weigh(&key, &value)?;
        if u64::from(weight) > s.capacity {
            return Err(Error::EntryTooLarge {
                weight: u64::from(weight),
                capacity: s.capacity,
            });
        }
        if wait {
            self.reserve(weight)?;
        } else {
            s.weighted.fetch_add(u64::from(weight), Ordering::AcqRel);
        }
        let version = s.version.fetch_add(1, Ordering::AcqRel) + 1;
        Ok(Prepared {
            key,
            value,
            hash,
            weight,
            version,
        })
    }

    /// Phase 2 of a write, under the key's hot-shard write lock (`table`).
    pub(super) fn apply_write(
        &self,
        table: &mut Table<K, V>,
        p: Prepared<K, V>,
        expiry: Deadline,
        look: bool,
        cond: impl FnOnce(Option<&V>) -> bool,
    ) -> Applied<K, V> {
        let s = self.shared();
        let Some((position, slot)) = table.get_mut_at(p.hash, &p.key) else {
            return self.apply_insert(table, p, expiry, look, cond);
        };
        let Prepared {
            value,
            hash,
            weight,
            version,
            ..
        } = p;
        let expired = slot.expired(|| s.clock.now_nanos());
        if !cond((!expired).then_some(&slot.value)) {
            return Applied::Refused {
                weight,
                current: (!expired).then(|| slot.value.clone()),
            };
        }
        let old_weight = slot.weight;
        let old_value = std::mem::replace(&mut slot.value, value);
        slot.weight = weight;
        slot.version = version;
        slot.written_at = self.written_now();
        let current = (!expired).then(|| slot.expires_at.get());
        let expires_at = self.resolve_deadline(expiry, &slot.key, &slot.value, current);
        slot.expires_at.set(expires_at);
        self.cold_on_write(&slot.key, &slot.value, version, expires_at);
        Applied::Updated {
            event: WriteEvent::hot(EventKind::Update, hash, weight, expires_at)
                .at(position, version),
            old_weight,
            old_key: (s.listener.is_some() || (expired && s.departures.is_some()))
                .then(|| slot.key.clone()),
            old_value,
            expired,
        }
    }

    /// [`Cache::apply_write`] of a key the hot tier does not hold: the
    /// current value, if any, is a warm or cold copy; both are examined
    /// and replaced under this hot-shard lock.
    fn apply_insert(
        &self,
        table: &mut Table<K, V>,
        p: Prepared<K, V>,
        expiry: Deadline,
        look: bool,
        cond: impl FnOnce(Option<&V>) -> bool,
    ) -> Applied<K, V> {
        let Prepared {
            key,
            value,
            hash,
            weight,
            version,
        } = p;
        let lower = if look {
            self.warm_current(hash, &key)
                .or_else(|| self.cold_current(&key))
        } else {
            None
        };
        if !cond(lower.as_ref().map(|(v, _)| v)) {
            return Applied::Refused {
                weight,
                current: lower.map(|(v, _)| v),
            };
        }
        let current = lower.as_ref().map(|&(_, deadline)| deadline);
        let expires_at = self.resolve_deadline(expiry, &key, &value, current);
        let displaced = self.warm_discard(hash, &key, look);
        self.cold_on_write(&key, &value, version, expires_at);
        let slot = Slot {
            version,
            expires_at: ExpiresAt::new(expires_at),
            weight,
            written_at: self.written_now(),
            key,
            value,
        };
        let position = table.insert_new(&self.shared().index.hasher, hash, slot);
        Applied::Inserted {
            event: WriteEvent::hot(EventKind::Insert, hash, weight, expires_at)
                .at(position, version),
            displaced,
            lower_current: lower.map(|(v, _)| v),
        }
    }

    /// Phase 3 of a write, with no hot-shard lock held. `look`: the caller
    /// wants the previous value.
    pub(super) fn finish_write(&self, applied: Applied<K, V>, look: bool) -> Written<V> {
        let s = self.shared();
        match applied {
            Applied::Refused { weight, current } => {
                self.release(u64::from(weight));
                Written::Refused { current }
            }
            Applied::Inserted {
                event,
                displaced,
                lower_current,
            } => {
                self.captured(CaptureOp::Set, event.hash, event.weight, event.expires_at);
                self.send(event);
                // A cold value replaced here is reported like a warm one.
                let previous = match displaced {
                    Some(d) => self.settle_displaced(d, RemovalCause::Replaced),
                    None => lower_current,
                };
                s.stripes.count(if previous.is_some() {
                    Op::Update
                } else {
                    Op::Insert
                });
                Written::Stored { previous }
            }
            Applied::Updated {
                event,
                old_weight,
                old_key,
                old_value,
                expired,
            } => {
                self.release(u64::from(old_weight));
                self.captured(CaptureOp::Set, event.hash, event.weight, event.expires_at);
                self.send(event);
                let cause = if expired {
                    RemovalCause::Expired
                } else {
                    s.stripes.count(Op::Update);
                    RemovalCause::Replaced
                };
                // The old value goes to whoever asked (`look`) or to the
                // listener; it is copied only when both want it.
                let previous = match old_key {
                    Some(old_key) if s.listener.is_none() => {
                        s.departed(&old_key, cause);
                        Counters::bump(s.counters.removal(cause));
                        (look && !expired).then_some(old_value)
                    }
                    Some(old_key) => {
                        let previous = (look && !expired).then(|| old_value.clone());
                        s.notify(old_key, old_value, cause);
                        previous
                    }
                    None => {
                        Counters::bump(s.counters.removal(cause));
                        (look && !expired).then_some(old_value)
                    }
                };
                Written::Stored { previous }
            }
        }
    }

    /// Removes `key` if `cond` (when given) accepts its current value.
    pub(super) fn remove_when<Q>(&self, key: &Q, cond: Option<impl FnOnce(&V) -> bool>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let hash = s.index.hasher.hash(key);
        let mut table = s.index.shard(hash).write();
        if let Some(cond) = cond
            && !self.current_satisfies(&table, hash, key, cond)
        {
            return None;
        }
        let removed = self.apply_remove(&mut table, hash, key);
        drop(table);
        self.finish_remove(removed)
    }

    /// Phase 2 of a remove, under the key's hot-shard write lock. The warm
    /// and cold copies go too, so no promotion can bring them back.
    pub(super) fn apply_remove<Q>(
        &self,
        table: &mut Table<K, V>,
        hash: u64,
        key: &Q,
    ) -> Removed<K, V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        let slot = table.remove(&s.index.hasher, hash, key);
        let displaced = self.warm_discard(hash, key, slot.is_none());
        let from_cold = if slot.is_none() && displaced.is_none() {
            self.cold_current(key).map(|(v, _)| v)
        } else {
            None
        };
        let known = slot
            .as_ref()
            .map(|s| &s.key)
            .or(displaced.as_ref().map(|d| &d.key));
        self.cold_on_remove(key, known);
        Removed {
            hash,
            slot,
            displaced,
            from_cold,
        }
    }

    /// Phase 3 of a remove: the value removed, if it was live.
    pub(super) fn finish_remove(&self, removed: Removed<K, V>) -> Option<V> {
        let s = self.shared();
        let Removed {
            hash,
            slot,
            displaced,
            from_cold,
        } = removed;
        self.captured(CaptureOp::Delete, hash, 0, NEVER);
        let from_lower = displaced
            .and_then(|d| self.settle_displaced(d, RemovalCause::Removed))
            .or(from_cold);
        let Some(slot) = slot else {
            if from_lower.is_some() {
                s.stripes.count(Op::Remove);
            }
            return from_lower;
        };
        self.forget(hash, slot.weight);
        if slot.expired(|| s.clock.now_nanos()) {
            s.notify(slot.key, slot.value, RemovalCause::Expired);
            return None;
        }
        s.stripes.count(Op::Remove);
        let value = slot.value.clone();
        s.notify(slot.key, slot.value, RemovalCause::Removed);
        Some(value)
    }

    /// Whether the live value of `key`, in whichever tier holds it, passes
    /// `cond` (an absent key passes nothing). Call under the key's hot-shard
    /// lock (`table`), so that the answer holds until it is released.
    pub(super) fn current_satisfies<Q>(
        &self,
        table: &Table<K, V>,
        hash: u64,
        key: &Q,
        cond: impl FnOnce(&V) -> bool,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.current_under_lock(table, hash, key, |v, _| cond(v))
            .unwrap_or(false)
    }

    /// Calls `f(value, deadline)` with the live value of `key` in whichever
    /// tier holds it. Call under the key's hot-shard lock (`table`).
    pub(super) fn current_under_lock<Q, R>(
        &self,
        table: &Table<K, V>,
        hash: u64,
        key: &Q,
        f: impl FnOnce(&V, u64) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let s = self.shared();
        match table.get(hash, key) {
            Some(slot) => (!slot.expired(|| s.clock.now_nanos()))
                .then(|| f(&slot.value, slot.expires_at.get())),
            None => self
                .warm_current(hash, key)
                .or_else(|| self.cold_current(key))
                .map(|(v, deadline)| f(&v, deadline)),
        }
    }
}
