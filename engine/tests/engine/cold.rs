//! The cold tier under a cache: restarts, TTL across restarts, coherence
//! with writes and removes, write-through, the circuit breaker during an
//! outage, and files that are not what they should be.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goldylox::cold::{ColdConfig, FaultFs, FaultOp, StdFs, SyncMode};
use goldylox::health::{BreakerState, FailoverPolicy, NativeBreaker};
use goldylox::{Cache, Expiration, ManualClock, SetIf, WritePolicy};
use proptest::prelude::*;

pub(crate) fn cold_config(dir: &Path) -> ColdConfig {
    let mut c = ColdConfig::new(dir, 64 << 20);
    c.segment_size = 256 << 10;
    c.sync = SyncMode::Never;
    c
}

/// A small cache (16 KiB hot, 1 MiB warm) over a cold tier in `dir`.
fn cache(config: ColdConfig) -> Cache<String, Vec<u8>> {
    Cache::builder(16 << 10)
        .warm(1 << 20)
        .cold(config)
        .build()
        .unwrap()
}

/// `len` (≥ 8) incompressible bytes that name `i`.
pub(crate) fn value(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

#[test]
fn everything_survives_a_clean_restart_and_removes_stay_removed() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(cold_config(dir.path()));
    for i in 0..5_000u64 {
        c.insert(format!("k{i}"), value(i, 400)).unwrap();
    }
    for i in (0..5_000u64).step_by(7) {
        c.remove(&format!("k{i}"));
    }
    for i in (1..5_000u64).step_by(11) {
        c.insert(format!("k{i}"), value(i + 1_000_000, 100))
            .unwrap();
    }
    c.run_pending_tasks();
    let cold = c.cold_stats().unwrap();
    assert!(cold.entries > 1_500, "entries went down: {cold:?}");
    c.shutdown();
    drop(c);

    let c = cache(cold_config(dir.path()));
    let report = c.cold_recovery().unwrap();
    assert!(report.snapshot_rejected.is_none(), "{report:?}");
    let present = (0..5_000u64)
        .filter(|i| i % 7 != 0 || (*i >= 1 && (i - 1) % 11 == 0))
        .count();
    assert_eq!(c.len(), present, "every key on disk, counted once");
    for i in 0..5_000u64 {
        let got = c.get(&format!("k{i}"));
        let want = if i % 7 == 0 && (i < 1 || (i - 1) % 11 != 0) {
            None
        } else if i >= 1 && (i - 1) % 11 == 0 {
            Some(value(i + 1_000_000, 100))
        } else {
            Some(value(i, 400))
        };
        assert_eq!(got, want, "key k{i}");
    }
    let stats = c.stats();
    assert!(stats.cold.hits > 3_000 && stats.cold_movement.promotions > 3_000);
    c.run_pending_tasks();
    assert_eq!(c.len(), present, "promoted keys are still counted once");
}

#[test]
fn time_to_live_is_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(1_000));
    let build = |clock: &ManualClock| {
        Cache::<String, Vec<u8>>::builder(16 << 10)
            .cold(cold_config(dir.path()))
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let c = build(&clock);
    c.put(
        "short".into(),
        value(1, 50),
        Expiration::After(Duration::from_secs(10)),
    )
    .unwrap();
    c.insert("forever".into(), value(2, 50)).unwrap();
    c.shutdown();
    drop(c);

    let later = ManualClock::new();
    later.advance(Duration::from_secs(1_005));
    let c = build(&later);
    assert_eq!(c.get("short"), Some(value(1, 50)), "5 s left");
    let ttl = c.time_to_live("short").unwrap().unwrap();
    assert!(
        ttl <= Duration::from_secs(5) && ttl > Duration::from_secs(4),
        "{ttl:?}"
    );
    later.advance(Duration::from_secs(6));
    assert_eq!(c.get("short"), None, "expired after the restart");
    assert_eq!(c.get("forever"), Some(value(2, 50)));
}

