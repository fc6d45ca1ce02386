//! Embedding goldylox in a service: a read-through cache of user profiles in
//! front of a slow "database", with a byte budget, per-entry TTL, a removal
//! listener and statistics.
//!
//! Run: `cargo run -p goldylox-examples --bin embed`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use goldylox::{Cache, Expiration, PolicyChoice, RemovalCause};
use serde::{Deserialize, Serialize};

/// What the service caches: small, serialisable records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    bio: String,
}

/// Stands in for a database: slow, and it counts its queries.
struct Database {
    queries: AtomicU64,
}

impl Database {
    fn load(&self, id: u64) -> Result<Profile, String> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        thread::sleep(Duration::from_micros(200));
        if id.is_multiple_of(997) {
            return Err(format!("profile {id} is corrupt in the database"));
        }
        Ok(Profile {
            id,
            name: format!("user-{id}"),
            bio: "likes caches ".repeat((id % 7) as usize + 1),
        })
    }
}

fn main() -> Result<()> {
    let evicted = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&evicted);
    // 256 KiB of encoded profiles; SIEVE decides what stays.
    let cache: Cache<u64, Profile> = Cache::builder(256 * 1024)
        .policy(PolicyChoice::Sieve)
        .time_to_live(Duration::from_secs(300))
        .removal_listener(move |_id, _profile, cause| {
            if cause == RemovalCause::Evicted {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .name("profiles")
        .build()
        .context("building the profile cache")?;
    let db = Arc::new(Database {
        queries: AtomicU64::new(0),
    });

    // Four request handlers reading skewed ids through the cache: concurrent
    // misses on one id make one database query.
    let handlers: Vec<_> = (0..4u64)
        .map(|t| {
            let (cache, db) = (cache.clone(), Arc::clone(&db));
            thread::spawn(move || {
                let mut failures = 0;
                let mut x = t + 1;
                for _ in 0..20_000 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = (x >> 33) % 10_000;
                    let id = r * r / 10_000; // skewed towards small ids
                    if cache.try_get_or_insert_with(id, || db.load(id)).is_err() {
                        failures += 1;
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = 0;
    for h in handlers {
        failures += h
            .join()
            .map_err(|_| anyhow::anyhow!("a handler panicked"))?;
    }

    // A write-through update and a short-lived entry.
    let mut p = cache.get(&1).context("profile 1 should be cached")?;
    p.bio = "updated".to_owned();
    cache.insert(1, p.clone())?;
    cache.put(424_242, p, Expiration::After(Duration::from_millis(50)))?;
    thread::sleep(Duration::from_millis(80));
    assert!(
        cache.get(&424_242).is_none(),
        "expired entries are never returned"
    );

    cache.run_pending_tasks();
    let s = cache.stats();
    println!("requests served      : {}", s.hot.hits + s.hot.misses);
    println!("hit ratio            : {:.1} %", 100.0 * s.hot.hit_ratio());
    println!(
        "database queries     : {}",
        db.queries.load(Ordering::Relaxed)
    );
    println!("failed loads         : {failures} (errors are returned, never cached)");
    println!(
        "resident profiles    : {} ({} of {} bytes)",
        s.entries,
        s.weighted_size,
        cache.max_capacity()
    );
    println!(
        "evicted / expired    : {} / {}",
        evicted.load(Ordering::Relaxed),
        s.removals.expired
    );
    println!(
        "loader runs / waits  : {} / {}",
        s.loader.runs, s.loader.waits
    );
    cache.shutdown();
    Ok(())
}
