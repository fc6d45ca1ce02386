//! Durable acknowledgements: a write that is answered only once it is on
//! disk and synced, like Redis with `appendfsync always`.
//!
//! Under [`crate::WritePolicy::WriteThrough`] every write and remove is
//! appended to the cold tier while the key's lock is held.
//! [`Cache::when_durable`] queues a request behind those appends; the cold
//! writer drains its queue, commits, syncs once for every request it
//! collected (group commit across threads and connections) and answers
//! them. [`Cache::insert_durable`] is an insert that waits for that. A
//! write that missed the cold tier (its breaker open, an append that
//! failed) makes every request taken before it fail, so nothing is
//! acknowledged as durable that is not.

use std::hash::Hash;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::error::Error;

/// Where a cache's writes to its cold tier stand: take one before the
/// writes, hand it to [`Cache::when_durable`] after them.
///
/// ```
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// let mark: goldylox::DurabilityMark = cache.durability_mark();
/// # drop(mark);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurabilityMark {
    /// Writes that missed the cold tier.
    missed: u64,
    /// The cold store's failed commits and syncs.
    failures: u64,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The mark to take before writes whose durability a caller will wait
    /// for.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .write_policy(goldylox::WritePolicy::WriteThrough)
    ///     .build()?;
    /// let mark = cache.durability_mark();
    /// cache.insert("k".into(), "v".into())?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// cache.when_durable(mark, move |r| tx.send(r).unwrap());
    /// rx.recv().unwrap()?;
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn durability_mark(&self) -> DurabilityMark {
        match &self.shared().cold {
            Some(c) => DurabilityMark {
                missed: c.writes_missed.load(Ordering::Acquire),
                failures: c.durability_mark(),
            },
            None => DurabilityMark {
                missed: 0,
                failures: 0,
            },
        }
    }

    /// Calls `done` once every write made before this call is durable (on
    /// disk and synced), on the cold writer's thread: so a server can wait
    /// without blocking a thread of its own. Callers waiting at once share
    /// one sync.
    ///
    /// `Err` when there is nothing durable to wait for (no cold tier, or a
    /// write-back one, whose writes reach the disk only when evicted), when
    /// a commit or sync failed, or when any write since `since` missed the
    /// cold tier.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// cache.when_durable(cache.durability_mark(), move |r| tx.send(r).unwrap());
    /// assert!(rx.recv().unwrap().is_err(), "no cold tier: nothing is ever durable");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn when_durable(
        &self,
        since: DurabilityMark,
        done: impl FnOnce(Result<(), Error>) + Send + 'static,
    ) {
        let Some(cold) = &self.shared().cold else {
            return done(Err(not_durable("the cache has no cold tier")));
        };
        if !cold.write_through {
            return done(Err(not_durable(
                "the cold tier is write-back: a write reaches the disk only when evicted",
            )));
        }
        let missed = std::sync::Arc::clone(&cold.writes_missed);
        cold.when_durable(since.failures, move |synced| {
            let result = synced.and_then(|()| {
                if missed.load(Ordering::Acquire) == since.missed {
                    Ok(())
                } else {
                    Err(Error::Io {
                        reason: "a write missed the cold tier (its breaker is open or an \
                                 append failed), so it is not durable"
                            .to_owned(),
                        source: None,
                    })
                }
            });
            done(result);
        });
    }

    /// Stores `value` under `key` and returns once it is durable (see
    /// [`Cache::when_durable`]); concurrent callers share syncs.
    ///
    /// ```
    /// use goldylox::WritePolicy;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<String, String> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
    ///     .write_policy(WritePolicy::WriteThrough)
    ///     .build()?;
    /// cache.insert_durable("order:1".into(), "paid".into())?; // on disk when it returns
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn insert_durable(&self, key: K, value: V) -> Result<(), Error> {
        let mark = self.durability_mark();
        self.insert(key, value)?;
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.when_durable(mark, move |r| {
            let _ = reply.send(r);
        });
        answer.recv().map_err(|_| Error::Closed)?
    }
}

fn not_durable(why: &str) -> Error {
    Error::InvalidConfig {
        reason: format!("no durable writes: {why}"),
    }
}
