//! Many threads mixing every operation: the bound holds at every moment, a
//! value read always belongs to its key, loaders run once per missing key.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use goldylox::{Cache, Expiration, RemovalCause, SetIf};

use crate::support::Rng;

/// Values carry their key and a checksum, so a read can prove it is not
/// someone else's or torn.
fn value_for(key: u64, seq: u64) -> (u64, u64, u64) {
    (key, seq, key.wrapping_mul(31).wrapping_add(seq) ^ 0xA5A5)
}

fn check(key: u64, v: (u64, u64, u64)) {
    assert_eq!(v.0, key, "value of another key");
    assert_eq!(
        v.2,
        key.wrapping_mul(31).wrapping_add(v.1) ^ 0xA5A5,
        "corrupt value"
    );
}

#[test]
fn mixed_operations_keep_the_bound_and_per_key_consistency() {
    const THREADS: u64 = 8;
    const OPS: u64 = 40_000;
    const CAPACITY: u64 = 64 * 1024;
    let evicted = Arc::new(AtomicU64::new(0));
    let ev = Arc::clone(&evicted);
    let cache: Cache<u64, (u64, u64, u64)> = Cache::builder(CAPACITY)
        .slack(4 * 1024)
        .removal_listener(move |k, v, cause| {
            check(k, v);
            if cause == RemovalCause::Evicted {
                ev.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    let bound = cache.bound();
    let stop = Arc::new(AtomicBool::new(false));
    let max_seen = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (cache, stop, max_seen) = (cache.clone(), Arc::clone(&stop), Arc::clone(&max_seen));
        thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                max_seen.fetch_max(cache.weighted_size(), Ordering::Relaxed);
                thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(t + 1);
                for i in 0..OPS {
                    let key = rng.below(20_000);
                    match rng.below(100) {
                        0..=49 => {
                            if let Some(v) = cache.get(&key) {
                                check(key, v);
                            }
                        }
                        50..=79 => cache.insert(key, value_for(key, i)).unwrap(),
                        80..=84 => cache
                            .put(
                                key,
                                value_for(key, i),
                                Expiration::After(Duration::from_millis(rng.below(20))),
                            )
                            .unwrap(),
                        85..=89 => {
                            if let Some(v) = cache.remove(&key) {
                                check(key, v);
                            }
                        }
                        90..=93 => {
                            if let Some(v) = cache
                                .set(key, value_for(key, i), Expiration::Default, SetIf::Absent)
                                .map(|o| o.previous)
                                .unwrap()
                            {
                                check(key, v);
                            }
                        }
                        94..=96 => {
                            if let Some(cur) = cache.get(&key) {
                                let _ = cache
                                    .compare_and_set(
                                        key,
                                        Some(&cur),
                                        value_for(key, i),
                                        goldylox::Expiration::Keep,
                                    )
                                    .unwrap();
                            }
                        }
                        _ => check(key, cache.get_or_insert_with(key, || value_for(key, i))),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    watcher.join().unwrap();
    let max = max_seen.load(Ordering::Relaxed);
    println!("weighted size peaked at {max} of bound {bound}");
    assert!(
        max <= bound,
        "weighted size {max} exceeded the bound {bound}"
    );

    // Let every TTL (< 20 ms) run out, reap, and account exactly.
    thread::sleep(Duration::from_millis(40));
    cache.run_pending_tasks();
    assert!(cache.weighted_size() <= CAPACITY);
    let mut resident = 0u64;
    for key in 0..20_000u64 {
        if let Some(v) = cache.get(&key) {
            check(key, v);
            resident += postcard_len(key, v);
        }
    }
    assert_eq!(
        resident,
        cache.weighted_size(),
        "accounted size != resident entries"
    );
    let stats = cache.stats();
    assert_eq!(stats.entries as usize, cache.len());
    assert!(stats.removals.evicted > 0, "the workload must evict");
    assert_eq!(stats.removals.evicted, evicted.load(Ordering::Relaxed));
}

fn postcard_len(key: u64, v: (u64, u64, u64)) -> u64 {
    // The default weigher is the encoded size of (key, value); u64 varints.
    let varint = |x: u64| (64 - x.leading_zeros()).max(1).div_ceil(7) as u64;
    varint(key) + varint(v.0) + varint(v.1) + varint(v.2)
}

#[test]
fn each_loader_runs_once_per_missing_key() {
    const THREADS: usize = 8;
    const KEYS: u64 = 200;
    let cache: Cache<u64, u64> = Cache::new(1 << 20).unwrap();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let barrier = Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cache, runs, barrier) = (cache.clone(), Arc::clone(&runs), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                for key in 0..KEYS {
                    let v = cache.get_or_insert_with(key, || {
                        runs[key as usize].fetch_add(1, Ordering::SeqCst);
                        // Keep the flight open long enough for others to join.
                        thread::sleep(Duration::from_micros(200));
                        key * 10
                    });
                    assert_eq!(v, key * 10);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for (key, n) in runs.iter().enumerate() {
        assert_eq!(
            n.load(Ordering::SeqCst),
            1,
            "loader for {key} ran more than once"
        );
    }
    let stats = cache.stats();
    assert_eq!(stats.loader.runs, KEYS);
    println!("loader waits: {}", stats.loader.waits);
}

#[test]
fn a_failed_load_reaches_every_waiter_and_is_not_cached() {
    let cache: Cache<u64, u64> = Cache::new(1 << 20).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (cache, runs, barrier) = (cache.clone(), Arc::clone(&runs), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                cache.try_get_or_insert_with(7, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(50));
                    Err::<u64, String>("backend down".to_owned())
                })
            })
        })
        .collect();
    for h in handles {
        let err = h.join().unwrap().unwrap_err();
        assert_eq!(*err, "backend down");
    }
    // Waiters that joined the flight share the leader's error; any that came
    // after it finished ran their own loader (and failed the same way).
    assert!(runs.load(Ordering::SeqCst) >= 1);
    assert!(!cache.contains_key(&7));
    assert_eq!(
        cache
            .try_get_or_insert_with(7, || Ok::<_, String>(70))
            .unwrap(),
        70
    );
    assert_eq!(cache.get(&7), Some(70));
}

#[test]
fn writers_wait_for_eviction_instead_of_overshooting() {
    // slack 0: every write past the capacity must wait for the actor.
    let cache: Cache<u64, Vec<u8>> = Cache::builder(10_000).slack(0).build().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                for i in 0..5_000u64 {
                    cache.insert(t * 1_000_000 + i, vec![t as u8; 100]).unwrap();
                    let w = cache.weighted_size();
                    assert!(
                        w <= cache.bound(),
                        "{w} > {} {:?}",
                        cache.bound(),
                        cache.stats()
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = cache.stats();
    assert!(stats.capacity_waits > 0);
    assert!(cache.weighted_size() <= 10_000);
}

/// `write_pressure` says when a write would wait, and `when_room` waits
/// for the pass that makes room without holding the caller's thread: it
/// answers only once maintenance has evicted, and at once after shutdown.
#[test]
fn when_room_answers_after_the_pass_that_makes_room() {
    // The first eviction holds the maintenance thread in the listener
    // until the test lets it go.
    let (hold_tx, hold_rx) = crossbeam_channel::bounded::<()>(0);
    let held = Arc::new(AtomicBool::new(false));
    let first = Arc::clone(&held);
    let cache: Cache<u64, u64> = Cache::builder(1_000)
        .slack(1_000)
        .weigher(|_, _| 100)
        .removal_listener(move |_, _, cause| {
            if cause == RemovalCause::Evicted && !first.swap(true, Ordering::AcqRel) {
                let _ = hold_rx.recv();
            }
        })
        .build()
        .unwrap();
    for k in 0..10 {
        cache.insert(k, k).unwrap();
    }
    cache.run_pending_tasks();
    assert!(!cache.write_pressure(100), "at capacity is not pressure");
    // Past capacity: maintenance is woken, evicts, and is held.
    cache.insert(10, 10).unwrap();
    while !held.load(Ordering::Acquire) {
        thread::sleep(Duration::from_millis(1));
    }
    for k in 11..17 {
        cache.insert(k, k).unwrap();
    }
    // The bound is capacity + slack = 2000.
    let w = cache.weighted_size();
    assert!(w > 1_500, "{w}");
    assert!(!cache.write_pressure(2_000 - w), "fits under the bound");
    assert!(cache.write_pressure(2_000 - w + 1), "past the bound");

    let (room_tx, room_rx) = crossbeam_channel::unbounded();
    let tx = room_tx.clone();
    cache.when_room(100, move || tx.send(()).unwrap());
    assert!(
        room_rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "answered while maintenance was held"
    );
    hold_tx.send(()).unwrap();
    room_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no answer after the pass");
    // That pass made room for the 100 asked for, under the capacity.
    assert!(cache.weighted_size() <= 900, "{}", cache.weighted_size());
    assert!(!cache.write_pressure(1_000));
    assert_eq!(cache.stats().room_waits, 1);

    cache.shutdown();
    let tx = room_tx.clone();
    cache.when_room(100, move || tx.send(()).unwrap());
    assert!(
        room_rx.try_recv().is_ok(),
        "not answered at once after shutdown"
    );
}
