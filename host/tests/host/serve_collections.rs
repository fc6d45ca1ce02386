//! Lists, sets and sorted sets through the real binary: demoted to the
//! warm and cold tiers and edited back, across a restart; a data directory
//! of the previous value format upgraded; a collection that would outgrow
//! the hot tier refused whole; blocked clients served, timed out, and one
//! that leaves losing nothing.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use redis::Commands;

use crate::serve_default::{free_port, serve};

/// Memory tiers that hold a fraction of the test's collections.
const SMALL: &str = "[cache]\nmemory_bytes = \"1mb\"\nwarm_bytes = \"1mb\"\n\
                     [cache.cold]\nsegment_bytes = \"1mb\"\ncapacity_bytes = \"256mb\"\n";

/// Member `m` of collection `i`: text that does not compress well.
fn member(i: u64, m: u64) -> String {
    let x = (i * 1_000 + m).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    format!("{x:x}{:x}", x.rotate_left(29))
}

fn cold_entries(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cold_entries:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[test]
fn collections_go_through_every_tier_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), SMALL).unwrap();
    let port = free_port();
    let mut s = serve(dir.path(), port, &["--config", "small.toml"]);
    const EACH: u64 = 4_000;
    for i in 0..EACH {
        let members: Vec<String> = (0..6).map(|m| member(i, m)).collect();
        let _: i64 = s.client.rpush(format!("l:{i}"), &members).unwrap();
        let _: i64 = s.client.sadd(format!("s:{i}"), &members).unwrap();
        let scored: Vec<(f64, String)> = members
            .iter()
            .enumerate()
            .map(|(r, m)| (r as f64 / 2.0, m.clone()))
            .collect();
        let _: i64 = s.client.zadd_multiple(format!("z:{i}"), &scored).unwrap();
    }
    // Demotions run on the maintenance thread: a bound, not a speed claim.
    let started = Instant::now();
    while cold_entries(&mut s.client) < EACH && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        cold_entries(&mut s.client) >= EACH,
        "many collections on disk"
    );
    // Each one, wherever it lies, takes one more member in place.
    for i in 0..EACH {
        let _: i64 = s.client.rpush(format!("l:{i}"), "tail").unwrap();
        let _: i64 = s.client.sadd(format!("s:{i}"), "extra").unwrap();
        let _: i64 = s.client.zadd(format!("z:{i}"), "top", 100).unwrap();
    }
    let check = |c: &mut redis::Connection, i: u64| {
        let mut want: Vec<String> = (0..6).map(|m| member(i, m)).collect();
        want.push("tail".into());
        let list: Vec<String> = c.lrange(format!("l:{i}"), 0, -1).unwrap();
        assert_eq!(list, want, "l:{i}");
        let set: BTreeSet<String> = c.smembers(format!("s:{i}")).unwrap();
        want.pop();
        want.push("extra".into());
        assert_eq!(set, want.iter().cloned().collect(), "s:{i}");
        let ranked: Vec<String> = c.zrange(format!("z:{i}"), 0, -1).unwrap();
        want.pop();
        want.push("top".into());
        assert_eq!(ranked, want, "z:{i} in score order");
        let score: f64 = c.zscore(format!("z:{i}"), member(i, 3)).unwrap();
        assert_eq!(score, 1.5);
    };
    for i in (0..EACH).step_by(7) {
        check(&mut s.client, i);
    }
    let n: u64 = redis::cmd("DBSIZE").query(&mut s.client).unwrap();
    assert_eq!(n, 3 * EACH);
    for (kind, prefix) in [("list", "l"), ("set", "s"), ("zset", "z")] {
        let t: String = redis::cmd("TYPE")
            .arg(format!("{prefix}:9"))
            .query(&mut s.client)
            .unwrap();
        assert_eq!(t, kind);
        let usage: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(format!("{prefix}:9"))
            .query(&mut s.client)
            .unwrap();
        assert!(usage > 7 * 20, "{kind}: {usage} bytes counts its members");
    }
    s.stop();

    let mut s = serve(dir.path(), port, &["--config", "small.toml"]);
    for i in (0..EACH).step_by(11) {
        check(&mut s.client, i);
    }
    s.stop();
}

#[test]
fn a_data_directory_of_the_previous_format_is_upgraded_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format2");
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    assert!(
        std::fs::read_to_string(data.join("value-format"))
            .unwrap()
            .contains("values 2")
    );
    let port = free_port();
    let mut s = serve(dir.path(), port, &["--dir", "data"]);
    let v: String = s.client.get("s1").unwrap();
    assert_eq!(v, "hello");
    let h: std::collections::BTreeMap<String, String> = s.client.hgetall("h2").unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h["b"], "2");
    let ttl: i64 = s.client.ttl("t1").unwrap();
    assert!(ttl > 100_000_000, "the deadline survived: {ttl}");
    for i in 1..=20 {
        let v: String = s.client.get(format!("key:{i}")).unwrap();
        assert_eq!(v, format!("value-{i}"));
    }
    let _: i64 = s.client.rpush("new-list", "x").unwrap();
    s.stop();
    assert!(
        std::fs::read_to_string(data.join("value-format"))
            .unwrap()
            .contains("values 3")
    );
    let mut s = serve(dir.path(), port, &["--dir", "data"]);
    let list: Vec<String> = s.client.lrange("new-list", 0, -1).unwrap();
    assert_eq!(list, ["x"]);
    let v: String = s.client.get("s1").unwrap();
    assert_eq!(v, "hello");
    s.stop();
}

