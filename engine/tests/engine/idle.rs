//! Time to idle and per-entry `Expiry`: reads renew deadlines, in every
//! tier, and every entry still goes when its time comes — on an injected
//! clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use goldylox::{Cache, Error, Expiration, Expiry, ManualClock, RemovalCause, WritePolicy};

const SEC: Duration = Duration::from_secs(1);

fn idle_cache(tti: u64, ttl: Option<u64>, clock: &ManualClock) -> Cache<u64, u64> {
    let mut b = Cache::builder(1 << 22)
        .time_to_idle(SEC * tti as u32)
        .clock(clock.clone());
    if let Some(ttl) = ttl {
        b = b.time_to_live(SEC * ttl as u32);
    }
    b.build().unwrap()
}

#[test]
fn a_read_entry_lives_and_an_idle_one_is_reaped() {
    let clock = ManualClock::new();
    let heard: Arc<Mutex<Vec<(u64, RemovalCause)>>> = Arc::default();
    let ears = Arc::clone(&heard);
    let cache: Cache<u64, u64> = Cache::builder(1 << 20)
        .time_to_idle(SEC * 60)
        .clock(clock.clone())
        .removal_listener(move |k, _, cause| ears.lock().unwrap().push((k, cause)))
        .build()
        .unwrap();
    cache.insert(1, 10).unwrap();
    cache.insert(2, 20).unwrap();
    for _ in 0..5 {
        clock.advance(SEC * 40);
        assert_eq!(cache.get(&1), Some(10), "read every 40 s, it stays");
        cache.run_pending_tasks();
    }
    assert_eq!(cache.get(&2), None);
    assert_eq!(cache.len(), 1, "the idle entry was reaped without a read");
    assert_eq!(*heard.lock().unwrap(), vec![(2, RemovalCause::Expired)]);
    // A write renews too.
    clock.advance(SEC * 50);
    cache.insert(1, 11).unwrap();
    clock.advance(SEC * 50);
    assert_eq!(cache.get(&1), Some(11));
}

#[test]
fn a_renewed_entry_is_reaped_once_it_goes_idle() {
    // Its first timer fires while it is alive; the wheel must file another.
    let clock = ManualClock::new();
    let cache = idle_cache(10, None, &clock);
    for k in 0..1000 {
        cache.insert(k, k).unwrap();
    }
    for _ in 0..6 {
        clock.advance(SEC * 3);
        for k in 0..500 {
            assert_eq!(cache.get(&k), Some(k));
        }
        cache.run_pending_tasks();
    }
    assert_eq!(cache.len(), 500, "the unread half went at 10 s");
    clock.advance(SEC * 11);
    cache.run_pending_tasks();
    assert_eq!(
        cache.len(),
        0,
        "the read half went 10 s after its last read"
    );
    assert_eq!(cache.stats().removals.expired, 1000);
}

#[test]
fn a_time_to_live_caps_the_renewals() {
    let clock = ManualClock::new();
    let cache = idle_cache(10, Some(25), &clock);
    cache.insert(1, 1).unwrap();
    for _ in 0..4 {
        clock.advance(SEC * 6);
        assert_eq!(cache.get(&1), Some(1));
    }
    let left = cache.time_to_live(&1).flatten().unwrap();
    assert!(left <= SEC, "24 s after its write it has {left:?} left");
    clock.advance(SEC);
    assert_eq!(cache.get(&1), None, "25 s after its write it is gone");
}

#[test]
fn explicit_expirations_are_not_renewed() {
    let clock = ManualClock::new();
    let cache = idle_cache(10, None, &clock);
    cache.put(1, 1, Expiration::After(SEC * 15)).unwrap();
    cache.put(2, 2, Expiration::Never).unwrap();
    cache.put(3, 3, Expiration::Default).unwrap();
    clock.advance(SEC * 8);
    assert_eq!(
        cache.get_many([&1, &2, &3]),
        vec![Some(1), Some(2), Some(3)]
    );
    clock.advance(SEC * 7);
    assert_eq!(cache.get(&1), None, "After(15 s) means 15 s, reads or not");
    assert_eq!(cache.get(&3), Some(3), "the default is renewed by reads");
    clock.advance(SEC * 100);
    assert_eq!(cache.get(&2), Some(2), "Never means never");
    assert_eq!(cache.get(&3), None);
}

