//! The cache handle: every user operation, run on the caller's thread.

mod admin;
mod batch;
mod capture;
mod cold;
mod conditional;
mod durable;
pub(crate) mod entry;
mod events;
mod figures;
mod future;
mod lifecycle;
mod load;
mod read;
mod refresh;
mod renew;
mod scan;
mod tiers;
mod update;
mod write;

pub use batch::Batch;
pub use conditional::{Expiration, SetIf, SetOutcome};
pub use durable::DurabilityMark;
pub use entry::{Compute, Computed, Entry};
pub use future::{AsyncCache, AsyncEntry};
pub use refresh::RefreshError;
pub(crate) use refresh::{Refresh, Reloader};
pub use update::Update;

use std::borrow::Borrow;
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::builder::{CacheBuilder, WritePolicy};
use crate::error::Error;
use crate::hot::NEVER;
use crate::loader::Flights;
use crate::maintenance::Cmd;
use crate::policy::EventKind;
use crate::shared::{CacheState, MAX_CAPACITY_WAITS, WriteEvent, in_maintenance};
use crate::stats::{Counters, RemovalCause};

pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync>;

/// A concurrent, size-bounded cache. Cloning is cheap (a reference count);
/// every clone is the same cache. Dropping the last clone stops its
/// maintenance thread.
///
/// Reads and writes run on the calling thread against a sharded index; a hit
/// takes one shard read lock and never waits for the maintenance thread. See
/// the [crate docs](crate) for the capacity bound and expiry semantics.
///
/// # The API, by what it does
///
/// | | methods |
/// |---|---|
/// | read | [`get`](Cache::get), [`get_with`](Cache::get_with) (lent, not cloned), [`peek_with`](Cache::peek_with) (not counted), [`contains_key`](Cache::contains_key), [`time_to_live`](Cache::time_to_live) |
/// | write | [`insert`](Cache::insert) (default expiration), [`put`](Cache::put) (any [`Expiration`]), [`set`](Cache::set) (if absent or present, reporting the value it had), [`compare_and_set`](Cache::compare_and_set), [`insert_durable`](Cache::insert_durable) |
/// | compute | [`entry`](Cache::entry) (`and_compute_with`, `and_upsert_with`), [`update`](Cache::update) (an in-place edit of a large value) |
/// | remove | [`remove`](Cache::remove), [`remove_if`](Cache::remove_if), [`clear`](Cache::clear) |
/// | load | [`get_or_insert_with`](Cache::get_or_insert_with), [`try_get_or_insert_with`](Cache::try_get_or_insert_with), [`entry`](Cache::entry) (`or_insert_with`); async: [`AsyncCache`] |
/// | bulk | [`get_many`](Cache::get_many), [`insert_many`](Cache::insert_many), [`atomically`](Cache::atomically) (a [`Batch`] of reads and writes as one step), [`scan`](Cache::scan), [`for_each_key`](Cache::for_each_key), [`random_key`](Cache::random_key) |
/// | size | [`len`](Cache::len), [`is_empty`](Cache::is_empty), [`weighted_size`](Cache::weighted_size), [`max_capacity`](Cache::max_capacity), [`bound`](Cache::bound), [`write_pressure`](Cache::write_pressure), [`when_room`](Cache::when_room) |
/// | policies | [`policy_status`](Cache::policy_status), [`swap_policy`](Cache::swap_policy) |
/// | figures | [`stats`](Cache::stats), [`pool_stats`](Cache::pool_stats), [`cold_stats`](Cache::cold_stats), [`cold_health`](Cache::cold_health), [`cold_recovery`](Cache::cold_recovery), [`cold_last_error`](Cache::cold_last_error) |
/// | upkeep | [`run_pending_tasks`](Cache::run_pending_tasks), [`defragment`](Cache::defragment), [`compact_cold`](Cache::compact_cold), [`sync_cold`](Cache::sync_cold), [`durability_mark`](Cache::durability_mark), [`when_durable`](Cache::when_durable), [`persist`](Cache::persist), [`shutdown`](Cache::shutdown), [`shutdown_with`](Cache::shutdown_with) |
///
/// One verb per intent: `insert_with_ttl`, `put_if_absent` and `replace`
/// were special cases of `put` and `set` and are gone.
///
/// ```
/// let cache: goldylox::Cache<String, String> = goldylox::Cache::new(64 << 20)?;
/// let other_handle = cache.clone(); // the same cache
/// other_handle.insert("k".into(), "v".into())?;
/// assert_eq!(cache.get("k").as_deref(), Some("v"));
/// # Ok::<(), goldylox::Error>(())
/// ```
pub struct Cache<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<K, V> {
    shared: Arc<CacheState<K, V>>,
    weigher: Option<Weigher<K, V>>,
    /// How long entries written without an explicit expiration live.
    lifetime: crate::expiry::Lifetime<K, V>,
    /// Writers may run this far past the capacity before they wait.
    slack: u64,
    write_policy: WritePolicy,
    flights: Flights<K, V>,
    /// Refresh-ahead, when the builder asked for it.
    refresh: Option<refresh::Refresh<K, V>>,
    events: Sender<WriteEvent>,
    commands: Sender<Cmd>,
    wake: Sender<()>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// How often a caller waiting for a maintenance pass checks that the
/// maintenance thread still runs.
const SYNC_CHECK_EVERY: Duration = Duration::from_millis(100);

/// How a write treats the entry's deadline.
#[derive(Clone, Copy)]
enum Deadline {
    /// Use this deadline (or `NEVER`).
    At(u64),
    /// Keep the current entry's deadline; a new entry gets the default.
    Keep,
    /// The lifetime rules decide: as for a new entry, or as for a write
    /// over a live one.
    Default,
}

/// What a conditional write did.
enum Written<V> {
    Stored { previous: Option<V> },
    Refused { current: Option<V> },
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// A builder for a cache holding at most `max_capacity` bytes of weighted
    /// entries.
    ///
    /// ```
    /// use goldylox::{Cache, PolicyChoice};
    ///
    /// let cache: Cache<u64, String> = Cache::builder(64 << 20) // bytes
    ///     .policy(PolicyChoice::Sieve)
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn builder(max_capacity: u64) -> CacheBuilder<K, V> {
        CacheBuilder::new(max_capacity)
    }

