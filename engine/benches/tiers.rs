//! What the warm tier buys, measured: entries per byte of RAM, hit ratio at
//! equal RAM, fragmentation under churn, and the cost of a warm hit.
//!
//! Values are JSON-like records of 200 B – 4 KiB (field names repeat, text is
//! drawn from a small vocabulary, ids and numbers vary), the kind of value a
//! service caches. Memory is RSS growth of a fresh child process per
//! configuration.
//!
//! Run: `cargo bench -p goldylox --bench tiers` (`-- --only-memory` for the
//! entries-per-RSS and hit-cost figures alone). Those figures are also
//! printed as `REPORT,tiers,…` CSV lines for `scripts/performance_report.sh`.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use goldylox::Cache;

mod workload;
use workload::{Rng, Zipf};

const MIB: u64 = 1 << 20;
/// The RAM budget every configuration gets.
const BUDGET: u64 = 64 * MIB;
/// Hot share of the budget when a warm tier is present.
const HOT_SHARE: u64 = 8 * MIB;
const DISTINCT: u64 = 400_000;

const WORDS: [&str; 24] = [
    "cache",
    "policy",
    "slab",
    "tier",
    "evict",
    "admit",
    "sieve",
    "hot",
    "warm",
    "cold",
    "batch",
    "shard",
    "version",
    "record",
    "value",
    "key",
    "ratio",
    "window",
    "ghost",
    "clock",
    "frequency",
    "recency",
    "segment",
    "bloom",
];

/// A JSON record for `id`, 200 B – 4 KiB.
fn record(id: u64) -> String {
    let mut rng = Rng::new(id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let target = 200 + (rng.below(3_900) * rng.below(3_900) / 3_900) as usize;
    let mut s = format!(
        "{{\"id\":{id},\"user\":\"user-{}\",\"email\":\"user{}@example.com\",\"score\":{},\"tags\":[",
        rng.below(1_000_000),
        rng.below(1_000_000),
        rng.below(100_000)
    );
    for i in 0..4 {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        s.push('"');
    }
    s.push_str("],\"bio\":\"");
    while s.len() + 3 < target {
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        s.push(' ');
    }
    s.push_str("\"}");
    // Exactly as long as it is, as a value read off the network or a
    // database is: a String grown by pushes keeps up to twice its length,
    // which the hot tier would hold and the warm tier would not.
    s.shrink_to_fit();
    s
}

fn build<V>(warm: bool) -> Cache<u64, V>
where
    V: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let b = if warm {
        Cache::builder(HOT_SHARE).warm(BUDGET - HOT_SHARE)
    } else {
        Cache::builder(BUDGET)
    };
    b.name(if warm { "tiered" } else { "hot" })
        .build()
        .expect("cache")
}

