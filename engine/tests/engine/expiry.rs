//! Expiry and removal causes, on an injected clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use goldylox::{Cache, Expiration, ManualClock, RemovalCause, SetIf};

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
        .put(3, 30, Expiration::After(Duration::from_secs(1)))
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
            .put(i, i, Expiration::After(Duration::from_millis(10 * (i + 1))))
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
        .put(1, 1, Expiration::After(Duration::from_secs(10)))
        .unwrap();
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        cache
            .set(1, 2, Expiration::Keep, SetIf::Present)
            .map(|o| o.previous)
            .unwrap(),
        Some(1)
    );
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

#[test]
fn the_departure_listener_hears_keys_the_cache_drops_and_nothing_else() {
    let clock = ManualClock::new();
    let heard: Arc<Mutex<Vec<(u64, RemovalCause)>>> = Arc::default();
    let ears = Arc::clone(&heard);
    // Room for about ten entries of 100 bytes.
    let cache: Cache<u64, u64> = Cache::builder(1_000)
        .clock(clock.clone())
        .weigher(|_, _| 100)
        .departure_listener(move |k, cause| ears.lock().unwrap().push((*k, cause)))
        .build()
        .unwrap();
    cache.insert(1, 10).unwrap();
    cache.insert(1, 11).unwrap(); // replaced: not its business
    assert_eq!(cache.remove(&1), Some(11)); // removed: not its business
    cache
        .put(2, 20, Expiration::After(Duration::from_secs(1)))
        .unwrap();
    clock.advance(Duration::from_secs(2));
    cache.run_pending_tasks();
    assert_eq!(*heard.lock().unwrap(), vec![(2, RemovalCause::Expired)]);
    heard.lock().unwrap().clear();
    for k in 100..200u64 {
        cache.insert(k, k).unwrap();
        cache.run_pending_tasks();
    }
    let heard = heard.lock().unwrap().clone();
    assert!(
        heard.len() >= 85,
        "100 inserts into room for 10: {} evictions heard",
        heard.len()
    );
    for (k, cause) in &heard {
        assert_eq!(*cause, RemovalCause::Evicted);
        assert!(
            !cache.contains_key(k),
            "{k} was reported evicted but is present"
        );
    }
}

#[test]
fn a_demotion_is_not_a_departure_but_leaving_the_last_tier_is() {
    let heard: Arc<Mutex<Vec<u64>>> = Arc::default();
    let ears = Arc::clone(&heard);
    let cache: Cache<u64, Vec<u8>> = Cache::builder(4_000)
        .slack(0)
        .warm(1 << 20)
        .departure_listener(move |k, _| ears.lock().unwrap().push(*k))
        .build()
        .unwrap();
    // Far more than the hot tier holds, far less than the warm tier does.
    for k in 0..100u64 {
        cache.insert(k, vec![k as u8; 200]).unwrap();
        cache.run_pending_tasks();
    }
    assert!(
        cache.stats().warm_entries > 0,
        "entries were demoted to warm"
    );
    assert!(
        heard.lock().unwrap().is_empty(),
        "demoted, not departed: {:?}",
        heard.lock().unwrap()
    );
    // Now past what the warm tier holds: entries leave the cache.
    for k in 100..20_000u64 {
        cache
            .insert(k, (0..200).map(|i| (k * 31 + i) as u8).collect())
            .unwrap();
    }
    cache.run_pending_tasks();
    let heard = heard.lock().unwrap().clone();
    assert!(!heard.is_empty(), "evictions from the last tier are heard");
    for k in heard.iter().take(500) {
        assert!(
            !cache.contains_key(k),
            "{k} was reported gone but is present"
        );
    }
}

/// A value whose drop takes a while, as a large collection's does.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct SlowToDrop;

impl Drop for SlowToDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn the_latency_listener_times_the_expiry_that_drops_a_slow_value() {
    let clock = ManualClock::new();
    let heard: Arc<Mutex<Vec<(goldylox::LatencyEvent, Duration)>>> = Arc::default();
    let ears = Arc::clone(&heard);
    let cache: Cache<u64, SlowToDrop> = Cache::builder(1_000)
        .clock(clock.clone())
        .weigher(|_, _| 10)
        .latency_listener(move |event, took| ears.lock().unwrap().push((event, took)))
        .build()
        .unwrap();
    cache
        .put(1, SlowToDrop, Expiration::After(Duration::from_secs(1)))
        .unwrap();
    cache.run_pending_tasks();
    heard.lock().unwrap().clear();
    clock.advance(Duration::from_secs(2));
    cache.run_pending_tasks();
    assert!(!cache.contains_key(&1));
    let heard = heard.lock().unwrap().clone();
    let longest = |event| {
        heard
            .iter()
            .filter(|(e, _)| *e == event)
            .map(|(_, took)| *took)
            .max()
            .unwrap_or_else(|| panic!("{event:?} was reported: {heard:?}"))
    };
    use goldylox::LatencyEvent::{EvictionCycle, ExpireCycle, MaintenancePass};
    assert!(
        longest(ExpireCycle) >= Duration::from_millis(30),
        "{heard:?}"
    );
    assert!(
        longest(MaintenancePass) >= longest(ExpireCycle),
        "{heard:?}"
    );
    assert!(heard.iter().any(|(e, _)| *e == EvictionCycle), "{heard:?}");
    assert_eq!(ExpireCycle.name(), "expire-cycle");
}

#[test]
fn a_panicking_latency_listener_is_counted_and_maintenance_goes_on() {
    let clock = ManualClock::new();
    let cache: Cache<u64, u64> = Cache::builder(1_000)
        .clock(clock.clone())
        .latency_listener(|_, _| panic!("a broken listener"))
        .build()
        .unwrap();
    cache
        .put(1, 1, Expiration::After(Duration::from_secs(1)))
        .unwrap();
    clock.advance(Duration::from_secs(2));
    cache.run_pending_tasks();
    assert!(!cache.contains_key(&1), "expired all the same");
    assert!(cache.stats().listener_panics > 0);
}