    /// A cache with default settings holding at most `max_capacity` bytes.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::new(1 << 20)?;
    /// assert!(cache.is_empty());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn new(max_capacity: u64) -> Result<Self, Error> {
        Self::builder(max_capacity).build()
    }

    fn shared(&self) -> &CacheState<K, V> {
        &self.inner.shared
    }

    // ---- writes ------------------------------------------------------------

    /// Stores `value` under `key` with the cache's default time to live,
    /// replacing any previous value. With another expiration:
    /// [`Cache::put`]; only if absent or present, reporting the value the
    /// key had: [`Cache::set`]; computed from the current value:
    /// [`Cache::entry`].
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v1".into())?;
    /// cache.insert("k".into(), "v2".into())?; // replaces
    /// assert_eq!(cache.get("k").as_deref(), Some("v2"));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn insert(&self, key: K, value: V) -> Result<(), Error> {
        self.write(key, value, Deadline::Default, false, |_| true)
            .map(|_| ())
    }

    /// Stores several entries; stops at the first error and returns it (the
    /// entries before it are stored). Returns how many were stored.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let stored = cache.insert_many([("a".into(), "1".into()), ("b".into(), "2".into())])?;
    /// assert_eq!(stored, 2);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn insert_many(&self, entries: impl IntoIterator<Item = (K, V)>) -> Result<usize, Error> {
        let mut n = 0;
        for (k, v) in entries {
            self.insert(k, v)?;
            n += 1;
        }
        Ok(n)
    }

    /// Removes `key`, returning its value if it was present and not expired.
    /// Works after [`Cache::shutdown`] too.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v".into())?;
    /// assert_eq!(cache.remove("k").as_deref(), Some("v"));
    /// assert_eq!(cache.remove("k"), None);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_when(key, None::<fn(&V) -> bool>)
    }

    /// Removes `key` only if its current value satisfies `cond`, in one
    /// atomic step under the key's lock (the conditional counterpart of
    /// [`Cache::compare_and_set`]: a read-modify-write that ends by deleting
    /// the key, such as Redis's `HDEL` of a hash's last field). Returns the
    /// removed value; `None` if the key was absent or `cond` refused.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "stale".into())?;
    /// assert_eq!(cache.remove_if("k", |v| v == "fresh"), None, "refused");
    /// assert_eq!(cache.remove_if("k", |v| v == "stale").as_deref(), Some("stale"));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn remove_if<Q>(&self, key: &Q, cond: impl FnOnce(&V) -> bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_when(key, Some(cond))
    }

    /// Removes every entry of every tier (each is reported to the listener as
    /// removed).
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("a".into(), "1".into())?;
    /// cache.clear();
    /// assert!(cache.is_empty());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn clear(&self) {
        let s = self.shared();
        s.index.drain_shards(|slots| {
            for slot in slots {
                self.forget(s.index.hasher.hash(&slot.key), slot.weight);
                s.notify(slot.key, slot.value, RemovalCause::Removed);
            }
        });
        if let Some(warm) = &s.warm {
            warm.index.drain_shards(|entries| {
                let locs = entries.iter().map(|e| e.loc).collect();
                for e in &entries {
                    self.send(WriteEvent::warm_removed(e.hash));
                }
                for e in entries {
                    let d = tiers::Displaced {
                        value: None,
                        key: e.key,
                        expired: false,
                    };
                    self.settle_displaced(d, RemovalCause::Removed);
                }
                warm.pool.free(locs);
            });
        }
        if let Some(cold) = &s.cold
            && let Err(e) = cold.clear()
        {
            cold.health.report(false);
            log::warn!("clearing the cold tier failed: {e}");
        }
    }

    // ---- internals ---------------------------------------------------------

    /// The deadline a write under `rule` gives `key`'s new `value`;
    /// `current`: the deadline of the live value it replaces, if any.
    fn resolve_deadline(&self, rule: Deadline, key: &K, value: &V, current: Option<u64>) -> u64 {
        let s = self.shared();
        let lifetime = &self.inner.lifetime;
        match (rule, current) {
            (Deadline::At(deadline), _) | (Deadline::Keep, Some(deadline)) => deadline,
            _ if lifetime.is_none() => NEVER, // no clock read
            (Deadline::Default, Some(deadline)) => {
                lifetime.updated(s.clock.now_nanos(), key, value, deadline, &s.counters)
            }
            (Deadline::Keep | Deadline::Default, None) => {
                lifetime.created(s.clock.now_nanos(), key, value, &s.counters)
            }
        }
    }

    fn weigh(&self, key: &K, value: &V) -> Result<u32, Error> {
        let s = self.shared();
        match &self.inner.weigher {
            Some(weigher) => catch_unwind(AssertUnwindSafe(|| weigher(key, value))).map_err(|_| {
                Counters::bump(&s.counters.weigher_panics);
                Error::WeigherPanicked
            }),
            None => {
                let size = postcard::experimental::serialized_size(&(key, value)).map_err(|e| {
                    Error::Encode {
                        reason: e.to_string(),
                    }
                })?;
                Ok(u32::try_from(size).unwrap_or(u32::MAX))
            }
        }
    }

    /// Accounts for a removed entry: releases its weight, tells the policy.
    fn forget(&self, hash: u64, weight: u32) {
        self.release(u64::from(weight));
        self.send(WriteEvent::hot(EventKind::Remove, hash, 0, NEVER));
    }

    /// Reserves `weight` bytes against the bound, waiting for eviction when
    /// the reservation would take the cache past `capacity + slack`. The
    /// reservation is a compare-and-swap, so the weighted size never exceeds
    /// the bound, not even for an instant.
    fn reserve(&self, weight: u32) -> Result<(), Error> {
        let s = self.shared();
        let w = u64::from(weight);
        let bound = s.capacity.saturating_add(self.inner.slack);
        let mut waits = 0;
        let mut current = s.weighted.load(Ordering::Acquire);
        loop {
            let after = current.saturating_add(w);
            if after > bound && !in_maintenance() && waits < MAX_CAPACITY_WAITS {
                waits += 1;
                Counters::bump(&s.counters.capacity_waits);
                self.sync(w)?;
                current = s.weighted.load(Ordering::Acquire);
                continue;
            }
            match s.weighted.compare_exchange_weak(
                current,
                after,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if after > s.capacity {
                        self.wake();
                    }
                    return Ok(());
                }
                Err(actual) => current = actual,
            }
        }
    }

    fn release(&self, bytes: u64) {
        self.shared().weighted.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Asks maintenance for a pass that makes room for `need` bytes and waits.
    fn sync(&self, need: u64) -> Result<(), Error> {
        if in_maintenance() {
            return Ok(());
        }
        let (reply, done) = bounded(1);
        self.inner
            .commands
            .send(Cmd::Sync { need, reply })
            .map_err(|_| Error::Closed)?;
        // A request queued as the actor stopped (shut down, or panicked) is
        // never answered: wait for it only while the actor runs.
        loop {
            match done.recv_timeout(SYNC_CHECK_EVERY) {
                Ok(()) => return Ok(()),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(Error::Closed);
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) if !self.maintenance_runs() => {
                    return Err(Error::Closed);
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Whether the maintenance thread is still running.
    fn maintenance_runs(&self) -> bool {
        self.inner
            .worker
            .lock()
            .as_ref()
            .is_some_and(|worker| !worker.is_finished())
    }
}

impl<K, V> std::fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("capacity", &self.inner.shared.capacity)
            .field(
                "weighted_size",
                &self.inner.shared.weighted.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}
