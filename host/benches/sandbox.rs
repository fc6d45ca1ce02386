//! What the sandbox costs: the same policies linked natively and run as
//! components, in one process and one run.
//!
//! * Per-event cost: batches of 1024 events (the engine's batch size; 70 %
//!   hits, 30 % inserts of a skewed key space four times the capacity), each
//!   followed by an `evict`, native vs component, per policy; the two
//!   take turns in chunks of 50 batches, and the figures are the medians
//!   over the chunks (the ratio is the median of the per-chunk ratios).
//! * A cache end to end: 2 threads, Zipf-like gets with inserts on miss, hot
//!   policy S3-FIFO native vs the S3-FIFO component (the data path never
//!   calls a policy, so this is what a user sees).
//! * Hot-swap latency: `swap_policy` to a component with 10 k / 100 k / 1 M
//!   resident entries while a writer runs: the build and replay happen off
//!   the maintenance thread, whose pause is the catch-up on the writes that
//!   arrived meanwhile.
//! * C1: how long a looping policy runs before it is stopped (1 ms tick,
//!   5 ms deadline), p50/p99/max over 1000 calls.
//!
//! Run: `cargo bench -p goldylox-host --bench sandbox` (`-- --quick` for a
//! short run, `-- --only-per-event` for the first table alone). Per-event
//! figures are also printed as `REPORT,sandbox,…` CSV
//! lines for `scripts/performance_report.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goldylox::{Cache, EventBatch, EventKind, EvictionPolicy, PolicyChoice, PolicyTier};
use goldylox_sandbox as native;
use goldylox_sandbox::{self as wasm, Limits, Runtime, WasmFactory, WasmPolicy};

#[path = "../tests/host/animals.rs"]
mod animals;

const BATCH: usize = 1024;
const CAPACITY: u64 = 100_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Skewed over `1..=n`: the minimum of two uniforms.
    fn key(&mut self, n: u64) -> u64 {
        (self.next() % n).min(self.next() % n) + 1
    }
}

