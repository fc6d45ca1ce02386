//! The warm tier under concurrency: per-key linearizability of reads against
//! writes and removes while entries are promoted and demoted, and
//! defragmentation racing readers and writers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use goldylox::Cache;

use crate::support::Rng;

/// One completed operation on one key, stamped from a global logical clock
/// at its start and end.
#[derive(Clone, Copy, Debug)]
enum Event {
    Write {
        value: u64,
        start: u64,
        end: u64,
    },
    Remove {
        start: u64,
        end: u64,
    },
    Read {
        value: Option<u64>,
        start: u64,
        end: u64,
    },
}

/// Checks a register history (no evictions, so an absent key must be
/// explained by a remove):
/// * a read of `x` must not be stale — no write or remove may lie entirely
///   between the write of `x` and the read;
/// * a read of nothing must not follow a completed write with no remove
///   that could be ordered after it and before the read.
fn check(key: u64, history: &[Event]) -> Result<(), String> {
    let writes: HashMap<u64, (u64, u64)> = history
        .iter()
        .filter_map(|e| match *e {
            Event::Write { value, start, end } => Some((value, (start, end))),
            _ => None,
        })
        .collect();
    let mutations: Vec<(u64, u64)> = history
        .iter()
        .filter_map(|e| match *e {
            Event::Write { start, end, .. } | Event::Remove { start, end } => Some((start, end)),
            Event::Read { .. } => None,
        })
        .collect();
    let removes: Vec<(u64, u64)> = history
        .iter()
        .filter_map(|e| match *e {
            Event::Remove { start, end } => Some((start, end)),
            _ => None,
        })
        .collect();
    for e in history {
        let Event::Read {
            value,
            start: rs,
            end: re,
        } = *e
        else {
            continue;
        };
        match value {
            Some(x) => {
                let Some(&(ws, we)) = writes.get(&x) else {
                    return Err(format!("key {key}: read {x}, which was never written"));
                };
                if ws > re {
                    return Err(format!("key {key}: read {x} before it was written"));
                }
                if let Some(z) = mutations.iter().find(|&&(zs, ze)| zs > we && ze < rs) {
                    return Err(format!(
                        "key {key}: read {x} (written {ws}..{we}) at {rs}..{re}, stale after {z:?}"
                    ));
                }
            }
            None => {
                for (&x, &(ws, we)) in &writes {
                    if we < rs && !removes.iter().any(|&(ms, me)| me > ws && ms < re) {
                        return Err(format!(
                            "key {key}: read nothing at {rs}..{re} after write {x} ({ws}..{we})"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn reads_are_linearizable_while_entries_move_between_tiers() {
    const KEYS: u64 = 24;
    const THREADS: u64 = 4;
    const OPS: u64 = 6_000;
    // A hot tier of a handful of entries over a warm tier with room for all:
    // nothing is ever dropped, everything moves constantly.
    let cache: Cache<u64, Vec<u64>> = Cache::builder(600).slack(0).warm(4 << 20).build().unwrap();
    let clock = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, clock) = (cache.clone(), Arc::clone(&clock));
            thread::spawn(move || {
                let mut rng = Rng::new(t + 11);
                let mut log: Vec<(u64, Event)> = Vec::new();
                for i in 0..OPS {
                    let key = rng.below(KEYS);
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    let roll = rng.below(100);
                    // Values are unique per write and sized so several tiers
                    // and size classes are involved.
                    let value = (t << 40) | i;
                    let event = if roll < 30 {
                        cache
                            .insert(key, vec![value; 1 + (i % 40) as usize])
                            .unwrap();
                        Event::Write {
                            value,
                            start,
                            end: clock.fetch_add(1, Ordering::SeqCst),
                        }
                    } else if roll < 38 {
                        cache.remove(&key);
                        Event::Remove {
                            start,
                            end: clock.fetch_add(1, Ordering::SeqCst),
                        }
                    } else {
                        let got = cache.get(&key).map(|v| v[0]);
                        Event::Read {
                            value: got,
                            start,
                            end: clock.fetch_add(1, Ordering::SeqCst),
                        }
                    };
                    log.push((key, event));
                }
                log
            })
        })
        .collect();
    let mut per_key: HashMap<u64, Vec<Event>> = HashMap::new();
    for h in handles {
        for (key, e) in h.join().unwrap() {
            per_key.entry(key).or_default().push(e);
        }
    }
    let s = cache.stats();
    println!("{:?} warm {:?}", s.movement, s.warm);
    assert!(
        s.movement.demotions > 100 && s.movement.promotions > 100,
        "entries must move: {s:?}"
    );
    assert_eq!(
        s.movement.demotions_dropped, 0,
        "the warm tier has room for everything"
    );
    assert_eq!(s.removals.evicted, 0);
    for (key, history) in &per_key {
        check(*key, history).unwrap();
    }
}

#[test]
fn the_checker_catches_stale_and_resurrected_reads() {
    let stale = [
        Event::Write {
            value: 1,
            start: 0,
            end: 1,
        },
        Event::Write {
            value: 2,
            start: 2,
            end: 3,
        },
        Event::Read {
            value: Some(1),
            start: 4,
            end: 5,
        },
    ];
    assert!(check(0, &stale).is_err());
    let resurrected = [
        Event::Write {
            value: 1,
            start: 0,
            end: 1,
        },
        Event::Remove { start: 2, end: 3 },
        Event::Read {
            value: Some(1),
            start: 4,
            end: 5,
        },
    ];
    assert!(check(0, &resurrected).is_err());
    let lost = [
        Event::Write {
            value: 1,
            start: 0,
            end: 1,
        },
        Event::Read {
            value: None,
            start: 2,
            end: 3,
        },
    ];
    assert!(check(0, &lost).is_err());
    let concurrent = [
        Event::Write {
            value: 1,
            start: 0,
            end: 1,
        },
        Event::Write {
            value: 2,
            start: 2,
            end: 6,
        },
        Event::Read {
            value: Some(1),
            start: 3,
            end: 4,
        },
    ];
    assert!(check(0, &concurrent).is_ok());
}

#[test]
fn defragmentation_races_readers_and_writers_without_losing_a_byte() {
    // Self-verifying values of mixed sizes; a hot tier of ~20 KiB in front
    // of a 16 MiB warm tier; one thread defragments in a loop.
    let cache: Cache<u64, Vec<u8>> = Cache::builder(20_000).warm(16 << 20).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Incompressible bytes derived from (key, round), so items spread over
    // several size classes.
    let value = |key: u64, round: u64| -> Vec<u8> {
        let len = [40usize, 300, 2_000, 9_000][(key % 4) as usize];
        let mut rng = Rng::new(key.wrapping_mul(1_000_003) ^ round);
        let mut v: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        v[..8].copy_from_slice(&key.to_le_bytes());
        v[8..16].copy_from_slice(&round.to_le_bytes());
        v
    };
    let verify = move |key: u64, v: &[u8]| {
        assert_eq!(
            u64::from_le_bytes(v[..8].try_into().unwrap()),
            key,
            "value of another key"
        );
        let round = u64::from_le_bytes(v[8..16].try_into().unwrap());
        assert_eq!(v, value(key, round).as_slice(), "corrupt value for {key}");
    };
    let defragger = {
        let (cache, stop) = (cache.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut runs = 0u64;
            while !stop.load(Ordering::Acquire) {
                cache.defragment();
                runs += 1;
            }
            runs
        })
    };
    let workers: Vec<_> = (0..3u64)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(t + 100);
                for round in 0..8_000u64 {
                    let key = rng.below(3_000);
                    match rng.below(10) {
                        0..=3 => cache.insert(key, value(key, round)).unwrap(),
                        4 => {
                            cache.remove(&key);
                        }
                        _ => {
                            if let Some(v) = cache.get(&key) {
                                verify(key, &v);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    let runs = defragger.join().unwrap();
    // Every resident value is intact.
    for key in 0..3_000 {
        if let Some(v) = cache.get(&key) {
            verify(key, &v);
        }
    }
    let pool = cache.pool_stats().unwrap();
    println!("{runs} defragmentation runs; pool {pool:?}");
    assert!(pool.moved > 0, "defragmentation must have moved items");
    assert!(pool.held_bytes <= pool.max_bytes);
}

/// Writers that replace warm copies while maintenance demotes: a writer
/// used to send the warm copy's removal under its hot-shard lock and wait
/// there when the write buffer was full, while maintenance waited for that
/// lock to demote a victim: a deadlock (found by redis-benchmark SET with
/// 4 KiB values against `goldylox serve`). A cold tier below makes
/// maintenance slow enough for the buffer to fill. Every writer must finish.
#[test]
fn writers_replacing_warm_copies_never_deadlock_with_demotion() {
    const WRITERS: u64 = 8;
    const WRITES: u64 = 20_000;
    const KEYS: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let mut cold = goldylox::cold::ColdConfig::new(dir.path(), 256 << 20);
    cold.segment_size = 1 << 20;
    let cache: Arc<Cache<u64, Vec<u8>>> = Arc::new(
        // No waiting for eviction: writers outrun demotion and fill the
        // write buffer.
        Cache::builder(256 << 10)
            .slack(1 << 40)
            .warm(8 << 20)
            .cold(cold)
            .build()
            .unwrap(),
    );
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for w in 0..WRITERS {
        let (cache, done_tx) = (Arc::clone(&cache), done_tx.clone());
        thread::spawn(move || {
            let mut rng = Rng::new(w + 1);
            // 4 KiB that compress a little, as in the server's case.
            let value: Vec<u8> = (0..4096u64)
                .map(|i| (rng.below(16) + i % 7) as u8)
                .collect();
            for _ in 0..WRITES {
                cache.insert(rng.below(KEYS), value.clone()).unwrap();
            }
            let _ = done_tx.send(w);
        });
    }
    drop(done_tx);
    for finished in 0..WRITERS {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!("{finished} of {WRITERS} writers finished in 120 s: writers and maintenance deadlocked")
            });
    }
    let stats = cache.stats();
    // The premises: the buffer was full at times, and entries moved down.
    assert!(
        stats.write_backpressure > 0,
        "the write buffer never filled: {stats:?}"
    );
    assert!(
        stats.movement.demotions > 0,
        "nothing was demoted: {stats:?}"
    );
}
