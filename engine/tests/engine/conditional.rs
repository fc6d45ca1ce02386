//! Conditional writes with explicit expiration (`Cache::set`,
//! `Cache::compare_and_set`), in the hot tier and across the warm tier.

use std::time::Duration;

use goldylox::{Cache, Expiration, ManualClock, SetIf};

use crate::support::{FILL, filled_three_tiers, noise, three_tiers};

#[test]
fn set_conditions_previous_values_and_expirations() {
    let clock = ManualClock::new();
    let cache: Cache<u32, String> = Cache::builder(1 << 20)
        .clock(clock.clone())
        .time_to_live(Duration::from_secs(600))
        .build()
        .unwrap();
    let o = cache
        .set(1, "a".into(), Expiration::Default, SetIf::Present)
        .unwrap();
    assert!(!o.stored && o.previous.is_none());
    let o = cache
        .set(1, "a".into(), Expiration::Default, SetIf::Absent)
        .unwrap();
    assert!(o.stored && o.previous.is_none());
    assert_eq!(cache.time_to_live(&1), Some(Some(Duration::from_secs(600))));
    let o = cache
        .set(
            1,
            "b".into(),
            Expiration::After(Duration::from_secs(5)),
            SetIf::Absent,
        )
        .unwrap();
    assert!(!o.stored);
    assert_eq!(o.previous.as_deref(), Some("a"));
    let o = cache
        .set(
            1,
            "b".into(),
            Expiration::After(Duration::from_secs(5)),
            SetIf::Present,
        )
        .unwrap();
    assert!(o.stored);
    assert_eq!(o.previous.as_deref(), Some("a"));
    assert_eq!(cache.time_to_live(&1), Some(Some(Duration::from_secs(5))));
    // Keep keeps the deadline; Never clears it.
    clock.advance(Duration::from_secs(2));
    cache
        .set(1, "c".into(), Expiration::Keep, SetIf::Always)
        .unwrap();
    assert_eq!(cache.time_to_live(&1), Some(Some(Duration::from_secs(3))));
    cache
        .set(1, "d".into(), Expiration::Never, SetIf::Always)
        .unwrap();
    assert_eq!(cache.time_to_live(&1), Some(None));
    // An expired entry is absent to every condition.
    cache
        .set(
            2,
            "x".into(),
            Expiration::After(Duration::from_secs(1)),
            SetIf::Always,
        )
        .unwrap();
    clock.advance(Duration::from_secs(2));
    let o = cache
        .set(2, "y".into(), Expiration::Keep, SetIf::Absent)
        .unwrap();
    assert!(o.stored && o.previous.is_none());
    assert_eq!(
        cache.time_to_live(&2),
        Some(Some(Duration::from_secs(600))),
        "Keep on a new entry: default"
    );
    // Zero: stored already expired, never returned.
    cache
        .set(
            3,
            "z".into(),
            Expiration::After(Duration::ZERO),
            SetIf::Always,
        )
        .unwrap();
    assert_eq!(cache.get(&3), None);
}

#[test]
fn compare_and_set_is_exact() {
    let cache: Cache<u32, u64> = Cache::new(1 << 20).unwrap();
    assert!(
        !cache
            .compare_and_set(1, Some(&0), 1, Expiration::Keep)
            .unwrap()
    );
    assert!(cache.compare_and_set(1, None, 1, Expiration::Keep).unwrap());
    assert!(!cache.compare_and_set(1, None, 2, Expiration::Keep).unwrap());
    assert!(
        cache
            .compare_and_set(1, Some(&1), 2, Expiration::After(Duration::from_secs(9)))
            .unwrap()
    );
    assert_eq!(cache.get(&1), Some(2));
    assert!(cache.time_to_live(&1).unwrap().is_some());
    // Concurrent increments through compare_and_set lose nothing.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..2_000 {
                    loop {
                        let cur = cache.get(&7);
                        let next = cur.unwrap_or(0) + 1;
                        if cache
                            .compare_and_set(7, cur.as_ref(), next, Expiration::Keep)
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            });
        }
    });
    assert_eq!(cache.get(&7), Some(8_000));
}

