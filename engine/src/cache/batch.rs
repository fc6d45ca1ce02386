//! Several keys read and changed as one atomic step: what Redis's `RENAME`,
//! `COPY`, `MSETNX`, `LCS`, `LMOVE`, `SMOVE` and the `…STORE` commands need.
//!
//! [`Cache::atomically`] write-locks the hot shards of the keys named, in
//! ascending shard order (the order every multi-shard lock taker uses, so
//! no two can deadlock), then lets the caller read and write those keys
//! through a [`Batch`]. Every movement of a key between tiers holds its
//! hot-shard lock, so while the batch runs its keys can neither change nor
//! move, in any tier. Writes reserve capacity without waiting (waiting for
//! room needs maintenance, which needs these locks); maintenance evicts
//! once the batch is done. What a write or remove would do after its lock
//! (telling maintenance, settling displaced copies, notifying the
//! listener) is done after all the locks are released.

use std::hash::Hash;
use std::time::Duration;

use parking_lot::RwLockWriteGuard;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::update::Finish;
use super::write::{Applied, Removed};
use super::{Cache, Expiration, Update};
use crate::error::Error;
use crate::hot::{NEVER, Table};

/// The keys of one [`Cache::atomically`] call, locked: reads and writes of
/// them through this handle form one atomic step.
///
/// ```
/// use goldylox::Expiration;
/// let cache: goldylox::Cache<String, u64> = goldylox::Cache::new(1 << 20)?;
/// let (a, b) = ("a".to_string(), "b".to_string());
/// cache.atomically(&[&a, &b], |batch| -> Result<(), goldylox::Error> {
///     let sum = batch.get(&a).unwrap_or(0) + batch.get(&b).unwrap_or(0);
///     batch.put(a.clone(), sum, Expiration::Keep)
/// })?;
/// # Ok::<(), goldylox::Error>(())
/// ```
pub struct Batch<'c, K, V> {
    cache: &'c Cache<K, V>,
    /// The write locks held, by shard number, ascending.
    locks: Vec<(usize, RwLockWriteGuard<'c, Table<K, V>>)>,
    /// What the writes and removes finish once the locks are released.
    pending: Vec<Pending<K, V>>,
}

enum Pending<K, V> {
    Write(Applied<K, V>),
    Remove(Removed<K, V>),
    Update(Finish<K, V>),
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Runs `f` with `keys` locked together, in every tier: what `f` reads
    /// and writes through the [`Batch`] happens as one atomic step, which no
    /// other operation on those keys interleaves. Other keys that share a
    /// shard with them wait meanwhile, so keep `f` short. `f` must not use
    /// this cache other than through the batch, and may touch only `keys`
    /// (the batch panics on any other key: a bug in the caller).
    ///
    /// ```
    /// use goldylox::Expiration;
    /// let cache: goldylox::Cache<String, u64> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("from".into(), 10)?;
    /// cache.insert("to".into(), 0)?;
    /// let (from, to) = ("from".to_string(), "to".to_string());
    /// // Move 3 from one key to another: no reader sees one without the other.
    /// cache.atomically(&[&from, &to], |b| -> Result<(), goldylox::Error> {
    ///     let (f, t) = (b.get(&from).unwrap_or(0), b.get(&to).unwrap_or(0));
    ///     b.put(from.clone(), f - 3, Expiration::Keep)?;
    ///     b.put(to.clone(), t + 3, Expiration::Keep)
    /// })?;
    /// assert_eq!((cache.get("from"), cache.get("to")), (Some(7), Some(3)));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn atomically<R>(&self, keys: &[&K], f: impl FnOnce(&mut Batch<'_, K, V>) -> R) -> R {
        let s = self.shared();
        let mut shards: Vec<usize> = keys
            .iter()
            .map(|k| s.index.shard_of(s.index.hasher.hash(*k)))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        let locks = shards
            .into_iter()
            .map(|i| (i, s.index.shard_at(i).write()))
            .collect();
        let mut batch = Batch {
            cache: self,
            locks,
            pending: Vec::new(),
        };
        let result = f(&mut batch);
        let pending = std::mem::take(&mut batch.pending);
        drop(batch);
        for p in pending {
            match p {
                Pending::Write(applied) => {
                    self.finish_write(applied, false);
                }
                Pending::Remove(removed) => {
                    self.finish_remove(removed);
                }
                Pending::Update(finish) => self.finish_update(finish),
            }
        }
        result
    }
}

