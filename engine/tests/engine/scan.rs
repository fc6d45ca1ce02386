//! `Cache::scan`: a full iteration over every tier returns each key
//! present throughout exactly once, while keys move between tiers and
//! other keys come and go.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use goldylox::Cache;

use crate::support::{FILL, filled_three_tiers, noise, three_tiers};

/// Every key a full iteration with steps of about `count` returns, checked
/// to be returned once.
fn full_iteration(cache: &Cache<u64, Vec<u8>>, count: usize) -> (HashSet<u64>, usize) {
    let mut seen = HashSet::new();
    let mut cursor = 0;
    let mut steps = 0;
    loop {
        let (keys, next) = cache.scan(cursor, count);
        steps += 1;
        for k in keys {
            assert!(seen.insert(k), "key {k} returned twice");
        }
        if next == 0 {
            return (seen, steps);
        }
        assert!(next > cursor, "the cursor moves forward");
        cursor = next;
    }
}

#[test]
fn a_scan_returns_every_key_of_every_tier_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled_three_tiers(dir.path());
    const KEYS: u64 = FILL;
    // Some cold keys are read back, so the cold tier also holds copies of
    // keys now in memory: they must not come twice.
    for k in (0..KEYS).step_by(7) {
        assert_eq!(cache.get(&k), Some(noise(k)));
    }
    let want: HashSet<u64> = (0..KEYS).collect();
    for count in [1, 10, 1_000, usize::MAX] {
        let (seen, steps) = full_iteration(&cache, count);
        assert_eq!(seen, want, "count {count}");
        assert!(steps >= 16, "one step per shard at least");
    }
    let mut all = Vec::new();
    cache.for_each_key(|k| all.push(k));
    assert_eq!(all.len(), KEYS as usize);
    assert_eq!(cache.len(), KEYS as usize);
    // Random keys come from every tier.
    let picks: HashSet<u64> = (0..2_000).filter_map(|_| cache.random_key()).collect();
    assert!(
        picks.len() > 1_000,
        "{} distinct of 2000 draws",
        picks.len()
    );
    assert!(picks.iter().all(|k| *k < KEYS));
    // A bad cursor ends the iteration.
    assert_eq!(cache.scan(u64::MAX, 10), (Vec::new(), 0));
}

/// Churn writes a churn thread makes at most: about 40 MB of records, well
/// inside the cold tier's 64 MiB, so that no stable key leaves the cache by
/// the cold tier's own eviction (which a fast machine reached before).
const CHURN_WRITES: u64 = 120_000;

#[test]
fn keys_present_throughout_are_returned_while_others_churn_and_tiers_move() {
    let dir = tempfile::tempdir().unwrap();
    let cache = three_tiers(dir.path());
    // Stable keys 0..4000 stay throughout; churn keys 1_000_000.. come and
    // go, pushing stable keys down the tiers, and reads pull them back up.
    const STABLE: u64 = 4_000;
    for k in 0..STABLE {
        cache.insert(k, noise(k)).unwrap();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Whatever happens below, the churn threads stop (a failed
        // assertion would otherwise leave them running and the test hung).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&done);
        s.spawn(|| {
            let mut n = 1_000_000u64;
            while !done.load(Ordering::Relaxed) && n < 1_000_000 + CHURN_WRITES {
                cache.insert(n, noise(n)).unwrap();
                if n.is_multiple_of(3) {
                    cache.remove(&(n - 2));
                }
                n += 1;
            }
        });
        s.spawn(|| {
            let mut k = 0;
            while !done.load(Ordering::Relaxed) {
                assert_eq!(cache.get(&k), Some(noise(k)), "stable key {k}");
                // Rewrites move a key to the hot tier and drop its cold copy.
                if k.is_multiple_of(5) {
                    cache.insert(k, noise(k)).unwrap();
                }
                k = (k + 13) % STABLE;
            }
        });
        for round in 0..5 {
            let (seen, _) = full_iteration(&cache, 50);
            let missing: Vec<u64> = (0..STABLE).filter(|k| !seen.contains(k)).collect();
            assert!(
                missing.is_empty(),
                "round {round}: {} stable keys missed ({:?}, now {:?}); cold tier: {:?}; {:?}",
                missing.len(),
                missing,
                missing
                    .iter()
                    .map(|k| cache.get(k).is_some())
                    .collect::<Vec<_>>(),
                cache.cold_stats(),
                cache.stats()
            );
        }
    });
    let cold = cache.cold_stats().unwrap();
    assert_eq!(
        cold.evicted_segments, 0,
        "the premise: nothing left by eviction"
    );
}

#[test]
fn peeking_sees_every_tier_and_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled_three_tiers(dir.path());
    const KEYS: u64 = FILL;
    let before = cache.stats();
    for k in 0..KEYS {
        assert_eq!(
            cache.peek_with(&k, |v| v == &noise(k)),
            Some(true),
            "key {k}"
        );
    }
    assert_eq!(cache.peek_with(&(KEYS + 1), |_| ()), None);
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = three_tiers(empty_dir.path());
    assert_eq!(empty.random_key(), None);
    cache.run_pending_tasks();
    let after = cache.stats();
    assert_eq!(
        after.cold_movement, before.cold_movement,
        "no cold promotion"
    );
    assert_eq!(after.movement, before.movement, "no warm promotion");
    assert_eq!(after.hot, before.hot, "not counted as reads");
    assert_eq!(after.warm, before.warm);
}
