//! Replay: the published LRU figures on the shared traces, OPT against brute
//! force, and the binary end to end.

use std::path::{Path, PathBuf};
use std::process::Command;

use goldylox_host::replay::{self, Contender};
use goldylox_host::trace::{self, Format};

fn traces_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces");
    dir.is_dir().then_some(dir)
}

#[test]
fn lru_hits_the_published_figures_on_shared_traces() {
    let Some(dir) = traces_dir() else {
        crate::skip("../shared/traces is absent");
        return;
    };
    let sizes = [250u64, 500, 750, 1000, 1250, 1500, 1750, 2000];
    let cases = [
        (
            "moka-cache-trace/OLTP.lis.zst",
            [
                "16.47", "23.45", "28.28", "32.83", "36.21", "38.70", "40.79", "42.47",
            ],
        ),
        (
            "caffeine/lirs/gli.trace.gz",
            [
                "0.91", "0.95", "1.15", "11.21", "21.25", "36.56", "45.04", "57.41",
            ],
        ),
    ];
    // The engine's LRU, and the LRU written in C, run as a component.
    let mut contenders = vec![Contender::parse("builtin:lru").unwrap()];
    match Contender::parse("wasm:lru-c") {
        Ok(c) => contenders.push(c),
        Err(_) => eprintln!("wasm:lru-c not built (no clang): checking the native LRU only"),
    }
    for (file, expected) in cases {
        let path = dir.join(file);
        let keys = trace::read(&path, Format::guess(&path).unwrap()).unwrap();
        for lru in &contenders {
            for (&size, want) in sizes.iter().zip(expected) {
                let got = replay::hits(lru, &keys, size).unwrap() as f64 / keys.len() as f64;
                let got = format!("{:.2}", got * 100.0);
                println!(
                    "{} {file} @ {size}: {got}% (published {want}%)",
                    lru.label()
                );
                assert_eq!(got, want, "{} on {file} at {size} entries", lru.label());
            }
        }
    }
}

#[test]
fn trace_readers_agree_on_the_same_requests() {
    let Some(dir) = traces_dir() else {
        crate::skip("../shared/traces is absent");
        return;
    };
    // libCacheSim ships one CloudPhysics trace in three formats.
    let base = dir.join("libcachesim");
    let txt = trace::read(&base.join("cloudPhysicsIO.txt"), Format::Plain).unwrap();
    let csv = trace::read(&base.join("cloudPhysicsIO.csv"), Format::LcsCsv).unwrap();
    let oracle = trace::read(
        &base.join("cloudPhysicsIO.oracleGeneral.bin"),
        Format::Oracle,
    )
    .unwrap();
    assert_eq!(txt.len(), 113_872);
    assert_eq!(txt, csv);
    assert_eq!(oracle.len(), txt.len());
    let distinct = |v: &[u64]| v.iter().collect::<std::collections::HashSet<_>>().len();
    assert_eq!(distinct(&txt), 48_974);
    assert_eq!(distinct(&oracle), 48_974);
}

/// OPT by exhaustive search over every eviction choice, for tiny traces.
fn brute_force_opt(trace: &[u64], size: usize) -> u64 {
    fn go(trace: &[u64], size: usize, cache: &mut Vec<u64>) -> u64 {
        let Some((&k, rest)) = trace.split_first() else {
            return 0;
        };
        if cache.contains(&k) {
            return 1 + go(rest, size, cache);
        }
        if cache.len() < size {
            cache.push(k);
            let h = go(rest, size, cache);
            cache.pop();
            return h;
        }
        let mut best = 0;
        for i in 0..cache.len() {
            let old = std::mem::replace(&mut cache[i], k);
            best = best.max(go(rest, size, cache));
            cache[i] = old;
        }
        best
    }
    go(trace, size, &mut Vec::new())
}

#[test]
fn opt_equals_exhaustive_search_and_bounds_every_policy() {
    let mut state = 7u64;
    for round in 0..60 {
        let n = 8 + round % 7;
        let trace: Vec<u64> = (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) % 6
            })
            .collect();
        for size in 1..=3 {
            let opt = replay::opt_hits(&trace, size as u64);
            assert_eq!(
                opt,
                brute_force_opt(&trace, size),
                "trace {trace:?} size {size}"
            );
            for p in [
                "builtin:lru",
                "builtin:sieve",
                "builtin:fifo",
                "builtin:clock",
                "builtin:s3fifo",
                "builtin:arc",
            ] {
                let h = replay::hits(&Contender::parse(p).unwrap(), &trace, size as u64).unwrap();
                assert!(h <= opt, "{p} beat OPT on {trace:?} at {size}");
            }
            assert!(opt <= replay::infinite_hits(&trace));
        }
    }
}

