//! Acknowledged means durable over RESP: `goldylox serve` with a
//! write-through cold tier and `sync = "always"` answers a write only once
//! it is synced. Clients pipeline SETs on several connections; the server
//! is killed with SIGKILL at a random moment, restarted on the same
//! directory, and every write that got its `+OK` must be there. Rounds:
//! `GOLDYLOX_KILL_ROUNDS` (default 8; `scripts/kill_durable.sh` runs more).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::serve_default::{free_port, serve};

const CONFIG: &str = "[cache]\nmemory_bytes = \"4mb\"\nwarm_bytes = 0\n\
                      [cache.cold]\ndir = \"data\"\nsync = \"always\"\n\
                      write_policy = \"write-through\"\nsegment_bytes = \"1mb\"\n\
                      capacity_bytes = \"64mb\"\n";

/// One client: pipelines batches of SETs of its own keys and records the
/// highest key whose `+OK` it read, until the connection breaks.
fn client(port: u16, id: usize, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<u64>>>) {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut next = acked.lock().unwrap()[id] + 1;
    while !stop.load(Ordering::Relaxed) {
        let mut batch = String::new();
        for i in next..next + 16 {
            let (key, value) = (format!("c{id}:{i}"), format!("v{i}"));
            batch.push_str(&format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            ));
        }
        if writer.write_all(batch.as_bytes()).is_err() {
            return;
        }
        for i in next..next + 16 {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(n) if n > 0 && line == "+OK\r\n" => acked.lock().unwrap()[id] = i,
                _ => return,
            }
        }
        next += 16;
    }
}

/// Restarts the server and checks the writes acknowledged since the last
/// round (`from`, exclusive, to `to`): older ones may since have left the
/// cold tier by its capacity, as a cache's entries do.
fn check(dir: &Path, port: u16, from: &[u64], to: &[u64]) -> u64 {
    let mut served = serve(dir, port, &["--config", "durable.toml"]);
    let mut checked = 0;
    for (id, (&first, &last)) in from.iter().zip(to).enumerate() {
        let keys: Vec<u64> = (first + 1..=last).collect();
        for chunk in keys.chunks(500) {
            let names: Vec<String> = chunk.iter().map(|i| format!("c{id}:{i}")).collect();
            let got: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&names)
                .query(&mut served.client)
                .unwrap();
            for (i, value) in chunk.iter().zip(got) {
                assert_eq!(
                    value.as_deref(),
                    Some(format!("v{i}").as_str()),
                    "c{id}:{i} was acknowledged before the kill"
                );
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let rounds: u64 = std::env::var("GOLDYLOX_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("durable.toml"), CONFIG).unwrap();
    let clients = 4;
    let acked = Arc::new(Mutex::new(vec![0u64; clients]));
    let mut seed = 0x9e37_79b9_u64;
    let mut total = 0;
    let mut before = vec![0u64; clients];
    for round in 0..rounds {
        let port = free_port();
        let mut served = serve(dir.path(), port, &["--config", "durable.toml"]);
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..clients)
            .map(|id| {
                let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
                std::thread::spawn(move || client(port, id, stop, acked))
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(100 + seed % 300));
        served.child.kill().unwrap();
        served.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        threads.into_iter().for_each(|t| t.join().unwrap());
        let snapshot = acked.lock().unwrap().clone();
        let checked = check(dir.path(), free_port(), &before, &snapshot);
        assert!(checked > 0, "round {round}: nothing was acknowledged");
        total += checked;
        before = snapshot;
    }
    println!("{rounds} SIGKILLs: all {total} writes acknowledged before each were found after it");
}
