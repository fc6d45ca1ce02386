//! The built-in policies against libCacheSim, exactly: the hit counts in
//! `tests/data/libcachesim.tsv` were produced by libCacheSim 0.3.5 (PyPI)
//! with `scripts/libcachesim_oracle.py` on the shared traces.

use std::path::Path;

use goldylox_host::replay::{self, Contender};
use goldylox_host::trace::{self, Format};

#[test]
fn policies_equal_libcachesim_on_shared_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces");
    if !dir.is_dir() {
        crate::skip("../shared/traces is absent");
        return;
    }
    let table = include_str!("../data/libcachesim.tsv");
    let mut traces = std::collections::HashMap::new();
    let (mut checked, mut mismatches) = (0, Vec::new());
    for line in table.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, rel, policy) = (f[0], f[1], f[2]);
        let size: u64 = f[3].parse().unwrap();
        let (requests, want): (usize, u64) = (f[4].parse().unwrap(), f[5].parse().unwrap());
        let keys = traces.entry(rel).or_insert_with(|| {
            let path = dir.join(rel);
            trace::read(&path, Format::guess(&path).unwrap()).unwrap()
        });
        assert_eq!(keys.len(), requests, "{name}: request count");
        let got = replay::hits(&Contender::parse(policy).unwrap(), keys, size).unwrap();
        checked += 1;
        if got != want {
            mismatches.push(format!(
                "{policy} on {name} at {size}: {got} hits, libCacheSim {want}"
            ));
        }
    }
    println!("{checked} (policy, trace, size) cases checked");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// LRU and FIFO with byte capacities (objects weigh their sizes) against
/// libCacheSim on the oracleGeneral trace: request hits and hit bytes,
/// exactly (`tests/data/libcachesim_bytes.tsv`).
#[test]
fn byte_capacities_equal_libcachesim() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces");
    if !dir.is_dir() {
        crate::skip("../shared/traces is absent");
        return;
    }
    let table = include_str!("../data/libcachesim_bytes.tsv");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    let mut loaded = None;
    for line in table.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (rel, policy) = (f[1], f[2]);
        let bytes: u64 = f[3].parse().unwrap();
        let (requests, hits, hit_bytes): (usize, u64, u64) = (
            f[4].parse().unwrap(),
            f[5].parse().unwrap(),
            f[6].parse().unwrap(),
        );
        let trace: &trace::Trace = loaded.get_or_insert_with(|| {
            let path = dir.join(rel);
            trace::read_trace(&path, Format::guess(&path).unwrap()).unwrap()
        });
        assert_eq!(trace.len(), requests, "request count");
        let sizes = trace.sizes.as_deref().expect("oracleGeneral has sizes");
        let requests = replay::Requests {
            keys: &trace.keys,
            weights: Some(sizes),
            sizes: Some(sizes),
        };
        let got = replay::measure(
            &Contender::parse(policy).unwrap(),
            requests,
            bytes,
            &replay::Progress::silent(),
        )
        .unwrap();
        checked += 1;
        if (got.hits, got.hit_bytes) != (hits, hit_bytes) {
            mismatches.push(format!(
                "{policy} at {bytes} bytes: {} hits / {} hit bytes, libCacheSim {hits} / {hit_bytes}",
                got.hits, got.hit_bytes
            ));
        }
    }
    println!("{checked} (policy, byte capacity) cases checked against libCacheSim");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
