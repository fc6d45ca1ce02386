//! Random draws from collections (`HRANDFIELD`, `SRANDMEMBER`, `SPOP`,
//! `ZRANDMEMBER`, `RANDOMKEY`'s sampling): positions drawn uniformly.

/// `min(want, len)` distinct indices below `len`, in random order: a
/// partial Fisher–Yates shuffle when many are wanted, Floyd's sampling
/// (memory for the draws only) when few are wanted of many.
pub(super) fn distinct_indices(len: usize, want: usize) -> Vec<usize> {
    let want = want.min(len);
    if want.saturating_mul(4) < len {
        let mut chosen = std::collections::HashSet::with_capacity(want);
        let mut picks = Vec::with_capacity(want);
        for j in len - want..len {
            let t = random_below(j as u64 + 1) as usize;
            let pick = if chosen.insert(t) { t } else { j };
            chosen.insert(pick);
            picks.push(pick);
        }
        for i in (1..picks.len()).rev() {
            picks.swap(i, random_below(i as u64 + 1) as usize);
        }
        return picks;
    }
    let mut all: Vec<usize> = (0..len).collect();
    for i in 0..want {
        let j = i + random_below((len - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(want);
    all
}

/// A uniformly random number below `n` (> 0), from a per-thread
/// xorshift generator seeded by the standard library's random keys.
pub(super) fn random_below(n: u64) -> u64 {
    use std::cell::Cell;
    use std::hash::BuildHasher;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        // Lemire's multiply-shift: unbiased enough for sampling keys.
        ((u128::from(x) * u128::from(n)) >> 64) as u64
    })
}

#[cfg(test)]
mod tests {
    use super::{distinct_indices, random_below};

    #[test]
    fn distinct_indices_are_distinct_and_in_range() {
        for (len, want) in [
            (10, 3),
            (10, 10),
            (10, 20),
            (0, 5),
            (1, 1),
            (1_000, 7),
            (1_000, 300),
        ] {
            let mut got = distinct_indices(len, want);
            assert_eq!(got.len(), want.min(len));
            got.sort_unstable();
            got.dedup();
            assert_eq!(got.len(), want.min(len));
            assert!(got.iter().all(|&i| i < len));
        }
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[random_below(10) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }
}
