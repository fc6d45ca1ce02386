//! Latencies in a log-linear histogram: 32 buckets per power of two of
//! nanoseconds (within 3 %), merged across connections, read as
//! percentiles.

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Counts of latencies.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let power = 63 - ns.leading_zeros();
    let shift = power - SUB_BITS;
    let sub = (ns >> shift) as usize - SUB;
    ((shift + 1) as usize) * SUB + sub
}

/// The largest latency bucket `i` holds.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = (i / SUB - 1) as u32;
    let sub = (i % SUB + SUB) as u64;
    // The top bucket's bound is past u64: it holds up to u64::MAX.
    let bound = (u128::from(sub + 1) << shift) - 1;
    u64::try_from(bound).unwrap_or(u64::MAX)
}

impl Histogram {
    /// Counts `n` latencies of `ns` nanoseconds.
    pub fn record(&mut self, ns: u64, n: u64) {
        self.counts[bucket(ns)] += n;
        self.total += n;
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The latency at or under which `q` (0..1) of them fall, in ns.
    pub fn quantile(&self, q: f64) -> u64 {
        let wanted = ((self.total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                return upper(i);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_three_percent() {
        let mut h = Histogram::default();
        for ns in 1..=100_000u64 {
            h.record(ns * 10, 1);
        }
        for (q, want) in [(0.5, 500_000.0), (0.99, 990_000.0), (0.999, 999_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got / want - 1.0).abs() < 0.035, "p{q}: {got} vs {want}");
        }
        let mut other = Histogram::default();
        other.record(5, 3);
        h.merge(&other);
        assert_eq!(h.total, 100_003);
        for ns in [0, 1, 31, 32, 33, 1000, 1 << 40, u64::MAX] {
            assert!(upper(bucket(ns)) >= ns, "{ns}");
        }
    }
}
