//! The async API: [`AsyncCache`], the same cache for tasks on any executor.

mod entry;
mod load;

pub use entry::AsyncEntry;

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Cache, Expiration};
use crate::error::Error;
use crate::workers::{DEFAULT_BLOCKING_WORKERS, Workers};

/// A [`Cache`] for async code: reads, writes and loads that never block the
/// executor's thread, and loaders that are futures, coalesced per key.
///
/// It is the same cache, not a copy: [`AsyncCache::sync`] is the
/// synchronous handle, and what one view writes the other reads. Cloning is
/// cheap and every clone shares one set of blocking workers.
///
/// **What runs where.** The hot and warm tiers are memory: a read or write
/// that only touches them runs inline, as fast as the synchronous call. What
/// could block runs on the blocking workers (plain threads named
/// `gx-blocking-N`) and is awaited: a read that misses memory in a
/// cache with a cold tier (it reads the disk), and a write or remove in a
/// cache with a cold tier (it may wait for room in the cold writer's queue)
/// or one that finds the cache over its capacity (it may wait for eviction).
///
/// **Loads.** [`get_with`](AsyncCache::get_with),
/// [`try_get_with`](AsyncCache::try_get_with) and
/// [`optionally_get_with`](AsyncCache::optionally_get_with) run one loader
/// per missing key however many tasks ask at once (the synchronous
/// [`Cache::get_or_insert_with`]'s flights, shared with it): the others
/// await its value, or its error. If the loading task is cancelled (its
/// future dropped) or its loader panics, the waiting tasks wake and one of
/// them runs its own loader; the panic reaches only the task whose loader
/// panicked. Nothing is left locked or poisoned.
///
/// No executor is assumed: the futures use only `std::task`, and run on
/// tokio, async-std, smol or a hand-written `block_on` alike.
///
/// ```
/// # fn main() -> Result<(), goldylox::Error> {
/// use goldylox::{AsyncCache, Cache};
///
/// let cache = AsyncCache::new(Cache::<String, String>::new(1 << 20)?)?;
/// let load = async {
///     let value = cache
///         .get_with("user:7".to_owned(), async { "Ada".to_owned() }) // the database, once
///         .await;
///     assert_eq!(value, "Ada");
///     assert_eq!(cache.get("user:7").await.as_deref(), Some("Ada"));
/// };
/// # let _ = load; // any executor runs it: tokio's block_on, a task, …
/// # Ok(())
/// # }
/// ```
pub struct AsyncCache<K, V> {
    cache: Cache<K, V>,
    workers: Arc<Workers>,
}

impl<K, V> Clone for AsyncCache<K, V> {
    fn clone(&self) -> Self {
        AsyncCache {
            cache: self.cache.clone(),
            workers: Arc::clone(&self.workers),
        }
    }
}

impl<K, V> std::fmt::Debug for AsyncCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncCache").finish_non_exhaustive()
    }
}

impl<K, V> AsyncCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The async view of `cache`, with
    /// [`DEFAULT_BLOCKING_WORKERS`](crate::DEFAULT_BLOCKING_WORKERS) worker
    /// threads. Fails only if the threads cannot be started.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// cache.insert("k".into(), "v".into()).await?;
    /// assert_eq!(cache.get("k").await.as_deref(), Some("v"));
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub fn new(cache: Cache<K, V>) -> Result<Self, Error> {
        Self::with_workers(cache, DEFAULT_BLOCKING_WORKERS)
    }

    /// The async view of `cache` with `workers` blocking threads (at least
    /// one): about as many as cold-tier reads should run at once.
    ///
    /// ```
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let handle = goldylox::AsyncCache::with_workers(cache, 16)?; // many cold reads at once
    /// # drop(handle);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn with_workers(cache: Cache<K, V>, workers: usize) -> Result<Self, Error> {
        let workers = Workers::start("blocking", workers).map_err(|e| Error::ThreadSpawn {
            thread: "gx-blocking".into(),
            source: e.into(),
        })?;
        Ok(AsyncCache {
            cache,
            workers: Arc::new(workers),
        })
    }

    /// The synchronous handle of the same cache (statistics, policies,
    /// administration, and every operation this view does not repeat).
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// cache.insert("k".into(), "v".into()).await?;
    /// assert_eq!(cache.sync().stats().inserts, 1);
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub fn sync(&self) -> &Cache<K, V> {
        &self.cache
    }

    /// The value for `key`, if present and not expired, from whichever tier
    /// holds it. A cold-tier read is awaited on the blocking workers.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// assert_eq!(cache.get("absent").await, None);
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned<Owned = K>,
    {
        let hash = match self.cache.read_hot(key, V::clone) {
            Ok(value) => return Some(value),
            Err((hash, _)) => hash,
        };
        if let Some(value) = self.cache.get_warm(hash, key) {
            return Some(value);
        }
        if self.cache.shared().cold.is_none() {
            return self.cache.get_settled(hash, key);
        }
        let (cache, key) = (self.cache.clone(), key.to_owned());
        self.workers
            .run(move || cache.get_lower::<K>(hash, &key))
            .await
    }

    /// Stores `value` under `key` with the cache's default time to live.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// cache.insert("k".into(), "v".into()).await?;
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn insert(&self, key: K, value: V) -> Result<(), Error> {
        self.write(move |cache| cache.insert(key, value)).await
    }

    /// Stores `value` under `key` with `expiration` ([`Cache::put`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use goldylox::Expiration;
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// cache.put("k".into(), "v".into(), Expiration::After(Duration::from_secs(5))).await?;
    /// assert!(cache.sync().time_to_live("k").flatten().is_some());
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn put(&self, key: K, value: V, expiration: Expiration) -> Result<(), Error> {
        self.write(move |cache| cache.put(key, value, expiration))
            .await
    }

    /// Removes `key` from every tier, returning the value it had, if it was
    /// present and not expired.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// cache.insert("k".into(), "v".into()).await?;
    /// assert_eq!(cache.remove("k").await.as_deref(), Some("v"));
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned<Owned = K>,
    {
        let key = key.to_owned();
        self.write(move |cache| cache.remove::<K>(&key)).await
    }

    /// Runs a write inline when it cannot block, else on the workers.
    async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Cache<K, V>) -> T + Send + 'static,
    ) -> T {
        if !self.write_may_block() {
            return write(&self.cache);
        }
        let cache = self.cache.clone();
        self.workers.run(move || write(&cache)).await
    }

    /// Whether a write could wait: with a cold tier (its writer's queue may
    /// be full), or with the cache over its capacity (a writer past the
    /// slack waits for eviction).
    fn write_may_block(&self) -> bool {
        let s = self.cache.shared();
        s.cold.is_some() || s.weighted.load(Ordering::Acquire) > s.capacity
    }
}
