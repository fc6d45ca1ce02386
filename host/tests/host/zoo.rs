//! The adversarial zoo (TESTING.md C): hostile and broken policy components,
//! written in WAT so that they need no wasm toolchain. Each is loaded the
//! way a user's component would be; the sandbox must turn every misbehaviour
//! into a counted failure while the cache keeps serving within its bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goldylox::{
    Cache, EventBatch, EventKind, EvictionPolicy, PolicyChoice, PolicyState, PolicyTier,
};
use goldylox_sandbox::{Limits, Runtime, WasmFactory, WasmPolicy};

use super::animals::{Animal, TAME, wat};

/// The zoo runs with the 16 MiB memory cap TESTING.md C3 names.
fn runtime() -> Runtime {
    let limits = Limits {
        max_memory_bytes: 16 << 20,
        ..Limits::default()
    };
    Runtime::with(limits, None).unwrap()
}

fn load(runtime: &Runtime, name: &str, a: &Animal) -> goldylox_sandbox::Loaded {
    runtime
        .load(name, wat(a).as_bytes())
        .unwrap_or_else(|e| panic!("{name} should load: {e:#}"))
}

fn one_batch() -> EventBatch {
    let mut batch = EventBatch::with_capacity(64);
    for h in 1..=64 {
        batch.push(EventKind::Insert, h, 1);
    }
    batch
}

/// Drives a cache whose policy is `animal` and checks that it keeps serving
/// within its bound while the animal fails; returns the policy status.
fn cache_survives(name: &str, animal: &Animal) -> goldylox::PolicyStatus {
    let runtime = runtime();
    let factory = WasmFactory::new(load(&runtime, name, animal), Vec::new()).unwrap();
    let cache: Cache<u64, u64> = Cache::builder(16 * 2_000)
        .weigher(|_, _| 16)
        .clock(goldylox::ManualClock::new())
        .policy(PolicyChoice::Custom(factory))
        .build()
        .unwrap();
    for k in 0..10_000u64 {
        cache.insert(k, k).unwrap();
        assert!(
            cache.weighted_size() <= cache.bound(),
            "{name}: bound broken"
        );
        if let Some(v) = cache.get(&(k / 2)) {
            assert_eq!(v, k / 2, "{name}: wrong value");
        }
    }
    cache.run_pending_tasks();
    assert!(cache.weighted_size() <= 16 * 2_000, "{name}: over capacity");
    for k in 9_990..10_000u64 {
        assert_eq!(
            cache.get(&k),
            Some(k),
            "{name}: newest entries must be there"
        );
    }
    cache.policy_status(PolicyTier::Hot).unwrap()
}

