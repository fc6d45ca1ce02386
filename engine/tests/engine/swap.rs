//! Policy failure, rebuild with backoff, tripping, and hot swap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use goldylox::{
    Cache, Error, EventBatch, EvictionPolicy, Lru, ManualClock, PolicyChoice, PolicyError,
    PolicyFactory, PolicyState, PolicyTier,
};

/// An LRU that fails every call while `broken` is set, and counts the events
/// it was given.
struct Flaky {
    lru: Lru,
    broken: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
}

impl EvictionPolicy for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(PolicyError::Failed("broken on purpose".into()));
        }
        self.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.lru.apply(batch)
    }
    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(PolicyError::Failed("broken on purpose".into()));
        }
        self.lru.evict(max, need, out)
    }
}

#[derive(Clone, Default)]
struct FlakyFactory {
    broken: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
    builds: Arc<AtomicU64>,
}

impl PolicyFactory for FlakyFactory {
    fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        self.builds.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(Flaky {
            lru: Lru::new(capacity),
            broken: Arc::clone(&self.broken),
            events: Arc::clone(&self.events),
        }))
    }
}

fn fill(cache: &Cache<u64, u64>, keys: std::ops::Range<u64>) {
    for k in keys {
        cache.insert(k, k).unwrap();
        assert!(cache.weighted_size() <= cache.bound());
    }
    cache.run_pending_tasks();
}

#[test]
fn a_failing_policy_falls_back_is_rebuilt_with_backoff_then_trips() {
    let clock = ManualClock::new();
    let factory = FlakyFactory::default();
    let cache: Cache<u64, u64> = Cache::builder(16 * 1000)
        .weigher(|_, _| 16)
        .clock(clock.clone())
        .policy(PolicyChoice::Custom(Arc::new(factory.clone())))
        .build()
        .unwrap();
    fill(&cache, 0..2_000);
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!(
        (status.name.as_str(), status.state),
        ("flaky", PolicyState::Active)
    );

    // Failure 1: the fallback takes over in the same pass; rebuild in 1 s.
    factory.broken.store(true, Ordering::Relaxed);
    fill(&cache, 2_000..4_000);
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!(status.state, PolicyState::Fallback);
    assert_eq!((status.failures, status.consecutive_failures), (1, 1));
    assert_eq!(status.rebuild_in, Some(Duration::from_secs(1)));
    assert!(status.last_error.unwrap().contains("broken on purpose"));
    assert!(cache.stats().policy.fallback_evictions > 0);
    assert!(cache.weighted_size() <= 16 * 1000);

    // Not yet due.
    factory.broken.store(false, Ordering::Relaxed);
    clock.advance(Duration::from_millis(500));
    cache.run_pending_tasks();
    assert_eq!(
        cache.policy_status(PolicyTier::Hot).unwrap().state,
        PolicyState::Fallback
    );

    // Due: a new instance is built and the resident set replayed into it.
    let builds = factory.builds.load(Ordering::Relaxed);
    let events = factory.events.load(Ordering::Relaxed);
    clock.advance(Duration::from_millis(600));
    cache.run_pending_tasks();
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!(status.state, PolicyState::Active);
    assert_eq!(status.rebuilds, 1);
    assert_eq!(factory.builds.load(Ordering::Relaxed), builds + 1);
    let replayed = factory.events.load(Ordering::Relaxed) - events;
    assert!(
        replayed >= cache.len() as u64,
        "replayed {replayed} of {}",
        cache.len()
    );
    // The rebuilt policy decides again.
    let fallback_before = cache.stats().policy.fallback_evictions;
    fill(&cache, 4_000..6_000);
    assert_eq!(cache.stats().policy.fallback_evictions, fallback_before);

    // Failure 2 (within a minute of the rebuild): backoff doubles.
    factory.broken.store(true, Ordering::Relaxed);
    fill(&cache, 6_000..7_000);
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!(
        (status.consecutive_failures, status.rebuild_in),
        (2, Some(Duration::from_secs(2)))
    );

    // Failure 3: the rebuilt instance fails while being replayed into; trip.
    clock.advance(Duration::from_secs(2));
    cache.run_pending_tasks();
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!((status.state, status.failures), (PolicyState::Tripped, 3));
    clock.advance(Duration::from_secs(3600));
    factory.broken.store(false, Ordering::Relaxed);
    fill(&cache, 7_000..8_000);
    assert_eq!(
        cache.policy_status(PolicyTier::Hot).unwrap().state,
        PolicyState::Tripped
    );
    assert!(cache.weighted_size() <= 16 * 1000);

    // A swap clears it.
    let report = cache
        .swap_policy(PolicyTier::Hot, PolicyChoice::Lru)
        .unwrap();
    assert_eq!(
        (report.previous.as_str(), report.current.as_str()),
        ("flaky", "lru")
    );
    assert_eq!(report.replayed, cache.len() as u64);
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!(
        (status.state, status.swaps, status.consecutive_failures),
        (PolicyState::Active, 1, 0)
    );
    for k in 7_900..8_000 {
        assert_eq!(cache.get(&k), Some(k), "recent entries survive the swap");
    }
}

