//! TESTING A2: a writer process is killed with SIGKILL at a random moment,
//! again and again; after each kill the store is reopened and checked.
//!
//! The child is this test binary running the ignored test `kill_child`; it
//! writes a deterministic sequence of operations (op `j` always writes the
//! same key and value), prints `acked j` once a write returns and
//! `synced j` once everything up to `j` is durable. The parent kills it
//! after 5–500 ms, reopens the directory and checks every key: the value
//! must be the one of a write at or after the key's last synced write (0
//! corrupt reads, 0 synced-but-lost), never one no op wrote.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use goldylox::cold::{ColdConfig, ColdStore, SyncMode};

use crate::support::Rng;

const KEYS: u64 = 97;

fn config(dir: &std::path::Path) -> ColdConfig {
    let mut c = ColdConfig::new(dir, 4 << 30);
    c.segment_size = 8 << 20;
    c.sync = SyncMode::Every(Duration::from_millis(20));
    c.snapshot_every = Some(Duration::from_millis(200));
    c
}

/// The key and value op `j` writes: 0 B – 1 MiB (mostly small), half of
/// them compressible.
fn op(j: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(j.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
    let key = key_of(&mut rng);
    let len = if rng.below(100) == 0 {
        rng.below(1 << 20)
    } else if rng.below(20) == 0 {
        rng.below(256 << 10)
    } else {
        rng.below(4 << 10)
    } as usize;
    let mut value = j.to_le_bytes().to_vec();
    if j.is_multiple_of(2) {
        value.extend((0..len).map(|i| (i % 13) as u8));
    } else {
        value.extend((0..len).map(|_| rng.next_u64() as u8));
    }
    (key, value)
}

fn key_of(rng: &mut Rng) -> Vec<u8> {
    format!("key-{}", rng.below(KEYS)).into_bytes()
}

/// The key op `j` writes, without making its value.
fn op_key(j: u64) -> Vec<u8> {
    key_of(&mut Rng::new(j.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1))
}

/// The child: runs only when the parent starts it.
#[test]
#[ignore = "run by kill_minus_nine_loop in a child process"]
fn kill_child() {
    let (Some(dir), Some(start)) = (
        std::env::var_os("GOLDYLOX_KILL_DIR"),
        std::env::var("GOLDYLOX_KILL_START").ok(),
    ) else {
        return;
    };
    let start: u64 = start.parse().unwrap();
    let store = ColdStore::open(config(std::path::Path::new(&dir))).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "opened").unwrap();
    out.flush().unwrap();
    for j in start.. {
        let (k, v) = op(j);
        store.put(&k, &v, None).unwrap();
        writeln!(out, "acked {j}").unwrap();
        if j % 16 == 15 {
            store.sync().unwrap();
            writeln!(out, "synced {j}").unwrap();
        }
        out.flush().unwrap();
    }
}

#[test]
fn kill_minus_nine_loop() {
    let runs: u64 = std::env::var("GOLDYLOX_KILL_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(42);
    let mut next = 0u64;
    // The ops a sync covered: per run, from its first op to its last
    // "synced". An op acked but not synced in its own run may be lost with
    // its run (it was still queued), whatever later runs sync.
    let mut durable: Vec<(u64, u64)> = Vec::new();
    let mut unsynced_at_kill = Vec::new();
    let mut lost_unsynced = 0u64;
    let mut recoveries = Vec::new();
    // Per key, every op that wrote it so far.
    let mut writes: std::collections::HashMap<Vec<u8>, Vec<u64>> = Default::default();
    for run in 0..runs {
        let mut child = Command::new(&exe)
            .args([
                "cold_kill::kill_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("GOLDYLOX_KILL_DIR", dir.path())
            .env("GOLDYLOX_KILL_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill 5–500 ms after it opened the store.
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the child opens the store");
            if line == "opened" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5 + rng.below(496)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let (mut acked, mut synced) = (None, None);
        for line in rx.try_iter() {
            if let Some(j) = line.strip_prefix("acked ") {
                acked = Some(j.parse::<u64>().unwrap());
            } else if let Some(j) = line.strip_prefix("synced ") {
                synced = Some(j.parse::<u64>().unwrap());
            }
        }
        let last = acked.unwrap_or(next.saturating_sub(1));
        if let Some(s) = synced {
            durable.push((next, s));
        }
        unsynced_at_kill.push(last.saturating_sub(synced.unwrap_or(next.saturating_sub(1))));

        // Reopen and check every key against the history 0..=last (+1 in
        // flight).
        let began = Instant::now();
        let store = ColdStore::open(config(dir.path())).unwrap();
        recoveries.push((began.elapsed(), store.stats().disk_bytes));
        let horizon = last + 1;
        for j in next..=horizon {
            writes.entry(op_key(j)).or_default().push(j);
        }
        for (key, ops) in &writes {
            let got = store
                .get(key)
                .unwrap_or_else(|e| panic!("run {run}: corrupt read of {key:?}: {e}"));
            // The key's last synced write.
            let must = ops
                .iter()
                .rev()
                .find(|&&j| durable.iter().any(|&(a, b)| a <= j && j <= b))
                .copied();
            match got {
                None => {
                    assert!(
                        must.is_none(),
                        "run {run}: synced write {must:?} of {key:?} lost"
                    );
                    if ops.iter().any(|&j| j <= last) {
                        lost_unsynced += 1;
                    }
                }
                Some(v) => {
                    let j = u64::from_le_bytes(v.value[..8].try_into().unwrap());
                    assert!(
                        ops.contains(&j),
                        "run {run}: {key:?} holds op {j}, which wrote another key"
                    );
                    assert_eq!(v.value, op(j).1, "run {run}: op {j}'s value is wrong");
                    assert!(
                        must.is_none_or(|m| j >= m),
                        "run {run}: {key:?} went back to op {j} before synced op {must:?}"
                    );
                    if ops.iter().rev().find(|&&x| x <= last) != Some(&j) {
                        lost_unsynced += 1;
                    }
                }
            }
        }
        drop(store);
        // The op in flight at the kill (maybe written, never acked) is not
        // run again.
        next = horizon + 1;
    }
    let max = unsynced_at_kill.iter().max().copied().unwrap_or(0);
    let mean = unsynced_at_kill.iter().sum::<u64>() as f64 / runs.max(1) as f64;
    recoveries.sort();
    let p = |q: f64| recoveries[((recoveries.len() - 1) as f64 * q) as usize];
    let (p50, p99) = (p(0.5), p(0.99));
    println!(
        "A2: {runs} kill -9 runs, {next} ops: 0 corrupt reads, 0 synced-but-lost; acked-but-unsynced at kill max {max} / mean {mean:.1} writes; keys behind their last acked write after restart: {lost_unsynced}; recovery p50 {:?} ({} MiB), p99 {:?} ({} MiB)",
        p50.0,
        p50.1 >> 20,
        p99.0,
        p99.1 >> 20
    );
}
