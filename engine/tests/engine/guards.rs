//! Every call into a policy is guarded, on every path: a native policy
//! that panics or hangs while it is built, replayed into on the swap
//! thread, caught up at the end of a swap, or rebuilt after a failure
//! costs the policy, never the caller, the maintenance thread or the data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goldylox::{
    Cache, Error, EventBatch, EventKind, EvictionPolicy, Lru, ManualClock, PolicyChoice,
    PolicyError, PolicyFactory, PolicyState, PolicyTier,
};

/// Where a [`Trap`] goes wrong.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// Its factory panics.
    PanicOnBuild,
    /// Any batch panics (the replay of a swap is the first one).
    PanicOnApply,
    /// The first batch sleeps this long.
    HangOnApply(Duration),
    /// A batch holding a remove panics (a swap's catch-up does).
    PanicOnRemove,
    /// Every call fails with an error, and every build after the first
    /// panics (the rebuild after the failure).
    FailThenPanicOnRebuild,
}

/// An LRU that goes wrong as its [`Fault`] says.
struct Trap {
    lru: Lru,
    fault: Fault,
    hung: bool,
}

impl EvictionPolicy for Trap {
    fn name(&self) -> &str {
        "trap"
    }
    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        match self.fault {
            Fault::PanicOnApply => panic!("trap: apply"),
            Fault::HangOnApply(d) if !self.hung => {
                self.hung = true;
                std::thread::sleep(d);
            }
            Fault::PanicOnRemove if batch.iter().any(|(k, _, _)| k == EventKind::Remove) => {
                panic!("trap: a remove")
            }
            Fault::FailThenPanicOnRebuild => {
                return Err(PolicyError::Failed("trap: broken".into()));
            }
            _ => {}
        }
        self.lru.apply(batch)
    }
    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        self.lru.evict(max, need, out)
    }
}

struct TrapFactory {
    fault: Fault,
    builds: AtomicU64,
}

fn trap(fault: Fault) -> Arc<TrapFactory> {
    Arc::new(TrapFactory {
        fault,
        builds: AtomicU64::new(0),
    })
}

impl PolicyFactory for TrapFactory {
    fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        let builds = self.builds.fetch_add(1, Ordering::Relaxed);
        match self.fault {
            Fault::PanicOnBuild => panic!("trap: build"),
            Fault::FailThenPanicOnRebuild if builds > 0 => panic!("trap: rebuild"),
            _ => Ok(Box::new(Trap {
                lru: Lru::new(capacity),
                fault: self.fault,
                hung: false,
            })),
        }
    }
}

fn lru_cache(deadline: Duration) -> Cache<u64, u64> {
    let cache: Cache<u64, u64> = Cache::builder(16 * 1000)
        .weigher(|_, _| 16)
        .policy(PolicyChoice::Lru)
        .swap_deadline(deadline)
        .build()
        .unwrap();
    for k in 0..500 {
        cache.insert(k, k).unwrap();
    }
    cache.run_pending_tasks();
    cache
}

/// The swap failed with a reason containing `why`, and LRU still runs and
/// evicts: the cache stays within its bound and keeps its recent keys.
fn assert_lru_stays(
    cache: &Cache<u64, u64>,
    result: Result<goldylox::SwapReport, Error>,
    why: &str,
) {
    let err = result.expect_err("the swap fails");
    assert!(
        matches!(&err, Error::PolicyRejected { reason } if reason.contains(why)),
        "{err}"
    );
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!(
        (status.name.as_str(), status.state),
        ("lru", PolicyState::Active)
    );
    for k in 1_000..3_000 {
        cache.insert(k, k).unwrap();
    }
    cache.run_pending_tasks();
    assert!(cache.weighted_size() <= cache.bound());
    assert_eq!(cache.get(&2_999), Some(2_999));
}

#[test]
fn a_policy_that_panics_while_built_is_rejected_on_the_callers_thread() {
    let cache = lru_cache(Duration::from_secs(60));
    let result = cache.swap_policy(
        PolicyTier::Hot,
        PolicyChoice::Custom(trap(Fault::PanicOnBuild)),
    );
    assert_lru_stays(&cache, result, "trap: build");
}

