//! Soak: mixed operations from several threads on a two-tier cache, with
//! self-verifying values (each embeds its key, a write sequence number and a
//! checksum). Three seconds in CI; set `GOLDYLOX_SOAK_SECS` for a longer run.
//! Reports RSS at start and end (a figure, not an assertion).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use goldylox::{Cache, Expiration};

use crate::support::Rng;

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1 << 20) as f64
}

fn checksum(key: u64, seq: u64, len: usize) -> u64 {
    (key ^ seq.rotate_left(17) ^ len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `[key, seq, checksum]` followed by filler, 24 B – 4 KiB.
fn value(key: u64, seq: u64, rng: &mut Rng) -> Vec<u64> {
    let len = 3 + rng.below(500) as usize;
    let mut v = vec![key ^ seq; len];
    v[0] = key;
    v[1] = seq;
    v[2] = checksum(key, seq, len);
    v
}

fn verify(key: u64, v: &[u64]) {
    assert!(v.len() >= 3, "truncated value for {key}");
    assert_eq!(v[0], key, "value of another key");
    assert_eq!(
        v[2],
        checksum(key, v[1], v.len()),
        "corrupt value for {key}"
    );
    assert!(
        v[3..].iter().all(|&x| x == key ^ v[1]),
        "corrupt filler for {key}"
    );
}

#[test]
fn soak_mixed_operations_on_two_tiers() {
    let secs: u64 = std::env::var("GOLDYLOX_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let cache: Cache<u64, Vec<u64>> = Cache::builder(2 << 20).warm(8 << 20).build().unwrap();
    let start_rss = rss_mib();
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    // Compare-and-sets that stored (most do: a race with another writer
    // of the same key, among 50,000, is rare).
    let swaps = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let (cache, stop, ops) = (cache.clone(), Arc::clone(&stop), Arc::clone(&ops));
            let swaps = Arc::clone(&swaps);
            thread::spawn(move || {
                let mut rng = Rng::new(t + 1);
                let mut seq = t << 48;
                let mut max_weight = 0;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let key = rng.below(50_000);
                        seq += 1;
                        match rng.below(20) {
                            0..=9 => {
                                if let Some(v) = cache.get(&key) {
                                    verify(key, &v);
                                }
                            }
                            10..=15 => cache.insert(key, value(key, seq, &mut rng)).unwrap(),
                            16 => {
                                let v = value(key, seq, &mut rng);
                                cache
                                    .put(
                                        key,
                                        v,
                                        Expiration::After(Duration::from_millis(rng.below(50))),
                                    )
                                    .unwrap();
                            }
                            17 => {
                                if let Some(v) = cache.remove(&key) {
                                    verify(key, &v);
                                }
                            }
                            18 => verify(
                                key,
                                &cache.get_or_insert_with(key, || value(key, seq, &mut rng)),
                            ),
                            _ => {
                                if let Some(cur) = cache.get(&key) {
                                    let stored = cache
                                        .compare_and_set(
                                            key,
                                            Some(&cur),
                                            value(key, seq, &mut rng),
                                            goldylox::Expiration::Keep,
                                        )
                                        .expect("a compare-and-set of a fitting value");
                                    if stored {
                                        swaps.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                        }
                        max_weight = max_weight.max(cache.weighted_size());
                    }
                    ops.fetch_add(256, Ordering::Relaxed);
                }
                max_weight
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let peak = workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .max()
        .unwrap();
    cache.run_pending_tasks();
    let s = cache.stats();
    let pool = cache.pool_stats().unwrap();
    println!(
        "soak {secs}s: {} ops ({:.0}/s); hot {:?} warm {:?}; {:?}; peak weighted {peak} of bound {}; pool held {} of {}; RSS {start_rss:.1} -> {:.1} MiB",
        ops.load(Ordering::Relaxed),
        ops.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(),
        s.hot,
        s.warm,
        s.movement,
        cache.bound(),
        pool.held_bytes,
        pool.max_bytes,
        rss_mib()
    );
    assert!(peak <= cache.bound());
    assert!(
        swaps.load(Ordering::Relaxed) > 0,
        "no compare-and-set stored"
    );
    assert!(pool.held_bytes <= pool.max_bytes);
    assert_eq!(s.movement.warm_corrupt, 0);
    assert!(
        s.movement.demotions > 0 && s.movement.promotions > 0,
        "{:?}",
        s.movement
    );
    for key in 0..50_000 {
        if let Some(v) = cache.get(&key) {
            verify(key, &v);
        }
    }
}
