//! The main job as a newcomer runs it: the `goldylox` binary with no
//! configuration file (the embedded default: hot, warm and cold tiers), in
//! a directory of its own; a restart finds the data; DBSIZE and INFO count
//! every tier; `--check-config` and the command-line overrides.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Commands;

/// `goldylox serve ARGS` in `dir`, with a client once it answers.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) client: redis::Connection,
}

pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub(crate) fn serve(dir: &Path, port: u16, args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_goldylox"))
        .current_dir(dir)
        .args(["serve", "--port", &port.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    // Up to a minute of attempts: a bound on waiting, not a speed claim.
    for _ in 0..1_200 {
        if let Ok(client) = client.get_connection() {
            return Served { child, client };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("goldylox serve exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("goldylox serve did not answer");
}

impl Drop for Served {
    fn drop(&mut self) {
        // A failed test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// SIGTERM, a clean exit, and what it wrote on stderr.
    pub(crate) fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert!(status.success(), "SIGTERM is a clean exit: {status}\n{log}");
        log
    }
}

/// The resident set of process `pid`, in bytes (`VmRSS`).
pub(crate) fn rss_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    kib << 10
}

/// A numeric field of `INFO` (its default sections: memory, stats, …).
pub(crate) fn info_field(c: &mut redis::Connection, name: &str) -> u64 {
    let info: String = redis::cmd("INFO").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO has no {name}:\n{info}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_main_job_runs_three_tiers_and_a_restart_finds_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut s = serve(dir.path(), port, &[]);
    for i in 0..2_000 {
        let () = s
            .client
            .set(format!("key:{i}"), format!("value {i}"))
            .unwrap();
    }
    let n: u64 = redis::cmd("DBSIZE").query(&mut s.client).unwrap();
    assert_eq!(n, 2_000);
    let hot = info_field(&mut s.client, "used_memory_hot");
    assert!(hot > 2_000 * 64, "the hot tier holds the keys: {hot}");
    assert!(info_field(&mut s.client, "used_memory") >= hot);
    assert!(info_field(&mut s.client, "used_memory_rss") > hot);
    assert_eq!(info_field(&mut s.client, "maxmemory_warm"), 256 << 20);
    let first = s.stop();
    for says in ["hot ", "policy s3fifo", "warm ", "policy sieve", "cold "] {
        assert!(first.contains(says), "the banner names {says:?}:\n{first}");
    }
    let data = dir.path().join("goldylox-data");
    assert!(
        first.contains(&data.display().to_string()),
        "the banner names the data directory:\n{first}"
    );
    assert!(first.contains("recovery: an empty directory"), "{first}");

    // A restart in the same directory finds every key on disk.
    let mut s = serve(dir.path(), port, &[]);
    let n: u64 = redis::cmd("DBSIZE").query(&mut s.client).unwrap();
    assert_eq!(n, 2_000, "every key is counted, though all are cold");
    for i in (0..2_000).step_by(97) {
        let v: Option<String> = s.client.get(format!("key:{i}")).unwrap();
        assert_eq!(v.as_deref(), Some(format!("value {i}").as_str()));
    }
    let n: u64 = redis::cmd("DBSIZE").query(&mut s.client).unwrap();
    assert_eq!(n, 2_000, "a promoted key is still counted once");
    let second = s.stop();
    assert!(second.contains("recovery: 2000 entries"), "{second}");
}

#[test]
fn dbsize_counts_every_tier_when_the_memory_tiers_overflow() {
    let dir = tempfile::tempdir().unwrap();
    // A file that names only what it changes, in units.
    std::fs::write(
        dir.path().join("small.toml"),
        "[cache]\nmemory_bytes = \"1mb\"\nwarm_bytes = \"1mb\"\n\
         [cache.cold]\nsegment_bytes = \"1mb\"\ncapacity_bytes = \"256mb\"\n",
    )
    .unwrap();
    let port = free_port();
    let mut s = serve(dir.path(), port, &["--config", "small.toml"]);
    let keys = 20_000;
    // Incompressible, so the warm tier cannot hold them all.
    let value = |i: u64| -> Vec<u8> {
        let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    };
    for i in 0..keys {
        let () = s.client.set(format!("key:{i}"), value(i)).unwrap();
    }
    // Demotions run on the maintenance thread; the count settles.
    let started = Instant::now();
    let mut n: u64 = 0;
    while started.elapsed() < Duration::from_secs(20) {
        n = redis::cmd("DBSIZE").query(&mut s.client).unwrap();
        if n == keys {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(n, keys, "DBSIZE counts hot, warm and cold keys once each");
    let info: String = redis::cmd("INFO").query(&mut s.client).unwrap();
    let cold: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("cold_entries:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        cold > keys / 2,
        "most keys went down to disk: {cold}\n{info}"
    );
    assert!(info.contains(&format!("db0:keys={keys},")), "{info}");
    for i in (0..keys).step_by(101) {
        let v: Option<Vec<u8>> = s.client.get(format!("key:{i}")).unwrap();
        assert_eq!(v, Some(value(i)), "key:{i}");
    }
    s.stop();
}

#[test]
fn check_config_validates_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    let run = |file: &str, text: &str| {
        std::fs::write(dir.path().join(file), text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_goldylox"))
            .current_dir(dir.path())
            .args(["serve", "--check-config", file, "--port", "7777"])
            .output()
            .unwrap()
    };
    let ok = run("empty.toml", "");
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains("empty.toml: valid") && out.contains("127.0.0.1:7777"),
        "{out}"
    );
    assert!(
        out.contains("policy wasm:s3fifo") && out.contains("goldylox-data"),
        "{out}"
    );
    assert!(
        !dir.path().join("goldylox-data").exists(),
        "checking starts nothing"
    );

    let bad = run("bad.toml", "[cache]\nwarm_bytes = \"lots\"\n");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        err.contains("bad.toml:2:14") && err.contains("not a size"),
        "{err}"
    );

    let missing = run("policy.toml", "[cache]\npolicy = \"builtin:nope\"\n");
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        err.contains("cache.policy") && err.contains("unknown built-in policy \"nope\""),
        "{err}"
    );
}

#[test]
fn shutdown_persists_the_memory_tiers_unless_nosave() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let exits = |mut s: Served, how: &[&str]| {
        let mut cmd = redis::cmd("SHUTDOWN");
        for a in how {
            cmd.arg(*a);
        }
        // Success has no reply: the connection closes.
        let closed: redis::RedisResult<redis::Value> = cmd.query(&mut s.client);
        assert!(closed.is_err(), "{closed:?}");
        let status = s.child.wait().unwrap();
        assert!(status.success(), "SHUTDOWN is a clean exit: {status}");
    };
    let mut s = serve(dir.path(), port, &[]);
    let () = s.client.set("kept", "1").unwrap();
    let err = redis::cmd("SHUTDOWN")
        .arg("SAVE")
        .arg("NOSAVE")
        .query::<()>(&mut s.client)
        .unwrap_err();
    assert_eq!(err.code(), Some("ERR"), "{err:?}");
    exits(s, &[]);

    let mut s = serve(dir.path(), port, &[]);
    let got: Option<String> = s.client.get("kept").unwrap();
    assert_eq!(got.as_deref(), Some("1"), "SHUTDOWN saved the hot tier");
    let () = s.client.set("dropped", "2").unwrap();
    exits(s, &["NOSAVE"]);

    let mut s = serve(dir.path(), port, &[]);
    let got: Option<String> = s.client.get("dropped").unwrap();
    assert_eq!(got, None, "NOSAVE left the memory tiers unsaved");
    let got: Option<String> = s.client.get("kept").unwrap();
    assert_eq!(got.as_deref(), Some("1"), "what was on disk stays");
    exits(s, &["SAVE", "NOW"]);
}