impl<K, V> Batch<'_, K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The hash of `key` and the position of its shard's lock.
    fn locate(&self, key: &K) -> (u64, usize) {
        let index = &self.cache.shared().index;
        let hash = index.hasher.hash(key);
        let shard = index.shard_of(hash);
        let at = self
            .locks
            .binary_search_by_key(&shard, |(i, _)| *i)
            .unwrap_or_else(|_| panic!("Batch: a key outside the keys it was given"));
        (hash, at)
    }

    /// The live value of `key` and its deadline (cache clock), in whichever
    /// tier holds it; not counted as a read, not promoted.
    fn current(&self, key: &K) -> Option<(V, u64)> {
        let (hash, at) = self.locate(key);
        let table = &*self.locks[at].1;
        self.cache
            .current_under_lock(table, hash, key, |v, deadline| (v.clone(), deadline))
    }

    /// The value of `key`, if present and not expired.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v".into())?;
    /// let k = "k".to_string();
    /// let v = cache.atomically(&[&k], |b| b.get(&k));
    /// assert_eq!(v.as_deref(), Some("v"));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn get(&self, key: &K) -> Option<V> {
        self.current(key).map(|(v, _)| v)
    }

    /// The value of `key` and its time to live (`None`: no deadline).
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v".into())?;
    /// let k = "k".to_string();
    /// let (v, ttl) = cache.atomically(&[&k], |b| b.get_with_ttl(&k)).unwrap();
    /// assert_eq!((v.as_str(), ttl), ("v", None));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn get_with_ttl(&self, key: &K) -> Option<(V, Option<Duration>)> {
        let (value, deadline) = self.current(key)?;
        if deadline == NEVER {
            return Some((value, None));
        }
        let now = self.cache.shared().clock.now_nanos();
        (now < deadline).then(|| (value, Some(Duration::from_nanos(deadline - now))))
    }

    /// Whether `key` is present and not expired.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let k = "k".to_string();
    /// assert!(!cache.atomically(&[&k], |b| b.contains_key(&k)));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn contains_key(&self, key: &K) -> bool {
        let (hash, at) = self.locate(key);
        let table = &*self.locks[at].1;
        self.cache
            .current_under_lock(table, hash, key, |_, _| ())
            .is_some()
    }

    /// Stores `value` under `key` with `expiration`.
    ///
    /// ```
    /// use goldylox::Expiration;
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let (a, b) = ("a".to_string(), "b".to_string());
    /// cache.atomically(&[&a, &b], |batch| -> Result<(), goldylox::Error> {
    ///     batch.put(a.clone(), "1".into(), Expiration::Default)?;
    ///     batch.put(b.clone(), "2".into(), Expiration::Default)
    /// })?;
    /// assert_eq!(cache.len(), 2);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn put(&mut self, key: K, value: V, expiration: Expiration) -> Result<(), Error> {
        let (_, at) = self.locate(&key);
        let prepared = self.cache.prepare(key, value, false)?;
        let expiry = self.cache.deadline_rule(expiration);
        let look = expiration == Expiration::Keep;
        let table = &mut *self.locks[at].1;
        let applied = self
            .cache
            .apply_write(table, prepared, expiry, look, |_| true);
        self.pending.push(Pending::Write(applied));
        Ok(())
    }

    /// Edits the value of `key` in place, as [`Cache::update`] does, within
    /// the batch's atomic step (reserving growth without waiting).
    ///
    /// ```
    /// use goldylox::Update;
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "ab".into())?;
    /// let k = "k".to_string();
    /// let len = cache.atomically(&[&k], |b| {
    ///     b.update(k.clone(), |v| match v {
    ///         Some(s) => { s.push('c'); (Update::Changed, s.len()) }
    ///         None => (Update::Unchanged, 0),
    ///     })
    /// })?;
    /// assert_eq!(len, 3);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn update<R>(
        &mut self,
        key: K,
        edit: impl FnOnce(Option<&mut V>) -> (Update<V>, R),
    ) -> Result<R, Error> {
        let (hash, at) = self.locate(&key);
        let table = &mut *self.locks[at].1;
        let (finish, answer) = self.cache.update_locked(table, hash, key, edit)?;
        self.pending.push(Pending::Update(finish));
        Ok(answer)
    }

    /// Removes `key`; returns whether it was present.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v".into())?;
    /// let k = "k".to_string();
    /// assert!(cache.atomically(&[&k], |b| b.remove(&k)));
    /// assert!(cache.get("k").is_none());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn remove(&mut self, key: &K) -> bool {
        let present = self.contains_key(key);
        let (hash, at) = self.locate(key);
        let table = &mut *self.locks[at].1;
        let removed = self.cache.apply_remove(table, hash, key);
        self.pending.push(Pending::Remove(removed));
        present
    }
}