/// Even keys live 10 s from creation, odd ones forever; an update gives
/// 20 s; a read adds 5 s to what is left.
struct ByKey;

impl Expiry<u64, u64> for ByKey {
    fn expire_after_create(&self, key: &u64, _: &u64) -> Option<Duration> {
        key.is_multiple_of(2).then_some(SEC * 10)
    }

    fn expire_after_update(&self, _: &u64, _: &u64, _: Option<Duration>) -> Option<Duration> {
        Some(SEC * 20)
    }

    fn expire_after_read(&self, _: &u64, _: &u64, left: Duration) -> Option<Duration> {
        Some(left + SEC * 5)
    }
}

#[test]
fn an_expiry_decides_on_create_update_and_read() {
    let clock = ManualClock::new();
    let cache: Cache<u64, u64> = Cache::builder(1 << 20)
        .expire_after(ByKey)
        .clock(clock.clone())
        .build()
        .unwrap();
    cache.insert(2, 2).unwrap();
    cache.insert(3, 3).unwrap();
    assert_eq!(cache.time_to_live(&2), Some(Some(SEC * 10)));
    assert_eq!(cache.time_to_live(&3), Some(None), "odd keys never expire");
    clock.advance(SEC * 4);
    assert_eq!(cache.get(&2), Some(2));
    assert_eq!(cache.time_to_live(&2), Some(Some(SEC * 11)), "6 s left + 5");
    cache.insert(2, 22).unwrap();
    assert_eq!(cache.time_to_live(&2), Some(Some(SEC * 20)), "an update");
    cache.insert(3, 33).unwrap();
    assert_eq!(cache.time_to_live(&3), Some(Some(SEC * 20)));
    clock.advance(SEC * 20);
    assert_eq!(cache.get_many([&2, &3]), vec![None, None]);
    clock.advance(SEC); // reaping may lag a tick of the timer wheel
    cache.run_pending_tasks();
    assert_eq!(cache.len(), 0);
}

/// A read leaves one second.
struct OneMoreSecond;

impl Expiry<u64, u64> for OneMoreSecond {
    fn expire_after_create(&self, _: &u64, _: &u64) -> Option<Duration> {
        Some(SEC * 3600)
    }

    fn expire_after_read(&self, _: &u64, _: &u64, _: Duration) -> Option<Duration> {
        Some(SEC)
    }
}

#[test]
fn a_read_that_shortens_the_deadline_gets_the_entry_reaped_on_time() {
    let clock = ManualClock::new();
    let cache: Cache<u64, u64> = Cache::builder(1 << 20)
        .expire_after(OneMoreSecond)
        .clock(clock.clone())
        .build()
        .unwrap();
    for k in 0..100 {
        cache.insert(k, k).unwrap();
    }
    for k in 0..50 {
        assert_eq!(cache.get(&k), Some(k));
    }
    clock.advance(SEC * 2);
    cache.run_pending_tasks();
    assert_eq!(
        cache.len(),
        50,
        "the read half is reaped, not left for an hour"
    );
}

struct Buggy;

impl Expiry<u64, u64> for Buggy {
    fn expire_after_create(&self, key: &u64, _: &u64) -> Option<Duration> {
        assert!(*key != 13, "the application's bug");
        Some(SEC)
    }
}

#[test]
fn a_panicking_expiry_is_counted_and_the_write_stands() {
    let cache: Cache<u64, u64> = Cache::builder(1 << 20).expire_after(Buggy).build().unwrap();
    cache.insert(13, 1).unwrap();
    cache.insert(14, 1).unwrap();
    assert_eq!(cache.get(&13), Some(1));
    assert_eq!(cache.time_to_live(&13), Some(None), "no expiry given");
    assert_eq!(cache.stats().expiry_panics, 1);
}

