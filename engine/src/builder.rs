//! Building a cache: capacity, weigher, expiry, policy, listener, clock.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Cache, Weigher};
use crate::clock::Clock;
use crate::error::Error;
use crate::policy::PolicyChoice;
use crate::stats::RemovalCause;

/// How writes reach the persistent (cold) tier.
///
/// ```
/// use goldylox::WritePolicy;
/// assert_eq!(WritePolicy::default(), WritePolicy::WriteBack);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WritePolicy {
    /// The cold tier receives entries when they are demoted to it.
    #[default]
    WriteBack,
    /// Every write is also appended to the cold tier.
    WriteThrough,
}

/// Most shards a cache may be built with.
const MAX_SHARDS: usize = 1 << 16;

/// Configures and builds a [`Cache`]. Start with [`Cache::builder`].
///
/// ```
/// use std::time::Duration;
/// let cache: goldylox::Cache<String, Vec<u8>> = goldylox::Cache::builder(64 << 20)
///     .time_to_live(Duration::from_secs(3600))
///     .warm(256 << 20)
///     .name("images")
///     .build()?;
/// # drop(cache);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[must_use = "a builder does nothing until .build() is called"]
pub struct CacheBuilder<K, V> {
    pub(crate) max_capacity: u64,
    pub(crate) slack: Option<u64>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<crate::shared::Listener<K, V>>,
    pub(crate) departures: Option<crate::shared::DepartureListener<K>>,
    pub(crate) latency: Option<crate::latency::LatencyListener>,
    pub(crate) swap_deadline: Duration,
    pub(crate) time_to_live: Option<Duration>,
    pub(crate) time_to_idle: Option<Duration>,
    pub(crate) expiry: Option<std::sync::Arc<dyn crate::Expiry<K, V>>>,
    pub(crate) refresh: Option<(Duration, crate::cache::Reloader<K, V>)>,
    pub(crate) policy: PolicyChoice,
    pub(crate) shards: Option<usize>,
    pub(crate) clock: Clock,
    pub(crate) name: String,
    pub(crate) warm_capacity: Option<u64>,
    pub(crate) warm_policy: PolicyChoice,
    pub(crate) prefetch: Option<crate::policy::PrefetchChoice>,
    pub(crate) write_policy: WritePolicy,
    pub(crate) cold: Option<crate::cold::ColdConfig>,
    pub(crate) failover: Option<crate::health::FailoverFactory>,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> CacheBuilder<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    pub(crate) fn new(max_capacity: u64) -> Self {
        CacheBuilder {
            max_capacity,
            slack: None,
            weigher: None,
            listener: None,
            departures: None,
            latency: None,
            swap_deadline: crate::shared::SWAP_DEADLINE,
            time_to_live: None,
            time_to_idle: None,
            expiry: None,
            refresh: None,
            policy: PolicyChoice::default(),
            shards: None,
            clock: Clock::system(),
            name: "cache".to_owned(),
            warm_capacity: None,
            warm_policy: PolicyChoice::default(),
            prefetch: None,
            write_policy: WritePolicy::default(),
            cold: None,
            failover: None,
            _types: PhantomData,
        }
    }

