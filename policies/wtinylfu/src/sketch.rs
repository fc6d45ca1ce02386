//! A count-min sketch of 4-bit counters that ages: once it has counted ten
//! times as many events as the cache holds entries, every counter is halved,
//! so old popularity fades (TinyLFU's reset).

/// Frequency estimates for key hashes.
#[derive(Debug)]
pub(crate) struct Sketch {
    /// 16 four-bit counters per u64.
    table: Vec<u64>,
    mask: usize,
    additions: u64,
    sample: u64,
}

const SEEDS: [u64; 4] = [
    0xc3a5_c85c_97cb_3127,
    0xb492_b66f_be98_f273,
    0x9ae1_6a3b_2f90_404f,
    0xcbf2_9ce4_8422_2325,
];

impl Sketch {
    /// A sketch sized for `entries` resident entries.
    pub(crate) fn new(entries: u64) -> Self {
        let words = (entries.max(16) as usize).next_power_of_two() / 4;
        Sketch {
            table: vec![0; words.max(4)],
            mask: words.max(4) - 1,
            additions: 0,
            sample: 10 * entries.max(16),
        }
    }

    fn slot(&self, hash: u64, row: usize) -> (usize, u32) {
        let h = (hash ^ SEEDS[row]).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let h = h ^ (h >> 32);
        ((h as usize) & self.mask, ((h >> 20) as u32 & 15) * 4)
    }

    /// The estimated frequency of `hash` (0..=15).
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        (0..4)
            .map(|row| {
                let (i, shift) = self.slot(hash, row);
                ((self.table[i] >> shift) & 15) as u8
            })
            .min()
            .unwrap_or(0)
    }

    /// Counts one access to `hash`.
    pub(crate) fn increment(&mut self, hash: u64) {
        let mut added = false;
        for row in 0..4 {
            let (i, shift) = self.slot(hash, row);
            if (self.table[i] >> shift) & 15 < 15 {
                self.table[i] += 1 << shift;
                added = true;
            }
        }
        if added {
            self.additions += 1;
            if self.additions >= self.sample {
                self.halve();
            }
        }
    }

    fn halve(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_and_age() {
        let mut s = Sketch::new(1_000);
        for _ in 0..20 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 15);
        assert!(s.frequency(43) <= 1);
        for i in 0..20_000u64 {
            s.increment(i.wrapping_mul(0x2545_F491_4F6C_DD1D));
        }
        assert!(s.frequency(42) < 15, "aging halves old counts");
    }
}
