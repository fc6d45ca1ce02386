//! Native policies are textbook-exact, and the engine contains a policy that
//! lies.
//!
//! Exactness is checked against small, independent reference simulators
//! written here the obvious way (different data structures from the
//! engine's). The published LRU figures on the shared traces are checked by
//! the host's replay tests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use goldylox::{
    Cache, EventBatch, EventKind, EvictionPolicy, Lru, PolicyChoice, PolicyError, PolicyFactory,
    Sieve,
};

use crate::support::{Rng, Zipf};

/// Wraps a policy so the driver can ask residency.
trait Resident: EvictionPolicy {
    fn has(&self, hash: u64) -> bool;
}
impl Resident for Lru {
    fn has(&self, hash: u64) -> bool {
        self.contains(hash)
    }
}
impl Resident for Sieve {
    fn has(&self, hash: u64) -> bool {
        self.contains(hash)
    }
}

/// Drives a policy through the batch interface one request at a time, the way
/// a cache with unit weights would, and counts hits.
fn hits_with<P: Resident + 'static>(mut policy: P, trace: &[u64]) -> u64 {
    let mut batch = EventBatch::with_capacity(1);
    let mut victims = Vec::new();
    let mut hits = 0;
    for &key in trace {
        let hash = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        batch.clear();
        if policy.has(hash) {
            hits += 1;
            batch.push(EventKind::Hit, hash, 0);
        } else {
            batch.push(EventKind::Insert, hash, 1);
        }
        policy.apply(&batch).unwrap();
        victims.clear();
        policy.evict(u32::MAX, 0, &mut victims).unwrap();
    }
    hits
}

/// Reference LRU: last-use timestamps in a BTreeMap.
fn reference_lru(trace: &[u64], size: usize) -> u64 {
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut by_time: BTreeMap<u64, u64> = BTreeMap::new();
    let mut hits = 0;
    for (t, &key) in trace.iter().enumerate() {
        let t = t as u64;
        if let Some(old) = last.insert(key, t) {
            hits += 1;
            by_time.remove(&old);
        } else if last.len() > size {
            let (_, victim) = by_time.pop_first().unwrap();
            last.remove(&victim);
        }
        by_time.insert(t, key);
    }
    hits
}

/// Reference SIEVE, as in the paper's pseudocode: a queue (front = newest),
/// a visited flag, a hand moving from the tail towards the head.
fn reference_sieve(trace: &[u64], size: usize) -> u64 {
    let mut queue: VecDeque<(u64, bool)> = VecDeque::new(); // index 0 = head (newest)
    let mut hand: Option<usize> = None; // index into queue
    let mut hits = 0;
    for &key in trace {
        if let Some(pos) = queue.iter().position(|&(k, _)| k == key) {
            hits += 1;
            queue[pos].1 = true;
            continue;
        }
        if queue.len() == size {
            let mut o = hand.unwrap_or(queue.len() - 1);
            while queue[o].1 {
                queue[o].1 = false;
                o = if o == 0 { queue.len() - 1 } else { o - 1 };
            }
            // The hand moves to the victim's newer neighbour (o - 1), or
            // restarts at the tail when the victim was the head.
            queue.remove(o);
            hand = if o == 0 { None } else { Some(o - 1) };
        }
        queue.push_front((key, false));
        if let Some(h) = hand.as_mut() {
            *h += 1;
        }
    }
    hits
}

fn workloads() -> Vec<(String, Vec<u64>)> {
    let mut rng = Rng::new(42);
    let zipf = Zipf::new(5_000, 0.9);
    let zipf_trace: Vec<u64> = (0..30_000).map(|_| zipf.sample(&mut rng)).collect();
    // A loop that does not fit plus a hot set: punishes LRU, rewards SIEVE.
    let loop_trace: Vec<u64> = (0..30_000u64)
        .map(|i| {
            if i % 3 == 0 {
                10_000 + rng.below(50)
            } else {
                i % 700
            }
        })
        .collect();
    let uniform: Vec<u64> = (0..30_000).map(|_| rng.below(2_000)).collect();
    vec![
        ("zipf".into(), zipf_trace),
        ("loop+hot".into(), loop_trace),
        ("uniform".into(), uniform),
    ]
}

#[test]
fn lru_equals_the_reference_simulator() {
    for (name, trace) in workloads() {
        for size in [1usize, 2, 10, 100, 500, 1_000] {
            let ours = hits_with(Lru::new(size as u64), &trace);
            assert_eq!(ours, reference_lru(&trace, size), "LRU on {name} at {size}");
        }
    }
}

