//! Model-based tests: random operation sequences against a `HashMap` model
//! with an injected clock. Tiers and maintenance must be invisible to
//! correctness.

use std::collections::HashMap;
use std::time::Duration;

use goldylox::{Cache, Expiration, ManualClock, SetIf};
use proptest::prelude::*;

const STEP: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
enum Op {
    Get(u8),
    Insert(u8, u32),
    InsertTtl(u8, u32, u8),
    Remove(u8),
    PutIfAbsent(u8, u32),
    Replace(u8, u32),
    Cas(u8, u32, u32),
    GetOrInsert(u8, u32),
    Advance(u8),
    Clear,
    RunPending,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..24;
    let val = 0u32..6;
    prop_oneof![
        6 => key.clone().prop_map(Op::Get),
        4 => (key.clone(), val.clone()).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => (key.clone(), val.clone(), 1u8..6).prop_map(|(k, v, t)| Op::InsertTtl(k, v, t)),
        2 => key.clone().prop_map(Op::Remove),
        2 => (key.clone(), val.clone()).prop_map(|(k, v)| Op::PutIfAbsent(k, v)),
        2 => (key.clone(), val.clone()).prop_map(|(k, v)| Op::Replace(k, v)),
        2 => (key.clone(), val.clone(), val.clone()).prop_map(|(k, a, b)| Op::Cas(k, a, b)),
        2 => (key.clone(), val.clone()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
        2 => (0u8..4).prop_map(Op::Advance),
        1 => Just(Op::Clear),
        1 => Just(Op::RunPending),
    ]
}

/// The model: value and optional deadline (in steps).
#[derive(Default)]
struct Model {
    now: u64,
    map: HashMap<u8, (u32, Option<u64>)>,
}

impl Model {
    fn live(&self, k: u8) -> Option<u32> {
        self.map
            .get(&k)
            .filter(|(_, d)| d.is_none_or(|d| self.now < d))
            .map(|(v, _)| *v)
    }

    fn set(&mut self, k: u8, v: u32, deadline: Option<u64>) {
        self.map.insert(k, (v, deadline));
    }

