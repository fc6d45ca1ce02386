//! Real faults on real files, not `FaultFs`: a segment another program
//! truncates or deletes under a running cache, and a size-capped tmpfs
//! that fills up during writes and then gets space back; a close while the
//! compactor works; a slow disk under large writes, with the write queue's
//! bytes bounded.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use goldylox::Cache;
use goldylox::cold::{ColdConfig, SyncMode};
use goldylox::health::BreakerState;

use crate::cold::{quick_breaker, value, wait_for};

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    segs
}

#[test]
fn a_truncated_or_deleted_segment_gives_misses_never_wrong_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ColdConfig::new(dir.path(), 64 << 20);
    config.segment_size = 64 << 10;
    config.sync = SyncMode::Never;
    config.compact_at = None;
    let c = Cache::<String, Vec<u8>>::builder(16 << 10)
        .cold(config)
        .build()
        .unwrap();
    for i in 0..3_000u64 {
        c.insert(format!("k{i}"), value(i, 200)).unwrap();
    }
    c.run_pending_tasks();
    c.sync_cold().unwrap();
    let segs = segments(dir.path());
    assert!(segs.len() > 6, "{segs:?}");
    // Another program cuts one sealed segment in half and deletes another
    // while the cache runs. Through a map, reading the cut pages would
    // raise SIGBUS and end this test process.
    let cut = std::fs::OpenOptions::new()
        .write(true)
        .open(&segs[1])
        .unwrap();
    cut.set_len(cut.metadata().unwrap().len() / 2).unwrap();
    drop(cut);
    std::fs::remove_file(&segs[2]).unwrap();
    let (mut found, mut missed) = (0, 0);
    for i in 0..3_000u64 {
        match c.get(&format!("k{i}")) {
            Some(v) => {
                assert_eq!(v, value(i, 200), "k{i}: a wrong value");
                found += 1;
            }
            None => missed += 1,
        }
    }
    println!("after a cut and a deletion: {found} found, {missed} missed, 0 wrong");
    assert!(missed > 0, "the cut segment's keys cannot all be there");
    assert!(c.cold_last_error().is_some_and(|e| e.contains("segment")));
}

/// A tmpfs of `size`, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Tmpfs { dir })
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_opens_the_breaker_and_space_coming_back_closes_it() {
    let Some(fs) = Tmpfs::mount("1m") else {
        // CI runs as root (.ci/run); elsewhere mounting needs privileges.
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot mount a tmpfs (needs root)"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let dir = fs.dir.path().join("cold");
    let mut config = ColdConfig::new(&dir, 64 << 20);
    config.segment_size = 128 << 10;
    config.sync = SyncMode::Never;
    let c = Arc::new(
        Cache::<String, Vec<u8>>::builder(64 << 10)
            .cold(config)
            .failover(quick_breaker())
            .build()
            .unwrap(),
    );
    // Write until the file system is full and the breaker opens.
    let mut i = 0u64;
    wait_for("the breaker to open on a full disk", || {
        for _ in 0..200 {
            c.insert(format!("k{i}"), value(i, 500)).unwrap();
            i += 1;
        }
        c.run_pending_tasks();
        c.cold_health().unwrap().0 == BreakerState::Open
    });
    let why = c.cold_last_error().unwrap();
    assert!(why.contains("No space left"), "{why}");
    // Memory keeps serving: the newest writes read back.
    for j in i - 20..i {
        assert_eq!(c.get(&format!("k{j}")), Some(value(j, 500)), "k{j}");
    }
    // Space comes back: the probes succeed and the tier takes writes again.
    fs.resize("64m");
    wait_for("the breaker to close", || {
        c.run_pending_tasks();
        c.cold_health().unwrap().0 == BreakerState::Closed
    });
    let before = c.cold_stats().unwrap().appended;
    for j in i..i + 2_000 {
        c.insert(format!("k{j}"), value(j, 500)).unwrap();
    }
    c.run_pending_tasks();
    // The first barrier reports the failure of the full disk, once.
    let _ = c.sync_cold();
    c.sync_cold().unwrap();
    assert!(c.cold_stats().unwrap().appended > before);
    println!("full at {i} writes: {why}; the tier came back when space did");
}

#[test]
fn closing_while_the_compactor_works_finishes() {
    // The compactor rewrites through the writer and waits for it to retire
    // each segment: a close that stopped the writer first left it waiting
    // forever, and the close with it (found by scripts/soak.sh).
    for round in 0..20u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ColdConfig::new(dir.path(), 64 << 20);
        config.segment_size = 64 << 10;
        config.sync = SyncMode::Never;
        config.compact_at = Some(0.05);
        let store = goldylox::cold::ColdStore::open(config).unwrap();
        // A few keys written over and over: every sealed segment is mostly
        // garbage, so the writer keeps asking for compaction.
        for i in 0..8_000u64 {
            let key = format!("k{}", i % 64);
            store.put(key.as_bytes(), &value(i, 200), None).unwrap();
        }
        let (done, closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(store);
            let _ = done.send(());
        });
        // Liveness, not speed: a close takes milliseconds; a minute means
        // it will never end.
        closed
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("round {round}: the close never finished"));
    }
}

#[test]
fn the_write_queue_holds_a_bounded_number_of_bytes() {
    // A slow disk (each sync 5 ms, every commit synced) under four threads
    // writing 256 KiB records: the queue used to be bounded by a count
    // (4096 records) alone, so it could hold a gigabyte in RAM.
    let fs = goldylox::cold::FaultFs::new();
    fs.set_sync_latency(std::time::Duration::from_millis(5));
    let mut config = ColdConfig::new(Path::new("/bounded"), 1 << 30);
    config.segment_size = 16 << 20;
    config.sync = SyncMode::Always;
    config.fs = Arc::new(fs);
    let store = goldylox::cold::ColdStore::open(config).unwrap();
    const RECORD: usize = 256 << 10;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let (store, stop) = (store.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = format!("t{t}-{i}");
                    store.put(key.as_bytes(), &value(i, RECORD), None).unwrap();
                    i += 1;
                }
            })
        })
        .collect();
    let mut most = 0;
    for _ in 0..200 {
        most = most.max(store.stats().queued_bytes);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    store.sync().unwrap();
    let stats = store.stats();
    println!(
        "at most {most} bytes queued; {} records appended",
        stats.appended
    );
    // 8 MiB, plus what the four writers' records add past it at once.
    assert!(most <= (8 << 20) + 4 * RECORD as u64, "{most} bytes queued");
    assert!(most > 0, "the queue was never seen holding anything");
    assert_eq!(stats.queued_bytes, 0, "everything queued was taken");
}
