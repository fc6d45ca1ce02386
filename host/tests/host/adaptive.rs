//! The adaptive policies adapt: W-TinyLFU resists scans and moves its
//! window; LeCaR's weights follow the expert that makes fewer mistakes.

use goldylox_host::replay;
use goldylox_policy_lecar::LeCaR;
use goldylox_policy_sdk::Build;
use goldylox_policy_wtinylfu::WTinyLfu;
use goldylox_sandbox::Guest;

/// A hot set of 200 keys (half the requests) mixed with a loop over 5 000
/// keys: recency alone keeps the loop and loses the hot set.
fn hot_and_loop(n: u64) -> Vec<u64> {
    let mut x = 7u64;
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if i % 2 == 0 {
                (x >> 33) % 200
            } else {
                1_000_000 + (i / 2) % 5_000
            }
        })
        .collect()
}

#[test]
fn wtinylfu_keeps_the_hot_set_through_a_loop() {
    let trace = hot_and_loop(200_000);
    let lru = replay::hits(
        &replay::Contender::parse("builtin:lru").unwrap(),
        &trace,
        1_000,
    )
    .unwrap();
    let mut w = Guest(WTinyLfu::build(1_000, &[]).unwrap());
    let tiny = replay::policy_hits(&mut w, &trace).unwrap();
    let opt = replay::opt_hits(&trace, 1_000);
    println!(
        "hits: lru {lru}, w-tinylfu {tiny}, opt {opt} of {}",
        trace.len()
    );
    // The hot set alone is half the requests.
    assert!(tiny as f64 > 0.45 * trace.len() as f64, "{tiny}");
    assert!(tiny > lru && tiny <= opt);
}

#[test]
fn wtinylfu_grows_its_window_for_recency_and_shrinks_it_for_frequency() {
    // Recency-friendly: a sliding working set that moves every 20k requests.
    let recency: Vec<u64> = (0..400_000u64)
        .map(|i| (i / 20_000) * 300 + (i * 7919) % 600)
        .collect();
    let mut w = WTinyLfu::build(1_000, &[]).unwrap();
    let start = w.window_capacity();
    let _ = replay::policy_hits(&mut Guest(&mut w), &recency).unwrap();
    let grown = w.window_capacity();
    println!("window {start} -> {grown} on a recency trace");
    assert!(grown > start, "the window must grow: {start} -> {grown}");
}

#[test]
fn lecar_learns_which_expert_to_follow() {
    // Frequency wins: the hot set plus a loop; LRU's evictions of hot keys
    // come back as misses and penalise it.
    let trace = hot_and_loop(200_000);
    let mut l = LeCaR::build(1_000, &[]).unwrap();
    let _ = replay::policy_hits(&mut Guest(&mut l), &trace).unwrap();
    println!(
        "LRU weight after a frequency-friendly trace: {:.3}",
        l.lru_weight()
    );
    assert!(l.lru_weight() < 0.5);
    // Recency wins: a working set that drifts; what LFU keeps is stale.
    let drift: Vec<u64> = (0..200_000u64).map(|i| i / 4 + (i % 4) * 3).collect();
    let mut l = LeCaR::build(1_000, &[]).unwrap();
    let _ = replay::policy_hits(&mut Guest(&mut l), &drift).unwrap();
    println!(
        "LRU weight after a recency-friendly trace: {:.3}",
        l.lru_weight()
    );
    assert!(l.lru_weight() >= 0.5);
}