#[test]
fn a_policy_that_panics_on_the_swap_thread_fails_the_swap() {
    let cache = lru_cache(Duration::from_secs(60));
    let result = cache.swap_policy(
        PolicyTier::Hot,
        PolicyChoice::Custom(trap(Fault::PanicOnApply)),
    );
    assert_lru_stays(&cache, result, "trap: apply");
}

#[test]
fn a_swap_that_hangs_past_its_deadline_is_abandoned() {
    let deadline = Duration::from_millis(300);
    let cache = lru_cache(deadline);
    let started = Instant::now();
    let hang = Fault::HangOnApply(Duration::from_secs(3));
    let result = cache.swap_policy(PolicyTier::Hot, PolicyChoice::Custom(trap(hang)));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered before the policy woke up"
    );
    assert_lru_stays(&cache, result, "did not finish within");
    // The stuck thread's late result is ignored.
    std::thread::sleep(Duration::from_secs(3));
    cache.run_pending_tasks();
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!((status.name.as_str(), status.swaps), ("lru", 0));
}

#[test]
fn a_policy_that_panics_while_catching_up_fails_the_swap() {
    let cache = lru_cache(Duration::from_secs(60));
    let cache = Arc::new(cache);
    // The replay holds until the main thread has removed a key, which then
    // reaches the new instance as a remove when the swap catches up.
    let replay = Arc::new(ReplayGate::default());
    let swapping = {
        let cache = Arc::clone(&cache);
        let panicky = Arc::new(TrapOnRemoveAfterHeldReplay(Arc::clone(&replay)));
        std::thread::spawn(move || {
            cache.swap_policy(PolicyTier::Hot, PolicyChoice::Custom(panicky))
        })
    };
    let waited = Instant::now();
    while !replay.started.load(Ordering::Acquire) {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the replay never began"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(cache.remove(&7), Some(7));
    cache.run_pending_tasks();
    replay.released.store(true, Ordering::Release);
    let result = swapping.join().unwrap();
    assert_lru_stays(&cache, result, "trap: a remove");
}

/// Where the swap's replay stands: begun, and let go by the test.
#[derive(Default)]
struct ReplayGate {
    started: std::sync::atomic::AtomicBool,
    released: std::sync::atomic::AtomicBool,
}

/// Builds a policy whose replay holds at a [`ReplayGate`] and which panics
/// on a remove.
struct TrapOnRemoveAfterHeldReplay(Arc<ReplayGate>);

impl PolicyFactory for TrapOnRemoveAfterHeldReplay {
    fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        Ok(Box::new(HeldThenPanicky {
            inner: Trap {
                lru: Lru::new(capacity),
                fault: Fault::PanicOnRemove,
                hung: false,
            },
            gate: Some(Arc::clone(&self.0)),
        }))
    }
}

struct HeldThenPanicky {
    inner: Trap,
    gate: Option<Arc<ReplayGate>>,
}

impl EvictionPolicy for HeldThenPanicky {
    fn name(&self) -> &str {
        "held-then-panicky"
    }
    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        if let Some(gate) = self.gate.take() {
            gate.started.store(true, Ordering::Release);
            // Bounded, so a swap that never lets go cannot hang the suite.
            let held = Instant::now();
            while !gate.released.load(Ordering::Acquire) && held.elapsed() < Duration::from_secs(30)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.inner.apply(batch)
    }
    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        self.inner.evict(max, need, out)
    }
}

#[test]
fn a_policy_that_panics_while_rebuilt_counts_as_a_failure() {
    let clock = ManualClock::new();
    let factory = trap(Fault::FailThenPanicOnRebuild);
    let cache: Cache<u64, u64> = Cache::builder(16 * 1000)
        .weigher(|_, _| 16)
        .clock(clock.clone())
        .policy(PolicyChoice::Custom(factory.clone()))
        .build()
        .unwrap();
    for round in 0..6 {
        for k in 0..2_000 {
            cache.insert(round * 10_000 + k, k).unwrap();
        }
        cache.run_pending_tasks();
        assert!(
            cache.weighted_size() <= cache.bound(),
            "the fallback evicts"
        );
        // Past any backoff: a rebuild is due at the next pass.
        clock.advance(Duration::from_secs(120));
        cache.run_pending_tasks();
    }
    assert!(
        factory.builds.load(Ordering::Relaxed) > 1,
        "rebuilds were attempted"
    );
    // Each rebuild's panic counted as a failure (the slot stays on its
    // fallback and tries again after its backoff), and maintenance went on.
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    assert_eq!(status.state, PolicyState::Fallback, "{status:?}");
    assert!(status.failures >= 6, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("panicked: trap: rebuild")),
        "{status:?}"
    );
}