#[test]
fn a_collection_that_would_outgrow_the_hot_tier_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), SMALL).unwrap();
    let port = free_port();
    let mut s = serve(dir.path(), port, &["--config", "small.toml"]);
    let chunk: Vec<String> = (0..100).map(|m| format!("{:0>200}", m)).collect();
    let mut pushed = 0i64;
    let error = loop {
        match s.client.rpush::<_, _, i64>("big", &chunk) {
            Ok(n) => pushed = n,
            Err(e) => break e.to_string(),
        }
        assert!(pushed < 100_000, "a 1 MiB hot tier cannot hold 20 MB");
    };
    assert!(error.contains("OOM"), "{error}");
    let len: i64 = s.client.llen("big").unwrap();
    assert_eq!(len, pushed, "the refused push changed nothing");
    let first: String = s.client.lindex("big", 0).unwrap();
    assert_eq!(first, chunk[0]);
    s.stop();
}

/// Sends `command` on a raw connection (a client that blocks).
fn raw(port: u16, command: &str) -> std::net::TcpStream {
    let mut t = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.write_all(command.as_bytes()).unwrap();
    t
}

fn blocked_clients(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn wait_blocked(c: &mut redis::Connection, n: u64) {
    let started = Instant::now();
    while blocked_clients(c) != n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never {n} blocked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn blocked_clients_are_served_in_order_time_out_and_lose_nothing_when_they_leave() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut s = serve(dir.path(), port, &[]);
    // Two clients block on one key; one push of two elements serves both,
    // the first to block first.
    let mut first = raw(port, "*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
    wait_blocked(&mut s.client, 1);
    let mut second = raw(port, "*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
    wait_blocked(&mut s.client, 2);
    let _: i64 = s.client.rpush("q", &["a", "b"]).unwrap();
    let mut reply = [0u8; 64];
    let n = first.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"*2\r\n$1\r\nq\r\n$1\r\na\r\n");
    let n = second.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
    // A timeout answers nil.
    let started = Instant::now();
    let got: Option<(String, String)> = redis::cmd("BLPOP")
        .arg("none")
        .arg(0.2)
        .query(&mut s.client)
        .unwrap();
    assert_eq!(got, None);
    // Behaviour, not speed: the nil came after the wait, not instead of it.
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A client that leaves while blocked is not served: the element stays.
    let gone = raw(port, "*3\r\n$5\r\nBRPOP\r\n$4\r\nleft\r\n$1\r\n0\r\n");
    wait_blocked(&mut s.client, 1);
    drop(gone);
    wait_blocked(&mut s.client, 0);
    let _: i64 = s.client.rpush("left", "kept").unwrap();
    let kept: Vec<String> = s.client.lrange("left", 0, -1).unwrap();
    assert_eq!(kept, ["kept"]);
    // BLMOVE serves through a chain: a client blocked on the destination
    // gets what the first one moved there.
    let mut mover = raw(
        port,
        "*6\r\n$6\r\nBLMOVE\r\n$3\r\nsrc\r\n$3\r\ndst\r\n$4\r\nLEFT\r\n$5\r\nRIGHT\r\n$1\r\n0\r\n",
    );
    wait_blocked(&mut s.client, 1);
    let mut taker = raw(port, "*3\r\n$5\r\nBRPOP\r\n$3\r\ndst\r\n$1\r\n0\r\n");
    wait_blocked(&mut s.client, 2);
    let _: i64 = s.client.lpush("src", "hop").unwrap();
    let n = mover.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"$3\r\nhop\r\n");
    let n = taker.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"*2\r\n$3\r\ndst\r\n$3\r\nhop\r\n");
    let left: i64 = s.client.exists(&["src", "dst"]).unwrap();
    assert_eq!(left, 0);
    s.stop();
}

#[test]
fn save_writes_the_memory_tiers_to_disk_so_a_kill_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut s = serve(dir.path(), port, &[]);
    for i in 0..200 {
        let _: i64 = s.client.rpush(format!("q:{i}"), &["a", "b"]).unwrap();
    }
    let ok: String = redis::cmd("SAVE").query(&mut s.client).unwrap();
    assert_eq!(ok, "OK");
    // In MULTI it is refused, as in Redis.
    let _: () = redis::cmd("MULTI").query(&mut s.client).unwrap();
    let refused = redis::cmd("SAVE")
        .query::<String>(&mut s.client)
        .unwrap_err();
    assert!(refused.to_string().contains("not allowed"), "{refused}");
    let _: () = redis::cmd("DISCARD").query(&mut s.client).unwrap();
    // SIGKILL: no shutdown persists anything now.
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let mut s = serve(dir.path(), port, &[]);
    for i in (0..200).step_by(13) {
        let list: Vec<String> = s.client.lrange(format!("q:{i}"), 0, -1).unwrap();
        assert_eq!(list, ["a", "b"], "q:{i}");
    }
    s.stop();
}