#[test]
fn a_tame_animal_loads_and_decides() {
    let runtime = runtime();
    let loaded = load(&runtime, "tame", &TAME);
    let mut policy = WasmPolicy::new(&loaded, 100, &[("k".into(), "v".into())]).unwrap();
    policy.apply(&one_batch()).unwrap();
    let mut out = Vec::new();
    policy.evict(8, 0, &mut out).unwrap();
    assert!(out.is_empty());
    assert!(policy.admit(1, 2).unwrap());
    // Proposing nothing under pressure: the fallback keeps the bound.
    let status = cache_survives("tame", &TAME);
    assert_eq!(status.state, PolicyState::Active);
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline() {
    let looping = Animal {
        apply: "(loop (br 0))",
        ..TAME
    };
    // The deadline TESTING.md C1 names: 5 ticks of 1 ms.
    let limits = Limits {
        call_deadline_ticks: 5,
        max_memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let runtime = Runtime::with(limits, None).unwrap();
    let loaded = load(&runtime, "loop", &looping);
    // C1: how long a looping call runs before it is stopped (1 ms epoch
    // tick, 5-tick deadline). Reported, not asserted: timing is a benchmark.
    let mut took = Vec::new();
    for _ in 0..100 {
        let mut policy = WasmPolicy::new(&loaded, 100, &[]).unwrap();
        let t = Instant::now();
        let err = policy.apply(&one_batch()).unwrap_err();
        took.push(t.elapsed());
        assert!(err.to_string().contains("deadline exceeded"), "{err}");
        assert!(policy.failed());
        // The store is gone: later calls fail without entering the guest.
        assert!(policy.apply(&one_batch()).is_err());
    }
    took.sort();
    println!(
        "C1 looping policy stopped after p50 {:?}, p99 {:?}, max {:?} (100 calls, 5 ms deadline)",
        took[50], took[98], took[99]
    );
    let status = cache_survives("loop", &looping);
    assert_eq!(status.state, PolicyState::Fallback);
    assert!(status.last_error.unwrap().contains("deadline"));
}

#[test]
fn deep_recursion_traps_on_the_stack_limit() {
    let recursing = Animal {
        evict: "(drop (call $down (i32.const 0))) i32.const 16",
        extra: "(func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))",
        ..TAME
    };
    let runtime = runtime();
    let mut policy = WasmPolicy::new(&load(&runtime, "recursion", &recursing), 100, &[]).unwrap();
    let err = policy.evict(8, 0, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("stack"), "{err}");
    let status = cache_survives("recursion", &recursing);
    assert_ne!(status.state, PolicyState::Active);
}

#[test]
fn a_memory_bomb_hits_the_cap() {
    let bomb = Animal {
        apply: "(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))",
        ..TAME
    };
    let runtime = runtime();
    let loaded = load(&runtime, "bomb", &bomb);
    let mut policy = WasmPolicy::new(&loaded, 100, &[]).unwrap();
    let err = policy.apply(&one_batch()).unwrap_err();
    assert!(err.to_string().contains("memory limit"), "{err}");
    // C3: instantiate and trap many times; host memory must not keep growing.
    let before = rss_bytes();
    for _ in 0..300 {
        let mut policy = WasmPolicy::new(&loaded, 100, &[]).unwrap();
        assert!(policy.apply(&one_batch()).is_err());
    }
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    println!(
        "C3 300 memory-bomb cycles (16 MiB cap): host RSS {} -> {} MiB",
        before >> 20,
        after >> 20
    );
    assert!(growth <= 32 << 20, "RSS grew {} MiB", growth >> 20);
    assert_ne!(cache_survives("bomb", &bomb).state, PolicyState::Active);
}

#[test]
fn unreachable_traps_and_the_cache_falls_back() {
    let trapping = Animal {
        admit: "unreachable",
        apply: "unreachable",
        ..TAME
    };
    let runtime = runtime();
    let mut policy = WasmPolicy::new(&load(&runtime, "unreachable", &trapping), 100, &[]).unwrap();
    let err = policy.admit(1, 2).unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    let status = cache_survives("unreachable", &trapping);
    assert_eq!((status.state, status.failures), (PolicyState::Fallback, 1));
}

#[test]
fn lying_answers_are_rejected_and_counted() {
    // Victims: two made-up hashes, one of them twice, then 0 and u64::MAX.
    let liar = Animal {
        evict: "i32.const 256 i64.const 0xdead i64.store
                i32.const 264 i64.const 0xdead i64.store
                i32.const 272 i64.const 0xbeef i64.store
                i32.const 280 i64.const 0 i64.store
                i32.const 288 i64.const -1 i64.store
                i32.const 16 i32.const 256 i32.store
                i32.const 20 i32.const 5 i32.store
                i32.const 16",
        ..TAME
    };
    let runtime = runtime();
    let factory = WasmFactory::new(load(&runtime, "liar", &liar), Vec::new()).unwrap();
    let cache: Cache<u64, u64> = Cache::builder(16 * 1_000)
        .weigher(|_, _| 16)
        .policy(PolicyChoice::Custom(factory))
        .build()
        .unwrap();
    for k in 0..5_000u64 {
        cache.insert(k, k).unwrap();
    }
    cache.run_pending_tasks();
    let s = cache.stats();
    assert!(
        s.policy.invalid_unknown > 0 && s.policy.invalid_duplicate > 0,
        "{:?}",
        s.policy
    );
    assert_eq!(s.policy.fallback_evictions, s.removals.evicted);
    assert!(cache.weighted_size() <= 16 * 1_000);
    assert_eq!(s.policy.failures, 0, "lying is not failing");
}

#[test]
fn an_oversized_answer_is_bounded() {
    // A list of a million hashes (8 MB, inside a grown memory) and a list
    // pointing past the end of memory.
    let flood = Animal {
        evict: "(if (i32.lt_u (memory.size) (i32.const 131))
                  (then (drop (memory.grow (i32.const 130)))))
                i32.const 16 i32.const 65536 i32.store
                i32.const 20 i32.const 1000000 i32.store
                i32.const 16",
        ..TAME
    };
    let wild = Animal {
        evict: "i32.const 16 i32.const 60000 i32.store
                i32.const 20 i32.const 0x10000000 i32.store
                i32.const 16",
        ..TAME
    };
    let runtime = runtime();
    let mut policy = WasmPolicy::new(&load(&runtime, "flood", &flood), 100, &[]).unwrap();
    let mut out = Vec::new();
    policy.evict(256, 0, &mut out).unwrap();
    // Lifted whole (bounded by the 16 MiB memory cap); the engine keeps the
    // first `max` and counts the rest (see engine_counts_answers_past_max).
    assert_eq!(out.len(), 1_000_000);

    let mut policy = WasmPolicy::new(&load(&runtime, "wild", &wild), 100, &[]).unwrap();
    let err = policy.evict(256, 0, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("evict"), "{err}");
    assert_ne!(cache_survives("wild", &wild).state, PolicyState::Active);
}

#[test]
fn engine_counts_answers_past_max() {
    let flood = Animal {
        evict: "(drop (memory.grow (i32.const 2)))
                i32.const 16 i32.const 65536 i32.store
                i32.const 20 i32.const 10000 i32.store
                i32.const 16",
        ..TAME
    };
    let runtime = runtime();
    let factory = WasmFactory::new(load(&runtime, "flood", &flood), Vec::new()).unwrap();
    let cache: Cache<u64, u64> = Cache::builder(16 * 1_000)
        .weigher(|_, _| 16)
        .policy(PolicyChoice::Custom(factory))
        .build()
        .unwrap();
    for k in 0..3_000u64 {
        cache.insert(k, k).unwrap();
    }
    cache.run_pending_tasks();
    assert!(cache.stats().policy.invalid_excess > 0);
    assert!(cache.weighted_size() <= 16 * 1_000);
}

#[test]
fn a_looping_start_function_fails_instantiation() {
    let stuck = Animal {
        extra: "(func $start (loop (br 0))) (start $start)",
        ..TAME
    };
    let runtime = runtime();
    let loaded = load(&runtime, "start", &stuck);
    let t = Instant::now();
    let err = WasmPolicy::new(&loaded, 100, &[]).err().expect("must fail");
    println!("looping start function stopped after {:?}", t.elapsed());
    assert!(format!("{err:#}").contains("deadline"), "{err:#}");
    // As a configured policy it is refused up front.
    let factory = WasmFactory::new(loaded, Vec::new()).unwrap();
    let built = Cache::<u64, u64>::builder(1_000)
        .policy(PolicyChoice::Custom(factory))
        .build();
    assert!(built.is_err());
}

#[test]
fn an_init_error_is_reported_with_its_message() {
    // result<_, string>::err("bad parameter") written at 64.
    let refusing = Animal {
        init: "i32.const 64 i32.const 1 i32.store8
               i32.const 68 i32.const 128 i32.store
               i32.const 72 i32.const 13 i32.store
               i32.const 64",
        extra: r#"(data (i32.const 128) "bad parameter")"#,
        ..TAME
    };
    let runtime = runtime();
    let loaded = load(&runtime, "refusing", &refusing);
    let err = WasmPolicy::new(&loaded, 100, &[]).err().expect("must fail");
    assert!(
        format!("{err:#}").contains("init refused: bad parameter"),
        "{err:#}"
    );
}

#[test]
fn malformed_oversized_and_mistyped_components_are_refused() {
    let runtime = runtime();
    let err = runtime
        .load("garbage", b"\0asm\x0d\0\x01\0garbage")
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("not a valid component"),
        "{err:#}"
    );
    let err = runtime
        .load("text", b"(component (core module")
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("not a valid component"),
        "{err:#}"
    );

    // One byte over the size cap: refused before compilation.
    let huge = vec![0u8; runtime.limits().max_component_bytes + 1];
    let err = runtime.load("huge", &huge).unwrap_err();
    assert!(format!("{err:#}").contains("limit"), "{err:#}");

    // A component exporting the wrong signature for `admit`.
    let mistyped = wat(&TAME).replace(
        r#"(func (export "admit") (param "candidate" u64) (param "victim" u64) (result bool)"#,
        r#"(func (export "admit") (param "candidate" u64) (param "victim" u64) (result u32)"#,
    );
    let err = runtime.load("mistyped", mistyped.as_bytes()).unwrap_err();
    assert!(
        format!("{err:#}").contains("none of the goldylox:policy"),
        "{err:#}"
    );

    // A module that is not a component: refused, with how to make one.
    let err = runtime.load("core", b"(module)").unwrap_err();
    assert!(
        format!("{err:#}").contains("core WebAssembly module, not a component")
            && format!("{err:#}").contains("goldylox policy build"),
        "{err:#}"
    );
}

