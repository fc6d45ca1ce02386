//! Helpers shared by the tests: a seeded generator, a Zipf sampler, trace
//! readers for `../shared/traces`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// SplitMix64: small, seeded, good enough for workloads.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s) over `0..n` by inverse CDF.
pub(crate) struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub(crate) fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for i in 1..=n {
            acc += 1.0 / (i as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    pub(crate) fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

/// `../shared/traces`, if present.
pub(crate) fn traces_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces");
    dir.is_dir().then_some(dir)
}

fn open(path: &Path) -> Box<dyn Read> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => Box::new(flate2::read::GzDecoder::new(file)),
        Some("zst") => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(file).expect("zstd header"))
        }
        _ => Box::new(file),
    }
}

/// A LIRS-format trace: one integer key per line; `*` and blank lines skipped.
pub(crate) fn read_lirs(path: &Path) -> Vec<u64> {
    BufReader::new(open(path))
        .lines()
        .map(|l| l.expect("read trace"))
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .collect()
}

/// An ARC-format trace: `start nblocks ignore reqno`, one request per block.
pub(crate) fn read_arc(path: &Path) -> Vec<u64> {
    let mut keys = Vec::new();
    for line in BufReader::new(open(path)).lines() {
        let line = line.expect("read trace");
        let mut f = line.split_whitespace();
        let (Some(start), Some(n)) = (f.next(), f.next()) else {
            continue;
        };
        let (Ok(start), Ok(n)) = (start.parse::<u64>(), n.parse::<u64>()) else {
            continue;
        };
        keys.extend(start..start + n);
    }
    keys
}
