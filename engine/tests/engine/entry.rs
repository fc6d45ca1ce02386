//! The entry API, sync and async: every outcome of a compute, atomic
//! read-modify-write under contention, and computes of values that lie in
//! the warm and cold tiers.

use std::sync::Arc;

use goldylox::{AsyncCache, Cache, Compute, Computed};

use crate::support::{FILL, filled_three_tiers, noise};

#[test]
fn compute_reports_every_outcome() {
    let cache: Cache<u32, String> = Cache::new(1 << 20).unwrap();
    let put = |v: &str| Compute::Put(v.to_owned());
    let c = |f: Compute<String>| cache.entry(1).and_compute_with(|_| f).unwrap();
    assert_eq!(c(Compute::Nop), Computed::StillNone);
    assert_eq!(c(Compute::Remove), Computed::StillNone);
    assert_eq!(c(put("a")), Computed::Inserted("a".into()));
    assert_eq!(c(Compute::Nop), Computed::Unchanged("a".into()));
    assert_eq!(c(put("b")), Computed::ReplacedWith("b".into()));
    assert_eq!(cache.get(&1).as_deref(), Some("b"));
    assert_eq!(c(Compute::Remove), Computed::Removed("b".into()));
    assert_eq!(cache.get(&1), None);
    // The function sees the current value.
    cache.insert(2, "x".into()).unwrap();
    let seen = cache
        .entry(2)
        .and_upsert_with(|v| format!("{}y", v.unwrap()))
        .unwrap();
    assert_eq!(seen, "xy");
    assert_eq!(cache.entry(3).or_insert_with(|| "loaded".into()), "loaded");
    let failed = cache.entry(4).or_try_insert_with(|| Err::<String, _>("no"));
    assert_eq!(*failed.unwrap_err(), "no");
    assert!(cache.get(&4).is_none());
}

/// Eight threads add one, a thousand times each, to one counter: no
/// increment is lost, because each compute is one step under the key's lock.
#[test]
fn upserts_under_contention_lose_nothing() {
    let cache: Cache<String, u64> = Cache::new(1 << 20).unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..1000 {
                    cache
                        .entry("n".into())
                        .and_upsert_with(|n| n.copied().unwrap_or(0) + 1)
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(cache.get("n"), Some(8000));
}

/// The same from tasks on tokio, through the async entry.
#[test]
fn async_upserts_under_contention_lose_nothing() {
    let cache: AsyncCache<String, u64> = AsyncCache::new(Cache::new(1 << 20).unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        cache
                            .entry("n".into())
                            .and_upsert_with(|n| n.copied().unwrap_or(0) + 1)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(cache.get("n").await, Some(6400));
        let v = cache.entry("m".into()).or_insert_with(async { 7 }).await;
        assert_eq!(v, 7);
    });
}

/// Computes on keys that lie in the warm tier and only on disk see their
/// values, and what they write or remove holds in every tier.
#[test]
fn computes_reach_values_in_every_tier() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(filled_three_tiers(dir.path()));
    for k in (0..FILL).step_by(7) {
        let computed = cache
            .entry(k)
            .and_compute_with(|v| match k % 3 {
                0 => Compute::Remove,
                1 => Compute::Put([v.unwrap().as_slice(), b"+"].concat()),
                _ => Compute::Nop,
            })
            .unwrap();
        let want = match k % 3 {
            0 => Computed::Removed(noise(k)),
            1 => Computed::ReplacedWith([noise(k).as_slice(), b"+"].concat()),
            _ => Computed::Unchanged(noise(k)),
        };
        assert_eq!(computed, want, "key {k}");
    }
    cache.run_pending_tasks();
    for k in (0..FILL).step_by(7) {
        let want = match k % 3 {
            0 => None,
            1 => Some([noise(k).as_slice(), b"+"].concat()),
            _ => Some(noise(k)),
        };
        assert_eq!(cache.get(&k), want, "key {k} after");
    }
}