#[test]
fn conditional_writes_see_and_keep_warm_copies() {
    let clock = ManualClock::new();
    let cache: Cache<u64, Vec<u8>> = Cache::builder(32 << 10)
        .clock(clock.clone())
        .warm(4 << 20)
        .build()
        .unwrap();
    cache
        .set(
            0,
            vec![7; 300],
            Expiration::After(Duration::from_secs(100)),
            SetIf::Always,
        )
        .unwrap();
    for k in 1..2_000u64 {
        cache.insert(k, vec![k as u8; 300]).unwrap();
    }
    cache.run_pending_tasks();
    assert!(cache.stats().movement.demotions > 0);
    // Whether key 0 is hot or warm now, the conditions see it and Keep
    // keeps its deadline.
    let o = cache
        .set(0, vec![8; 10], Expiration::Keep, SetIf::Absent)
        .unwrap();
    assert!(!o.stored);
    assert_eq!(o.previous, Some(vec![7; 300]));
    clock.advance(Duration::from_secs(40));
    let o = cache
        .set(0, vec![9; 10], Expiration::Keep, SetIf::Present)
        .unwrap();
    assert!(o.stored);
    assert_eq!(o.previous, Some(vec![7; 300]));
    assert_eq!(cache.time_to_live(&0), Some(Some(Duration::from_secs(60))));
    assert_eq!(cache.get(&0), Some(vec![9; 10]));
    // put: no old value read, Keep still keeps the deadline, others set it.
    cache.put(0, vec![1; 10], Expiration::Keep).unwrap();
    assert_eq!(cache.time_to_live(&0), Some(Some(Duration::from_secs(60))));
    cache.put(0, vec![2; 10], Expiration::Never).unwrap();
    assert_eq!(cache.time_to_live(&0), Some(None));
    assert_eq!(cache.get(&0), Some(vec![2; 10]));
}