    /// Keeps the deadline of a live entry.
    fn overwrite(&mut self, k: u8, v: u32) {
        if let Some(e) = self.map.get_mut(&k) {
            e.0 = v;
        }
    }
}

/// Runs `ops`; with `exact`, the cache is large enough never to evict and
/// must equal the model; otherwise it may have evicted, but must never return
/// a value the model does not hold.
fn run(ops: &[Op], capacity: u64, exact: bool) -> Result<(), TestCaseError> {
    run_with(ops, capacity, None, exact)
}

/// As [`run`], with a warm tier of `warm` bytes behind a hot tier of
/// `capacity` bytes.
fn run_with(
    ops: &[Op],
    capacity: u64,
    warm: Option<u64>,
    exact: bool,
) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let mut builder = Cache::builder(capacity).clock(clock.clone()).slack(0);
    if let Some(bytes) = warm {
        builder = builder.warm(bytes);
    }
    let cache: Cache<u8, u32> = builder.build().unwrap();
    let mut m = Model::default();
    for op in ops {
        match *op {
            Op::Get(k) => {
                let got = cache.get(&k);
                if exact {
                    prop_assert_eq!(got, m.live(k), "get {}", k);
                } else if got.is_some() {
                    prop_assert_eq!(got, m.live(k), "get {} returned a value the model lacks", k);
                }
            }
            Op::Insert(k, v) => {
                cache.insert(k, v).unwrap();
                m.set(k, v, None);
            }
            Op::InsertTtl(k, v, t) => {
                cache
                    .put(k, v, Expiration::After(STEP * u32::from(t)))
                    .unwrap();
                m.set(k, v, Some(m.now + u64::from(t)));
            }
            Op::Remove(k) => {
                let got = cache.remove(&k);
                if exact {
                    prop_assert_eq!(got, m.live(k), "remove {}", k);
                }
                m.map.remove(&k);
            }
            Op::PutIfAbsent(k, v) => {
                let got = cache
                    .set(k, v, Expiration::Default, SetIf::Absent)
                    .map(|o| o.previous)
                    .unwrap();
                if exact {
                    prop_assert_eq!(got, m.live(k), "put_if_absent {}", k);
                }
                match got {
                    None => m.set(k, v, None),
                    Some(cur) => prop_assert_eq!(Some(cur), m.live(k)),
                }
            }
            Op::Replace(k, v) => {
                let got = cache
                    .set(k, v, Expiration::Keep, SetIf::Present)
                    .map(|o| o.previous)
                    .unwrap();
                if exact {
                    prop_assert_eq!(got, m.live(k), "replace {}", k);
                }
                if let Some(previous) = got {
                    prop_assert_eq!(Some(previous), m.live(k), "replace {} saw a stale value", k);
                    m.overwrite(k, v);
                }
            }
            Op::Cas(k, a, b) => {
                let swapped = cache
                    .compare_and_set(k, Some(&a), b, goldylox::Expiration::Keep)
                    .unwrap();
                if exact {
                    prop_assert_eq!(swapped, m.live(k) == Some(a), "cas {}", k);
                }
                if swapped {
                    prop_assert_eq!(m.live(k), Some(a));
                    m.overwrite(k, b);
                }
            }
            Op::GetOrInsert(k, v) => {
                let got = cache.get_or_insert_with(k, || v);
                match m.live(k) {
                    Some(cur) if exact => prop_assert_eq!(got, cur),
                    Some(cur) if got != v => prop_assert_eq!(got, cur),
                    Some(_) => {}
                    None => {
                        prop_assert_eq!(got, v);
                        m.set(k, v, None);
                    }
                }
                if !exact && got == v {
                    m.set(k, v, None);
                }
            }
            Op::Advance(n) => {
                clock.advance(STEP * u32::from(n));
                m.now += u64::from(n);
            }
            Op::Clear => {
                cache.clear();
                m.map.clear();
            }
            Op::RunPending => {
                cache.run_pending_tasks();
                prop_assert!(cache.weighted_size() <= capacity);
                if exact && warm.is_none() {
                    let live = m.map.keys().filter(|&&k| m.live(k).is_some()).count();
                    // An entry whose deadline is exactly now may wait one
                    // wheel tick (about 1 ms) to be reaped.
                    let just_expired = m.map.values().filter(|(_, d)| *d == Some(m.now)).count();
                    let len = cache.len();
                    prop_assert!(
                        live <= len && len <= live + just_expired,
                        "len {} live {} just expired {}",
                        len,
                        live,
                        just_expired
                    );
                }
            }
        }
        prop_assert!(cache.weighted_size() <= cache.bound());
    }
    // Final sweep: every key agrees.
    for k in 0..24 {
        let got = cache.get(&k);
        if exact || got.is_some() {
            prop_assert_eq!(got, m.live(k), "final get {}", k);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Large capacity: the cache must behave exactly like the map.
    #[test]
    fn matches_a_hashmap(ops in proptest::collection::vec(op(), 1..300)) {
        run(&ops, 1 << 20, true)?;
    }

    /// A hot tier of a few entries over a roomy warm tier: entries move down
    /// and up all the time, and the cache must still equal the map exactly.
    #[test]
    fn two_tiers_match_a_hashmap(ops in proptest::collection::vec(op(), 1..300)) {
        run_with(&ops, 12, Some(1 << 20), true)?;
    }

    /// Tiny capacity (a few entries): evictions happen, but a returned value
    /// is always the model's, and the bound always holds.
    #[test]
    fn never_returns_a_wrong_value_under_eviction(ops in proptest::collection::vec(op(), 1..300)) {
        run(&ops, 24, false)?;
    }
}

/// `insert_many` stores in order and stops at the first refused entry
/// (what came before it stays); `get_many` answers each key as `get` does,
/// in the order asked, absent keys included.
#[test]
fn bulk_calls_agree_with_one_at_a_time_calls() {
    let cache = goldylox::Cache::<u64, Vec<u8>>::builder(1 << 20)
        .weigher(|_, v: &Vec<u8>| v.len() as u32)
        .build()
        .unwrap();
    let stored = cache
        .insert_many((0..100u64).map(|k| (k, vec![k as u8; 16])))
        .unwrap();
    assert_eq!(stored, 100);
    let keys: Vec<u64> = (90..110).rev().collect();
    let got = cache.get_many(&keys);
    let one_by_one: Vec<Option<Vec<u8>>> = keys.iter().map(|k| cache.get(k)).collect();
    assert_eq!(got, one_by_one);
    assert_eq!(got[0], None, "109 was never stored");
    assert_eq!(got[19], Some(vec![90; 16]));
    assert_eq!(got.iter().filter(|v| v.is_some()).count(), 10);

    // The third entry is larger than the whole cache: refused, and the
    // two before it stay.
    let entries = vec![
        (1_000, vec![1; 8]),
        (1_001, vec![2; 8]),
        (1_002, vec![3; 2 << 20]),
        (1_003, vec![4; 8]),
    ];
    let err = cache.insert_many(entries).unwrap_err();
    assert!(
        matches!(err, goldylox::Error::EntryTooLarge { .. }),
        "{err:?}"
    );
    assert_eq!(
        cache.get_many(&[1_000, 1_001, 1_002, 1_003]),
        vec![Some(vec![1; 8]), Some(vec![2; 8]), None, None]
    );
}