#[test]
fn bad_arguments_get_clear_errors() {
    assert!(Contender::parse("builtin:nonesuch").is_err());
    assert!("zip".parse::<Format>().is_err());
    let missing = trace::read(Path::new("/nonexistent/x.trace"), Format::Lirs).unwrap_err();
    assert!(format!("{missing:#}").contains("/nonexistent/x.trace"));
    let dir = std::env::temp_dir().join(format!("gx-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.trace");
    std::fs::write(&bad, "1\n2\nthree\n").unwrap();
    let err = trace::read(&bad, Format::Lirs).unwrap_err();
    assert!(
        format!("{err:#}").contains(":3: not an integer key"),
        "{err:#}"
    );
    let short = dir.join("short.oracleGeneral.bin");
    std::fs::write(&short, [0u8; 30]).unwrap();
    assert!(trace::read(&short, Format::Oracle).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_binary_replays_the_embedded_workload() {
    let out = Command::new(env!("CARGO_BIN_EXE_goldylox"))
        .args(["replay", "--sizes", "500,4000"])
        .output()
        .expect("run goldylox");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| size | lru | sieve | s3fifo | arc | OPT | infinite |"),
        "{table}"
    );
    let row: Vec<f64> = table
        .lines()
        .find(|l| l.starts_with("| 4000 "))
        .expect("a row for size 4000")
        .split('|')
        .filter_map(|c| c.split_whitespace().next()?.parse().ok())
        .collect();
    // size, lru, sieve, s3fifo, arc, opt, infinite
    assert_eq!(row.len(), 7);
    let (opt, infinite) = (row[5], row[6]);
    assert!(
        row[1..5].iter().all(|&p| p <= opt) && opt <= infinite,
        "{row:?}"
    );
    // Each policy's cell carries its gap to OPT: `42.10 (−5.32)`.
    let line = table.lines().find(|l| l.starts_with("| 4000 ")).unwrap();
    let gaps: Vec<f64> = line
        .split("(−")
        .skip(1)
        .filter_map(|g| g.split(')').next()?.parse().ok())
        .collect();
    assert_eq!(gaps.len(), 4, "{line}");
    for (gap, ratio) in gaps.iter().zip(&row[1..5]) {
        assert!((gap - (opt - ratio)).abs() < 0.011, "{line}");
    }
}

/// Every trace in ../shared/traces reads, with the request and distinct-key
/// counts its SOURCES.md table gives.
#[test]
fn every_shared_trace_reads_with_the_documented_counts() {
    let Some(dir) = traces_dir() else {
        crate::skip("../shared/traces is absent");
        return;
    };
    let sources = std::fs::read_to_string(dir.join("SOURCES.md")).unwrap();
    let mut checked = Vec::new();
    for line in sources.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (file, requests, unique) = (cells[1], cells[4], cells[5]);
        let (Ok(requests), Ok(unique)) = (
            requests.replace(',', "").parse::<usize>(),
            unique.replace(',', "").parse::<usize>(),
        ) else {
            continue; // the header, licences, READMEs
        };
        let path = dir.join(file);
        let format = Format::guess(&path).unwrap_or_else(|| panic!("no format guessed for {file}"));
        let trace = trace::read_trace(&path, format).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        let distinct = trace
            .keys
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        assert_eq!(
            (trace.len(), distinct),
            (requests, unique),
            "{file} read as {format:?}"
        );
        assert_eq!(trace.sizes.is_some(), format.has_sizes(), "{file}");
        checked.push(file.to_owned());
    }
    println!(
        "{} shared traces read: {}",
        checked.len(),
        checked.join(", ")
    );
    assert!(
        checked.len() >= 20,
        "only {} traces found in SOURCES.md",
        checked.len()
    );
}

#[test]
fn vscsi_and_csv_carry_the_same_requests_and_sizes() {
    let Some(dir) = traces_dir() else {
        crate::skip("../shared/traces is absent");
        return;
    };
    let base = dir.join("libcachesim");
    let csv = trace::read_trace(&base.join("cloudPhysicsIO.csv"), Format::LcsCsv).unwrap();
    let vscsi = trace::read_trace(&base.join("cloudPhysicsIO.vscsi"), Format::Vscsi).unwrap();
    assert_eq!(csv.keys, vscsi.keys);
    assert!(csv.sizes.is_some());
    assert_eq!(csv.sizes, vscsi.sizes);
    assert_eq!(csv.total_bytes(), 4_205_978_112);
}

#[test]
fn cache_sizes_parse_in_entries_and_bytes() {
    use replay::Capacity;
    assert_eq!(Capacity::parse("1000").unwrap(), Capacity::Entries(1000));
    assert_eq!(Capacity::parse("64MiB").unwrap(), Capacity::Bytes(64 << 20));
    assert_eq!(Capacity::parse("2g").unwrap(), Capacity::Bytes(2 << 30));
    assert_eq!(Capacity::parse("512KB").unwrap(), Capacity::Bytes(512_000));
    assert!(Capacity::parse("12 parsecs").is_err());
    assert!(Capacity::parse("MiB").is_err());
    assert_eq!(Capacity::Bytes(64 << 20).to_string(), "64MiB");
}

/// OPT with byte capacities never does worse than LRU, by request count,
/// on a real trace with sizes.
#[test]
fn sized_opt_bounds_lru_by_bytes() {
    let Some(dir) = traces_dir() else {
        crate::skip("../shared/traces is absent");
        return;
    };
    let path = dir.join("libcachesim/cloudPhysicsIO.oracleGeneral.bin");
    let trace = trace::read_trace(&path, Format::Oracle).unwrap();
    let sizes = trace.sizes.as_deref().unwrap();
    let requests = replay::Requests {
        keys: &trace.keys,
        weights: Some(sizes),
        sizes: Some(sizes),
        ops: None,
    };
    for capacity in [16u64 << 20, 256 << 20] {
        let opt = replay::opt(requests, capacity);
        let lru = replay::measure(
            &Contender::parse("builtin:lru").unwrap(),
            requests,
            capacity,
            &replay::Progress::silent(),
        )
        .unwrap();
        assert!(
            opt.hits >= lru.hits,
            "{capacity}: OPT {} < LRU {}",
            opt.hits,
            lru.hits
        );
        assert!(opt.hits <= replay::infinite(requests).hits);
    }
}
