//! Helpers shared by the tests: the benchmarks' workload generators, and
//! a small three-tier cache with values that fill it.

#[path = "../../benches/workload.rs"]
mod workload;
pub(crate) use workload::{Rng, Zipf};

/// 300 incompressible bytes that name `k`.
pub(crate) fn noise(k: u64) -> Vec<u8> {
    let mut x = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..300)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A 32 KiB hot tier over a 1 MiB warm tier and a cold tier in `dir`: small
/// enough that a few thousand [`noise`] values fill all three.
pub(crate) fn three_tiers(dir: &std::path::Path) -> goldylox::Cache<u64, Vec<u8>> {
    let mut cold = goldylox::cold::ColdConfig::new(dir, 64 << 20);
    cold.segment_size = 256 << 10;
    goldylox::Cache::builder(32 << 10)
        .warm(1 << 20)
        .cold(cold)
        .build()
        .unwrap()
}

/// How many [`noise`] values [`filled_three_tiers`] writes.
pub(crate) const FILL: u64 = 8_000;

/// [`three_tiers`] with keys `0..FILL` written and settled: some of them
/// hot, some warm, some only on disk (checked).
pub(crate) fn filled_three_tiers(dir: &std::path::Path) -> goldylox::Cache<u64, Vec<u8>> {
    let cache = three_tiers(dir);
    for k in 0..FILL {
        cache.insert(k, noise(k)).unwrap();
    }
    cache.run_pending_tasks();
    let movement = cache.stats().movement;
    assert!(movement.demotions > 0, "{movement:?}");
    assert!(
        cache.cold_stats().unwrap().entries > 0,
        "some keys are cold"
    );
    cache
}