#[test]
fn sieve_equals_the_reference_simulator() {
    for (name, trace) in workloads() {
        for size in [1usize, 2, 10, 100, 500] {
            let ours = hits_with(Sieve::new(size as u64), &trace);
            assert_eq!(
                ours,
                reference_sieve(&trace, size),
                "SIEVE on {name} at {size}"
            );
        }
    }
}

#[test]
fn dyn_driver_matches_typed_driver() {
    // The same numbers through a `dyn EvictionPolicy`, as maintenance uses it.
    let (_, trace) = workloads().remove(0);
    let mut p: Box<dyn EvictionPolicy> = Box::new(Lru::new(100));
    let mut resident = std::collections::HashSet::new();
    let mut batch = EventBatch::with_capacity(1);
    let mut victims = Vec::new();
    let mut hits = 0;
    for &key in &trace {
        let hash = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        batch.clear();
        if resident.contains(&hash) {
            hits += 1;
            batch.push(EventKind::Hit, hash, 0);
        } else {
            resident.insert(hash);
            batch.push(EventKind::Insert, hash, 1);
        }
        p.apply(&batch).unwrap();
        victims.clear();
        p.evict(u32::MAX, 0, &mut victims).unwrap();
        for v in &victims {
            assert!(resident.remove(v), "victim {v} was not resident");
        }
    }
    assert_eq!(hits, reference_lru(&trace, 100));
}

/// A policy that lies: it proposes unknown hashes, duplicates, and nothing
/// useful, and sometimes fails outright.
struct Liar {
    calls: u64,
    fail_after: Option<u64>,
}

impl EvictionPolicy for Liar {
    fn name(&self) -> &str {
        "liar"
    }
    fn apply(&mut self, _batch: &EventBatch) -> Result<(), PolicyError> {
        Ok(())
    }
    fn evict(&mut self, max: u32, _need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        self.calls += 1;
        if self.fail_after.is_some_and(|n| self.calls > n) {
            return Err(PolicyError::Failed("liar gave up".into()));
        }
        for i in 0..max.min(8) {
            out.push(0xDEAD_0000 + u64::from(i % 3)); // unknown, with duplicates
        }
        Ok(())
    }
}

struct LiarFactory(Option<u64>);

impl PolicyFactory for LiarFactory {
    fn build(&self, _capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        Ok(Box::new(Liar {
            calls: 0,
            fail_after: self.0,
        }))
    }
}

#[test]
fn invalid_victims_are_rejected_counted_and_the_fallback_keeps_the_bound() {
    for fail_after in [None, Some(3)] {
        let evicted = Arc::new(AtomicU64::new(0));
        let e = Arc::clone(&evicted);
        // A clock that stands still: no rebuild comes due during the test.
        let cache: Cache<u64, u64> = Cache::builder(2_000)
            .clock(goldylox::ManualClock::new())
            .policy(PolicyChoice::Custom(Arc::new(LiarFactory(fail_after))))
            .removal_listener(move |_, _, _| {
                e.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        for i in 0..20_000u64 {
            cache.insert(i, i).unwrap();
            assert!(cache.weighted_size() <= cache.bound());
            if let Some(v) = cache.get(&(i / 2)) {
                assert_eq!(v, i / 2);
            }
        }
        cache.run_pending_tasks();
        let s = cache.stats();
        println!("{fail_after:?}: {:?}", s.policy);
        assert!(cache.weighted_size() <= 2_000);
        assert!(s.policy.invalid_unknown > 0);
        assert_eq!(s.policy.fallback_evictions, s.removals.evicted);
        assert_eq!(s.removals.evicted, evicted.load(Ordering::Relaxed));
        match fail_after {
            None => {
                assert!(s.policy.invalid_duplicate > 0);
                assert_eq!(s.policy.failures, 0);
            }
            Some(_) => assert_eq!(s.policy.failures, 1),
        }
    }
}

/// A native policy that panics the first time it is asked for victims.
struct Panicker;

impl EvictionPolicy for Panicker {
    fn name(&self) -> &str {
        "panicker"
    }
    fn apply(&mut self, _batch: &EventBatch) -> Result<(), PolicyError> {
        Ok(())
    }
    fn evict(&mut self, _max: u32, _need: u64, _out: &mut Vec<u64>) -> Result<(), PolicyError> {
        panic!("a bug in an embedder's policy")
    }
}

struct PanickerFactory;

impl PolicyFactory for PanickerFactory {
    fn build(&self, _capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        Ok(Box::new(Panicker))
    }
}

/// A panicking policy is a failing policy: the fallback evicts, every write
/// succeeds, the bound holds, and the failure is counted. (It used to end
/// the maintenance thread, and writers then waited for it forever.)
#[test]
fn a_panicking_policy_fails_like_any_other_and_the_cache_goes_on() {
    let cache: Cache<u64, u64> = Cache::builder(2_000)
        .clock(goldylox::ManualClock::new())
        .policy(PolicyChoice::Custom(Arc::new(PanickerFactory)))
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let cache = &cache;
            scope.spawn(move || {
                for i in 0..5_000u64 {
                    cache.insert(t << 32 | i, i).unwrap();
                }
            });
        }
    });
    cache.run_pending_tasks();
    assert!(cache.weighted_size() <= cache.bound());
    let s = cache.stats();
    assert_eq!(s.policy.failures, 1, "{:?}", s.policy);
    assert_eq!(s.policy.fallback_evictions, s.removals.evicted);
    let status = cache.policy_status(goldylox::PolicyTier::Hot).unwrap();
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("a bug in an embedder's policy")),
        "{status:?}"
    );
}

