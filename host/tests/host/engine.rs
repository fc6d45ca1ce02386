//! Every built-in policy drives a real cache: the bound holds and the
//! policy, not the fallback, chooses the victims. (A proposal can name a key
//! that a writer removed after the last drain — the engine ignores and counts
//! those — so a few stale proposals are normal; many would mean the policy
//! and the index disagree.)

use goldylox::Cache;
use goldylox_sandbox::{BUILTINS, builtin};

#[test]
fn every_builtin_policy_drives_a_real_cache() {
    for name in BUILTINS {
        let cache: Cache<u64, u64> = Cache::builder(4_000)
            .weigher(|_, _| 10)
            .policy(builtin(name, &[]).unwrap())
            .build()
            .unwrap();
        let mut x = 1u64;
        for i in 0..50_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (x >> 33) % 2_000;
            match i % 10 {
                0..=5 => {
                    if cache.get(&key).is_none() {
                        cache.insert(key, key).unwrap();
                    }
                }
                6..=8 => cache.insert(key, key + 1).unwrap(),
                _ => {
                    cache.remove(&key);
                }
            }
            assert!(cache.weighted_size() <= cache.bound(), "{name}");
        }
        cache.run_pending_tasks();
        let s = cache.stats();
        assert!(cache.weighted_size() <= 4_000, "{name}");
        assert!(s.removals.evicted > 0, "{name} must have evicted");
        assert_eq!(s.policy.failures, 0, "{name}");
        let stray =
            s.policy.invalid_unknown + s.policy.invalid_duplicate + s.policy.fallback_evictions;
        assert!(stray * 100 <= s.removals.evicted, "{name}: {:?}", s.policy);
        println!("{name}: {:?} hit ratio {:.3}", s.policy, s.hot.hit_ratio());
    }
}

#[test]
fn bad_parameters_are_refused_at_build() {
    let choice = builtin("clock", &[("n-bit-counter".into(), "9".into())]).unwrap();
    let err = Cache::<u64, u64>::builder(100)
        .policy(choice)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("n-bit-counter"), "{err}");
    let choice = builtin("s3fifo", &[("small-size-ratio".into(), "lots".into())]).unwrap();
    assert!(
        Cache::<u64, u64>::builder(100)
            .policy(choice)
            .build()
            .is_err()
    );
}
