//! The cold tier, measured against the disk it runs on, in one run:
//!
//! * write throughput of the store vs a raw sequential write of the same
//!   bytes to the same file system (both end with a sync);
//! * cold-hit latency (p50/p99) of `ColdStore::get` from sealed segments,
//!   read with positioned reads and through memory maps,
//!   and of a cache `get` that goes down to the cold tier;
//! * compaction rate after half the keys were overwritten;
//! * recovery rate with and without the index snapshot;
//! * index bytes per entry and space amplification under overwrites.
//!
//! Run: `cargo bench -p goldylox --bench cold`. Files go under the target
//! directory's tmp dir (the repository's disk), not a RAM disk.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use goldylox::Cache;
use goldylox::cold::{ColdConfig, ColdStore, SyncMode};

mod workload;
use workload::Rng;

const MIB: u64 = 1 << 20;

fn noise(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn config(dir: &Path) -> ColdConfig {
    let mut c = ColdConfig::new(dir, 64 << 30);
    c.segment_size = 64 << 20;
    c.sync = SyncMode::Every(Duration::from_secs(1));
    c.compact_at = None;
    c.snapshot_every = None;
    c
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// Raw sequential write of `total` bytes in 1 MiB chunks, then a sync.
fn raw_write(dir: &Path, total: u64, chunk: &[u8]) -> Duration {
    let path = dir.join("raw.bin");
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .unwrap();
    let began = Instant::now();
    let mut off = 0;
    while off < total {
        f.write_all_at(chunk, off).unwrap();
        off += chunk.len() as u64;
    }
    f.sync_data().unwrap();
    let took = began.elapsed();
    drop(f);
    std::fs::remove_file(path).unwrap();
    took
}

/// Writes `n` records of `len` bytes; returns the time including the final
/// sync, and the bytes of payload.
fn store_write(store: &ColdStore, n: u64, len: usize, rng: &mut Rng) -> (Duration, u64) {
    let values: Vec<Vec<u8>> = (0..64).map(|_| noise(rng, len)).collect();
    let began = Instant::now();
    for i in 0..n {
        let key = format!("key:{i:012}");
        store
            .put(key.as_bytes(), &values[(i % 64) as usize], None)
            .unwrap();
    }
    store.sync().unwrap();
    (began.elapsed(), n * (len as u64 + 16))
}

/// Latency of 200 k cold gets of random keys among `keys`: p50 and p99.
fn cold_gets(store: &ColdStore, keys: u64, rng: &mut Rng) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(200_000);
    for _ in 0..200_000 {
        let i = rng.below(keys);
        let key = format!("key:{i:012}");
        let t = Instant::now();
        let v = store.get(key.as_bytes()).unwrap();
        samples.push(t.elapsed());
        assert!(v.is_some());
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

fn main() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cold-bench");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let mut rng = Rng::new(7);

    // 1. Write throughput vs the raw disk, 512 MiB each.
    let total = 512 * MIB;
    let chunk = noise(&mut rng, MIB as usize);
    // The raw write runs before and after the store's; the faster counts
    // (the VM's disk is noisy, and the first write to fresh extents slow).
    let raw_before = raw_write(&base, total, &chunk);
    let dir = base.join("write");
    let store = ColdStore::open(config(&dir)).unwrap();
    let (took, bytes) = store_write(&store, total / 4096, 4096 - 16, &mut rng);
    let raw_after = raw_write(&base, total, &chunk);
    let raw_mb = mb_s(total, raw_before.min(raw_after));
    let store_mb = mb_s(bytes, took);
    println!(
        "write 4 KiB records: {store_mb:.0} MB/s ({:.0} k records/s) vs raw sequential {raw_mb:.0} MB/s (before {:.0}, after {:.0}): {:.2}x",
        (total / 4096) as f64 / took.as_secs_f64() / 1e3,
        mb_s(total, raw_before),
        mb_s(total, raw_after),
        store_mb / raw_mb
    );
    let n_small = 2_000_000u64;
    let (took_small, _) = store_write(&store, n_small, 100, &mut rng);
    println!(
        "write 100 B records: {:.2} M records/s ({:.0} MB/s incl. headers)",
        n_small as f64 / took_small.as_secs_f64() / 1e6,
        mb_s(n_small * (100 + 16 + 40), took_small)
    );

    // 2. Cold-hit latency from sealed segments: positioned reads (the
    // default), then memory maps (`map_sealed`) of the same segments.
    store.seal().unwrap();
    let keys = total / 4096;
    let (p50, p99) = cold_gets(&store, keys, &mut rng);
    println!(
        "cold get (4 KiB, sealed segment, positioned reads, page cache warm): p50 {p50:?} p99 {p99:?}"
    );
    let stats = store.stats();
    println!(
        "index: {} entries, {} table bytes = {:.1} B/entry (8 B hash + 16 B entry per bucket + control byte, at hashbrown's load)",
        stats.entries,
        stats.index_bytes,
        stats.index_bytes as f64 / stats.entries as f64
    );

    // 3. Compaction: overwrite half the 4 KiB records, then compact all.
    let before = store.stats();
    let value = noise(&mut rng, 4096 - 16);
    for i in (0..keys).step_by(2) {
        store
            .put(format!("key:{i:012}").as_bytes(), &value, None)
            .unwrap();
    }
    store.seal().unwrap();
    let began = Instant::now();
    let compacted = store.compact(true).unwrap();
    let took = began.elapsed();
    let after = store.stats();
    let processed = after.compacted_bytes - before.compacted_bytes;
    println!(
        "compaction: {compacted} segments, {} MiB read, {} records rewritten in {took:?}: {:.0} MB/s of segments; disk {} -> {} MiB",
        processed / MIB,
        after.compacted_records - before.compacted_records,
        mb_s(processed, took),
        before.disk_bytes / MIB,
        after.disk_bytes / MIB
    );
    let entries = after.entries;
    store.close().unwrap();

    // 4. Recovery with the snapshot, then without.
    let began = Instant::now();
    let store = ColdStore::open(config(&dir)).unwrap();
    let with = began.elapsed();
    let report = store.recovery().clone();
    assert_eq!(report.entries, entries);
    let mut mapped = config(&dir);
    mapped.map_sealed = true;
    drop(store);
    let store = ColdStore::open(mapped).unwrap();
    let (p50, p99) = cold_gets(&store, keys, &mut rng);
    println!(
        "cold get (4 KiB, sealed segment, memory-mapped, page cache warm): p50 {p50:?} p99 {p99:?}"
    );
    drop(store);
    std::fs::remove_file(dir.join("index.snap")).unwrap();
    let began = Instant::now();
    let store = ColdStore::open(config(&dir)).unwrap();
    let without = began.elapsed();
    assert_eq!(store.recovery().entries, entries);
    println!(
        "recovery of {entries} entries: with snapshot {with:?} ({:.1} M entries/s), scanning {} MiB {without:?} ({:.1} M entries/s)",
        entries as f64 / with.as_secs_f64() / 1e6,
        store.stats().disk_bytes / MIB,
        entries as f64 / without.as_secs_f64() / 1e6
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();

    // 5. Space amplification under random overwrites with compaction at 50 %.
    let dir = base.join("amp");
    let mut c = config(&dir);
    c.segment_size = 4 << 20;
    c.compact_at = Some(0.5);
    let store = ColdStore::open(c).unwrap();
    let value = noise(&mut rng, 1000);
    let keys = 20_000u64;
    let mut worst: f64 = 0.0;
    for round in 0..20u64 {
        for _ in 0..keys {
            let i = rng.below(keys);
            store.put(format!("k{i}").as_bytes(), &value, None).unwrap();
        }
        store.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let s = store.stats();
        if round >= 2 {
            worst = worst.max(s.disk_bytes as f64 / s.live_bytes.max(1) as f64);
        }
    }
    let s = store.stats();
    println!(
        "space amplification (20 k keys x 1 KB, 400 k random overwrites, compaction at 50 % garbage, 4 MiB segments): worst {worst:.2}x, end {:.2}x ({} compactions)",
        s.disk_bytes as f64 / s.live_bytes.max(1) as f64,
        s.compactions
    );
    drop(store);

    // 6. A cache whose reads go down to the cold tier.
    let dir = base.join("cache");
    let cache: Cache<u64, Vec<u8>> = Cache::builder(4 * MIB).cold(config(&dir)).build().unwrap();
    let value = noise(&mut rng, 1000);
    let n = 200_000u64;
    for i in 0..n {
        cache.insert(i, value.clone()).unwrap();
    }
    cache.run_pending_tasks();
    cache.sync_cold().unwrap();
    let mut samples = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let i = rng.below(n);
        let t = Instant::now();
        let v = cache.get(&i);
        samples.push(t.elapsed());
        assert!(v.is_some());
    }
    samples.sort();
    let stats = cache.stats();
    println!(
        "cache get over a 4 MiB hot tier and the cold tier (200 k x 1 KB, uniform): p50 {:?} p99 {:?}; {} cold hits, {} hot hits",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        stats.cold.hits,
        stats.hot.hits
    );
    drop(cache);
    let _ = std::fs::remove_dir_all(&base);
}
