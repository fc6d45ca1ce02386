//! Live workload capture: what is recorded, how it is sampled and salted,
//! how it is bounded, and what is refused — read back from the files.

use std::path::PathBuf;
use std::time::Duration;

use goldylox::capture::file::{Record, read};
use goldylox::{Cache, CaptureConfig, CaptureOp, Error, Expiration, ManualClock};

const SEC: Duration = Duration::from_secs(1);

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gx-capture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sized(clock: &ManualClock) -> Cache<u64, Vec<u8>> {
    Cache::builder(1 << 22)
        .weigher(|_, v: &Vec<u8>| v.len() as u32)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn records(path: &std::path::Path) -> Vec<(Record, i64)> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(read(&bytes).unwrap().len() * 34, bytes.len());
    bytes
        .chunks_exact(34)
        .map(|b| Record::decode(b).unwrap())
        .collect()
}

#[test]
fn every_request_is_recorded_with_its_size_ttl_time_and_next_access() {
    let d = dir("all");
    let path = d.join("w.oracleSysTwrNS.bin");
    let clock = ManualClock::new();
    let cache = sized(&clock);
    cache.start_capture(CaptureConfig::new(&path)).unwrap();
    cache.insert(1, vec![0; 100]).unwrap(); // 0: set
    assert!(cache.get(&1).is_some()); // 1: hit
    assert!(cache.get(&2).is_none()); // 2: miss, sized by the fill after it
    cache.insert(2, vec![0; 50]).unwrap(); // 3: set
    clock.advance(SEC * 3);
    cache.remove(&1); // 4: delete
    cache
        .put(3, vec![0; 10], Expiration::After(SEC * 30)) // 5: set, ttl 30
        .unwrap();
    clock.advance(SEC * 31);
    cache.run_pending_tasks(); // 6: the expiry
    assert_eq!(cache.capture_status().unwrap().records, 7);
    let summary = cache.stop_capture().unwrap();
    assert_eq!(summary.records, 7);
    assert_eq!(summary.objects, 3);
    assert_eq!(
        (summary.sizes_from_neighbours, summary.sizes_guessed),
        (1, 0)
    );
    assert!(cache.capture_status().is_none());
    assert!(!d.join("w.oracleSysTwrNS.bin.part").exists());

    let rs = records(&path);
    let ops: Vec<CaptureOp> = rs.iter().map(|(r, _)| r.op).collect();
    use CaptureOp::*;
    assert_eq!(ops, [Set, Get, Get, Set, Delete, Set, Expire]);
    let sizes: Vec<u32> = rs.iter().map(|(r, _)| r.size).collect();
    assert_eq!(sizes, [100, 100, 50, 50, 0, 10, 0]);
    let next: Vec<i64> = rs.iter().map(|(_, n)| *n).collect();
    assert_eq!(next, [2, 5, 4, -1, -1, 7, -1], "1-based, as libCacheSim's");
    let times: Vec<u32> = rs.iter().map(|(r, _)| r.time).collect();
    assert_eq!(times, [0, 0, 0, 0, 3, 3, 34]);
    assert_eq!(rs[5].0.ttl, 30);
    assert!(
        rs.iter()
            .filter(|(r, _)| r.op != Set)
            .all(|(r, _)| r.ttl == 0)
    );
    let ids: Vec<u64> = rs.iter().map(|(r, _)| r.id).collect();
    assert_eq!((ids[0], ids[2]), (ids[1], ids[3]));
    assert!(ids[0] != ids[2] && ids[2] != ids[5] && ids[0] != ids[5]);
    assert!(!ids.contains(&1) && !ids.contains(&2), "keys are hashed");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_sample_keeps_whole_keys_near_the_rate() {
    let d = dir("rate");
    let path = d.join("w.bin");
    let cache: Cache<u64, u64> = Cache::new(1 << 24).unwrap();
    cache
        .start_capture(CaptureConfig::new(&path).rate(0.25))
        .unwrap();
    const KEYS: u64 = 20_000;
    for round in 0..3 {
        for k in 0..KEYS {
            if round == 0 {
                cache.insert(k, k).unwrap();
            } else {
                cache.get(&k);
            }
        }
    }
    let summary = cache.stop_capture().unwrap();
    assert_eq!(summary.rate, 0.25);
    assert_eq!(summary.dropped, 0, "{summary:?}");
    let rs = records(&path);
    let mut per_key = std::collections::HashMap::<u64, u32>::new();
    for (r, _) in &rs {
        *per_key.entry(r.id).or_default() += 1;
    }
    assert!(
        per_key.values().all(|&n| n == 3),
        "every request of a sampled key"
    );
    let share = per_key.len() as f64 / KEYS as f64;
    assert!(
        (0.23..0.27).contains(&share),
        "sampled {share} of the keys at rate 0.25"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn each_capture_has_its_own_salt() {
    let d = dir("salt");
    let cache: Cache<u64, u64> = Cache::new(1 << 20).unwrap();
    let mut ids = Vec::new();
    for name in ["a.bin", "b.bin"] {
        cache
            .start_capture(CaptureConfig::new(d.join(name)))
            .unwrap();
        cache.insert(7, 7).unwrap();
        cache.stop_capture().unwrap();
        ids.push(records(&d.join(name))[0].0.id);
    }
    assert_ne!(ids[0], ids[1], "the same key, unlinkable across captures");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_file_stops_growing_at_its_bound_and_counts_the_rest() {
    let d = dir("bound");
    let path = d.join("w.bin");
    let cache: Cache<u64, u64> = Cache::new(1 << 20).unwrap();
    cache
        .start_capture(CaptureConfig::new(&path).max_bytes(34 * 10 + 20))
        .unwrap();
    for k in 0..25 {
        cache.insert(k, k).unwrap();
    }
    let status = cache.capture_status().unwrap();
    assert_eq!((status.records, status.truncated), (10, 15));
    let summary = cache.stop_capture().unwrap();
    assert_eq!((summary.records, summary.truncated), (10, 15));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 340);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_requests_are_refused_and_leave_the_running_capture_alone() {
    let d = dir("refused");
    let cache: Cache<u64, u64> = Cache::new(1 << 20).unwrap();
    let refused = |r: Result<(), Error>| match r {
        Err(Error::Capture { reason }) => reason,
        other => panic!("{other:?}"),
    };
    assert!(matches!(cache.stop_capture(), Err(Error::Capture { .. })));
    for rate in [0.0, -1.0, 1.5, f64::NAN] {
        let why = refused(cache.start_capture(CaptureConfig::new(d.join("x")).rate(rate)));
        assert!(why.contains("sample rate"), "{why}");
    }
    let why = refused(cache.start_capture(CaptureConfig::new(d.join("x")).max_bytes(10)));
    assert!(why.contains("holds no"), "{why}");
    let why = refused(cache.start_capture(CaptureConfig::new(d.join("no/such/dir/x"))));
    assert!(why.contains("cannot create"), "{why}");
    assert!(cache.capture_status().is_none());

    cache
        .start_capture(CaptureConfig::new(d.join("one")))
        .unwrap();
    let why = refused(cache.start_capture(CaptureConfig::new(d.join("two"))));
    assert!(why.contains("already running"), "{why}");
    cache.insert(1, 1).unwrap();
    assert_eq!(cache.stop_capture().unwrap().records, 1);
    assert!(!d.join("two").exists() && !d.join("two.part").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_capture_the_cache_drops_still_finishes_its_file() {
    let d = dir("dropped");
    let path = d.join("w.bin");
    let cache: Cache<u64, u64> = Cache::new(1 << 20).unwrap();
    cache.start_capture(CaptureConfig::new(&path)).unwrap();
    cache.insert(1, 1).unwrap();
    cache.get(&1);
    drop(cache);
    // The writer finishes on its own thread; wait for the rename.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(records(&path).len(), 2);
    std::fs::remove_dir_all(&d).unwrap();
}
