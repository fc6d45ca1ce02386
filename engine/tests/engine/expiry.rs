//! Expiry and removal causes, on an injected clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use goldylox::{Cache, ManualClock, RemovalCause};

type Heard = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

fn cache_with_ears(capacity: u64, clock: &ManualClock) -> (Cache<u64, u64>, Heard) {
    let heard: Heard = Arc::default();
    let ears = Arc::clone(&heard);
    let cache = Cache::builder(capacity)
        .clock(clock.clone())
        .removal_listener(move |k, v, cause| ears.lock().unwrap().push((k, v, cause)))
        .build()
        .unwrap();
    (cache, heard)
}

#[test]
fn the_listener_hears_every_cause() {
    let clock = ManualClock::new();
    let (cache, heard) = cache_with_ears(1 << 20, &clock);
    cache.insert(1, 10).unwrap();
    cache.insert(1, 11).unwrap(); // replaced
    cache.insert(2, 20).unwrap();
    assert_eq!(cache.remove(&2), Some(20)); // removed
    cache
        .insert_with_ttl(3, 30, Duration::from_secs(1))
        .unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(cache.get(&3), None, "expired entries are never returned");
    cache.run_pending_tasks(); // reaped: expired
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard,
        vec![
            (1, 10, RemovalCause::Replaced),
            (2, 20, RemovalCause::Removed),
            (3, 30, RemovalCause::Expired)
        ]
    );
    let s = cache.stats();
    assert_eq!(
        (s.removals.replaced, s.removals.removed, s.removals.expired),
        (1, 1, 1)
    );
    assert_eq!(cache.len(), 1);
}

#[test]
fn expired_entries_are_reaped_in_deadline_order_without_reads() {
    let clock = ManualClock::new();
    let (cache, heard) = cache_with_ears(1 << 24, &clock);
    // 10 000 entries expiring over 100 s, plus 1 000 that never expire.
    for i in 0..10_000u64 {
        cache
            .insert_with_ttl(i, i, Duration::from_millis(10 * (i + 1)))
            .unwrap();
    }
    for i in 10_000..11_000u64 {
        cache.insert(i, i).unwrap();
    }
    cache.run_pending_tasks();
    assert_eq!(cache.len(), 11_000);
    for step in 1..=10u64 {
        clock.advance(Duration::from_secs(10));
        cache.run_pending_tasks();
        // Deadlines up to 10*step seconds have passed (give the wheel one
        // tick of slack at the boundary).
        let gone = 1_000 * step as usize;
        let len = cache.len();
        assert!(
            (11_000 - gone..=11_001 - gone).contains(&len),
            "after {step}0 s: {len} resident"
        );
    }
    clock.advance(Duration::from_secs(1));
    cache.run_pending_tasks();
    assert_eq!(cache.len(), 1_000);
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 10_000);
    assert!(
        heard
            .iter()
            .all(|&(k, v, c)| k == v && k < 10_000 && c == RemovalCause::Expired)
    );
    assert_eq!(cache.stats().removals.expired, 10_000);
}

#[test]
fn replace_and_cas_keep_the_deadline_insert_resets_it() {
    let clock = ManualClock::new();
    let (cache, _) = cache_with_ears(1 << 20, &clock);
    cache
        .insert_with_ttl(1, 1, Duration::from_secs(10))
        .unwrap();
    clock.advance(Duration::from_secs(4));
    assert_eq!(cache.replace(1, 2).unwrap(), Some(1));
    assert!(
        cache
            .compare_and_set(1, Some(&2), 3, goldylox::Expiration::Keep)
            .unwrap()
    );
    assert_eq!(cache.time_to_live(&1), Some(Some(Duration::from_secs(6))));
    cache.insert(1, 4).unwrap();
    assert_eq!(cache.time_to_live(&1), Some(None));
    assert_eq!(cache.time_to_live(&99), None);
}