#[test]
fn remove_if_removes_only_the_value_it_was_shown() {
    let cache: Cache<u32, u64> = Cache::new(1 << 20).unwrap();
    assert_eq!(cache.remove_if(&1, |_| true), None, "absent");
    cache.insert(1, 10).unwrap();
    assert_eq!(cache.remove_if(&1, |v| *v == 11), None);
    assert_eq!(cache.get(&1), Some(10), "a refusal leaves the key");
    assert_eq!(cache.remove_if(&1, |v| *v == 10), Some(10));
    assert_eq!(cache.get(&1), None);
    // An expired entry is absent to the condition, as to every read.
    let clock = ManualClock::new();
    let timed: Cache<u32, u64> = Cache::builder(1 << 20)
        .clock(clock.clone())
        .build()
        .unwrap();
    timed
        .set(
            2,
            5,
            Expiration::After(Duration::from_secs(1)),
            SetIf::Always,
        )
        .unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(timed.remove_if(&2, |_| true), None);
    // Writers that add and a remover that deletes only what it read race
    // on one key: every add is either still there or was seen by the
    // remover, never lost unseen.
    let removed_sum = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let cache = &cache;
            s.spawn(move || {
                for _ in 0..2_000 {
                    loop {
                        let cur = cache.get(&7);
                        let next = cur.unwrap_or(0) + 1 + t;
                        if cache
                            .compare_and_set(7, cur.as_ref(), next, Expiration::Keep)
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            });
        }
        s.spawn(|| {
            for _ in 0..2_000 {
                if let Some(seen) = cache.get(&7)
                    && let Some(gone) = cache.remove_if(&7, |v| *v == seen)
                {
                    assert_eq!(gone, seen);
                    removed_sum.fetch_add(gone, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    });
    let left = cache.get(&7).unwrap_or(0);
    assert_eq!(
        left + removed_sum.into_inner(),
        2_000 + 2_000 * 2,
        "every increment is either present or was removed by value"
    );
}

#[test]
fn remove_if_sees_warm_and_cold_copies() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled_three_tiers(dir.path());
    const KEYS: u64 = FILL;
    // Whichever tier holds each key now, the condition sees its value.
    for k in 0..KEYS {
        assert_eq!(cache.remove_if(&k, |v| *v != noise(k)), None, "key {k}");
        assert!(cache.contains_key(&k), "key {k} survives a refusal");
    }
    for k in 0..KEYS {
        assert_eq!(
            cache.remove_if(&k, |v| *v == noise(k)),
            Some(noise(k)),
            "key {k}"
        );
    }
    assert_eq!(cache.len(), 0);
}

#[test]
fn atomic_batches_move_values_between_keys_and_nobody_sees_a_half() {
    // Small tiers and filler traffic keep the accounts moving between hot,
    // warm and cold while transfers run.
    let dir = tempfile::tempdir().unwrap();
    let cache = three_tiers(dir.path());
    const ACCOUNTS: u64 = 64;
    const START: u64 = 1_000;
    let balance = |v: &Vec<u8>| u64::from_le_bytes(v[..8].try_into().unwrap());
    let account = |n: u64| {
        let mut v = n.to_le_bytes().to_vec();
        v.resize(200, 0);
        v
    };
    for a in 0..ACCOUNTS {
        cache.insert(a, account(START)).unwrap();
    }
    let keys: Vec<u64> = (0..ACCOUNTS).collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let cache = &cache;
            s.spawn(move || {
                for i in 0..3_000u64 {
                    let (from, to) = ((i * 7 + t) % ACCOUNTS, (i * 13 + 5 + t) % ACCOUNTS);
                    cache.atomically(&[&from, &to], |b| {
                        let a = balance(&b.get(&from).expect("accounts never vanish"));
                        if a == 0 || from == to {
                            return;
                        }
                        let c = balance(&b.get(&to).expect("accounts never vanish"));
                        b.put(from, account(a - 1), Expiration::Keep).unwrap();
                        b.put(to, account(c + 1), Expiration::Keep).unwrap();
                    });
                }
            });
        }
        s.spawn(|| {
            let mut n = 1_000_000u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                cache.insert(n, vec![n as u8; 300]).unwrap();
                let _ = cache.get(&(n % ACCOUNTS));
                n += 1;
            }
        });
        let refs: Vec<&u64> = keys.iter().collect();
        for _ in 0..200 {
            let total: u64 = cache.atomically(&refs, |b| {
                keys.iter().map(|k| balance(&b.get(k).unwrap())).sum()
            });
            assert_eq!(
                total,
                ACCOUNTS * START,
                "an atomic read sees no half transfer"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let total: u64 = keys.iter().map(|k| balance(&cache.get(k).unwrap())).sum();
    assert_eq!(total, ACCOUNTS * START);
    let moved = cache.stats().movement;
    assert!(
        moved.demotions > 0,
        "accounts moved between tiers: {moved:?}"
    );
}

#[test]
fn a_batch_reads_ttls_removes_and_refuses_foreign_keys() {
    let clock = ManualClock::new();
    let cache: Cache<u32, String> = Cache::builder(1 << 20)
        .clock(clock.clone())
        .build()
        .unwrap();
    cache
        .set(
            1,
            "a".into(),
            Expiration::After(Duration::from_secs(10)),
            SetIf::Always,
        )
        .unwrap();
    // A rename: the value and its deadline move to the new key at once.
    let renamed = cache.atomically(&[&1, &2], |b| {
        let (v, ttl) = b.get_with_ttl(&1)?;
        assert!(b.remove(&1));
        let expiration = ttl.map_or(Expiration::Never, Expiration::After);
        b.put(2, v, expiration).unwrap();
        Some(ttl)
    });
    assert_eq!(renamed, Some(Some(Duration::from_secs(10))));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.get(&2).as_deref(), Some("a"));
    assert_eq!(cache.time_to_live(&2), Some(Some(Duration::from_secs(10))));
    assert!(!cache.atomically(&[&1], |b| b.remove(&1)), "absent");
    // A key outside the batch is a bug in the caller: it panics, and the
    // locks are released on the way out.
    let outside = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cache.atomically(&[&2], |b| {
            // Find a key in another shard than 2's.
            (3..10_000u32).for_each(|k| {
                let _ = b.contains_key(&k);
            })
        })
    }));
    assert!(outside.is_err());
    cache.insert(2, "b".into()).unwrap();
    assert_eq!(cache.get(&2).as_deref(), Some("b"), "not left locked");
}
