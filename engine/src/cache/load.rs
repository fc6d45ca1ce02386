//! Read-through loading: `get_or_insert_with` and `try_get_or_insert_with`,
//! with one loader per missing key (see `crate::loader`).

use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::loader::{LeaderGuard, Outcome, Role};
use crate::stats::Counters;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The value for `key`, computing and storing it with `init` if absent.
    /// Concurrent callers for the same missing key run `init` once; the others
    /// wait and receive its value. If `init` panics the panic propagates to
    /// this caller and waiting callers retry with their own `init`. If the
    /// value cannot be stored (too large, cache shut down) it is still
    /// returned.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let v = cache.get_or_insert_with("user:1".into(), || "loaded from the database".into());
    /// assert_eq!(v, "loaded from the database");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn get_or_insert_with(&self, key: K, init: impl FnOnce() -> V) -> V {
        match self.try_get_or_insert_with(key, || Ok::<V, std::convert::Infallible>(init())) {
            Ok(value) => value,
            Err(never) => match *never {},
        }
    }

    /// Like [`Cache::get_or_insert_with`] for a fallible loader. An error is
    /// returned to this caller and to every caller waiting on the same load,
    /// and nothing is stored.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let v = cache.try_get_or_insert_with("user:1".into(), || Ok::<_, std::io::Error>("row".into()));
    /// assert_eq!(v.unwrap(), "row");
    /// let e = cache.try_get_or_insert_with("user:2".into(), || Err("timeout"));
    /// assert_eq!(*e.unwrap_err(), "timeout");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn try_get_or_insert_with<E>(
        &self,
        key: K,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
    {
        let mut init = Some(init);
        loop {
            if let Some(v) = self.get(&key) {
                return Ok(v);
            }
            let Some(guard) = self.lead_or_wait(&key, |outcome| match outcome {
                Outcome::Loaded(v) => Some(Ok(v)),
                Outcome::Failed(e) => e.downcast::<E>().ok().map(Err),
                _ => None,
            }) else {
                continue;
            };
            let guard = match guard {
                Ok(result) => return result,
                Err(guard) => guard,
            };
            let c = &self.shared().counters;
            Counters::bump(&c.loader_runs);
            let init = init.take().expect("a caller leads at most one flight");
            match catch_unwind(AssertUnwindSafe(init)) {
                Ok(Ok(value)) => {
                    let _ = self.insert(key.clone(), value.clone());
                    guard.publish(Outcome::Loaded(value.clone()));
                    return Ok(value);
                }
                Ok(Err(e)) => {
                    Counters::bump(&c.loader_errors);
                    let e = Arc::new(e);
                    guard.publish(Outcome::Failed(e.clone()));
                    return Err(e);
                }
                Err(panic) => {
                    Counters::bump(&c.loader_panics);
                    drop(guard);
                    resume_unwind(panic);
                }
            }
        }
    }

    /// Joins the flight for `key`. Returns `Some(Err(guard))` when this caller
    /// must run the loader, `Some(Ok(r))` when another caller's result (or a
    /// value that appeared meanwhile) answers it, `None` to retry.
    #[allow(
        clippy::type_complexity,
        reason = "the one place this shape occurs; an alias would hide it"
    )]
    fn lead_or_wait<'a, R>(
        &'a self,
        key: &'a K,
        accept: impl FnOnce(Outcome<V>) -> Option<R>,
    ) -> Option<Result<R, LeaderGuard<'a, K, V>>> {
        let s = self.shared();
        let hash = s.index.hasher.hash(key);
        match self.inner.flights.join(hash, key) {
            Role::Waiter(flight) => {
                Counters::bump(&s.counters.loader_waits);
                accept(flight.wait()).map(Ok)
            }
            Role::Leader(flight) => {
                let guard = LeaderGuard {
                    flights: &self.inner.flights,
                    hash,
                    key,
                    flight,
                    published: false,
                };
                // Someone may have stored the key between our miss and now.
                if let Some(v) = self.peek(key) {
                    guard.publish(Outcome::Loaded(v.clone()));
                    return accept(Outcome::Loaded(v)).map(Ok);
                }
                Some(Err(guard))
            }
        }
    }
}