#[test]
fn conditional_writes_see_cold_values() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(cold_config(dir.path()));
    for i in 0..6_000u64 {
        c.insert(format!("k{i}"), value(i, 400)).unwrap();
    }
    c.run_pending_tasks();
    // k0 is long gone from memory: only the cold tier has it.
    assert!(c.cold_stats().unwrap().entries > 1_000);
    assert_eq!(
        c.set(
            "k0".into(),
            value(9, 10),
            Expiration::Default,
            SetIf::Absent
        )
        .map(|o| o.previous)
        .unwrap(),
        Some(value(0, 400)),
        "present in the cold tier, so not absent"
    );
    assert!(c.contains_key("k1"));
    assert_eq!(
        c.set("k2".into(), value(7, 10), Expiration::Keep, SetIf::Present)
            .map(|o| o.previous)
            .unwrap(),
        Some(value(2, 400))
    );
    assert_eq!(c.get("k2"), Some(value(7, 10)));
    assert_eq!(c.remove("k3"), Some(value(3, 400)));
    assert_eq!(c.get("k3"), None);
}

/// Model test: random writes, removes, reads and clean restarts against a
/// `HashMap`, with memory tiers small enough that most entries live cold.
#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u16),
    Remove(u8),
    Get(u8),
    Restart,
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<u8>(), 0u16..2000).prop_map(|(k, n)| Op::Insert(k, n)),
        3 => any::<u8>().prop_map(Op::Remove),
        6 => any::<u8>().prop_map(Op::Get),
        1 => Just(Op::Restart),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn matches_a_map_across_restarts(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new();
        let config = || {
            let mut c = cold_config(dir.path());
            c.segment_size = 64 << 10;
            c.capacity = 1 << 30;
            c.fs = Arc::new(fs.clone());
            c
        };
        let small = || {
            Cache::<u8, Vec<u8>>::builder(4 << 10)
                .warm(1 << 20)
                .cold(config())
                .build()
                .unwrap()
        };
        let mut c = small();
        let mut model: HashMap<u8, Vec<u8>> = HashMap::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Insert(k, n) => {
                    let v = value(i as u64, 8 + n as usize);
                    c.insert(k, v.clone()).unwrap();
                    model.insert(k, v);
                }
                Op::Remove(k) => prop_assert_eq!(c.remove(&k), model.remove(&k)),
                Op::Get(k) => prop_assert_eq!(c.get(&k), model.get(&k).cloned()),
                Op::Restart => {
                    c.shutdown();
                    drop(c);
                    c = small();
                }
                Op::Clear => {
                    c.clear();
                    model.clear();
                }
            }
        }
        for k in 0..=255u8 {
            prop_assert_eq!(c.get(&k), model.get(&k).cloned(), "key {}", k);
        }
        // Each key once, whichever tiers hold it (a promoted key is in
        // memory and on disk).
        c.run_pending_tasks();
        prop_assert_eq!(c.len(), model.len());
    }
}

#[test]
fn write_through_makes_every_synced_write_survive_a_crash() {
    let fs = FaultFs::new();
    let mut config = ColdConfig::new("/wt", 64 << 20);
    config.segment_size = 256 << 10;
    config.sync = SyncMode::Never;
    config.fs = Arc::new(fs.clone());
    let c = Cache::<String, Vec<u8>>::builder(1 << 20)
        .cold(config.clone())
        .write_policy(WritePolicy::WriteThrough)
        .build()
        .unwrap();
    for i in 0..500u64 {
        c.insert(format!("k{i}"), value(i, 300)).unwrap();
    }
    c.remove("k3");
    c.sync_cold().unwrap();
    for i in 500..600u64 {
        c.insert(format!("k{i}"), value(i, 300)).unwrap();
    }
    // The process dies: nothing unsynced survives, no shutdown runs.
    let image = fs.crash_image(goldylox::cold::Tear::DropUnsynced, 1);
    drop(c);
    config.fs = Arc::new(image);
    let c = Cache::<String, Vec<u8>>::builder(1 << 20)
        .cold(config)
        .build()
        .unwrap();
    for i in 0..500u64 {
        let want = (i != 3).then(|| value(i, 300));
        assert_eq!(c.get(&format!("k{i}")), want, "synced k{i}");
    }
}

