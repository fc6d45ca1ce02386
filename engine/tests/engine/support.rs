//! Helpers shared by the tests: the benchmarks' workload generators, trace
//! readers for `../shared/traces`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

#[path = "../../benches/workload.rs"]
mod workload;
pub(crate) use workload::{Rng, Zipf};

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
