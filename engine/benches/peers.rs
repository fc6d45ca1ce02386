//! Goldylox against moka and quick_cache, in one process and one run.
//!
//! Workloads (u64 keys and values, 1 M distinct keys, Zipf 0.99):
//! * get-hit throughput with 2 threads (`--threads`), every key resident;
//! * a 90/10 get/insert mix with as many;
//! * resident memory per entry: RSS growth of a fresh child process after
//!   inserting 1 M entries, minus the 16 bytes of key and value.
//!
//! Run: `cargo bench -p goldylox --bench peers` (add `-- --quick` for a short
//! run). Prints a table and the ratios the project tracks, and one
//! `REPORT,peers,…` CSV line per figure for `scripts/performance_report.sh`.
//! Options: `--threads N` (default 2), `--secs S` per workload (default 3),
//! `--no-memory` (skip the RSS children), `--rotate N` (start with the N-th
//! cache).

use std::hint::black_box;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

mod workload;
use workload::{Rng, Zipf};

const KEYS: u64 = 1 << 20;
/// Threads per throughput run unless `--threads` says otherwise.
const DEFAULT_THREADS: usize = 2;
const SAMPLES_PER_THREAD: usize = 1 << 22;

/// The three caches behind one face.
trait Bench: Send + Sync {
    fn get(&self, k: u64) -> Option<u64>;
    fn put(&self, k: u64, v: u64);
}

struct Goldylox(goldylox::Cache<u64, u64>);
struct Moka(moka::sync::Cache<u64, u64>);
struct Quick(quick_cache::sync::Cache<u64, u64>);

impl Bench for Goldylox {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    fn put(&self, k: u64, v: u64) {
        self.0.insert(k, v).expect("insert");
    }
}
impl Bench for Moka {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    fn put(&self, k: u64, v: u64) {
        self.0.insert(k, v)
    }
}
impl Bench for Quick {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    fn put(&self, k: u64, v: u64) {
        self.0.insert(k, v)
    }
}

/// The caches measured; `goldylox-auto` is goldylox with `auto` racing its
/// native policies (SIEVE, which it starts on, and LRU) on shadow caches:
/// the cost of the shadows against the fixed SIEVE of `goldylox`.
const NAMES: [&str; 4] = ["goldylox", "moka", "quick_cache", "goldylox-auto"];

fn build(name: &str, entries: u64) -> Box<dyn Bench> {
    match name {
        // Weigh every entry 1 so that the capacity is in entries, as for the
        // peers.
        "goldylox" => Box::new(Goldylox(
            goldylox::Cache::builder(entries)
                .weigher(|_, _| 1)
                .build()
                .expect("goldylox"),
        )),
        "goldylox-auto" => {
            let auto = goldylox::AutoConfig::new(vec![
                goldylox::Candidate::new("sieve", goldylox::PolicyChoice::Sieve),
                goldylox::Candidate::new("lru", goldylox::PolicyChoice::Lru),
            ])
            .expect("auto");
            Box::new(Goldylox(
                goldylox::Cache::builder(entries)
                    .weigher(|_, _| 1)
                    .policy(goldylox::PolicyChoice::Auto(std::sync::Arc::new(auto)))
                    .build()
                    .expect("goldylox-auto"),
            ))
        }
        "moka" => Box::new(Moka(moka::sync::Cache::new(entries))),
        "quick_cache" => Box::new(Quick(quick_cache::sync::Cache::new(entries as usize))),
        other => panic!("unknown cache {other}"),
    }
}