/// A breaker that opens after 3 errors and probes after 50 ms.
pub(crate) fn quick_breaker() -> goldylox::health::FailoverFactory {
    Arc::new(|| {
        let params = [
            ("error-threshold".to_owned(), "3".to_owned()),
            ("backoff-ms".to_owned(), "50".to_owned()),
            ("max-backoff-ms".to_owned(), "200".to_owned()),
        ];
        NativeBreaker::new(&params).map(|b| Box::new(b) as Box<dyn FailoverPolicy>)
    })
}

pub(crate) fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_outage_of_the_disk_opens_the_breaker_and_the_cache_keeps_serving() {
    let fs = FaultFs::new();
    let mut config = cold_config(Path::new("/outage"));
    config.fs = Arc::new(fs.clone());
    let c = Cache::<String, Vec<u8>>::builder(16 << 10)
        .warm(1 << 20)
        .cold(config)
        .failover(quick_breaker())
        .build()
        .unwrap();
    for i in 0..8_000u64 {
        c.insert(format!("k{i}"), value(i, 200)).unwrap();
    }
    c.run_pending_tasks();
    c.sync_cold().unwrap();
    assert!(c.cold_stats().unwrap().entries > 3_000);
    assert_eq!(c.cold_health().unwrap().0, BreakerState::Closed);

    // The disk fails: every write and sync errors.
    fs.fail(FaultOp::Write, u32::MAX);
    fs.fail(FaultOp::Sync, u32::MAX);
    fs.fail(FaultOp::Create, u32::MAX);
    let mut i = 8_000u64;
    wait_for("the breaker to open", || {
        c.insert(format!("k{i}"), value(i, 200)).unwrap();
        i += 1;
        c.run_pending_tasks();
        c.cold_health().unwrap().0 != BreakerState::Closed
    });
    // Serving goes on: recent writes are in memory, and no read errs.
    let recent = format!("k{}", i - 1);
    assert_eq!(c.get(&recent), Some(value(i - 1, 200)));
    for j in 0..200u64 {
        c.insert(format!("o{j}"), value(j, 200)).unwrap();
        assert_eq!(c.get(&format!("o{j}")), Some(value(j, 200)));
    }
    let before = c.stats().cold_movement.bypassed;
    c.run_pending_tasks();
    assert!(c.stats().cold_movement.bypassed >= before);

    // The disk comes back: probes succeed, the breaker closes.
    fs.fail(FaultOp::Write, 0);
    fs.fail(FaultOp::Sync, 0);
    fs.fail(FaultOp::Create, 0);
    wait_for("the breaker to close", || {
        c.cold_health().unwrap().0 == BreakerState::Closed
    });
    let (_, health) = c.cold_health().unwrap();
    assert!(
        health.opened >= 1 && health.closed >= 1 && health.probes >= 1,
        "{health:?}"
    );
    // Entries written before the outage are still readable from disk.
    assert_eq!(c.get("k5"), Some(value(5, 200)));
    println!("breaker: {health:?}");
}

#[test]
fn bad_directories_and_foreign_files_get_clear_errors_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the directory should be.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"hello").unwrap();
    let err = Cache::<String, Vec<u8>>::builder(1 << 20)
        .cold(cold_config(&file))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("cold"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"hello");

    // A foreign file inside the directory is left alone.
    let cold = dir.path().join("cold");
    std::fs::create_dir(&cold).unwrap();
    std::fs::write(cold.join("notes.txt"), b"mine").unwrap();
    let c = cache(cold_config(&cold));
    assert_eq!(c.cold_recovery().unwrap().foreign_files, 1);
    for i in 0..2_000u64 {
        c.insert(format!("k{i}"), value(i, 200)).unwrap();
    }
    c.shutdown();
    drop(c);
    assert_eq!(std::fs::read(cold.join("notes.txt")).unwrap(), b"mine");

    // A segment cut short by someone else: the snapshot no longer matches,
    // the store scans, and no read returns a wrong value.
    let mut segs: Vec<_> = std::fs::read_dir(&cold)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    let victim = &segs[0];
    let len = std::fs::metadata(victim).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(victim)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let c = cache(cold_config(&cold));
    let report = c.cold_recovery().unwrap();
    assert!(report.snapshot_rejected.is_some(), "{report:?}");
    let mut found = 0;
    for i in 0..2_000u64 {
        if let Some(v) = c.get(&format!("k{i}")) {
            assert_eq!(v, value(i, 200));
            found += 1;
        }
    }
    assert!(found > 0);
    let _ = StdFs;
}