/// A policy whose answers are scripted at random: resident hashes it was
/// told about, made-up hashes, duplicates, and more than asked for.
struct Chaos {
    seen: Vec<u64>,
    script: Vec<(u8, u16)>,
    step: usize,
}

impl EvictionPolicy for Chaos {
    fn name(&self) -> &str {
        "chaos"
    }
    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        for (kind, hash, _) in batch.iter() {
            if kind == EventKind::Insert {
                self.seen.push(hash);
            }
        }
        Ok(())
    }
    fn evict(&mut self, max: u32, _need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        let (mode, n) = self.script[self.step % self.script.len()];
        self.step += 1;
        for i in 0..usize::from(n) {
            let pick = self
                .seen
                .get((i * 7 + self.step) % self.seen.len().max(1))
                .copied();
            out.push(match (mode % 4, pick) {
                (0, Some(h)) | (1, Some(h)) => h,      // a key it was told about
                (2, _) => 0xBAD0_0000 + i as u64,      // made up
                _ => out.last().copied().unwrap_or(1), // a duplicate
            });
        }
        // Answers longer than `max` must be cut by the host, not trusted.
        let _ = max;
        Ok(())
    }
}

struct ChaosFactory(Vec<(u8, u16)>);

impl PolicyFactory for ChaosFactory {
    fn build(&self, _capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        Ok(Box::new(Chaos {
            seen: Vec::new(),
            script: self.0.clone(),
            step: 0,
        }))
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, .. Default::default() })]

    /// Whatever a policy answers, only resident entries are evicted, every
    /// eviction is reported, and the bound holds.
    #[test]
    fn random_policy_answers_never_break_the_cache(
        script in proptest::collection::vec((0u8..4, 0u16..600), 1..20),
        keys in proptest::collection::vec(0u64..3_000, 200..2_000),
    ) {
        let evicted: Arc<listener_log::Log> = Arc::default();
        let log = Arc::clone(&evicted);
        let cache: Cache<u64, u64> = Cache::builder(1_000)
            .weigher(|_, _| 10)
            .policy(PolicyChoice::Custom(Arc::new(ChaosFactory(script))))
            .removal_listener(move |k, _, cause| {
                if cause == goldylox::RemovalCause::Evicted {
                    log.push(k);
                }
            })
            .build()
            .unwrap();
        let mut ever_inserted = std::collections::HashSet::new();
        for &k in &keys {
            cache.insert(k, k).unwrap();
            ever_inserted.insert(k);
            proptest::prop_assert!(cache.weighted_size() <= cache.bound());
        }
        cache.run_pending_tasks();
        proptest::prop_assert!(cache.weighted_size() <= 1_000);
        let s = cache.stats();
        let evicted = evicted.take();
        proptest::prop_assert_eq!(evicted.len() as u64, s.removals.evicted);
        proptest::prop_assert!(evicted.iter().all(|k| ever_inserted.contains(k)), "evicted a key never inserted");
        // Every resident key is still readable and right.
        for &k in &ever_inserted {
            if let Some(v) = cache.get(&k) {
                proptest::prop_assert_eq!(v, k);
            }
        }
    }
}

/// A tiny thread-safe log for listener callbacks.
mod listener_log {
    use std::sync::Mutex;

    #[derive(Default)]
    pub(crate) struct Log(Mutex<Vec<u64>>);

    impl Log {
        pub(crate) fn push(&self, k: u64) {
            self.0.lock().unwrap().push(k);
        }
        pub(crate) fn take(&self) -> Vec<u64> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }
}