/// Random bytes as long as `record(id)`: values no codec can shrink (media,
/// encrypted or already compressed payloads).
fn incompressible(id: u64) -> Vec<u8> {
    let mut rng = Rng::new(id ^ 0x5DEE_CE66_D1CE_4E5B);
    let len = record(id).len();
    let mut value = Vec::with_capacity(len + 8);
    while value.len() < len {
        value.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    value.truncate(len);
    value
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

/// Child: fill a cache with every record once (`values`: `json`, the
/// records; `random`, incompressible values of the same lengths); print RSS
/// growth and resident entries.
fn child_fill(warm: bool, values: &str) {
    fn fill<V>(warm: bool, value: impl Fn(u64) -> V)
    where
        V: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        let before = rss_bytes();
        let cache = build::<V>(warm);
        for id in 0..DISTINCT {
            cache.insert(id, value(id)).expect("insert");
        }
        cache.run_pending_tasks();
        let resident = cache.len();
        println!("{} {}", rss_bytes().saturating_sub(before), resident);
    }
    match values {
        "random" => fill(warm, incompressible),
        _ => fill(warm, record),
    }
}

/// Child: churn — mixed sizes, compressible and not, 10x the warm capacity
/// written over a key space larger than fits; fragmentation before and after
/// a defragmentation, bytes reclaimed, RSS against the budget.
fn child_churn() {
    let before = rss_bytes();
    let cache: Cache<u64, Vec<u8>> = Cache::builder(HOT_SHARE)
        .warm(BUDGET - HOT_SHARE)
        .name("churn")
        .build()
        .expect("cache");
    let mut rng = Rng::new(7);
    let mut written = 0u64;
    while written < 10 * BUDGET {
        // The size mix shifts every budget's worth of writes, so classes
        // that were busy go quiet and others starve.
        let phase = written / BUDGET;
        let key = rng.below(200_000);
        let len = match (rng.below(4) + phase) % 4 {
            0 => 64 + rng.below(400),
            1 => 1_000 + rng.below(3_000),
            2 => 8_000 + rng.below(24_000),
            _ => 70_000 + rng.below(100_000),
        } as usize;
        let v: Vec<u8> = if rng.below(2) == 0 {
            (0..len).map(|_| rng.next_u64() as u8).collect()
        } else {
            record(key)
                .into_bytes()
                .into_iter()
                .cycle()
                .take(len)
                .collect()
        };
        written += len as u64;
        cache.insert(key, v).expect("insert");
        if rng.below(3) == 0 {
            cache.remove(&rng.below(200_000));
        }
    }
    cache.run_pending_tasks();
    let pool = cache.pool_stats().expect("warm tier");
    let report = cache.defragment().expect("warm tier");
    let after = cache.pool_stats().expect("warm tier");
    let rss = rss_bytes().saturating_sub(before);
    println!(
        "{} {:.4} {:.4} {} {} {} {} {} {} {:.4} {:.4} {} {} {} {}",
        written,
        pool.fragmentation(),
        after.fragmentation(),
        report.bytes_reclaimed,
        report.moved,
        report.elapsed.as_micros(),
        pool.held_bytes,
        after.held_bytes,
        rss,
        pool.free_slot_share(),
        after.free_slot_share(),
        after.defrag_runs,
        after.moved,
        after.bytes_reclaimed,
        after.defrag_micros
    );
}

fn child(args: &[&str]) -> Vec<f64> {
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe).args(args).output().expect("child");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// Hit ratio of a Zipf(0.9) read-through workload over `DISTINCT` records.
fn hit_ratio(warm: bool, requests: &[u64]) -> f64 {
    let cache = build(warm);
    for &id in requests {
        black_box(cache.get_or_insert_with(id, || record(id)));
    }
    cache.run_pending_tasks();
    let s = cache.stats();
    let hits = s.hot.hits + s.warm.hits;
    hits as f64 / (s.hot.hits + s.hot.misses) as f64
}

/// Mean nanoseconds of: a hot hit; a warm hit that promotes into a hot tier
/// with room; a warm hit in a full cache (the promotion forces a demotion).
/// Also the share of the timed warm reads that really were warm hits.
fn hit_costs() -> (f64, f64, f64, f64) {
    let cache = build(true);
    for id in 0..DISTINCT {
        cache.insert(id, record(id)).expect("insert");
    }
    cache.run_pending_tasks();
    let time = |keys: &[u64]| {
        let started = Instant::now();
        for k in keys {
            black_box(cache.get(k));
        }
        started.elapsed().as_nanos() as f64 / keys.len() as f64
    };
    // The hot tier holds the last few thousand records written, the warm
    // tier the tens of thousands before them.
    let before = cache.stats().warm.hits;
    let full: Vec<u64> = (DISTINCT - 60_000..DISTINCT - 50_000).collect();
    let full_ns = time(&full);
    // Empty the hot tier, then promote into the room.
    for id in DISTINCT - 10_000..DISTINCT {
        cache.remove(&id);
    }
    for id in full.iter().take(5_000) {
        cache.remove(id);
    }
    cache.run_pending_tasks();
    let roomy: Vec<u64> = (DISTINCT - 40_000..DISTINCT - 37_000).collect();
    let roomy_ns = time(&roomy);
    let warm_share = (cache.stats().warm.hits - before) as f64 / (full.len() + roomy.len()) as f64;
    // The keys just promoted, read again: hot hits.
    let hot = &roomy[..1_000];
    let started = Instant::now();
    for _ in 0..50 {
        for k in hot {
            black_box(cache.get(k));
        }
    }
    let hot_ns = started.elapsed().as_nanos() as f64 / (50 * hot.len()) as f64;
    (hot_ns, roomy_ns, full_ns, warm_share)
}

/// Fills a hot-only and a hot + warm cache of the same budget with every
/// value of kind `values` once, in child processes; prints the table and
/// returns (hot entries, hot RSS, tiered entries, tiered RSS).
fn entries_per_byte(values: &str, what: &str) -> (f64, f64, f64, f64) {
    let hot = child(&["--fill", "hot", values]);
    let tiered = child(&["--fill", "warm", values]);
    let (hot_rss, hot_n) = (hot[0], hot[1]);
    let (tier_rss, tier_n) = (tiered[0], tiered[1]);
    println!("\n{what}:\n");
    println!("| config | resident entries | RSS growth (MiB) | entries per MiB RSS |");
    println!("|---|---:|---:|---:|");
    for (config, n, rss) in [
        ("hot only", hot_n, hot_rss),
        ("hot + warm", tier_n, tier_rss),
    ] {
        println!(
            "| {config} | {n:.0} | {:.1} | {:.0} |",
            rss / MIB as f64,
            n / (rss / MIB as f64)
        );
    }
    println!(
        "entries in the same budget: {:.2}x; entries per byte of RSS: {:.2}x",
        tier_n / hot_n,
        (tier_n / tier_rss) / (hot_n / hot_rss)
    );
    (hot_n, hot_rss, tier_n, tier_rss)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--fill") => {
            let warm = args.get(2).map(String::as_str) == Some("warm");
            return child_fill(warm, args.get(3).map_or("json", String::as_str));
        }
        Some("--churn") => return child_churn(),
        _ => {}
    }
    let only_memory = args.iter().any(|a| a == "--only-memory");
    let mean: f64 = (0..1_000).map(|i| record(i).len() as f64).sum::<f64>() / 1_000.0;
    let packed: f64 = (0..1_000)
        .map(|i| lz4_flex::compress_prepend_size(record(i).as_bytes()).len() as f64)
        .sum::<f64>()
        / 1_000.0;
    // A dictionary like the one the warm tier trains: 4 KiB of other records.
    let mut dict = Vec::new();
    let mut i = 1_000_000u64;
    while dict.len() < 4 * 1024 {
        dict.extend_from_slice(record(i).as_bytes());
        i += 1;
    }
    let dict = &dict[dict.len() - 4 * 1024..];
    let with_dict: f64 = (0..1_000)
        .map(|i| {
            lz4_flex::block::compress_prepend_size_with_dict(record(i).as_bytes(), dict).len()
                as f64
        })
        .sum::<f64>()
        / 1_000.0;
    // What the warm tier now does: zstd against a 16 KiB dictionary trained
    // on 512 KiB of other records.
    let (mut samples, mut sizes) = (Vec::new(), Vec::new());
    let mut i = 2_000_000u64;
    while samples.len() < 512 * 1024 {
        let r = record(i);
        samples.extend_from_slice(r.as_bytes());
        sizes.push(r.len());
        i += 1;
    }
    let trained = zstd::dict::from_continuous(&samples, &sizes, 16 * 1024).expect("training");
    let mut zstd = zstd::bulk::Compressor::with_dictionary(3, &trained).expect("zstd");
    let with_zstd: f64 = (0..1_000)
        .map(|i| zstd.compress(record(i).as_bytes()).expect("zstd").len() as f64)
        .sum::<f64>()
        / 1_000.0;
    println!(
        "JSON-like records, mean {mean:.0} B; LZ4 alone {packed:.0} B ({:.2}x), LZ4 with a 4 KiB dictionary {with_dict:.0} B ({:.2}x), zstd with a trained 16 KiB dictionary {with_zstd:.0} B ({:.2}x)",
        mean / packed,
        mean / with_dict,
        mean / with_zstd
    );
    println!(
        "budget {} MiB (hot-only) vs {} MiB hot + {} MiB warm",
        BUDGET / MIB,
        HOT_SHARE / MIB,
        (BUDGET - HOT_SHARE) / MIB
    );

    let (hot_n, hot_rss, tier_n, tier_rss) = entries_per_byte("json", "JSON-like records");
    println!("REPORT,tiers,entries,hot,,{hot_n:.0}");
    println!("REPORT,tiers,entries,hot+warm,,{tier_n:.0}");
    println!("REPORT,tiers,rss_bytes,hot,,{hot_rss:.0}");
    println!("REPORT,tiers,rss_bytes,hot+warm,,{tier_rss:.0}");
    let (hot_n, hot_rss, tier_n, tier_rss) =
        entries_per_byte("random", "incompressible values of the same lengths");
    println!("REPORT,tiers,entries_random,hot,,{hot_n:.0}");
    println!("REPORT,tiers,entries_random,hot+warm,,{tier_n:.0}");
    println!("REPORT,tiers,rss_bytes_random,hot,,{hot_rss:.0}");
    println!("REPORT,tiers,rss_bytes_random,hot+warm,,{tier_rss:.0}");

    if !only_memory {
        replay_and_churn();
    }

    let (hot_ns, roomy_ns, full_ns, share) = hit_costs();
    println!("REPORT,tiers,hit_ns,hot,,{hot_ns:.1}");
    println!("REPORT,tiers,hit_ns,warm,,{roomy_ns:.1}");
    println!("REPORT,tiers,hit_ns,warm-full,,{full_ns:.1}");
    println!(
        "\nhit cost (1 thread, {mean:.0} B records): hot {hot_ns:.0} ns; warm {roomy_ns:.0} ns ({:.1}x: read, decompress, decode, promote into room); warm in a full cache {full_ns:.0} ns ({:.1}x: the promotion also waits for a demotion); {:.1} % of timed warm reads were warm hits",
        roomy_ns / hot_ns,
        full_ns / hot_ns,
        100.0 * share
    );
}

