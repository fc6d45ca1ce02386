//! Async read-through loading: one loader future per missing key, however
//! many tasks ask (the flights of `crate::loader`, shared with the
//! synchronous `get_or_insert_with`).

use std::future::Future;
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::AsyncCache;
use crate::loader::{LeaderGuard, Outcome, Role};
use crate::stats::Counters;

/// What `optionally_get_with` publishes when its loader finds nothing: the
/// tasks waiting on the same load get `None` too.
struct NoValue;

impl<K, V> AsyncCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The value for `key`, loading it with `init` and storing it if
    /// absent. Concurrent calls for one missing key await a single `init`;
    /// see [`AsyncCache`] for cancellation and panics. A value that cannot
    /// be stored (too large, cache shut down) is still returned.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// let v = cache.get_with("user:1".into(), async { "from the database".to_string() }).await;
    /// assert_eq!(v, "from the database");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn get_with(&self, key: K, init: impl Future<Output = V>) -> V {
        let init = async { Ok::<V, std::convert::Infallible>(init.await) };
        match self.try_get_with(key, init).await {
            Ok(value) => value,
            Err(never) => match *never {},
        }
    }

    /// Like [`AsyncCache::get_with`] for a loader that may find nothing:
    /// `None` is not stored, and every task waiting on the same load gets
    /// `None` as well.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// let none = cache.optionally_get_with("user:404".into(), async { None }).await;
    /// assert_eq!(none, None);
    /// assert!(!cache.sync().contains_key("user:404"), "nothing cached");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn optionally_get_with(
        &self,
        key: K,
        init: impl Future<Output = Option<V>>,
    ) -> Option<V> {
        let init = async { init.await.ok_or(NoValue) };
        self.try_get_with(key, init).await.ok()
    }

    /// Like [`AsyncCache::get_with`] for a fallible loader: an error is
    /// returned to this task and to every task waiting on the same load,
    /// and nothing is stored.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = goldylox::AsyncCache::new(goldylox::Cache::<String, String>::new(1 << 20)?)?;
    /// let r = cache.try_get_with("user:1".into(), async { Err::<String, _>("timeout") }).await;
    /// assert_eq!(*r.unwrap_err(), "timeout");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub async fn try_get_with<E>(
        &self,
        key: K,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
    {
        let mut init = Some(init);
        loop {
            if let Some(value) = self.get(&key).await {
                return Ok(value);
            }
            let s = self.cache.shared();
            let hash = s.index.hasher.hash(&key);
            let flight = match self.cache.inner.flights.join(hash, &key) {
                Role::Waiter(flight) => {
                    Counters::bump(&s.counters.loader_waits);
                    match flight.wait_async().await {
                        Outcome::Loaded(value) => return Ok(value),
                        Outcome::Failed(e) => match e.downcast::<E>() {
                            Ok(e) => return Err(e),
                            Err(_) => continue, // another kind of load failed
                        },
                        _ => continue, // abandoned: try again, maybe to lead
                    }
                }
                Role::Leader(flight) => flight,
            };
            let guard = LeaderGuard {
                flights: &self.cache.inner.flights,
                hash,
                key: &key,
                flight,
                published: false,
            };
            // Someone may have stored the key between our miss and now.
            if let Some(value) = self.cache.peek(&key) {
                guard.publish(Outcome::Loaded(value.clone()));
                return Ok(value);
            }
            Counters::bump(&s.counters.loader_runs);
            let init = std::pin::pin!(init.take().expect("a task leads at most one flight"));
            // A panic leaves through here: the guard, dropped unpublished,
            // abandons the flight and the waiters try again. So does a
            // cancellation (this future dropped while it waits).
            let loaded = CountPanics {
                init,
                counters: &s.counters,
            };
            match loaded.await {
                Ok(value) => {
                    let _ = self.insert(key.clone(), value.clone()).await;
                    guard.publish(Outcome::Loaded(value.clone()));
                    return Ok(value);
                }
                Err(e) => {
                    Counters::bump(&s.counters.loader_errors);
                    let e = Arc::new(e);
                    guard.publish(Outcome::Failed(e.clone()));
                    return Err(e);
                }
            }
        }
    }
}

/// A loader future whose panic is counted before it continues to unwind.
struct CountPanics<'a, F> {
    init: Pin<&'a mut F>,
    counters: &'a Counters,
}

impl<F: Future> Future for CountPanics<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        match catch_unwind(AssertUnwindSafe(|| this.init.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                Counters::bump(&this.counters.loader_panics);
                resume_unwind(panic)
            }
        }
    }
}
