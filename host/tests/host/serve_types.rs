//! Hashes, SCAN, the multi-key commands and RESP3 through the real binary,
//! with tiers small enough that most keys live in the warm and cold tiers,
//! and across a restart.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

use redis::Commands;

use crate::serve_default::{free_port, serve};

/// A configuration whose memory tiers hold a fraction of the test's keys.
const SMALL: &str = "[cache]\nmemory_bytes = \"1mb\"\nwarm_bytes = \"1mb\"\n\
                     [cache.cold]\nsegment_bytes = \"1mb\"\ncapacity_bytes = \"256mb\"\n";

/// The fields of hash `i`: a few, with values that do not compress.
fn fields(i: u64) -> BTreeMap<String, String> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..1 + i % 5)
        .map(|f| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (format!("field{f}"), format!("{x:x}{x:o}"))
        })
        .collect()
}

/// Every key one full SCAN returns, checked to come once.
fn scan_all(c: &mut redis::Connection, count: usize, kind: Option<&str>) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("COUNT").arg(count);
        if let Some(kind) = kind {
            cmd.arg("TYPE").arg(kind);
        }
        let (next, keys): (u64, Vec<String>) = cmd.query(c).unwrap();
        for k in keys {
            assert!(seen.insert(k.clone()), "{k} returned twice");
        }
        if next == 0 {
            return seen;
        }
        cursor = next;
    }
}

#[test]
fn hashes_scan_and_renames_go_through_every_tier_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), SMALL).unwrap();
    let port = free_port();
    let mut s = serve(dir.path(), port, &["--config", "small.toml"]);
    const HASHES: u64 = 20_000;
    for i in 0..HASHES {
        let pairs: Vec<(String, String)> = fields(i).into_iter().collect();
        let () = s.client.hset_multiple(format!("h:{i}"), &pairs).unwrap();
        let () = s.client.set(format!("s:{i}"), i).unwrap();
    }
    // Demotions run on the maintenance thread: wait (a bound, not a
    // speed claim) until most keys went down to disk.
    let started = std::time::Instant::now();
    let mut cold = 0;
    while started.elapsed() < std::time::Duration::from_secs(30) {
        let info: String = redis::cmd("INFO").query(&mut s.client).unwrap();
        cold = info
            .lines()
            .find_map(|l| l.strip_prefix("cold_entries:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap();
        if cold > HASHES / 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        cold > HASHES / 2,
        "many keys are on disk: {cold} of {}",
        2 * HASHES
    );

    // Every hash reads back whole, whichever tier held it.
    for i in (0..HASHES).step_by(17) {
        let got: BTreeMap<String, String> = s.client.hgetall(format!("h:{i}")).unwrap();
        assert_eq!(got, fields(i), "h:{i}");
    }
    // A full SCAN sees every key once; TYPE and MATCH filter.
    let all = scan_all(&mut s.client, 100, None);
    assert_eq!(all.len() as u64, 2 * HASHES);
    let hashes = scan_all(&mut s.client, 1_000, Some("hash"));
    assert_eq!(hashes.len() as u64, HASHES);
    assert!(hashes.iter().all(|k| k.starts_with("h:")));
    let some: Vec<String> = s.client.keys("s:1?").unwrap();
    assert_eq!(some.len(), 10);
    // Strings and hashes refuse each other's commands.
    let wrong: redis::RedisResult<String> = s.client.get("h:1");
    assert_eq!(wrong.unwrap_err().code(), Some("WRONGTYPE"));
    let wrong: redis::RedisResult<i64> = s.client.hincr("s:1", "f", 1);
    assert_eq!(wrong.unwrap_err().code(), Some("WRONGTYPE"));
    // RENAME moves a hash that may be cold; HDEL of the last field deletes.
    let () = redis::cmd("RENAME")
        .arg("h:3")
        .arg("moved")
        .query(&mut s.client)
        .unwrap();
    let moved: BTreeMap<String, String> = s.client.hgetall("moved").unwrap();
    assert_eq!(moved, fields(3));
    assert!(!s.client.exists::<_, bool>("h:3").unwrap());
    let only: Vec<String> = fields(0).into_keys().collect();
    let () = s.client.hdel("h:0", &only).unwrap();
    assert!(!s.client.exists::<_, bool>("h:0").unwrap());
    let copied: i64 = redis::cmd("COPY")
        .arg("h:5")
        .arg("h:5:copy")
        .query(&mut s.client)
        .unwrap();
    assert_eq!(copied, 1);
    let n: u64 = redis::cmd("DBSIZE").query(&mut s.client).unwrap();
    assert_eq!(n, 2 * HASHES, "one renamed, one deleted, one copied");
    s.stop();

    // After a restart the hashes come back from disk.
    let mut s = serve(dir.path(), port, &["--config", "small.toml"]);
    for i in (1..HASHES).step_by(37).filter(|i| *i != 3) {
        let got: BTreeMap<String, String> = s.client.hgetall(format!("h:{i}")).unwrap();
        assert_eq!(got, fields(i), "h:{i} after a restart");
    }
    let moved: BTreeMap<String, String> = s.client.hgetall("moved").unwrap();
    assert_eq!(moved, fields(3));
    assert_eq!(scan_all(&mut s.client, 500, None).len() as u64, 2 * HASHES);
    s.stop();
}

#[test]
fn hello_3_switches_the_connection_to_resp3() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = serve(dir.path(), port, &[]);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // Sends `request` and a PING, and answers what came before the PONG.
    let mut ask = |request: &str| -> String {
        raw.write_all(format!("{request}\r\nPING\r\n").as_bytes())
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !got.ends_with(b"+PONG\r\n") {
            let n = raw.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection");
            got.extend_from_slice(&chunk[..n]);
        }
        got.truncate(got.len() - b"+PONG\r\n".len());
        String::from_utf8(got).unwrap()
    };
    assert_eq!(ask("HSET h a 1"), ":1\r\n");
    assert_eq!(ask("GET nothing"), "$-1\r\n");
    assert_eq!(ask("HGETALL h"), "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    let hello = ask("HELLO 3");
    assert!(
        hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.4.0\r\n"),
        "{hello}"
    );
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    assert_eq!(ask("GET nothing"), "_\r\n");
    assert_eq!(ask("HGETALL h"), "%1\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(ask("HMGET h a b"), "*2\r\n$1\r\n1\r\n_\r\n");
    assert!(ask("HELLO 2").starts_with("*14\r\n"));
    assert_eq!(ask("GET nothing"), "$-1\r\n");
    assert!(ask("HELLO 4").starts_with("-NOPROTO"));
    drop(s);
}