/// The hit ratio at equal RAM and the fragmentation under churn.
fn replay_and_churn() {
    let zipf = Zipf::new(DISTINCT as usize, 0.9);
    let mut rng = Rng::new(3);
    let requests: Vec<u64> = (0..1_500_000).map(|_| zipf.sample(&mut rng)).collect();
    let (h1, h2) = (hit_ratio(false, &requests), hit_ratio(true, &requests));
    println!(
        "\nread-through replay, Zipf(0.9) over {DISTINCT} records, 1.5M requests: hit ratio {:.2} % hot-only vs {:.2} % hot+warm (+{:.2} pp)",
        100.0 * h1,
        100.0 * h2,
        100.0 * (h2 - h1)
    );

    let c = child(&["--churn"]);
    if c.len() == 15 {
        println!(
            "\nchurn: {:.0} MiB written (10x budget) in mixed sizes 64 B - 170 KB, half incompressible, with removes",
            c[0] / MIB as f64
        );
        println!(
            "  final defragmentation: free-slot share {:.1} % -> {:.1} %, all waste (incl. slot rounding) {:.1} % -> {:.1} %, {:.1} MiB reclaimed, {} items moved in {:.1} ms, pool held {:.0} -> {:.0} MiB",
            100.0 * c[9],
            100.0 * c[10],
            100.0 * c[1],
            100.0 * c[2],
            c[3] / MIB as f64,
            c[4],
            c[5] / 1000.0,
            c[6] / MIB as f64,
            c[7] / MIB as f64
        );
        println!(
            "  during the run: {} defragmentation/rebalancing runs moved {} items and returned {:.0} MiB in {:.1} ms",
            c[11],
            c[12],
            c[13] / MIB as f64,
            c[14] / 1000.0
        );
        println!(
            "  RSS growth {:.1} MiB vs budget {} MiB ({:+.1} %; target <= +10 %)",
            c[8] / MIB as f64,
            BUDGET / MIB,
            100.0 * (c[8] / BUDGET as f64 - 1.0)
        );
    }
}