#[test]
fn a_slow_policy_within_its_budget_keeps_deciding() {
    // About a million loop iterations per apply: slow, but well inside 5 ms.
    let slow = Animal {
        apply: "(local.set 0 (i32.const 1000000))
                (loop (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if 0 (local.get 0)))",
        ..TAME
    };
    let runtime = runtime();
    let mut policy = WasmPolicy::new(&load(&runtime, "slow", &slow), 100, &[]).unwrap();
    let t = Instant::now();
    for _ in 0..20 {
        policy.apply(&one_batch()).unwrap();
    }
    println!("slow policy: {:?} per apply", t.elapsed() / 20);
    assert!(!policy.failed());
}

#[test]
fn a_faulty_policy_swapped_in_under_load_costs_no_request() {
    // It takes the resident set (a policy that fails while being replayed
    // into is refused by the swap), then traps when first asked for victims.
    let trapping = Animal {
        evict: "unreachable",
        ..TAME
    };
    let runtime = runtime();
    let bad = WasmFactory::new(load(&runtime, "unreachable", &trapping), Vec::new()).unwrap();
    let good_component = goldylox_sandbox::embedded("s3fifo").expect("s3fifo is built in");
    let good = WasmFactory::new(
        runtime.load("s3fifo", good_component.bytes).unwrap(),
        Vec::new(),
    )
    .unwrap();
    let cache: Cache<u64, u64> = Cache::builder(16 * 5_000)
        .weigher(|_, _| 16)
        .build()
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..2u64)
        .map(|t| {
            let (cache, stop) = (cache.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let (mut x, mut ops) = (t + 7, 0u64);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let k = (x >> 33) % 30_000;
                    if x % 3 == 0 {
                        cache.insert(k, !k).unwrap();
                    } else if let Some(v) = cache.get(&k) {
                        assert_eq!(v, !k);
                    }
                    assert!(cache.weighted_size() <= cache.bound());
                    ops += 1;
                }
                ops
            })
        })
        .collect();
    // C5 (short): swap back and forth; the faulty one fails on its first
    // batch and the fallback takes over in the same pass.
    let started = Instant::now();
    let mut swaps = 0;
    for i in 0..40 {
        let choice = if i % 2 == 0 { &bad } else { &good };
        cache
            .swap_policy(PolicyTier::Hot, PolicyChoice::Custom(choice.clone()))
            .unwrap();
        swaps += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ops: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    cache.run_pending_tasks();
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    println!(
        "C5 {swaps} swaps in {:?} under load ({ops} requests, 0 errors); status {status:?}",
        started.elapsed()
    );
    assert_eq!(status.swaps, 40);
    assert_eq!(status.name, "s3fifo");
    assert!(cache.weighted_size() <= 16 * 5_000);
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
