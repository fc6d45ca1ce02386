//! The entry API of [`AsyncCache`]: [`AsyncEntry`].

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::AsyncCache;
use crate::cache::entry::compute;
use crate::cache::{Compute, Computed};
use crate::error::Error;

/// One key of an [`AsyncCache`], from [`AsyncCache::entry`]: the
/// [`Entry`](crate::Entry) API for tasks. Loaders are futures; a compute
/// function is a plain function, because it runs under the key's lock —
/// inline when the step only touches memory, on a blocking worker when it
/// may read or write the cold tier.
///
/// ```
/// # fn main() -> Result<(), goldylox::Error> {
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
/// let entry: goldylox::AsyncEntry<'_, String, String> = cache.entry("k".into());
/// assert_eq!(entry.or_insert_with(async { "v".to_string() }).await, "v");
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncEntry<'a, K, V> {
    cache: &'a AsyncCache<K, V>,
    key: K,
}

impl<K, V> AsyncCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The entry of `key`, to load or compute in one step.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// let n = cache.entry("k".into()).and_upsert_with(|v| format!("{}+", v.map_or("", |s| s))).await?;
    /// assert_eq!(n, "+");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub fn entry(&self, key: K) -> AsyncEntry<'_, K, V> {
        AsyncEntry { cache: self, key }
    }
}

impl<K, V> AsyncEntry<'_, K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The key.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// assert_eq!(cache.entry("k".into()).key(), "k");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The value, loading it with `init` if absent ([`AsyncCache::get_with`]).
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// let v = cache.entry("k".into()).or_insert_with(async { "loaded".to_string() }).await;
    /// assert_eq!(v, "loaded");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn or_insert_with(self, init: impl Future<Output = V>) -> V {
        self.cache.get_with(self.key, init).await
    }

    /// The value, loading it with a fallible `init` if absent
    /// ([`AsyncCache::try_get_with`]).
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// let v = cache.entry("k".into()).or_try_insert_with(async { Ok::<_, ()>("row".to_string()) }).await;
    /// assert_eq!(v.unwrap(), "row");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn or_try_insert_with<E: Send + Sync + 'static>(
        self,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, Arc<E>> {
        self.cache.try_get_with(self.key, init).await
    }

    /// [`Entry::and_compute_with`](crate::Entry::and_compute_with), awaited.
    ///
    /// ```
    /// use goldylox::{Compute, Computed};
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// let c = cache.entry("k".into()).and_compute_with(|_| Compute::Put("v".to_string())).await?;
    /// assert_eq!(c, Computed::Inserted("v".to_string()));
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn and_compute_with(
        self,
        f: impl FnOnce(Option<&V>) -> Compute<V> + Send + 'static,
    ) -> Result<Computed<V>, Error> {
        let key = self.key;
        self.cache.write(move |cache| compute(cache, key, f)).await
    }

    /// [`Entry::and_upsert_with`](crate::Entry::and_upsert_with), awaited.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// cache.entry("k".into()).and_upsert_with(|_| "1".to_string()).await?;
    /// let v = cache.entry("k".into()).and_upsert_with(|v| format!("{}2", v.unwrap())).await?;
    /// assert_eq!(v, "12");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn and_upsert_with(
        self,
        f: impl FnOnce(Option<&V>) -> V + Send + 'static,
    ) -> Result<V, Error> {
        match self.and_compute_with(move |v| Compute::Put(f(v))).await? {
            Computed::Inserted(v) | Computed::ReplacedWith(v) => Ok(v),
            _ => unreachable!("a put inserts or replaces"),
        }
    }
}
