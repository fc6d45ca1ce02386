//! In-place edits (`Cache::update`): a value changed where it lies, its
//! weight charged as it grows and shrinks, in whichever tier it was, and
//! atomic against other editors of the key.

use std::time::Duration;

use goldylox::cold::{ColdConfig, SyncMode};
use goldylox::{Cache, Expiration, ManualClock, SetIf, Update};

/// A list of numbers weighed by its length, as a collection keeps its size.
fn weighed(capacity: u64) -> goldylox::CacheBuilder<u64, Vec<u64>> {
    Cache::builder(capacity).weigher(|_k: &u64, v: &Vec<u64>| 8 + 8 * v.len() as u32)
}

/// Appends `x` to the list at `key`, creating it: the new length.
fn push(cache: &Cache<u64, Vec<u64>>, key: u64, x: u64) -> usize {
    cache
        .update(key, |v| match v {
            Some(list) => {
                list.push(x);
                (Update::Changed, list.len())
            }
            None => (Update::Insert(vec![x]), 1),
        })
        .unwrap()
}

#[test]
fn an_edit_changes_the_value_in_place_and_charges_its_weight() {
    let cache = weighed(1 << 20).build().unwrap();
    assert_eq!(push(&cache, 1, 10), 1);
    assert_eq!(cache.weighted_size(), 16);
    for x in 11..20 {
        push(&cache, 1, x);
    }
    assert_eq!(cache.get(&1), Some((10..20).collect()));
    assert_eq!(cache.weighted_size(), 8 + 80, "weight follows the length");
    // Shrinking releases weight; Unchanged stores nothing.
    let popped = cache
        .update(1, |v| {
            let list = v.expect("present");
            let x = list.pop();
            (Update::Changed, x)
        })
        .unwrap();
    assert_eq!(popped, Some(19));
    assert_eq!(cache.weighted_size(), 8 + 72);
    let seen = cache
        .update(1, |v| (Update::Unchanged, v.map(|l| l.len())))
        .unwrap();
    assert_eq!(seen, Some(9));
    // Remove takes the key away; an edit of an absent key that answers
    // Changed or Remove stores nothing.
    cache.update(1, |_| (Update::Remove, ())).unwrap();
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.weighted_size(), 0);
    cache
        .update(2, |v| (Update::Changed, assert!(v.is_none())))
        .unwrap();
    cache.update(2, |_| (Update::Remove, ())).unwrap();
    assert_eq!(cache.get(&2), None);
    assert!(cache.is_empty());
}

#[test]
fn an_edit_keeps_the_deadline_and_a_new_value_gets_none() {
    let clock = ManualClock::new();
    let cache = weighed(1 << 20).clock(clock.clone()).build().unwrap();
    cache
        .set(
            5,
            vec![1],
            Expiration::After(Duration::from_secs(10)),
            SetIf::Always,
        )
        .unwrap();
    push(&cache, 5, 2);
    assert_eq!(cache.time_to_live(&5), Some(Some(Duration::from_secs(10))));
    clock.advance(Duration::from_secs(11));
    // Expired: the edit sees nothing, and its insert starts afresh.
    assert_eq!(push(&cache, 5, 3), 1);
    assert_eq!(cache.get(&5), Some(vec![3]));
    assert_eq!(cache.time_to_live(&5), Some(None));
}

/// Lists of the demotion test: more than the hot and warm tiers hold.
const KEYS: u64 = 600;
const LEN: u64 = 300;

/// An incompressible element of list `key`.
fn element(key: u64, x: u64) -> u64 {
    (key * 1_000 + x)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17)
}

#[test]
fn an_edit_of_a_demoted_value_promotes_it_and_drops_the_lower_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut cold = ColdConfig::new(dir.path(), 64 << 20);
    cold.segment_size = 256 << 10;
    cold.sync = SyncMode::Never;
    let cache = weighed(16 << 10).warm(1 << 20).cold(cold).build().unwrap();
    for key in 0..KEYS {
        for x in 0..LEN {
            push(&cache, key, element(key, x));
        }
    }
    cache.run_pending_tasks();
    let m = cache.stats().movement;
    assert!(m.demotions > 0, "{m:?}");
    assert!(cache.cold_stats().unwrap().entries > 0, "some went cold");
    // Every list, wherever it lies, takes one more element and keeps the
    // rest; a read afterwards sees exactly one copy.
    for key in 0..KEYS {
        assert_eq!(push(&cache, key, 7), LEN as usize + 1, "key {key}");
    }
    cache.run_pending_tasks();
    for key in 0..KEYS {
        let mut want: Vec<u64> = (0..LEN).map(|x| element(key, x)).collect();
        want.push(7);
        assert_eq!(cache.get(&key), Some(want), "key {key}");
    }
    assert_eq!(
        cache.len(),
        KEYS as usize,
        "one copy of each key across the tiers"
    );
    // A restart finds the edited values, not the copies they replaced.
    cache.shutdown();
    drop(cache);
    let mut cold = ColdConfig::new(dir.path(), 64 << 20);
    cold.segment_size = 256 << 10;
    cold.sync = SyncMode::Never;
    let cache = weighed(16 << 10).warm(1 << 20).cold(cold).build().unwrap();
    for key in (0..KEYS).step_by(37) {
        assert_eq!(
            cache.get(&key).map(|l| l.len()),
            Some(LEN as usize + 1),
            "key {key}"
        );
    }
}

#[test]
fn concurrent_edits_of_one_key_lose_nothing() {
    let cache = weighed(64 << 20).build().unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let cache = &cache;
            s.spawn(move || {
                for i in 0..5_000 {
                    push(cache, 9, t * 1_000_000 + i);
                }
            });
        }
    });
    let mut list = cache.get(&9).unwrap();
    assert_eq!(list.len(), 20_000);
    list.sort_unstable();
    list.dedup();
    assert_eq!(list.len(), 20_000, "every push kept once");
    assert_eq!(cache.weighted_size(), 8 + 8 * 20_000);
}