#[test]
fn a_policy_that_panics_while_the_cache_is_built_is_a_configuration_error() {
    let built: Result<Cache<u64, u64>, Error> = Cache::builder(16 * 1000)
        .policy(PolicyChoice::Custom(trap(Fault::PanicOnBuild)))
        .build();
    let Err(err) = built else {
        panic!("a policy that panics while built is refused")
    };
    assert!(
        matches!(&err, Error::InvalidConfig { reason } if reason.contains("trap: build")),
        "{err}"
    );
}

#[test]
fn a_shadow_candidate_that_panics_leaves_the_race() {
    use goldylox::policy::auto::Selector;
    use goldylox::{AutoConfig, Candidate};
    let config = AutoConfig::new(vec![
        Candidate::new("lru", PolicyChoice::Lru),
        Candidate::new("panics", PolicyChoice::Custom(trap(Fault::PanicOnApply))),
        Candidate::new(
            "cannot-build",
            PolicyChoice::Custom(trap(Fault::PanicOnBuild)),
        ),
    ])
    .unwrap();
    let mut selector = Selector::new(Arc::new(config), 1000, 1);
    let mut batch = EventBatch::with_capacity(64);
    for i in 0..20_000u64 {
        let key = (i % 3_000).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1;
        batch.push(EventKind::Insert, key, 1);
        if batch.len() == 64 {
            selector.observe(&batch);
            batch.clear();
        }
    }
    let status = selector.status();
    for name in ["panics", "cannot-build"] {
        let candidate = status.candidates.iter().find(|c| c.name == name).unwrap();
        assert!(
            candidate
                .failure
                .as_deref()
                .is_some_and(|f| f.contains("panicked: trap")),
            "{status:?}"
        );
    }
    assert_eq!(status.current, "lru", "{status:?}");
}

/// A failover policy that panics as soon as it is told anything.
struct PanickingFailover;

impl goldylox::health::FailoverPolicy for PanickingFailover {
    fn observe(&mut self, _: &[goldylox::health::HealthEvent]) -> Result<(), PolicyError> {
        panic!("trap: failover")
    }
    fn decide(&mut self, _: u8, _: u64) -> Result<goldylox::health::Decision, PolicyError> {
        panic!("trap: failover")
    }
}

#[test]
fn a_failover_policy_that_panics_hands_over_to_the_native_breaker() {
    let fs = goldylox::cold::FaultFs::new();
    let mut config = super::cold::cold_config(std::path::Path::new("/guards"));
    config.fs = Arc::new(fs);
    let cache = Cache::<String, Vec<u8>>::builder(16 << 10)
        .cold(config)
        .failover(Arc::new(|| {
            Ok(Box::new(PanickingFailover) as Box<dyn goldylox::health::FailoverPolicy>)
        }))
        .build()
        .unwrap();
    for i in 0..2_000u64 {
        cache
            .insert(format!("k{i}"), super::cold::value(i, 100))
            .unwrap();
    }
    cache.run_pending_tasks();
    cache.sync_cold().unwrap();
    super::cold::wait_for("the failover policy's failure", || {
        cache.cold_health().unwrap().1.policy_failures >= 1
    });
    // The native breaker decides now, and the tiers still serve.
    assert_eq!(
        cache.cold_health().unwrap().0,
        goldylox::health::BreakerState::Closed
    );
    for i in (0..2_000u64).step_by(97) {
        assert_eq!(
            cache.get(&format!("k{i}")),
            Some(super::cold::value(i, 100))
        );
    }
}
