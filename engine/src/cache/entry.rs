//! The entry API: one key, looked at and changed in one step.
//!
//! [`Cache::entry`] names a key; its [`Entry`] loads it if absent (one
//! loader per key, shared with [`Cache::get_or_insert_with`]) or computes
//! its next value from the current one under the key's lock, in whichever
//! tier the value lies ([`Cache::update`] underneath): an insert, a
//! replacement or a removal that no other write can interleave with.

use std::hash::Hash;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Cache, Update};
use crate::error::Error;

/// What [`Entry::and_compute_with`]'s function asks for.
///
/// ```
/// use goldylox::{Compute, Computed};
/// let cache: goldylox::Cache<String, u64> = goldylox::Cache::new(1 << 20)?;
/// cache.insert("stock".into(), 1)?;
/// // Take one; the last one removes the key.
/// let taken = cache.entry("stock".into()).and_compute_with(|n| match n {
///     Some(1) => Compute::Remove,
///     Some(n) => Compute::Put(n - 1),
///     None => Compute::Nop,
/// })?;
/// assert_eq!(taken, Computed::Removed(1));
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compute<V> {
    /// Leave the entry as it is (absent stays absent).
    Nop,
    /// Store this value: a new entry gets the default time to live, an
    /// existing one keeps its deadline.
    Put(V),
    /// Remove the entry, from every tier.
    Remove,
}

/// What [`Entry::and_compute_with`] did.
///
/// ```
/// use goldylox::{Compute, Computed};
/// let cache: goldylox::Cache<String, u64> = goldylox::Cache::new(1 << 20)?;
/// let c = cache.entry("k".into()).and_compute_with(|_| Compute::Nop)?;
/// assert_eq!(c, Computed::StillNone);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Computed<V> {
    /// The key was absent and stays absent.
    StillNone,
    /// The key kept this value.
    Unchanged(V),
    /// The key was absent; this value was stored.
    Inserted(V),
    /// The key's value was replaced with this one.
    ReplacedWith(V),
    /// The key, which had this value, was removed.
    Removed(V),
}

/// One key of a [`Cache`], from [`Cache::entry`].
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// let entry: goldylox::Entry<'_, String, String> = cache.entry("k".into());
/// assert_eq!(entry.or_insert_with(|| "v".into()), "v");
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug)]
pub struct Entry<'a, K, V> {
    cache: &'a Cache<K, V>,
    key: K,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The entry of `key`, to load or compute in one step.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// use goldylox::{Cache, Compute, Computed};
    ///
    /// let hits: Cache<String, u64> = Cache::new(1 << 20)?;
    /// let counted = hits
    ///     .entry("page".into())
    ///     .and_compute_with(|n| Compute::Put(n.copied().unwrap_or(0) + 1))?;
    /// assert_eq!(counted, Computed::Inserted(1));
    /// assert_eq!(hits.entry("page".into()).and_upsert_with(|n| n.unwrap() + 1)?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn entry(&self, key: K) -> Entry<'_, K, V> {
        Entry { cache: self, key }
    }
}

impl<K, V> Entry<'_, K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The key.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// assert_eq!(cache.entry("k".into()).key(), "k");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The value, loading it with `init` and storing it if absent; one
    /// loader per missing key ([`Cache::get_or_insert_with`]).
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let v = cache.entry("k".into()).or_insert_with(|| "loaded".into());
    /// assert_eq!(v, "loaded");
    /// let again = cache.entry("k".into()).or_insert_with(|| unreachable!());
    /// assert_eq!(again, "loaded");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn or_insert_with(self, init: impl FnOnce() -> V) -> V {
        self.cache.get_or_insert_with(self.key, init)
    }

    /// The value, loading it with a fallible `init` if absent; an error goes
    /// to every caller waiting on the same load and nothing is stored
    /// ([`Cache::try_get_or_insert_with`]).
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let r = cache.entry("k".into()).or_try_insert_with(|| Err::<String, _>("db down"));
    /// assert_eq!(*r.unwrap_err(), "db down");
    /// assert!(cache.get("k").is_none(), "nothing stored");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn or_try_insert_with<E: Send + Sync + 'static>(
        self,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, Arc<E>> {
        self.cache.try_get_or_insert_with(self.key, init)
    }

    /// Computes what becomes of the entry from its current value (`None`:
    /// absent or expired) under the key's lock, in whichever tier it lies,
    /// and applies it atomically. `f` must be quick and must not use this
    /// cache.
    ///
    /// ```
    /// use goldylox::{Compute, Computed};
    /// let cache: goldylox::Cache<String, u64> = goldylox::Cache::new(1 << 20)?;
    /// let c = cache.entry("n".into()).and_compute_with(|n| match n {
    ///     None => Compute::Put(1),
    ///     Some(_) => Compute::Nop,
    /// })?;
    /// assert_eq!(c, Computed::Inserted(1));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn and_compute_with(
        self,
        f: impl FnOnce(Option<&V>) -> Compute<V>,
    ) -> Result<Computed<V>, Error> {
        compute(self.cache, self.key, f)
    }

    /// Stores `f(current)` (`None`: absent or expired) atomically and
    /// returns it: an insert or a replacement in one step.
    ///
    /// ```
    /// let cache: goldylox::Cache<String, u64> = goldylox::Cache::new(1 << 20)?;
    /// for _ in 0..3 {
    ///     cache.entry("n".into()).and_upsert_with(|n| n.map_or(1, |n| n + 1))?;
    /// }
    /// assert_eq!(cache.get("n"), Some(3));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn and_upsert_with(self, f: impl FnOnce(Option<&V>) -> V) -> Result<V, Error> {
        let computed = compute(self.cache, self.key, |v| Compute::Put(f(v)))?;
        match computed {
            Computed::Inserted(v) | Computed::ReplacedWith(v) => Ok(v),
            _ => unreachable!("a put inserts or replaces"),
        }
    }
}

/// [`Entry::and_compute_with`] on `cache`, by value (the async entry sends
/// it to a blocking worker).
pub(super) fn compute<K, V>(
    cache: &Cache<K, V>,
    key: K,
    f: impl FnOnce(Option<&V>) -> Compute<V>,
) -> Result<Computed<V>, Error>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    cache.update(key, |current| {
        let current = current.map(|v| &*v);
        match (f(current), current) {
            (Compute::Nop | Compute::Remove, None) => (Update::Unchanged, Computed::StillNone),
            (Compute::Nop, Some(v)) => (Update::Unchanged, Computed::Unchanged(v.clone())),
            (Compute::Put(v), None) => (Update::Insert(v.clone()), Computed::Inserted(v)),
            (Compute::Put(v), Some(_)) => (Update::Insert(v.clone()), Computed::ReplacedWith(v)),
            (Compute::Remove, Some(v)) => (Update::Remove, Computed::Removed(v.clone())),
        }
    })
}
