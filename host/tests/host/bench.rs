//! `goldylox bench` against a real server: every value read back is
//! checked (a planted wrong one is caught); against redis-server it runs
//! clean; and a single-connection run of goldylox's hot tier under LRU
//! hits as often as `replay`'s LRU at the number of entries the server
//! held — the bench measures the cache, not itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use goldylox_host::bench::{self, BenchCommand, Payload, RunArgs};
use goldylox_host::replay::{self, Contender};

use super::serve::TestServer;

/// The first `n` requests of the embedded synthetic workload, as a plain
/// trace file in `dir`.
fn trace_file(dir: &Path, n: usize) -> (PathBuf, Vec<u64>) {
    let keys: Vec<u64> = replay::synthetic().into_iter().take(n).collect();
    let path = dir.join("trace.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for k in &keys {
        writeln!(f, "{k}").unwrap();
    }
    f.flush().unwrap();
    (path, keys)
}

/// One connection, one request at a time, 100-byte values, from empty.
fn args(server: String, trace: PathBuf) -> RunArgs {
    RunArgs {
        format: Some("plain".to_owned()),
        value_size: 100,
        connections: 1,
        pipeline: 1,
        flush: true,
        ..RunArgs::new(server, trace)
    }
}

#[test]
fn a_single_connection_lru_run_hits_as_replay_does() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, keys) = trace_file(dir.path(), 20_000);
    let server = TestServer::start(|c| {
        c.cache.policy = "builtin:lru".to_owned();
        c.cache.memory_bytes = 1 << 20;
    });
    let run = bench::run(&args(server.addr.to_string(), trace)).unwrap();
    let counts = &run.outcome.counts;
    assert_eq!(counts.requests, keys.len() as u64);
    assert_eq!(counts.wrong, 0);
    let mut c = server.client();
    let resident: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert!(resident > 100, "{resident} entries held");
    let lru = replay::hits(&Contender::parse("builtin:lru").unwrap(), &keys, resident).unwrap();
    let (ours, theirs) = (
        counts.hits as f64 / counts.requests as f64,
        lru as f64 / keys.len() as f64,
    );
    // Keys of different lengths weigh differently, so the capacity in
    // entries moves a little over the run; the figures stay within a point.
    assert!(
        (ours - theirs).abs() < 0.01,
        "bench {ours:.4} vs replay LRU {theirs:.4} at {resident} entries"
    );
    println!(
        "bench hit ratio {:.2} % vs replay LRU {:.2} % at {resident} entries",
        ours * 100.0,
        theirs * 100.0
    );
}

#[test]
fn a_wrong_value_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, keys) = trace_file(dir.path(), 2_000);
    let server = TestServer::start(|_| {});
    let mut a = args(server.addr.to_string(), trace);
    a.flush = false;
    let mut c = server.client();
    let _: () = redis::cmd("SET")
        .arg(format!("bench:{:x}", keys[0]))
        .arg(vec![7u8; 100])
        .query(&mut c)
        .unwrap();
    let run = bench::run(&a).unwrap();
    assert_eq!(run.outcome.counts.wrong, 1, "the planted value");
}

#[test]
fn redis_server_runs_clean_with_many_connections() {
    let Some(reference) = crate::serve_differential::Reference::start(false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (trace, keys) = trace_file(dir.path(), 20_000);
    let mut a = args(reference.addr.clone(), trace);
    a.connections = 4;
    a.pipeline = 8;
    a.payload = Payload::Text;
    let (series, csv) = (dir.path().join("series.csv"), dir.path().join("runs.csv"));
    a.series = Some(series.clone());
    a.csv = Some(csv.clone());
    bench::main(BenchCommand::Run(a)).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let field = |name: &str| -> String {
        let at = lines[0].split(',').position(|h| h == name).unwrap();
        lines[1].split(',').nth(at).unwrap().to_owned()
    };
    assert_eq!(field("requests"), keys.len().to_string());
    assert_eq!(field("wrong_values"), "0");
    let hit_ratio: f64 = field("hit_ratio").parse().unwrap();
    assert!(hit_ratio > 0.0 && hit_ratio < 1.0, "{hit_ratio}");
    assert!(field("peak_used_memory_bytes").parse::<u64>().unwrap() > 0);
    let chart = dir.path().join("chart.svg");
    bench::main(BenchCommand::Chart {
        title: "test".to_owned(),
        output: chart.clone(),
        series: vec![series.clone(), series],
    })
    .unwrap();
    let svg = std::fs::read_to_string(chart).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 4, "two runs, two panels");
}

#[test]
fn refused_sets_are_counted_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, keys) = trace_file(dir.path(), 50);
    // A hot tier of 1 MiB cannot take a 2 MiB value: SET answers -OOM.
    let server = TestServer::start(|c| c.cache.memory_bytes = 1 << 20);
    let mut a = args(server.addr.to_string(), trace);
    a.value_size = 2 << 20;
    let run = bench::run(&a).unwrap();
    let counts = &run.outcome.counts;
    assert_eq!(counts.requests, keys.len() as u64);
    assert_eq!((counts.hits, counts.refused), (0, keys.len() as u64));
    let refusal = counts.refusal.as_deref().unwrap_or_default();
    assert!(refusal.starts_with("OOM"), "{refusal}");
}
