//! The values `goldylox bench` stores: made from the key and the size
//! alone, so a value read back is checked byte for byte without keeping
//! it. Incompressible by default (the warm tier must not win on data no
//! user has); `Text` makes each 64-byte block repeat its first half, which
//! any LZ compressor halves.

/// What the values are made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Payload {
    /// Pseudo-random bytes: no compressor shrinks them.
    Random,
    /// Compressible about 2:1: every 64 bytes, 32 random ones twice.
    Text,
}

/// The value of `key` at `size` bytes, into `out` (cleared first).
pub(super) fn fill(key: u64, size: usize, kind: Payload, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(size);
    // splitmix64 from the key: a different stream per key.
    let mut state = key ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    while out.len() < size {
        match kind {
            Payload::Random => out.extend_from_slice(&next().to_le_bytes()),
            Payload::Text => {
                let start = out.len();
                for _ in 0..4 {
                    out.extend_from_slice(&next().to_le_bytes());
                }
                out.extend_from_within(start..start + 32);
            }
        }
    }
    out.truncate(size);
    // The length in the first bytes: a truncated value does not pass.
    for (b, l) in out.iter_mut().zip(size.to_le_bytes()) {
        *b ^= l;
    }
}

/// Whether `value` is what [`fill`] makes for `key` at its length (a
/// trace may request one key at several sizes; `scratch` is reused).
pub(super) fn verify(key: u64, kind: Payload, value: &[u8], scratch: &mut Vec<u8>) -> bool {
    fill(key, value.len(), kind, scratch);
    scratch.as_slice() == value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_made_from_key_and_size_and_checked() {
        let (mut a, mut b, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
        fill(7, 1000, Payload::Random, &mut a);
        fill(7, 1000, Payload::Random, &mut b);
        assert_eq!(a, b);
        assert_eq!(a.len(), 1000);
        assert!(verify(7, Payload::Random, &a, &mut scratch));
        assert!(!verify(7, Payload::Text, &a, &mut scratch));
        fill(8, 1000, Payload::Random, &mut b);
        assert_ne!(a, b);
        assert!(!verify(7, Payload::Random, &b, &mut scratch));
        assert!(
            !verify(7, Payload::Random, &a[..999], &mut scratch),
            "truncated"
        );
        let mut flipped = a.clone();
        flipped[500] ^= 1;
        assert!(!verify(7, Payload::Random, &flipped, &mut scratch));
    }

    fn compressed_ratio(v: &[u8]) -> f64 {
        use std::io::Write;
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(v).unwrap();
        e.finish().unwrap().len() as f64 / v.len() as f64
    }

    #[test]
    fn text_compresses_about_two_to_one_and_random_not_at_all() {
        let mut v = Vec::new();
        fill(3, 64 * 1024, Payload::Text, &mut v);
        let text = compressed_ratio(&v);
        assert!((0.45..0.62).contains(&text), "text: {text}");
        fill(3, 64 * 1024, Payload::Random, &mut v);
        let random = compressed_ratio(&v);
        assert!(random > 0.99, "random: {random}");
    }
}
