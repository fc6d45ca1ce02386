//! Prefetch: a policy that learns successors promotes the next keys of a
//! loop from the warm tier before they are asked for; a failing one is
//! dropped and the cache carries on.

use std::collections::HashMap;
use std::sync::Arc;

use goldylox::{Cache, PolicyChoice, PolicyError, PrefetchFactory, PrefetchPolicy};

/// Order-1 successor prediction: `next[a] = b` when b followed a.
#[derive(Default)]
struct Successor {
    next: HashMap<u64, u64>,
    last: Option<u64>,
    fail: bool,
    panics: bool,
}

impl PrefetchPolicy for Successor {
    fn name(&self) -> &str {
        "successor"
    }
    fn observe(&mut self, hashes: &[u64], hits: &[u8]) -> Result<(), PolicyError> {
        assert_eq!(hashes.len(), hits.len());
        for &h in hashes {
            if let Some(prev) = self.last {
                self.next.insert(prev, h);
            }
            self.last = Some(h);
        }
        Ok(())
    }
    fn propose(&mut self, max: u32, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        if self.fail {
            return Err(PolicyError::Failed("no crystal ball today".into()));
        }
        assert!(!self.panics, "a prefetch policy that panics");
        let mut at = self.last;
        for _ in 0..max {
            let Some(next) = at.and_then(|h| self.next.get(&h).copied()) else {
                break;
            };
            out.push(next);
            at = Some(next);
        }
        Ok(())
    }
}

struct Factory {
    fail: bool,
    panics: bool,
}

impl PrefetchFactory for Factory {
    fn build(&self, _capacity: u64) -> Result<Box<dyn PrefetchPolicy>, PolicyError> {
        Ok(Box::new(Successor {
            fail: self.fail,
            panics: self.panics,
            ..Successor::default()
        }))
    }
}

/// Loops over 3 000 keys with a hot tier for ~1 000 and a warm tier for all;
/// returns the hot hit ratio of the last five loops and the cache's stats.
fn run_loop(prefetch: Option<Factory>) -> (f64, goldylox::CacheStats) {
    let mut b = Cache::<u64, Vec<u8>>::builder(100 * 1_000)
        .weigher(|_, _| 100)
        .policy(PolicyChoice::Lru)
        .warm(8 << 20);
    if let Some(f) = prefetch {
        b = b.prefetch(Arc::new(f));
    }
    let cache = b.build().unwrap();
    let value = |k: u64| vec![(k % 251) as u8; 64];
    let (mut hot_hits, mut requests) = (0u64, 0u64);
    for round in 0..10 {
        for k in 0..3_000u64 {
            let before = cache.stats().hot.hits;
            match cache.get(&k) {
                Some(v) => assert_eq!(v, value(k)),
                None => cache.insert(k, value(k)).unwrap(),
            }
            if round >= 5 {
                requests += 1;
                hot_hits += cache.stats().hot.hits - before;
            }
            if k % 32 == 0 {
                cache.run_pending_tasks();
            }
            assert!(cache.weighted_size() <= cache.bound());
        }
    }
    cache.run_pending_tasks();
    (hot_hits as f64 / requests as f64, cache.stats())
}

#[test]
fn successor_prefetch_turns_a_loop_into_hot_hits() {
    let (without, plain) = run_loop(None);
    let (with, stats) = run_loop(Some(Factory {
        fail: false,
        panics: false,
    }));
    println!(
        "hot hit ratio on a 3000-key loop over a 1000-entry hot tier: {:.1} % without prefetch, \
         {:.1} % with ({:?})",
        without * 100.0,
        with * 100.0,
        stats.prefetch
    );
    assert_eq!(plain.prefetch.observed, 0);
    assert!(stats.prefetch.observed > 0 && stats.prefetch.promoted > 0);
    assert_eq!(stats.prefetch.failures, 0);
    assert!(
        with > without + 0.3,
        "prefetch should pay: {with} vs {without}"
    );
}

#[test]
fn a_failing_prefetch_policy_is_dropped_and_nothing_else_changes() {
    let (_, stats) = run_loop(Some(Factory {
        fail: true,
        panics: false,
    }));
    assert_eq!(stats.prefetch.failures, 1);
    assert_eq!(stats.prefetch.promoted, 0);
    assert!(stats.warm.hits > 0, "the warm tier still serves");
}

#[test]
fn a_panicking_prefetch_policy_is_dropped_the_same_way() {
    let (_, stats) = run_loop(Some(Factory {
        fail: false,
        panics: true,
    }));
    assert_eq!(stats.prefetch.failures, 1);
    assert_eq!(stats.prefetch.promoted, 0);
    assert!(stats.warm.hits > 0, "the warm tier still serves");
}