#[test]
fn a_failed_sync_poisons_its_segment_and_a_full_disk_loses_nothing_in_memory() {
    let fs = FaultFs::new();
    let mut config = ColdConfig::new("/poison", 64 << 20);
    config.segment_size = 256 << 10;
    config.sync = SyncMode::Never;
    config.fs = Arc::new(fs.clone());
    let store = goldylox::cold::ColdStore::open(config.clone()).unwrap();
    store.put(b"before", b"synced", None).unwrap();
    store.sync().unwrap();
    store
        .put(b"doomed", b"in the poisoned segment", None)
        .unwrap();
    store.flush().unwrap();
    fs.fail(FaultOp::Sync, 1);
    let failed = store.sync().unwrap_err();
    assert!(
        matches!(
            &failed,
            goldylox::Error::Io {
                source: Some(_),
                ..
            }
        ),
        "the failed sync is reported with its cause: {failed:?}"
    );
    let stats = store.stats();
    assert_eq!(stats.poisoned_segments, 1);
    // Never read again: neither what was synced into it before nor after.
    assert_eq!(store.get(b"doomed").unwrap(), None);
    assert_eq!(store.get(b"before").unwrap(), None);
    // Writes go on in a new segment.
    store.put(b"after", b"fine", None).unwrap();
    store.sync().unwrap();
    assert_eq!(store.get(b"after").unwrap().unwrap().value, b"fine");
    drop(store);

    // A full disk under a cache: writes keep succeeding (in memory), reads
    // return what was written, the errors are counted and the breaker opens.
    fs.set_space(Some(0));
    let c = Cache::<String, Vec<u8>>::builder(16 << 10)
        .cold(config)
        .failover(quick_breaker())
        .build()
        .unwrap();
    for i in 0..2_000u64 {
        c.insert(format!("k{i}"), value(i, 300)).unwrap();
        assert_eq!(c.get(&format!("k{i}")), Some(value(i, 300)));
    }
    c.run_pending_tasks();
    wait_for("the breaker to open on a full disk", || {
        c.cold_health().unwrap().0 != BreakerState::Closed
    });
    assert!(c.cold_stats().unwrap().io_errors > 0);
    assert_eq!(c.get("k1999"), Some(value(1999, 300)));
}

