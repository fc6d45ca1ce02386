//! Acknowledged means durable: `insert_durable` under write-through with
//! `SyncMode::Always` returns only after the sync that covers the write,
//! so a power cut at any moment keeps every write acknowledged before it;
//! many threads share syncs; a write that misses the disk is refused, not
//! acknowledged; and `SyncMode::Every` keeps what is older than its window.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goldylox::cold::{ColdConfig, FaultFs, FaultOp, SyncMode, Tear};
use goldylox::{Cache, Error, WritePolicy};

fn config(fs: &FaultFs, sync: SyncMode) -> ColdConfig {
    let mut c = ColdConfig::new(Path::new("/durable"), 64 << 20);
    c.segment_size = 256 << 10;
    c.sync = sync;
    c.fs = Arc::new(fs.clone());
    c
}

fn write_through(config: ColdConfig) -> Cache<String, u64> {
    Cache::builder(1 << 20)
        .cold(config)
        .write_policy(WritePolicy::WriteThrough)
        .build()
        .unwrap()
}

#[test]
fn durable_inserts_survive_a_power_cut_at_any_moment_and_share_syncs() {
    const WRITERS: u64 = 7;
    const CUTS: u64 = 20;
    let fs = FaultFs::new();
    // Syncs take a while, as on a disk: an acknowledgement sent before its
    // sync would be caught by a cut during one.
    fs.set_sync_latency(Duration::from_millis(2));
    let cache = Arc::new(write_through(config(&fs, SyncMode::Always)));
    // key → the newest value acknowledged. A cut takes the image of the
    // disk under this lock, so every entry in the map then was
    // acknowledged before the cut.
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writes = 0;
    let cuts = std::thread::scope(|scope| {
        for t in 0..WRITERS {
            let (cache, acked, done) = (Arc::clone(&cache), Arc::clone(&acked), Arc::clone(&done));
            scope.spawn(move || {
                let mut value = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    value += 1;
                    let key = format!("t{t}:k{}", value % 50);
                    cache.insert_durable(key.clone(), value).unwrap();
                    acked.lock().unwrap().insert(key, value);
                }
            });
        }
        // The cutter writes too, and cuts the power right after a write of
        // its own is acknowledged.
        let mut cuts = Vec::new();
        for c in 0..CUTS {
            let key = format!("cut{c}");
            cache.insert_durable(key.clone(), c).unwrap();
            let held = acked.lock().unwrap();
            let image = fs.crash_image(Tear::DropUnsynced, c);
            let mut expected = held.clone();
            drop(held);
            expected.insert(key, c);
            cuts.push((image, expected));
            std::thread::sleep(Duration::from_millis(5));
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        cuts
    });
    for (key, _) in acked.lock().unwrap().iter() {
        writes += u64::from(key.starts_with('t'));
    }
    let syncs = cache.cold_stats().unwrap().syncs;
    let appended = cache.cold_stats().unwrap().appended;
    println!(
        "{appended} durable writes from {} threads took {syncs} syncs ({:.1} writes per sync)",
        WRITERS + 1,
        appended as f64 / syncs.max(1) as f64
    );
    assert!(writes > 0);
    drop(cache);
    for (image, expected) in cuts {
        let mut restarted = config(&fs, SyncMode::Always);
        restarted.fs = Arc::new(image);
        let recovered = write_through(restarted);
        for (key, value) in &expected {
            let found = recovered.get(key);
            // The acknowledged value, or a newer one of the same key.
            assert!(
                found.is_some_and(|v| v >= *value),
                "{key}: acknowledged {value}, found {found:?} after the cut"
            );
        }
    }
}

#[test]
fn a_durable_write_that_misses_the_disk_is_refused() {
    let fs = FaultFs::new();
    let cache = write_through(config(&fs, SyncMode::Always));
    cache.insert_durable("before".into(), 1).unwrap();
    fs.fail(FaultOp::Write, 1);
    let refused = cache.insert_durable("during".into(), 2);
    assert!(matches!(refused, Err(Error::Io { .. })), "{refused:?}");
    // The disk is back: the next durable write is acknowledged again.
    cache.insert_durable("after".into(), 3).unwrap();

    // Nothing durable to wait for: no cold tier, or a write-back one.
    let memory: Cache<String, u64> = Cache::builder(1 << 20).build().unwrap();
    let err = memory.insert_durable("k".into(), 1).unwrap_err();
    assert!(err.to_string().contains("no cold tier"), "{err}");
    let back: Cache<String, u64> = Cache::builder(1 << 20)
        .cold(config(&FaultFs::new(), SyncMode::Always))
        .build()
        .unwrap();
    let err = back.insert_durable("k".into(), 1).unwrap_err();
    assert!(err.to_string().contains("write-back"), "{err}");
}

#[test]
fn sync_every_keeps_what_is_older_than_its_window() {
    let fs = FaultFs::new();
    let cache = write_through(config(&fs, SyncMode::Every(Duration::from_millis(20))));
    for i in 0..500u64 {
        cache.insert(format!("old{i}"), i).unwrap();
    }
    // Without a sync asked for, the old writes become durable within a few
    // windows; a loaded machine may starve the writer for a while, so look
    // again until they are, and say how long it took.
    let waited = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let mut image = config(&fs, SyncMode::Never);
        image.fs = Arc::new(fs.crash_image(Tear::DropUnsynced, 3));
        let seen = write_through(image);
        if (0..500u64).all(|i| seen.get(&format!("old{i}")) == Some(i)) {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the older writes never became durable"
        );
    }
    let took = waited.elapsed();
    for i in 0..500u64 {
        cache.insert(format!("new{i}"), i).unwrap();
    }
    let image = fs.crash_image(Tear::DropUnsynced, 3);
    drop(cache);
    let mut restarted = config(&fs, SyncMode::Never);
    restarted.fs = Arc::new(image);
    let recovered = write_through(restarted);
    for i in 0..500u64 {
        assert_eq!(recovered.get(&format!("old{i}")), Some(i), "old{i}");
    }
    let kept = (0..500u64)
        .filter(|i| recovered.get(&format!("new{i}")).is_some())
        .count();
    println!(
        "sync every 20 ms: 500 of 500 older writes durable within {took:?}, {kept} of 500 within the window"
    );
}