    /// How far writers may run ahead of eviction, in bytes: the weighted size
    /// never exceeds `max_capacity + slack`. Default: `max_capacity / 16`.
    /// With 0 every write that does not fit waits for eviction.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(64 << 20)
    ///     .slack(1 << 20) // writers wait for eviction past 65 MiB
    ///     .build()?;
    /// assert_eq!(cache.bound(), 65 << 20);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn slack(mut self, bytes: u64) -> Self {
        self.slack = Some(bytes);
        self
    }

    /// How much an entry counts against the capacity, in bytes. The default
    /// weigher is the length of the postcard encoding of key and value — the
    /// bytes the entry takes in the lower tiers. A weigher that panics makes
    /// the write fail with [`Error::WeigherPanicked`].
    ///
    /// ```
    /// let cache: goldylox::Cache<String, Vec<u8>> = goldylox::Cache::builder(1 << 20)
    ///     .weigher(|k: &String, v: &Vec<u8>| (k.len() + v.len()) as u32)
    ///     .build()?;
    /// cache.insert("k".into(), vec![0; 100])?;
    /// assert_eq!(cache.weighted_size(), 101);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// Called with every entry that leaves the cache and why. Evictions and
    /// expirations are reported from the maintenance thread, replacements and
    /// removals from the writer's thread. A panicking listener is counted and
    /// ignored. The listener may use the cache, but must not keep the last
    /// handle to it.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use goldylox::RemovalCause;
    /// let heard = Arc::new(Mutex::new(Vec::new()));
    /// let ears = Arc::clone(&heard);
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .removal_listener(move |k, _v, cause| ears.lock().unwrap().push((k, cause)))
    ///     .build()?;
    /// cache.insert(1, 1)?;
    /// cache.remove(&1);
    /// cache.run_pending_tasks();
    /// assert_eq!(*heard.lock().unwrap(), [(1, RemovalCause::Removed)]);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn removal_listener(
        mut self,
        listener: impl Fn(K, V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Called with the key of every entry the cache drops by itself: evicted
    /// by the last tier that held it (not when it moves down a tier) or
    /// expired, with the cause. Cheaper than a removal listener: no value
    /// is decoded or copied for it. Evictions and expirations are reported
    /// from the maintenance thread; a panicking listener is counted and
    /// ignored. Entries dropped by the cold tier's own eviction (its oldest
    /// segment, when the disk budget is full) are not reported: that tier
    /// indexes hashes, not keys.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// let gone = Arc::new(AtomicU64::new(0));
    /// let count = Arc::clone(&gone);
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(4096)
    ///     .departure_listener(move |_key, _cause| { count.fetch_add(1, Ordering::Relaxed); })
    ///     .build()?;
    /// for k in 0..100 {
    ///     cache.insert(k, vec![0; 100])?;
    /// }
    /// cache.run_pending_tasks();
    /// assert!(gone.load(Ordering::Relaxed) > 0, "evictions were told");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn departure_listener(
        mut self,
        listener: impl Fn(&K, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.departures = Some(Arc::new(listener));
        self
    }

    /// Called from the maintenance thread as each timed step of its work
    /// ends ([`LatencyEvent`](crate::LatencyEvent): a pass, its expiry and
    /// eviction, the end of a policy swap) with how long it took, every
    /// time: the listener decides what is worth keeping. A panicking
    /// listener is counted and ignored.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .latency_listener(|event, took| {
    ///         if took.as_millis() > 100 {
    ///             eprintln!("slow {}: {took:?}", event.name());
    ///         }
    ///     })
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn latency_listener(
        mut self,
        listener: impl Fn(crate::LatencyEvent, Duration) + Send + Sync + 'static,
    ) -> Self {
        self.latency = Some(Arc::new(listener));
        self
    }

    /// How long a policy swap ([`Cache::swap_policy`](crate::Cache::swap_policy),
    /// or an `auto` tier's switch) may take to build the new instance and
    /// replay the resident set into it (default 60 s). Past it the swap is
    /// abandoned with an error and the running policy stays; a swap thread
    /// still stuck in the policy is left to finish on its own, and its
    /// result is ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .swap_deadline(Duration::from_secs(2))
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn swap_deadline(mut self, deadline: Duration) -> Self {
        self.swap_deadline = deadline;
        self
    }

    /// Default time to live for entries written by `insert` and friends
    /// (`Cache::put` with an `Expiration` overrides it per entry).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .time_to_live(Duration::from_secs(600))
    ///     .build()?;
    /// cache.insert(1, 1)?;
    /// assert!(cache.time_to_live(&1).flatten() <= Some(Duration::from_secs(600)));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = Some(ttl);
        self
    }

    /// Time to idle: an entry written without an explicit expiration
    /// expires once it has gone `tti` without a read or a write. Each hit
    /// renews it (in every tier: a copy read back from the warm or cold
    /// tier is renewed as it is promoted). With a
    /// [`time_to_live`](Self::time_to_live) too, it also expires that long
    /// after it was written (to the second below; a copy read back from a
    /// lower tier, whose write time is not kept, is not renewed past the
    /// deadline it came back with). An entry written with
    /// [`Expiration::After`](crate::Expiration::After) or `Never` keeps
    /// that deadline.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// use std::time::Duration;
    /// use goldylox::{Cache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache: Cache<u32, String> = Cache::builder(1 << 20)
    ///     .time_to_idle(Duration::from_secs(60))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// cache.insert(1, "kept while used".into())?;
    /// cache.insert(2, "forgotten".into())?;
    /// for _ in 0..5 {
    ///     clock.advance(Duration::from_secs(40));
    ///     assert!(cache.get(&1).is_some());
    /// }
    /// assert!(cache.get(&2).is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn time_to_idle(mut self, tti: Duration) -> Self {
        self.time_to_idle = Some(tti);
        self
    }

    /// Per-entry lifetimes from `expiry` (see [`Expiry`](crate::Expiry)),
    /// for entries written without an explicit expiration. It replaces
    /// [`time_to_live`](Self::time_to_live) and
    /// [`time_to_idle`](Self::time_to_idle): building with either as well
    /// is an error (put those durations in the `Expiry`).
    ///
    /// ```
    /// use std::time::Duration;
    /// struct TenSeconds;
    /// impl goldylox::Expiry<u64, u64> for TenSeconds {
    ///     fn expire_after_create(&self, _: &u64, _: &u64) -> Option<Duration> {
    ///         Some(Duration::from_secs(10))
    ///     }
    /// }
    /// let cache: goldylox::Cache<u64, u64> =
    ///     goldylox::Cache::builder(1 << 20).expire_after(TenSeconds).build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn expire_after(mut self, expiry: impl crate::Expiry<K, V>) -> Self {
        self.expiry = Some(std::sync::Arc::new(expiry));
        self
    }

    /// Refresh-ahead: a hot entry read when its value is older than
    /// `after` (whole seconds, at least one) is served as it is, and
    /// `reload(key, current value)` runs on a background thread to replace
    /// it — one reload per key at a time. The new value keeps the entry's
    /// deadline and is dropped if the key was written meanwhile; an error
    /// or a panic keeps the old value and is counted. With a time to live
    /// longer than `after`, popular entries are renewed before they expire
    /// instead of missing. A value promoted from the warm or cold tier
    /// counts as due. From async code whose loader is a future, block on
    /// it inside `reload` (e.g. tokio's `Handle::block_on`): the reload
    /// runs on the cache's own thread, not an executor's.
    ///
    /// ```
    /// # fn main() -> Result<(), goldylox::Error> {
    /// use std::time::Duration;
    ///
    /// let prices: goldylox::Cache<String, u64> = goldylox::Cache::builder(1 << 20)
    ///     .time_to_live(Duration::from_secs(300))
    ///     .refresh_after_write(Duration::from_secs(60), |item: &String, _old: &u64| {
    ///         Ok(item.len() as u64) // the price service
    ///     })
    ///     .build()?;
    /// # drop(prices);
    /// # Ok(())
    /// # }
    /// ```
    pub fn refresh_after_write(
        mut self,
        after: Duration,
        reload: impl Fn(&K, &V) -> Result<V, crate::cache::RefreshError> + Send + Sync + 'static,
    ) -> Self {
        self.refresh = Some((after, std::sync::Arc::new(reload)));
        self
    }

    /// The eviction policy (default: SIEVE).
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .policy(goldylox::PolicyChoice::Lru)
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn policy(mut self, policy: PolicyChoice) -> Self {
        self.policy = policy;
        self
    }

    /// Number of index shards (rounded up to a power of two). Default: eight
    /// per available core, at least 16.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20).shards(64).build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The clock used for expiry (default: the system's monotonic clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// use goldylox::{Expiration, ManualClock};
    /// let clock = ManualClock::new();
    /// let cache: goldylox::Cache<u64, u64> =
    ///     goldylox::Cache::builder(1 << 20).clock(clock.clone()).build()?;
    /// cache.put(1, 1, Expiration::After(Duration::from_secs(5)))?;
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!(cache.get(&1), None);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// A name for the maintenance thread (`gx-maint-NAME`).
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .name("sessions") // threads gx-maint-sessions, …
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a warm tier holding at most `bytes` of slab memory (rounded down
    /// to whole 1 MiB slabs, at least one). Entries evicted from the hot tier
    /// are encoded, compressed when that pays, and kept there; a warm hit
    /// moves the entry back up.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20)
    ///     .warm(64 << 20) // compressed copies of what the hot tier evicts
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn warm(mut self, bytes: u64) -> Self {
        self.warm_capacity = Some(bytes);
        self
    }

    /// The warm tier's eviction policy (default: SIEVE). Its weights are slot
    /// bytes.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20)
    ///     .warm(64 << 20)
    ///     .warm_policy(goldylox::PolicyChoice::Lru)
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn warm_policy(mut self, policy: PolicyChoice) -> Self {
        self.warm_policy = policy;
        self
    }

    /// A prefetch policy: it sees every sampled request (hot hits and, with
    /// a prefetch policy configured, hot misses) and proposes keys, which are
    /// promoted from the warm tier into the hot tier, the hot policy evicting
    /// to make room. Useful with a warm tier; see
    /// [`PrefetchPolicy`](crate::PrefetchPolicy).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goldylox::{PrefetchFactory, PrefetchPolicy};
    /// /// Prefetches nothing: the smallest prefetch policy.
    /// struct Quiet;
    /// impl PrefetchPolicy for Quiet {
    ///     fn name(&self) -> &str { "quiet" }
    ///     fn observe(&mut self, _: &[u64], _: &[u8]) -> Result<(), goldylox::PolicyError> { Ok(()) }
    ///     fn propose(&mut self, _: u32, _: &mut Vec<u64>) -> Result<(), goldylox::PolicyError> { Ok(()) }
    /// }
    /// struct QuietFactory;
    /// impl PrefetchFactory for QuietFactory {
    ///     fn build(&self, _: u64) -> Result<Box<dyn PrefetchPolicy>, goldylox::PolicyError> {
    ///         Ok(Box::new(Quiet))
    ///     }
    /// }
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20)
    ///     .warm(4 << 20)
    ///     .prefetch(Arc::new(QuietFactory))
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn prefetch(mut self, factory: std::sync::Arc<dyn crate::PrefetchFactory>) -> Self {
        self.prefetch = Some(factory);
        self
    }

    /// How writes reach the cold tier: on demotion only (write-back, the
    /// default) or every write as it happens (write-through).
    ///
    /// ```
    /// use goldylox::{WritePolicy, cold::ColdConfig};
    /// let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .cold(ColdConfig::new(dir.path(), 1 << 30))
    ///     .write_policy(WritePolicy::WriteThrough) // every write reaches the disk
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn write_policy(mut self, policy: WritePolicy) -> Self {
        self.write_policy = policy;
        self
    }

    /// A persistent cold tier below the warm tier (or below the hot tier
    /// when there is no warm tier): entries evicted from memory are appended
    /// to segment files in `config.dir`, recovered when a cache is built on
    /// the same directory again, and promoted back on a hit. Keys and values
    /// are stored postcard-encoded. See [`crate::cold`].
    ///
    /// ```
    /// use goldylox::cold::ColdConfig;
    /// let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .cold(ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// cache.insert(1, 1)?;
    /// cache.shutdown(); // persists the memory tiers
    /// let again: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .cold(ColdConfig::new(dir.path(), 1 << 30))
    ///     .build()?;
    /// assert_eq!(again.get(&1), Some(1));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn cold(mut self, config: crate::cold::ColdConfig) -> Self {
        self.cold = Some(config);
        self
    }

    /// The failover policy that runs the cold tier's circuit breaker.
    /// Default: [`NativeBreaker`](crate::health::NativeBreaker) with its
    /// default parameters.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goldylox::cold::ColdConfig;
    /// use goldylox::health::{FailoverPolicy, NativeBreaker};
    /// let dir = tempfile::tempdir().unwrap();
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .cold(ColdConfig::new(dir.path(), 1 << 30))
    ///     .failover(Arc::new(|| {
    ///         let params = [("error-threshold".to_string(), "3".to_string())];
    ///         Ok(Box::new(NativeBreaker::new(&params)?) as Box<dyn FailoverPolicy>)
    ///     }))
    ///     .build()?;
    /// # drop(cache);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn failover(mut self, factory: crate::health::FailoverFactory) -> Self {
        self.failover = Some(factory);
        self
    }

    /// Checks the settings and starts the cache.
    ///
    /// ```
    /// let built = goldylox::Cache::<u64, u64>::builder(0).build();
    /// assert!(matches!(built, Err(goldylox::Error::InvalidConfig { .. })));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn build(self) -> Result<Cache<K, V>, Error> {
        let invalid = |reason: &str| {
            Err(Error::InvalidConfig {
                reason: reason.to_owned(),
            })
        };
        if self.max_capacity == 0 {
            return invalid("max_capacity must be at least 1 byte");
        }
        if self.shards.is_some_and(|s| s == 0 || s > MAX_SHARDS) {
            return invalid("shards must be between 1 and 65536");
        }
        if self
            .warm_capacity
            .is_some_and(|b| b < crate::pool::SLAB_SIZE as u64)
        {
            return invalid("the warm tier needs at least one slab (1 MiB)");
        }
        if self.time_to_live.is_some_and(|t| t.is_zero()) {
            return invalid("time_to_live must be longer than zero");
        }
        if self.time_to_idle.is_some_and(|t| t.is_zero()) {
            return invalid("time_to_idle must be longer than zero");
        }
        if self.expiry.is_some() && (self.time_to_live.is_some() || self.time_to_idle.is_some()) {
            return invalid(
                "expire_after replaces time_to_live and time_to_idle: give those durations in the Expiry",
            );
        }
        Cache::start(self)
    }
}