#[test]
fn a_full_disk_is_reported_as_no_space_with_its_cause() {
    let fs = FaultFs::new();
    let mut config = ColdConfig::new("/full", 64 << 20);
    config.segment_size = 256 << 10;
    config.fs = Arc::new(fs.clone());
    let store = goldylox::cold::ColdStore::open(config).unwrap();
    fs.set_space(Some(0));
    store.put(b"k", b"v", None).unwrap();
    let err = store.flush().unwrap_err();
    match &err {
        goldylox::Error::NoSpace { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );
    assert_eq!(store.get(b"k").unwrap(), None, "the lost write is a miss");
    // Space comes back: so does the tier.
    fs.set_space(None);
    store.put(b"k2", b"v2", None).unwrap();
    store.flush().unwrap();
    assert_eq!(store.get(b"k2").unwrap().unwrap().value, b"v2");
}

#[test]
fn restarts_find_keys_whatever_became_of_the_hash_seed() {
    let parent = tempfile::tempdir().unwrap();
    // A directory the cache creates itself.
    let dir = parent.path().join("fresh");
    let write = |range: std::ops::Range<u64>| {
        let c = cache(cold_config(&dir));
        for i in range {
            c.insert(format!("k{i}"), value(i, 200)).unwrap();
        }
        c.shutdown();
    };
    let check = |n: u64| {
        let c = cache(cold_config(&dir));
        for i in 0..n {
            assert_eq!(c.get(&format!("k{i}")), Some(value(i, 200)), "k{i}");
        }
        c.shutdown();
    };
    write(0..500);
    assert!(dir.join("hash-seed").exists(), "the seed is written down");
    check(500);
    // A lost seed file: the next start picks another seed (the legacy
    // one, as segments exist); the snapshot made under the old seed is
    // refused and the index rebuilt from the records.
    std::fs::remove_file(dir.join("hash-seed")).unwrap();
    check(500);
    // A damaged one likewise.
    std::fs::write(dir.join("hash-seed"), b"garbage").unwrap();
    write(500..600);
    check(600);
}

#[test]
fn compaction_reads_large_segments_through_its_window() {
    // Segments of 4 MiB with records up to 600 KiB: a compaction reads each
    // through a 1 MiB window, so records straddle its edges and some are
    // larger than it. Every key must read its newest value after.
    let dir = tempfile::tempdir().unwrap();
    let mut config = ColdConfig::new(dir.path(), 1 << 30);
    config.segment_size = 4 << 20;
    config.sync = SyncMode::Never;
    config.compact_at = None;
    let store = goldylox::cold::ColdStore::open(config).unwrap();
    let mut newest = HashMap::new();
    let mut x = 7u64;
    for i in 0..400u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = 16 + (x >> 33) as usize % (600 << 10);
        let key = format!("k{}", i % 40);
        store.put(key.as_bytes(), &value(i, len), None).unwrap();
        newest.insert(key, (i, len));
    }
    store.seal().unwrap();
    let before = store.stats();
    let compacted = store.compact(true).unwrap();
    let after = store.stats();
    println!(
        "{compacted} segments compacted; {} -> {} bytes on disk",
        before.disk_bytes, after.disk_bytes
    );
    assert!(compacted >= 5, "{compacted} segments compacted");
    assert!(after.disk_bytes < before.disk_bytes / 2);
    assert_eq!(after.quarantined_segments, 0);
    for (key, (i, len)) in &newest {
        let found = store.get(key.as_bytes()).unwrap().expect(key);
        assert_eq!(found.value, value(*i, *len), "{key}");
    }
}

#[test]
fn the_latency_listener_times_cold_syncs_and_compactions() {
    // A write-through cache whose keys are written over and over: sealed
    // segments fill with garbage, a sync makes them durable, a compaction
    // rewrites them. The cache's latency listener hears both, by name.
    let dir = tempfile::tempdir().unwrap();
    let mut config = cold_config(dir.path());
    config.segment_size = 64 << 10;
    config.compact_at = None;
    let heard: Arc<std::sync::Mutex<Vec<goldylox::LatencyEvent>>> = Arc::default();
    let ears = Arc::clone(&heard);
    let cache: Cache<String, Vec<u8>> = Cache::builder(16 << 10)
        .cold(config)
        .write_policy(WritePolicy::WriteThrough)
        .latency_listener(move |event, _| ears.lock().unwrap().push(event))
        .build()
        .unwrap();
    for i in 0..400u64 {
        cache
            .insert(format!("k{}", i % 20), value(i, 1_000))
            .unwrap();
    }
    cache.sync_cold().unwrap();
    let compacted = cache.compact_cold(true).unwrap();
    assert!(compacted >= 3, "{compacted} segments compacted");
    use goldylox::LatencyEvent::{ColdCompaction, ColdSync};
    let heard = heard.lock().unwrap().clone();
    let count = |event| heard.iter().filter(|e| **e == event).count();
    assert!(count(ColdSync) >= 1, "no cold sync heard: {heard:?}");
    assert_eq!(
        count(ColdCompaction),
        compacted,
        "one per segment rewritten"
    );
    assert_eq!(
        (ColdSync.name(), ColdCompaction.name()),
        ("cold-fsync", "cold-compaction")
    );
    for i in 380..400u64 {
        assert_eq!(cache.get(&format!("k{}", i % 20)), Some(value(i, 1_000)));
    }
}