#[test]
fn the_builder_refuses_contradictory_lifetimes() {
    let refused = |r: Result<Cache<u64, u64>, Error>| match r {
        Err(Error::InvalidConfig { reason }) => reason,
        other => panic!("built: {:?}", other.map(|_| ())),
    };
    let reason = refused(
        Cache::builder(1 << 20)
            .time_to_live(SEC)
            .expire_after(ByKey)
            .build(),
    );
    assert!(reason.contains("expire_after"), "{reason}");
    let reason = refused(Cache::builder(1 << 20).time_to_idle(Duration::ZERO).build());
    assert!(reason.contains("time_to_idle"), "{reason}");
}

#[test]
fn entries_are_renewed_through_the_warm_tier() {
    let clock = ManualClock::new();
    let cache: Cache<u64, Vec<u8>> = Cache::builder(16 << 10)
        .warm(2 << 20)
        .time_to_idle(SEC * 60)
        .clock(clock.clone())
        .build()
        .unwrap();
    for k in 0..2000 {
        cache.insert(k, vec![k as u8; 100]).unwrap();
    }
    cache.run_pending_tasks();
    assert!(cache.stats().movement.demotions > 0, "most live warm");
    clock.advance(SEC * 40);
    for k in 0..1000 {
        assert!(cache.get(&k).is_some(), "key {k} at 40 s");
    }
    cache.run_pending_tasks();
    clock.advance(SEC * 40);
    cache.run_pending_tasks();
    for k in 0..1000 {
        assert!(cache.get(&k).is_some(), "key {k}, read at 40 s, at 80 s");
    }
    for k in 1000..2000 {
        assert!(cache.get(&k).is_none(), "key {k}, never read, at 80 s");
    }
    clock.advance(SEC * 61);
    cache.run_pending_tasks();
    assert_eq!(cache.len(), 0, "every tier's entries were reaped");
}

#[test]
fn a_renewal_reaches_a_write_through_cold_copy() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let cache: Cache<u64, Vec<u8>> = Cache::builder(16 << 10)
        .cold(super::cold::cold_config(dir.path()))
        .write_policy(WritePolicy::WriteThrough)
        .time_to_idle(SEC * 60)
        .clock(clock.clone())
        .build()
        .unwrap();
    cache.insert(7, vec![7; 100]).unwrap();
    clock.advance(SEC * 40);
    assert!(cache.get(&7).is_some(), "renewed to 100 s");
    // Push it out of memory: its cold record was written at 0 s.
    for k in 100..1100 {
        cache.insert(k, vec![1; 100]).unwrap();
    }
    cache.run_pending_tasks();
    clock.advance(SEC * 40);
    assert!(
        cache.get(&7).is_some(),
        "at 80 s, read from the cold tier: {:#?}",
        cache.stats()
    );
    assert!(cache.stats().cold.hits >= 1, "it came from the cold tier");
}

#[test]
fn readers_writers_and_the_clock_together_lose_no_timer() {
    let clock = ManualClock::new();
    let cache = idle_cache(5, None, &clock);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let cache = cache.clone();
            s.spawn(move || {
                for i in 0..20_000u64 {
                    let k = (i * 7 + t) % 512;
                    if i % 3 == 0 {
                        cache.insert(k, i).unwrap();
                    } else {
                        cache.get(&k);
                    }
                }
            });
        }
        let clock = clock.clone();
        s.spawn(move || {
            for _ in 0..200 {
                clock.advance(Duration::from_millis(50));
                std::thread::yield_now();
            }
        });
    });
    clock.advance(SEC * 6);
    cache.run_pending_tasks();
    assert_eq!(cache.len(), 0, "every entry went idle and was reaped");
}
