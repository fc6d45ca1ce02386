//! The async API against moka's `future::Cache` and quick_cache's async
//! calls, in one process and one run, on tokio.
//!
//! * read-through get-hit (`get_with` / `get_or_insert_async` on resident
//!   keys, Zipf 0.99 over 256 Ki keys) with 1, 2 and 4 tasks on as many
//!   runtime threads, and a 90/10 read-through/insert mix;
//! * 1,000 tasks missing one key at once: backend calls (the loader sleeps
//!   20 ms) and the time until the last task has its value;
//! * a cold-tier hit through the async path (awaited on a blocking worker)
//!   against the synchronous call, on a three-tier goldylox cache.
//!
//! Run: `cargo bench -p goldylox --bench asynchronous` (`-- --secs S` per
//! cell, default 2). Prints a table and `REPORT,async,…` CSV lines.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod workload;
use workload::{Rng, Zipf};

const KEYS: u64 = 1 << 18;
const SAMPLES: usize = 1 << 20;

type Load<'a> = Pin<Box<dyn Future<Output = u64> + Send + 'a>>;

/// The three caches' async read-through and insert behind one face.
trait AsyncBench: Send + Sync {
    fn get_with(&self, k: u64) -> Load<'_>;
    fn insert(&self, k: u64, v: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

struct Goldylox(goldylox::AsyncCache<u64, u64>);
struct Moka(moka::future::Cache<u64, u64>);
struct Quick(quick_cache::sync::Cache<u64, u64>);

impl AsyncBench for Goldylox {
    fn get_with(&self, k: u64) -> Load<'_> {
        Box::pin(self.0.get_with(k, async move { k }))
    }
    fn insert(&self, k: u64, v: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move { self.0.insert(k, v).await.expect("insert") })
    }
}
impl AsyncBench for Moka {
    fn get_with(&self, k: u64) -> Load<'_> {
        Box::pin(self.0.get_with(k, async move { k }))
    }
    fn insert(&self, k: u64, v: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.0.insert(k, v))
    }
}
impl AsyncBench for Quick {
    fn get_with(&self, k: u64) -> Load<'_> {
        Box::pin(async move {
            self.0
                .get_or_insert_async(&k, async move { Ok::<u64, ()>(k) })
                .await
                .expect("infallible")
        })
    }
    fn insert(&self, k: u64, v: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.0.insert(k, v);
        Box::pin(async {})
    }
}

const NAMES: [&str; 3] = ["goldylox", "moka", "quick_cache"];

fn build(name: &str) -> Arc<dyn AsyncBench> {
    match name {
        "goldylox" => Arc::new(Goldylox(
            goldylox::AsyncCache::new(
                goldylox::Cache::builder(KEYS)
                    .weigher(|_, _| 1)
                    .build()
                    .expect("goldylox"),
            )
            .expect("async"),
        )),
        "moka" => Arc::new(Moka(moka::future::Cache::new(KEYS))),
        "quick_cache" => Arc::new(Quick(quick_cache::sync::Cache::new(KEYS as usize))),
        other => panic!("unknown cache {other}"),
    }
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_time()
        .build()
        .expect("runtime")
}

/// Operations per second of `tasks` tasks, each on its own key stream.
fn throughput(
    cache: &Arc<dyn AsyncBench>,
    tasks: usize,
    secs: f64,
    insert_every: Option<usize>,
) -> f64 {
    let rt = runtime(tasks);
    let zipf = Zipf::new(KEYS as usize, 0.99);
    rt.block_on(async {
        for k in 0..KEYS {
            cache.insert(k, k).await;
        }
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let mut rng = Rng::new(7 + t as u64);
                let keys: Vec<u64> = (0..SAMPLES).map(|_| zipf.sample(&mut rng)).collect();
                let cache = Arc::clone(cache);
                tokio::spawn(async move {
                    let start = Instant::now();
                    let (mut ops, mut i) = (0u64, 0usize);
                    loop {
                        for _ in 0..1024 {
                            let k = keys[i & (SAMPLES - 1)];
                            match insert_every {
                                Some(n) if i.is_multiple_of(n) => cache.insert(k, k).await,
                                _ => {
                                    black_box(cache.get_with(k).await);
                                }
                            }
                            i += 1;
                        }
                        ops += 1024;
                        if start.elapsed().as_secs_f64() >= secs {
                            return ops as f64 / start.elapsed().as_secs_f64();
                        }
                    }
                })
            })
            .collect();
        let mut total = 0.0;
        for h in handles {
            total += h.await.expect("task");
        }
        total
    })
}

/// The backend a stampede hits: counts its calls, answers after 20 ms.
async fn backend(calls: Arc<AtomicUsize>) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    42
}