fn mix(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

/// Batches for the per-event measurement, generated once.
fn batches(n: usize) -> Vec<EventBatch> {
    let mut rng = Rng(0x9E37_79B9);
    let mut resident = std::collections::HashSet::new();
    (0..n)
        .map(|_| {
            let mut b = EventBatch::with_capacity(BATCH);
            for _ in 0..BATCH {
                let h = mix(rng.key(4 * CAPACITY));
                if resident.contains(&h) {
                    b.push(EventKind::Hit, h, 1);
                } else {
                    resident.insert(h);
                    b.push(EventKind::Insert, h, 1);
                }
            }
            b
        })
        .collect()
}

/// Batches per timed chunk: the native build and the component take turns
/// chunk by chunk, so a stall of this virtual machine lands on one chunk of
/// one side instead of a whole run.
const CHUNK: usize = 50;

/// Nanoseconds per event of apply + evict over `batches`.
fn per_event(policy: &mut dyn EvictionPolicy, batches: &[EventBatch]) -> f64 {
    let mut out = Vec::new();
    let started = Instant::now();
    for b in batches {
        policy.apply(b).expect("apply");
        out.clear();
        policy.evict(u32::MAX, 0, &mut out).expect("evict");
    }
    started.elapsed().as_nanos() as f64 / (batches.len() * BATCH) as f64
}

/// Native and component ns per event over the same `batches`, taken in
/// alternating chunks: the medians of each side's chunks, and the median of
/// the per-chunk ratios.
fn paired(
    native: &mut dyn EvictionPolicy,
    component: &mut dyn EvictionPolicy,
    batches: &[EventBatch],
) -> (f64, f64, f64) {
    let (mut n, mut c, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for chunk in batches.chunks(CHUNK) {
        let native_ns = per_event(native, chunk);
        let component_ns = per_event(component, chunk);
        n.push(native_ns);
        c.push(component_ns);
        r.push(component_ns / native_ns);
    }
    (median(&mut n), median(&mut c), median(&mut r))
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = Runtime::with(Limits::default(), None).expect("runtime");
    let load = |name: &str| {
        let e = wasm::embedded(name).unwrap_or_else(|| panic!("{name} is not built in"));
        runtime.load(e.name, e.bytes).expect("load")
    };

    println!("## Per event: native vs component (batches of {BATCH}, capacity {CAPACITY})\n");
    println!("| policy | native ns/event | component ns/event | ratio | compile ms |");
    println!("|---|---:|---:|---:|---:|");
    let work = batches(if quick { 300 } else { 1_500 });
    let pairs = [
        ("fifo", "fifo"),
        ("clock", "clock"),
        ("s3fifo", "s3fifo"),
        ("arc", "arc"),
        ("wtinylfu", "wtinylfu"),
        ("lecar", "lecar"),
        ("lru-c", "lru"),
    ];
    for (component, builtin) in pairs {
        if wasm::embedded(component).is_none() {
            println!("| {component} | (not built: no clang) | | | |");
            continue;
        }
        let choice = native::builtin(builtin, &[]).expect("builtin");
        let mut n = choice.build(CAPACITY).expect("native");
        let loaded = load(component);
        let mut c = WasmPolicy::new(&loaded, CAPACITY, &[]).expect("component");
        let (native_ns, wasm_ns, ratio) = paired(n.as_mut(), &mut c, &work);
        println!(
            "| {component} (vs native {builtin}) | {native_ns:.1} | {wasm_ns:.1} | {ratio:.2}x | {:.1} |",
            loaded.compile_time.as_secs_f64() * 1e3
        );
        println!("REPORT,sandbox,native_ns_per_event,{component},,{native_ns:.2}");
        println!("REPORT,sandbox,component_ns_per_event,{component},,{wasm_ns:.2}");
        println!("REPORT,sandbox,component_ratio,{component},,{ratio:.4}");
    }

    if std::env::args().any(|a| a == "--only-per-event") {
        return;
    }

    println!("\n## A cache end to end: hot policy S3-FIFO native vs component\n");
    let ops = if quick { 1_000_000 } else { 4_000_000 };
    let native_rate = cache_rate(native::builtin("s3fifo", &[]).expect("s3fifo"), ops);
    let factory = WasmFactory::new(load("s3fifo"), Vec::new()).expect("factory");
    let wasm_rate = cache_rate(PolicyChoice::Custom(factory), ops);
    println!("| hot policy | Mops/s (2 threads, gets + insert on miss) | hit ratio |");
    println!("|---|---:|---:|");
    println!(
        "| native s3fifo | {:.2} | {:.2} % |",
        native_rate.0, native_rate.1
    );
    println!(
        "| component s3fifo | {:.2} | {:.2} % |",
        wasm_rate.0, wasm_rate.1
    );
    println!(
        "\ncomponent / native throughput: {:.2}x",
        wasm_rate.0 / native_rate.0
    );

    println!("\n## Hot swap to a component, under writes (replay of the resident set)\n");
    println!(
        "| resident entries | swap_policy | build + replay (off maintenance) | maintenance pause | writes during the swap |"
    );
    println!("|---:|---:|---:|---:|---:|");
    // Each size twice: with the tier idle during the swap, then with a
    // writer inserting flat out.
    for (entries, writing) in [10_000u64, 100_000, 1_000_000]
        .into_iter()
        .flat_map(|e| [(e, false), (e, true)])
    {
        if quick && entries > 100_000 {
            continue;
        }
        let cache: Cache<u64, u64> = Cache::builder(16 * entries)
            .weigher(|_, _| 16)
            .build()
            .expect("cache");
        for k in 0..entries {
            cache.insert(k, k).expect("insert");
        }
        cache.run_pending_tasks();
        let factory = WasmFactory::new(load("s3fifo"), Vec::new()).expect("factory");
        // A writer keeps the tier busy while the new instance is replayed:
        // its events are what maintenance catches up on.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (report, elapsed, writes) = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                let mut n = 0u64;
                while writing && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    cache.insert(entries + n % entries, n).expect("insert");
                    n += 1;
                }
                n
            });
            let t = Instant::now();
            let report = cache
                .swap_policy(PolicyTier::Hot, PolicyChoice::Custom(factory))
                .expect("swap");
            let elapsed = t.elapsed();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            (report, elapsed, writer.join().expect("writer"))
        });
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            report.replayed,
            elapsed.as_secs_f64() * 1e3,
            report.replay_time.as_secs_f64() * 1e3,
            report.pause.as_secs_f64() * 1e3,
            writes
        );
    }

    println!("\n## C1: a looping policy stopped by the deadline (1 ms tick, 5 ms deadline)\n");
    let limits = Limits {
        call_deadline_ticks: 5,
        ..Limits::default()
    };
    let strict = Runtime::with(limits, None).expect("runtime");
    let looping = looping_component();
    let loaded = strict.load("loop", looping.as_bytes()).expect("loop loads");
    let calls = if quick { 200 } else { 1_000 };
    let mut took: Vec<Duration> = (0..calls)
        .map(|_| {
            let mut p = WasmPolicy::new(&loaded, 10, &[]).expect("instantiate");
            let mut b = EventBatch::with_capacity(1);
            b.push(EventKind::Hit, 1, 0);
            let t = Instant::now();
            assert!(p.apply(&b).is_err());
            t.elapsed()
        })
        .collect();
    took.sort();
    let pct = |p: usize| took[(took.len() * p / 100).min(took.len() - 1)];
    println!(
        "{calls} calls: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 <= 10 ms)",
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
        took[took.len() - 1].as_secs_f64() * 1e3
    );
}

/// Throughput (Mops/s) and hit ratio of a 2-thread read-through workload.
fn cache_rate(choice: PolicyChoice, ops: usize) -> (f64, f64) {
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder(16 * CAPACITY)
            .weigher(|_, _| 16)
            .policy(choice)
            .build()
            .expect("cache"),
    );
    let started = Instant::now();
    let hits: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2u64)
            .map(|t| {
                let cache = Arc::clone(&cache);
                s.spawn(move || {
                    let mut rng = Rng(0xC0FFEE + t);
                    let mut hits = 0u64;
                    for _ in 0..ops / 2 {
                        let k = rng.key(4 * CAPACITY);
                        if cache.get(&k).is_some() {
                            hits += 1;
                        } else {
                            cache.insert(k, k).expect("insert");
                        }
                    }
                    hits
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    let secs = started.elapsed().as_secs_f64();
    (ops as f64 / secs / 1e6, hits as f64 * 100.0 / ops as f64)
}

/// An eviction-policy component whose `apply` never returns.
fn looping_component() -> String {
    animals::wat(&animals::Animal {
        apply: "(loop (br 0))",
        ..animals::TAME
    })
}
