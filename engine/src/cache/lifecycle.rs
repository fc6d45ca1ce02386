//! A cache's life: starting it from its builder (the tiers, the policies,
//! the maintenance thread and its inbox) and stopping it (persisting the
//! memory tiers if asked, then joining the maintenance thread).

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::bounded;
use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Cache, Inner};
use crate::builder::CacheBuilder;
use crate::cold_tier::ColdTier;
use crate::error::Error;
use crate::expiry::Lifetime;
use crate::hot::HotIndex;
use crate::loader::Flights;
use crate::maintenance::{Cmd, Inbox, Maintenance, TierPolicy};
use crate::policy::PolicyTier;
use crate::shared::{
    COMMAND_CHANNEL_CAPACITY, CacheState, PREFETCH_STATE_ENTRIES, WAKE_CHANNEL_CAPACITY,
    WRITE_BUFFER_CAPACITY,
};
use crate::stats::Counters;
use crate::stripe::Stripes;
use crate::warm::WarmTier;

impl<K, V> Drop for Inner<K, V> {
    fn drop(&mut self) {
        let Some(worker) = self.worker.get_mut().take() else {
            return;
        };
        let _ = self.commands.send(Cmd::Shutdown { reply: None });
        // A listener running on the maintenance thread may hold the last
        // handle; that thread ends on its own once this returns.
        if worker.thread().id() != std::thread::current().id() {
            let _ = worker.join();
        }
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    pub(crate) fn start(mut b: CacheBuilder<K, V>) -> Result<Self, Error> {
        let (policy, hot_status) = TierPolicy::build(PolicyTier::Hot, &b.policy, b.max_capacity)?;
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        let shards = b.shards.unwrap_or((cores * 8).max(16));
        let (warm, warm_policy, warm_status) = match b.warm_capacity {
            Some(bytes) => start_warm(&b.name, bytes, shards, &b.warm_policy)?,
            None => (None, None, None),
        };
        let prefetch = b
            .prefetch
            .as_ref()
            .map(|factory| crate::policy::guarded(|| factory.build(PREFETCH_STATE_ENTRIES)))
            .transpose()
            .map_err(|e| Error::InvalidConfig {
                reason: format!("prefetch policy: {e}"),
            })?;
        let (failover, latency) = (b.failover.as_ref(), b.latency.as_ref());
        let cold = (b.cold.take())
            .map(|c| ColdTier::open::<K>(c, &b.name, &b.clock, failover, b.write_policy, latency))
            .transpose()?;
        let lifetime = Lifetime::new(b.time_to_live, b.time_to_idle, b.expiry.take());
        let cold = cold.map(|c| c.renewing(lifetime.renews_on_read()));
        let first_version = cold.as_ref().map_or(0, |c| c.max_version());
        // One hash space for every tier: the cold directory's seed, if any.
        let hasher = cold
            .as_ref()
            .map_or_else(crate::hot::KeyHasher::random, |c| c.hasher.clone());
        let shared = Arc::new(CacheState {
            index: HotIndex::new(shards, hasher),
            warm,
            cold,
            stripes: Stripes::new(cores * 4),
            counters: Counters::default(),
            weighted: CachePadded::new(AtomicU64::new(0)),
            version: CachePadded::new(AtomicU64::new(first_version)),
            capacity: b.max_capacity,
            slack: b.slack.unwrap_or(b.max_capacity / 16),
            clock: b.clock,
            listener: b.listener,
            departures: b.departures,
            latency: b.latency,
            swap_deadline: b.swap_deadline,
            overflow: Mutex::new(Vec::new()),
            room_waiters: Mutex::new(Some(Vec::new())),
            room_need: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            started: std::time::Instant::now(),
            last_pass: AtomicU64::new(0),
            hot_policy: hot_status,
            warm_policy: warm_status,
            observe_misses: prefetch.is_some(),
            renews_on_read: lifetime.renews_on_read(),
            capture: Default::default(),
        });
        let (events, events_rx) = bounded(WRITE_BUFFER_CAPACITY);
        let (commands, commands_rx) = bounded(COMMAND_CHANNEL_CAPACITY);
        let (wake, wake_rx) = bounded(WAKE_CHANNEL_CAPACITY);
        let inbox = Inbox {
            events: events_rx,
            commands: commands_rx,
            wake: wake_rx,
        };
        let actor = Maintenance::new(Arc::clone(&shared), inbox, policy, warm_policy, prefetch);
        let worker = actor.spawn(&b.name)?;
        let refresh = b
            .refresh
            .map(|(after, reload)| crate::cache::Refresh::start(after, reload))
            .transpose()
            .map_err(|e| Error::spawn("refresh", e))?;
        Ok(Cache {
            inner: Arc::new(Inner {
                shared,
                weigher: b.weigher,
                lifetime,
                slack: b.slack.unwrap_or(b.max_capacity / 16),
                write_policy: b.write_policy,
                flights: Flights::new(shards),
                refresh,
                events,
                commands,
                wake,
                worker: Mutex::new(Some(worker)),
            }),
        })
    }

    /// Stops the cache: refuses further writes, drains the buffers into the
    /// policy, evicts down to the capacity, and stops the maintenance thread.
    /// Reads keep working. Idempotent.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "v".into())?;
    /// cache.shutdown();
    /// assert!(cache.insert("j".into(), "v".into()).is_err(), "writes are refused");
    /// assert_eq!(cache.get("k").as_deref(), Some("v"), "reads still work");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn shutdown(&self) {
        self.shutdown_with(true);
    }

    /// [`Cache::shutdown`], persisting the memory tiers to the cold tier
    /// first only if `persist` (Redis's `SHUTDOWN SAVE` and `NOSAVE`).
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.shutdown_with(false); // no cold tier to persist to anyway
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn shutdown_with(&self, persist: bool) {
        self.shared().closed.store(true, Ordering::Release);
        if persist
            && let Some(cold) = &self.shared().cold
            && cold.health.usable()
            && let Err(e) = self.persist()
        {
            log::warn!("persisting the memory tiers at shutdown failed: {e}");
        }
        let Some(worker) = self.inner.worker.lock().take() else {
            return;
        };
        let (reply, done) = bounded(1);
        if self
            .inner
            .commands
            .send(Cmd::Shutdown { reply: Some(reply) })
            .is_ok()
        {
            let _ = done.recv();
        }
        if worker.thread().id() != std::thread::current().id() {
            let _ = worker.join();
        }
    }
}

/// The warm tier's parts, when there is one.
type WarmParts<K> = (
    Option<WarmTier<K>>,
    Option<TierPolicy>,
    Option<Arc<Mutex<crate::PolicyStatus>>>,
);

/// Starts a warm tier of `bytes` and builds its policy.
fn start_warm<K: Hash + Eq + Send + Sync + 'static>(
    name: &str,
    bytes: u64,
    shards: usize,
    policy: &crate::PolicyChoice,
) -> Result<WarmParts<K>, Error> {
    let tier = WarmTier::start(name, bytes, shards).map_err(|e| Error::spawn("pool manager", e))?;
    let (policy, status) = TierPolicy::build(PolicyTier::Warm, policy, tier.capacity)?;
    Ok((Some(tier), Some(policy), Some(status)))
}