/// Runs one thread per pre-drawn key stream for `secs`; returns operations
/// per second.
fn throughput(
    cache: &dyn Bench,
    streams: &[Vec<u64>],
    secs: f64,
    insert_every: Option<usize>,
) -> f64 {
    let barrier = Barrier::new(streams.len());
    let deadline = Duration::from_secs_f64(secs);
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = streams
            .iter()
            .map(|keys| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut ops = 0u64;
                    let mut i = 0usize;
                    loop {
                        for _ in 0..4096 {
                            let k = keys[i & (SAMPLES_PER_THREAD - 1)];
                            match insert_every {
                                Some(n) if i.is_multiple_of(n) => cache.put(k, i as u64),
                                _ => {
                                    black_box(cache.get(k));
                                }
                            }
                            i += 1;
                        }
                        ops += 4096;
                        if start.elapsed() >= deadline {
                            return ops as f64 / start.elapsed().as_secs_f64();
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread") as u64)
            .sum()
    });
    total as f64
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Child-process mode: build one cache, fill it, print RSS growth per entry.
fn measure_memory(name: &str) {
    let n = KEYS;
    let before = rss_bytes();
    let cache = build(name, n + n / 8);
    for k in 0..n {
        cache.put(k, k);
    }
    // Let background maintenance settle (drains buffers, policy metadata).
    for _ in 0..3 {
        black_box(cache.get(0));
        std::thread::sleep(Duration::from_millis(300));
    }
    let grown = rss_bytes().saturating_sub(before);
    let resident = (0..n).filter(|&k| cache.get(k).is_some()).count() as u64;
    println!("{} {}", grown, resident);
}

fn memory_per_entry(name: &str) -> Option<(f64, u64)> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe)
        .args(["--measure-memory", name])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    let grown: f64 = f.next()?.parse().ok()?;
    let resident: u64 = f.next()?.parse().ok()?;
    Some((grown / resident.max(1) as f64, resident))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure-memory") {
        measure_memory(&args[i + 1]);
        return;
    }
    let option = |name: &str| {
        let i = args.iter().position(|a| a == name)?;
        let value = args
            .get(i + 1)
            .unwrap_or_else(|| panic!("{name} needs a value"));
        Some(
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{name} {value}: not a number")),
        )
    };
    let quick = args.iter().any(|a| a == "--quick");
    let secs = option("--secs").unwrap_or(if quick { 1.0 } else { 3.0 });
    let threads = option("--threads")
        .map_or(DEFAULT_THREADS, |t| t as usize)
        .max(1);
    let memory = !args.iter().any(|a| a == "--no-memory");

    println!("drawing {threads} x {SAMPLES_PER_THREAD} Zipf(0.99) samples over {KEYS} keys ...");
    let zipf = Zipf::new(KEYS as usize, 0.99);
    let streams: Vec<Vec<u64>> = (0..threads)
        .map(|t| {
            let mut rng = Rng::new(t as u64 + 1);
            (0..SAMPLES_PER_THREAD)
                .map(|_| zipf.sample(&mut rng))
                .collect()
        })
        .collect();

    let mut hit = [0.0; NAMES.len()];
    let mut mix = [0.0; NAMES.len()];
    let mut mem = [0.0; NAMES.len()];
    // `--rotate N` starts the round N caches further on, so that no cache
    // always runs first (on a fresh process) or last.
    let rotate = option("--rotate").map_or(0, |r| r as usize);
    for i in (0..NAMES.len()).map(|j| (j + rotate) % NAMES.len()) {
        let name = &NAMES[i];
        let cache = build(name, KEYS + KEYS / 8);
        for k in 0..KEYS {
            cache.put(k, k);
        }
        // Make sure every key is resident before measuring "all hits".
        let missing = (0..KEYS).filter(|&k| cache.get(k).is_none()).count();
        hit[i] = throughput(cache.as_ref(), &streams, secs, None);
        mix[i] = throughput(cache.as_ref(), &streams, secs, Some(10));
        drop(cache);
        let (per_entry, resident) = if memory {
            memory_per_entry(name).unwrap_or((f64::NAN, 0))
        } else {
            (f64::NAN, 0)
        };
        mem[i] = per_entry;
        println!(
            "REPORT,peers,get_hit_mops,{name},{threads},{:.3}",
            hit[i] / 1e6
        );
        println!("REPORT,peers,mix_mops,{name},{threads},{:.3}", mix[i] / 1e6);
        if memory {
            println!("REPORT,peers,rss_per_entry,{name},,{per_entry:.2}");
        }
        println!(
            "{name:>12}: get-hit {:>7.2} Mops/s | 90/10 mix {:>7.2} Mops/s | {:>6.1} B/entry RSS ({} resident; {} missing before the hit run)",
            hit[i] / 1e6,
            mix[i] / 1e6,
            per_entry,
            resident,
            missing
        );
    }
    println!();
    println!(
        "| workload ({threads} threads, zipf 0.99, 1M keys) | goldylox | moka | quick_cache | vs moka | vs quick_cache |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| get hit, Mops/s | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |",
        hit[0] / 1e6,
        hit[1] / 1e6,
        hit[2] / 1e6,
        hit[0] / hit[1],
        hit[0] / hit[2]
    );
    println!(
        "| 90/10 get/insert, Mops/s | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |",
        mix[0] / 1e6,
        mix[1] / 1e6,
        mix[2] / 1e6,
        mix[0] / mix[1],
        mix[0] / mix[2]
    );
    println!(
        "| RSS per entry, bytes (overhead = minus 16) | {:.1} | {:.1} | {:.1} | | |",
        mem[0], mem[1], mem[2]
    );
    println!();
    println!(
        "goldylox overhead per entry: {:.1} B (target <= 32)",
        mem[0] - 16.0
    );
    println!(
        "auto (sieve+lru shadows) vs fixed sieve: get-hit {:.2}x, 90/10 {:.2}x, RSS per entry {:.1} vs {:.1} B",
        hit[3] / hit[0],
        mix[3] / mix[0],
        mem[3],
        mem[0]
    );
}