/// 1,000 tasks miss one key at once: (backend calls, time until the last
/// task has its value).
fn stampede(name: &str) -> (usize, Duration) {
    let rt = runtime(4);
    let calls = Arc::new(AtomicUsize::new(0));
    let gx = goldylox::AsyncCache::new(goldylox::Cache::<u64, u64>::new(1 << 20).unwrap()).unwrap();
    let moka = moka::future::Cache::<u64, u64>::new(1 << 16);
    let quick = Arc::new(quick_cache::sync::Cache::<u64, u64>::new(1 << 16));
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let calls = Arc::clone(&calls);
                let (gx, moka, quick) = (gx.clone(), moka.clone(), Arc::clone(&quick));
                let name = name.to_owned();
                tokio::spawn(async move {
                    match name.as_str() {
                        "goldylox" => gx.get_with(1, backend(calls)).await,
                        "moka" => moka.get_with(1, backend(calls)).await,
                        _ => quick
                            .get_or_insert_async(&1, async { Ok::<u64, ()>(backend(calls).await) })
                            .await
                            .expect("infallible"),
                    }
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("task"), 42);
        }
        (calls.load(Ordering::SeqCst), start.elapsed())
    })
}

/// Mean latency of a cold-tier hit, synchronous and awaited, on a
/// three-tier cache whose older keys live only on disk.
fn cold_hit_latency() -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cold = goldylox::cold::ColdConfig::new(dir.path(), 256 << 20);
    cold.segment_size = 1 << 20;
    let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(64 << 10)
        .warm(1 << 20)
        .cold(cold)
        .build()
        .expect("three tiers");
    const N: u64 = 40_000;
    let mut rng = Rng::new(11);
    for k in 0..N {
        // Incompressible, so that the warm tier holds few and most are cold.
        let value: Vec<u8> = (0..300).map(|_| rng.next_u64() as u8).collect();
        cache.insert(k, value).expect("insert");
    }
    cache.run_pending_tasks();
    let cache = goldylox::AsyncCache::new(cache).expect("async");
    // The first half of the keys was written first: it is on disk, and
    // each key is read once (a hit promotes it), half of them
    // synchronously, half awaited.
    let half = N / 4;
    let hits = |c: &goldylox::AsyncCache<u64, Vec<u8>>| c.sync().stats().cold.hits;
    let before = hits(&cache);
    let t = Instant::now();
    for k in 0..half {
        black_box(cache.sync().get(&k));
    }
    let sync = t.elapsed() / half as u32;
    let sync_hits = hits(&cache) - before;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let t = Instant::now();
    rt.block_on(async {
        for k in half..2 * half {
            black_box(cache.get(&k).await);
        }
    });
    let awaited = t.elapsed() / half as u32;
    let async_hits = hits(&cache) - before - sync_hits;
    println!("cold hits: {sync_hits} synchronous, {async_hits} awaited (of {half} each)");
    (sync, awaited)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    println!(
        "{:<24}{:>14}{:>14}{:>14}",
        "workload", NAMES[0], NAMES[1], NAMES[2]
    );
    for (label, every) in [("get-hit", None), ("90/10", Some(10))] {
        for tasks in [1, 2, 4] {
            let ops: Vec<f64> = NAMES
                .iter()
                .map(|name| throughput(&build(name), tasks, secs, every))
                .collect();
            println!(
                "{:<24}{:>12.2} M{:>12.2} M{:>12.2} M",
                format!("{label} x{tasks} tasks"),
                ops[0] / 1e6,
                ops[1] / 1e6,
                ops[2] / 1e6
            );
            for (name, v) in NAMES.iter().zip(&ops) {
                println!("REPORT,async,{label},{tasks},{name},{v:.0}");
            }
            println!(
                "  ratios: vs moka {:.2}x, vs quick_cache {:.2}x",
                ops[0] / ops[1],
                ops[0] / ops[2]
            );
        }
    }
    for name in NAMES {
        let (calls, took) = stampede(name);
        println!(
            "stampede {name:<12} 1000 tasks: {calls} backend call(s), last value after {:.1} ms",
            took.as_secs_f64() * 1e3
        );
        println!(
            "REPORT,async,stampede,{name},{calls},{:.3}",
            took.as_secs_f64() * 1e3
        );
    }
    let (sync, awaited) = cold_hit_latency();
    println!(
        "cold hit: {:.1} µs synchronous, {:.1} µs awaited ({:.2}x)",
        sync.as_secs_f64() * 1e6,
        awaited.as_secs_f64() * 1e6,
        awaited.as_secs_f64() / sync.as_secs_f64()
    );
    println!(
        "REPORT,async,cold-hit,{:.3},{:.3}",
        sync.as_secs_f64() * 1e6,
        awaited.as_secs_f64() * 1e6
    );
}
