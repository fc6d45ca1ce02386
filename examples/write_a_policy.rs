//! Writing an eviction policy: a segmented LRU in a few dozen lines against
//! the policy SDK, measured against LRU and Belady's OPT on a workload, then
//! run inside a real cache.
//!
//! The same code in a crate under `policies/`, plus
//! `goldylox_policy_sdk::export_eviction_policy!` and the SDK's `eviction`
//! feature, is built into a WebAssembly component by `sandbox/build.rs` and
//! embedded in the binary as `wasm:NAME`; `goldylox policy check wasm:NAME`
//! checks it and `goldylox replay --policies wasm:NAME` measures it in the
//! sandbox. Outside this repository, in Rust, C, Python or JavaScript:
//! `goldylox policy new NAME --lang LANG`, `goldylox policy build`,
//! `goldylox policy check NAME.wasm` — the guide is
//! `docs/writing-a-policy.md`.
//!
//! Run: `cargo run -p goldylox-examples --bin write_a_policy`

use std::sync::Arc;

use anyhow::{Context, Result};
use goldylox::{Cache, PolicyChoice, PolicyError, PolicyFactory};
use goldylox_host::replay;
use goldylox_policy_sdk::{
    Build, EvictionPolicy, Handler, Lists, Params, Pending, answer, drive, param,
};
use goldylox_sandbox::Guest;

const PROBATION: usize = 0;
const PROTECTED: usize = 1;

/// Segmented LRU: new keys enter *probation*; a second access promotes them
/// to *protected* (at most `protected` of the capacity); protected overflow
/// falls back to probation; victims come from probation's LRU end. One-hit
/// wonders never displace keys that proved themselves.
struct Slru {
    lists: Lists<2>,
    capacity: u64,
    protected_max: u64,
    pending: Pending,
}

impl Slru {
    fn trim_protected(&mut self) {
        while self.lists.weight_of(PROTECTED) > self.protected_max {
            let Some(tail) = self.lists.tail(PROTECTED) else {
                break;
            };
            self.lists.move_to_front(tail, PROBATION);
        }
    }
}

impl Handler for Slru {
    fn hit(&mut self, hash: u64) {
        if let Some(id) = self.lists.find(hash) {
            self.lists.move_to_front(id, PROTECTED);
            self.trim_protected();
        }
    }

    fn write(&mut self, hash: u64, weight: u32) {
        if self.lists.find(hash).is_some() {
            return self.hit(hash);
        }
        while self.lists.weight_of(PROBATION) + self.lists.weight_of(PROTECTED) + u64::from(weight)
            > self.capacity
        {
            let Some(victim) = self.evict_one() else {
                break;
            };
            self.pending.push(victim.0, victim.1);
        }
        self.lists.push_front(PROBATION, hash, weight);
    }

    fn remove(&mut self, hash: u64) {
        if let Some(id) = self.lists.find(hash) {
            self.lists.remove(id);
        }
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        let victim = self
            .lists
            .tail(PROBATION)
            .or_else(|| self.lists.tail(PROTECTED))?;
        Some(self.lists.remove(victim))
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

impl EvictionPolicy for Slru {
    fn name(&self) -> &'static str {
        "slru"
    }
    fn apply(&mut self, kinds: &[u8], hashes: &[u64], weights: &[u32]) {
        drive(self, kinds, hashes, weights);
    }
    fn evict(&mut self, max: u32, need: u64) -> Vec<u64> {
        answer(self, max, need)
    }
}

impl Build for Slru {
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        let share: f64 = param(params, "protected", 0.8)?;
        Ok(Slru {
            lists: Lists::default(),
            capacity,
            protected_max: (capacity as f64 * share) as u64,
            pending: Pending::default(),
        })
    }
}

/// Lets the engine build the policy for any cache size.
struct SlruFactory;

impl PolicyFactory for SlruFactory {
    fn build(&self, capacity: u64) -> Result<Box<dyn goldylox::EvictionPolicy>, PolicyError> {
        let slru = Slru::build(capacity, &[]).map_err(PolicyError::Init)?;
        Ok(Box::new(Guest(slru)))
    }
}

fn main() -> Result<()> {
    // 1. Measure: the embedded workload (hot set + loop + scans).
    let trace = replay::synthetic();
    let n = trace.len() as f64;
    for size in [1_000u64, 4_000] {
        let lru = replay::hits(&replay::Contender::parse("builtin:lru")?, &trace, size)?;
        let mut slru = Guest(Slru::build(size, &[]).map_err(anyhow::Error::msg)?);
        let ours = replay::policy_hits(&mut slru, &trace)?;
        let opt = replay::opt_hits(&trace, size);
        println!(
            "{size:>5} entries: LRU {:.2} %, SLRU {:.2} %, OPT {:.2} %",
            100.0 * lru as f64 / n,
            100.0 * ours as f64 / n,
            100.0 * opt as f64 / n
        );
        anyhow::ensure!(
            lru <= opt && ours <= opt,
            "OPT bounds every policy: LRU {lru}, SLRU {ours}, OPT {opt} hits"
        );
        anyhow::ensure!(
            ours > lru,
            "SLRU keeps the hot set through the scans that flush LRU: LRU {lru}, SLRU {ours} hits"
        );
    }

    // 2. Use it: a cache whose hot tier is ordered by the new policy.
    let cache: Cache<u64, String> = Cache::builder(16 * 1024)
        .policy(PolicyChoice::Custom(Arc::new(SlruFactory)))
        .build()
        .context("building the cache")?;
    for i in 0..10_000u64 {
        cache.insert(i % 3_000, format!("value {i}"))?;
        let _ = cache.get(&(i % 97)); // a small hot set, read often
    }
    cache.run_pending_tasks();
    let s = cache.stats();
    println!(
        "cache with SLRU: {} entries, {} of {} bytes, {} evicted, hot-set key 5 present: {}, policy answers ignored: {}",
        s.entries,
        s.weighted_size,
        cache.max_capacity(),
        s.removals.evicted,
        cache.contains_key(&5),
        s.policy.invalid_unknown + s.policy.invalid_duplicate
    );
    anyhow::ensure!(
        s.weighted_size <= cache.max_capacity(),
        "the cache stays within its budget"
    );
    anyhow::ensure!(
        s.policy.invalid_unknown + s.policy.invalid_duplicate == 0,
        "the host ignored none of SLRU's answers"
    );
    anyhow::ensure!(cache.contains_key(&5), "SLRU keeps the hot set");
    Ok(())
}