/// A factory that cannot build.
struct Refuses;

impl PolicyFactory for Refuses {
    fn build(&self, _capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        Err(PolicyError::Init("parameter ghosts=3 is not known".into()))
    }
}

#[test]
fn a_swap_that_cannot_build_leaves_the_running_policy() {
    let cache: Cache<u64, u64> = Cache::builder(10_000)
        .policy(PolicyChoice::Lru)
        .build()
        .unwrap();
    fill(&cache, 0..100);
    let err = cache
        .swap_policy(PolicyTier::Hot, PolicyChoice::Custom(Arc::new(Refuses)))
        .unwrap_err();
    assert!(
        matches!(&err, Error::PolicyRejected { reason } if reason.contains("ghosts")),
        "{err}"
    );
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!((status.name.as_str(), status.swaps), ("lru", 0));
    // No warm tier here.
    assert!(cache.policy_status(PolicyTier::Warm).is_none());
    assert!(matches!(
        cache.swap_policy(PolicyTier::Warm, PolicyChoice::Lru),
        Err(Error::PolicyRejected { .. })
    ));
    cache.shutdown();
    assert!(matches!(
        cache.swap_policy(PolicyTier::Hot, PolicyChoice::Lru),
        Err(Error::Closed)
    ));
}

#[test]
fn the_warm_tier_policy_swaps_too() {
    let cache: Cache<u64, Vec<u8>> = Cache::builder(64 << 10).warm(4 << 20).build().unwrap();
    for k in 0..2_000u64 {
        cache.insert(k, vec![k as u8; 200]).unwrap();
    }
    cache.run_pending_tasks();
    let warm_entries = cache.stats().warm_entries;
    assert!(warm_entries > 0);
    let report = cache
        .swap_policy(PolicyTier::Warm, PolicyChoice::Lru)
        .unwrap();
    assert_eq!(
        (report.tier, report.replayed),
        (PolicyTier::Warm, warm_entries)
    );
    assert_eq!(cache.policy_status(PolicyTier::Warm).unwrap().name, "lru");
    for k in 0..2_000u64 {
        if let Some(v) = cache.get(&k) {
            assert_eq!(v, vec![k as u8; 200]);
        }
    }
}

#[test]
fn swaps_under_load_lose_nothing_and_keep_the_bound() {
    let cache: Cache<u64, u64> = Cache::builder(16 * 5_000)
        .weigher(|_, _| 16)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2u64)
        .map(|t| {
            let (cache, stop) = (cache.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut ops = 0u64;
                let mut x = t + 1;
                while !stop.load(Ordering::Relaxed) {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let k = (x >> 33) % 20_000;
                    if x % 4 == 0 {
                        cache.insert(k, k * 3).unwrap();
                    } else if let Some(v) = cache.get(&k) {
                        assert_eq!(v, k * 3);
                    }
                    assert!(cache.weighted_size() <= cache.bound());
                    ops += 1;
                }
                ops
            })
        })
        .collect();
    let choices = [
        PolicyChoice::Lru,
        PolicyChoice::Sieve,
        PolicyChoice::Custom(Arc::new(FlakyFactory::default())),
    ];
    for i in 0..60 {
        let report = cache
            .swap_policy(PolicyTier::Hot, choices[i % 3].clone())
            .unwrap();
        assert!(report.replayed <= 5_000 + 1_000, "{report:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let ops: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    cache.run_pending_tasks();
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!((status.swaps, status.failures), (60, 0));
    assert!(ops > 0);
    assert!(cache.weighted_size() <= 16 * 5_000);
}
