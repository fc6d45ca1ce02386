//! Refresh-after-write: a due entry is served as it is and reloaded once in
//! the background; a write during the reload wins; a failed or panicking
//! reload keeps the old value; the entry keeps its deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goldylox::{Cache, Expiration, LoaderStats, ManualClock, RefreshError};

const AGE: Duration = Duration::from_secs(10);

fn cache(
    clock: &ManualClock,
    reload: impl Fn(&u64, &u64) -> Result<u64, RefreshError> + Send + Sync + 'static,
) -> Cache<u64, u64> {
    Cache::builder(1 << 20)
        .clock(clock.clone())
        .refresh_after_write(AGE, reload)
        .build()
        .unwrap()
}

/// Waits (a few seconds at most) until the loader figures satisfy `done`.
fn settle(cache: &Cache<u64, u64>, done: impl Fn(&LoaderStats) -> bool) -> LoaderStats {
    let start = Instant::now();
    loop {
        let stats = cache.stats().loader;
        if done(&stats) || start.elapsed() > Duration::from_secs(10) {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_due_entry_is_served_then_reloaded_once() {
    let clock = ManualClock::new();
    let calls = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&calls);
    let cache = cache(&clock, move |_, old| {
        counted.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        Ok(old + 1)
    });
    cache.insert(1, 100).unwrap();
    assert_eq!(cache.get(&1), Some(100));
    clock.advance(AGE / 2);
    assert_eq!(cache.get(&1), Some(100), "not due yet");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    clock.advance(AGE);
    // Many reads while the reload runs: the old value, one reload.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..100 {
                    assert_eq!(cache.get(&1), Some(100));
                }
            });
        }
    });
    let stats = settle(&cache, |l| l.refreshes == 1);
    assert_eq!(stats.refreshes, 1, "{stats:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one reload per key");
    assert_eq!(cache.get(&1), Some(101));
    // The reloaded value is young again.
    clock.advance(AGE / 2);
    assert_eq!(cache.get(&1), Some(101));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_write_during_the_reload_wins() {
    let clock = ManualClock::new();
    let (started_tx, started) = crossbeam_channel::bounded::<()>(1);
    let (release, release_rx) = crossbeam_channel::bounded::<()>(1);
    let cache = cache(&clock, move |_, _| {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        Ok(7)
    });
    cache.insert(1, 1).unwrap();
    clock.advance(AGE * 2);
    assert_eq!(cache.get(&1), Some(1));
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    cache.insert(1, 2).unwrap(); // the user's write, during the reload
    release.send(()).unwrap();
    let stats = settle(&cache, |l| l.refreshes_discarded == 1);
    assert_eq!(stats.refreshes_discarded, 1, "{stats:?}");
    assert_eq!(cache.get(&1), Some(2), "the write is not overwritten");
}

#[test]
fn a_failed_or_panicking_reload_keeps_the_old_value() {
    let clock = ManualClock::new();
    let cache = cache(&clock, |k, _| {
        if *k == 1 {
            Err("backend down".into())
        } else {
            panic!("reloader bug")
        }
    });
    cache.insert(1, 10).unwrap();
    cache.insert(2, 20).unwrap();
    clock.advance(AGE * 2);
    assert_eq!(cache.get(&1), Some(10));
    assert_eq!(cache.get(&2), Some(20));
    let stats = settle(&cache, |l| l.refresh_failures == 2);
    assert_eq!(stats.refresh_failures, 2, "{stats:?}");
    assert_eq!(stats.refreshes, 0);
    assert_eq!((cache.get(&1), cache.get(&2)), (Some(10), Some(20)));
    // A failure does not stop later refreshes of the same key.
    assert_eq!((cache.get(&1), cache.get(&2)), (Some(10), Some(20)));
    let stats = settle(&cache, |l| l.refresh_failures >= 4);
    assert!(stats.refresh_failures >= 4, "{stats:?}");
}

#[test]
fn a_refreshed_entry_keeps_its_deadline() {
    let clock = ManualClock::new();
    let cache = cache(&clock, |_, old| Ok(old * 2));
    cache
        .put(1, 3, Expiration::After(Duration::from_secs(100)))
        .unwrap();
    clock.advance(Duration::from_secs(30));
    assert_eq!(cache.get(&1), Some(3));
    settle(&cache, |l| l.refreshes == 1);
    assert_eq!(cache.get(&1), Some(6));
    let left = cache.time_to_live(&1).unwrap().unwrap();
    assert!(left <= Duration::from_secs(70), "deadline kept: {left:?}");
    clock.advance(Duration::from_secs(71));
    assert_eq!(cache.get(&1), None, "expired at the original deadline");
}
