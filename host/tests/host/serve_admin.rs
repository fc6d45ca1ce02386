//! `goldylox serve` administration: reloads (good, bad, under load),
//! `CONFIG SET`, the Prometheus endpoint, SIGHUP and SIGTERM on the binary.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::Value;

use super::serve::{TestServer, cmd, err_text};

/// Writes `text` as a configuration file in a fresh directory of its own,
/// with the cold tier's data directory (the default's `goldylox-data`) in
/// it.
fn temp_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("goldylox-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("goldylox.toml");
    write_config(&path, text).unwrap();
    path
}

/// Rewrites a configuration file made by [`temp_config`], keeping its data
/// directory beside it.
fn write_config(path: &std::path::Path, text: impl AsRef<str>) -> std::io::Result<()> {
    let data = path.with_file_name("data");
    let text = text.as_ref().replace(
        "dir = \"goldylox-data\"",
        &format!("dir = {:?}", data.to_str().unwrap()),
    );
    // Whole or not at all, as editors save: the server watches the file.
    let partial = path.with_extension("toml.partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}

fn status(c: &mut redis::Connection) -> String {
    let lines: Vec<String> = redis::cmd("GOLDYLOX")
        .arg("POLICY")
        .arg("STATUS")
        .query(c)
        .unwrap();
    lines.join("\n")
}

#[test]
fn reload_applies_good_files_and_refuses_bad_ones_whole() {
    let default = goldylox_host::server::config::DEFAULT_TOML;
    let path = temp_config("reload", default);
    let server = TestServer::start_from(Some(path.clone()), |_| {});
    let mut c = server.client();
    let () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();

    // Bad TOML: refused with file:line, nothing changes.
    write_config(
        &path,
        default.replace("maxclients = 10000", "maxclients = 10000\nbogus = 1"),
    )
    .unwrap();
    let err = err_text(cmd(&mut c, &["GOLDYLOX", "RELOAD"]));
    assert!(
        err.contains("goldylox.toml:") && err.contains("unknown field `bogus`"),
        "{err}"
    );
    assert!(err.contains("running configuration kept"), "{err}");
    // A component that does not load: refused, the policy stays.
    write_config(
        &path,
        default.replace(
            "policy = \"wasm:s3fifo\"",
            "policy = \"/nonexistent/p.wasm\"",
        ),
    )
    .unwrap();
    let err = err_text(cmd(&mut c, &["GOLDYLOX", "RELOAD"]));
    assert!(
        err.contains("cache.policy") && err.contains("/nonexistent/p.wasm"),
        "{err}"
    );
    assert!(status(&mut c).starts_with("hot: s3fifo active"));

    // A good file: the policy is swapped, a limit changes, and the settings
    // that need a restart say so.
    let good = default
        .replace("policy = \"wasm:s3fifo\"", "policy = \"wasm:lru-c\"")
        .replace("maxclients = 10000", "maxclients = 77")
        .replace("memory_bytes = \"256mb\"", "memory_bytes = 1073741824");
    let good = if goldylox_sandbox::embedded("lru-c").is_some() {
        good
    } else {
        good.replace("wasm:lru-c", "wasm:arc")
    };
    write_config(&path, &good).unwrap();
    let lines: Vec<String> = redis::cmd("GOLDYLOX").arg("RELOAD").query(&mut c).unwrap();
    let text = lines.join("\n");
    assert!(text.contains("hot policy: s3fifo ->"), "{text}");
    assert!(
        text.contains("cache.memory_bytes: needs a restart"),
        "{text}"
    );
    let maxclients: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(maxclients[1], "77");
    assert_eq!(
        redis::cmd("GET").arg("k").query::<String>(&mut c).unwrap(),
        "v",
        "contents survive"
    );

    // The file watcher picks up a change by itself.
    write_config(&path, good.replace("maxclients = 77", "maxclients = 78")).unwrap();
    let mut seen = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let v: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxclients")
            .query(&mut c)
            .unwrap();
        if v[1] == "78" {
            seen = true;
            break;
        }
    }
    assert!(seen, "the file watcher should reload within a few seconds");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn config_set_changes_live_settings_only() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "maxclients", "123"]).unwrap(),
        Value::Okay
    );
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["maxclients".to_owned(), "123".to_owned()]);
    assert!(
        err_text(cmd(&mut c, &["CONFIG", "SET", "maxmemory", "1"])).contains("needs a restart")
    );
    assert!(
        err_text(cmd(&mut c, &["CONFIG", "SET", "maxclients", "x"])).contains("couldn't be parsed")
    );
    assert!(err_text(cmd(&mut c, &["CONFIG", "SET", "nosuch", "1"])).contains("Unknown option"));
    // requirepass takes effect for new connections.
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "requirepass", "pw"]).unwrap(),
        Value::Okay
    );
    let mut raw = server.raw();
    raw.write_all(b"PING\r\nAUTH pw\r\nPING\r\nQUIT\r\n")
        .unwrap();
    let mut got = String::new();
    raw.read_to_string(&mut got).unwrap();
    assert_eq!(
        got,
        "-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n+OK\r\n"
    );
}

#[test]
fn the_prometheus_endpoint_agrees_with_info() {
    let server = TestServer::start(|c| {
        c.metrics = Some(goldylox_host::server::config::MetricsConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
        });
    });
    let mut c = server.client();
    for i in 0..100 {
        let () = redis::cmd("SET").arg(i).arg(i).query(&mut c).unwrap();
        let _: Option<String> = redis::cmd("GET").arg(i * 2).query(&mut c).unwrap();
    }
    let mut http = std::net::TcpStream::connect(server.metrics.unwrap()).unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    http.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    let hits = info
        .lines()
        .find_map(|l| l.strip_prefix("keyspace_hits:"))
        .unwrap()
        .to_owned();
    assert!(
        body.contains(&format!("goldylox_stats_keyspace_hits {hits}\n")),
        "{body}"
    );
    // The writer-stall counters, in both: nothing stalled 100 small SETs.
    for stall in ["write_backpressure", "capacity_waits", "room_waits"] {
        assert!(info.contains(&format!("{stall}:0\r\n")), "{info}");
        assert!(
            body.contains(&format!("goldylox_stats_{stall} 0\n")),
            "{body}"
        );
    }
    assert!(
        body.contains("goldylox_policies_hot_policy_failures 0"),
        "{body}"
    );
}

#[test]
fn a_policy_swap_by_reload_under_load_fails_no_command() {
    // The hot tier alone: the swap is what is tested, and the other
    // tiers' threads only add contention on a 2-core machine.
    let default = goldylox_host::server::config::DEFAULT_TOML
        .replace("warm_bytes = \"256mb\"", "warm_bytes = 0")
        .replace("enabled = true", "enabled = false");
    let default = default.as_str();
    let path = temp_config("reload-load", default);
    let server = TestServer::start_from(Some(path.clone()), |_| {});
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let addr = server.addr;
    let clients: Vec<_> = (0..4u64)
        .map(|t| {
            let (stop, failures) = (Arc::clone(&stop), Arc::clone(&failures));
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://{addr}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("k{}", (n * 7 + t) % 5_000);
                    let ok = if n.is_multiple_of(3) {
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(n)
                            .query::<()>(&mut c)
                            .is_ok()
                    } else {
                        redis::cmd("GET")
                            .arg(&key)
                            .query::<Option<String>>(&mut c)
                            .is_ok()
                    };
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let specs = [
        "wasm:arc",
        "builtin:lru",
        "wasm:s3fifo",
        "builtin:sieve",
        "wasm:wtinylfu",
    ];
    let mut admin = server.client();
    for spec in specs.iter().cycle().take(10) {
        write_config(
            &path,
            default.replace("policy = \"wasm:s3fifo\"", &format!("policy = \"{spec}\"")),
        )
        .unwrap();
        let _: Vec<String> = redis::cmd("GOLDYLOX")
            .arg("RELOAD")
            .query(&mut admin)
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let requests: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let st = status(&mut admin);
    println!(
        "10 reloads with policy swaps during {requests} requests from 4 clients: {} failed; {st}",
        failures.load(Ordering::Relaxed)
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert!(st.contains("swaps=10"), "{st}");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn the_binary_reloads_on_sighup_and_stops_on_sigterm() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let default = goldylox_host::server::config::DEFAULT_TOML;
    let text = default.replace("127.0.0.1:6380", &format!("127.0.0.1:{port}"));
    let path = temp_config("sighup", &text);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_goldylox"))
        .args(["serve", "--config"])
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut c = None;
    for _ in 0..200 {
        if let Ok(conn) = client.get_connection() {
            c = Some(conn);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = c.expect("the server did not start");
    write_config(
        &path,
        text.replace("maxclients = 10000", "maxclients = 555"),
    )
    .unwrap();
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut reloaded = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(50));
        let v: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxclients")
            .query(&mut c)
            .unwrap();
        if v[1] == "555" {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded);
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("goldylox stopped"), "{log}");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_cold_tier_keeps_the_data_across_a_restart_with_a_failover_component() {
    let dir = std::env::temp_dir().join(format!("goldylox-cold-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let with_cold = |c: &mut goldylox_host::server::config::Config| {
        c.cache.memory_bytes = 1 << 20;
        c.cache.warm_bytes = 1 << 20;
        let text = format!(
            "dir = {:?}\ncapacity_bytes = 67108864\nsegment_bytes = 1048576\nsync = \"every 50\"\nfailover = \"wasm:breaker\"\nfailover_params = {{ error-threshold = \"3\" }}\n",
            dir.display().to_string()
        );
        c.cache.cold = Some(toml::from_str(&text).unwrap());
    };
    let value = |i: usize| format!("{i:06}-").repeat(50);
    {
        let server = TestServer::start(with_cold);
        let mut c = server.client();
        for i in 0..4_000 {
            let () = redis::cmd("SET")
                .arg(format!("key:{i}"))
                .arg(value(i))
                .query(&mut c)
                .unwrap();
        }
        let () = redis::cmd("DEL")
            .arg("key:7")
            .query(&mut c)
            .map(|_: i64| ())
            .unwrap();
        let info: String = redis::cmd("INFO").query(&mut c).unwrap();
        assert!(
            info.contains("cold_entries:") && info.contains("cold_breaker:closed"),
            "{info}"
        );
    }
    // A new server on the same directory: every key is there, the removed
    // one is not.
    let server = TestServer::start(with_cold);
    let mut c = server.client();
    for i in 0..4_000 {
        let got: Option<String> = redis::cmd("GET")
            .arg(format!("key:{i}"))
            .query(&mut c)
            .unwrap();
        let want = (i != 7).then(|| value(i));
        assert_eq!(got, want, "key:{i}");
    }
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    let hits: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("cold_hits:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(hits > 2_000, "most reads came from disk: {hits}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reload swaps the policy when its parameters change, or when the
/// component file it names is rebuilt in place (same path, new content);
/// INFO and STATUS name the policy that runs, with its parameters.
#[test]
fn reload_sees_changed_parameters_and_rebuilt_component_files() {
    let dir = std::env::temp_dir().join(format!("goldylox-rebuilt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let component = dir.join("mine.wasm");
    let embedded = |name: &str| goldylox_sandbox::embedded(name).unwrap().bytes;
    std::fs::write(&component, embedded("clock")).unwrap();
    let default = goldylox_host::server::config::DEFAULT_TOML;
    // As the test server runs it, so that only the policy differs.
    let default = default
        .replace("127.0.0.1:6380", "127.0.0.1:0")
        .replace("memory_bytes = \"256mb\"", "memory_bytes = 67108864");
    let with = |params: &str| {
        default.replace(
            "policy = \"wasm:s3fifo\"",
            &format!(
                "policy = {:?}\npolicy_params = {{ {params} }}",
                component.to_str().unwrap()
            ),
        )
    };
    let path = temp_config("rebuilt", &with(""));
    let server = TestServer::start_from(Some(path.clone()), |_| {});
    let mut c = server.client();
    let running = |c: &mut redis::Connection| {
        let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("maxmemory_policy:"))
            .unwrap()
            .trim()
            .to_owned()
    };
    // A component reports the name of its file.
    assert_eq!(running(&mut c), "mine");

    // Unchanged file: nothing to do.
    let lines: Vec<String> = redis::cmd("GOLDYLOX").arg("RELOAD").query(&mut c).unwrap();
    assert_eq!(lines, vec!["no changes".to_owned()]);

    // The server also watches the file, so a change may be applied by the
    // watcher before RELOAD runs; then RELOAD finds nothing left to do.
    let reload_to = |c: &mut redis::Connection, change: &str| {
        let lines: Vec<String> = redis::cmd("GOLDYLOX").arg("RELOAD").query(c).unwrap();
        assert!(
            lines[0].contains(change) || lines == ["no changes"],
            "{lines:?}"
        );
    };
    // A parameter: swapped, and named.
    write_config(&path, with("n-bit-counter = \"2\"")).unwrap();
    reload_to(&mut c, "-> mine(n-bit-counter=2)");
    assert_eq!(running(&mut c), "mine(n-bit-counter=2)");
    assert!(status(&mut c).starts_with("hot: mine(n-bit-counter=2) "));

    // A parameter the policy refuses: the reload is refused with its words.
    write_config(&path, with("n-bit-counter = \"9\"")).unwrap();
    let err = err_text(cmd(&mut c, &["GOLDYLOX", "RELOAD"]));
    assert!(err.contains("n-bit-counter must be 1..=8"), "{err}");
    assert_eq!(running(&mut c), "mine(n-bit-counter=2)");

    // The file rebuilt in place (another policy at the same path).
    write_config(&path, with("n-bit-counter = \"2\"")).unwrap();
    std::fs::write(&component, embedded("fifo")).unwrap();
    reload_to(&mut c, "hot policy: mine(n-bit-counter=2) -> mine");
    assert_eq!(hot_swaps(&mut c), 2, "the rebuilt file was swapped in");
    let lines: Vec<String> = redis::cmd("GOLDYLOX").arg("RELOAD").query(&mut c).unwrap();
    assert_eq!(lines, vec!["no changes".to_owned()]);

    // And POLICY SWAP with parameters after the spec.
    let lines: Vec<String> = redis::cmd("GOLDYLOX")
        .arg("POLICY")
        .arg("SWAP")
        .arg("hot")
        .arg("builtin:clock")
        .arg("n-bit-counter=3")
        .query(&mut c)
        .unwrap();
    assert!(lines[0].contains("-> clock(n-bit-counter=3)"), "{lines:?}");
    assert_eq!(running(&mut c), "clock(n-bit-counter=3)");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// A component that passes the reload's check (built for 1 MiB) and traps
/// when built for a larger tier: what a policy that preallocates by
/// capacity does past its sandbox's memory.
const REFUSES_LARGE_TIERS: crate::animals::Animal = crate::animals::Animal {
    init: "(if (i64.gt_u (local.get 0) (i64.const 1048576)) (then unreachable)) \
           i32.const 64 i32.const 0 i32.store8 i32.const 64",
    ..crate::animals::TAME
};

/// `hot_policy_swaps` from INFO.
fn hot_swaps(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("policies").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("hot_policy_swaps:"))
        .unwrap()
        .trim()
        .parse::<u64>()
        .unwrap()
}

/// A reload whose hot swap succeeds and whose warm swap then fails says so,
/// and leaves the configuration naming the hot policy that runs: the next
/// reload does not swap it again.
#[test]
fn a_reload_that_swaps_one_tier_and_fails_the_other_says_what_runs() {
    let default = goldylox_host::server::config::DEFAULT_TOML;
    let path = temp_config("partial", default);
    let refusing = path.with_file_name("refuses-large-tiers.wat");
    std::fs::write(&refusing, crate::animals::wat(&REFUSES_LARGE_TIERS)).unwrap();
    let server = TestServer::start_from(Some(path.clone()), |_| {});
    let mut c = server.client();
    assert_eq!(hot_swaps(&mut c), 0);
    write_config(
        &path,
        default
            .replace("policy = \"wasm:s3fifo\"", "policy = \"builtin:lru\"")
            .replace(
                "warm_policy = \"builtin:sieve\"",
                &format!("warm_policy = {:?}", refusing.to_str().unwrap()),
            ),
    )
    .unwrap();
    // The file watcher may run this reload first; then RELOAD finds only
    // the warm policy left to do.
    let err = err_text(cmd(&mut c, &["GOLDYLOX", "RELOAD"]));
    assert!(
        (err.contains("reload partly applied")
            && err.contains("hot policy: ")
            && err.contains("-> lru"))
            || err.contains("running configuration kept"),
        "{err}"
    );
    assert!(err.contains("swapping the warm policy"), "{err}");
    assert_eq!(hot_swaps(&mut c), 1);
    assert!(
        status(&mut c).starts_with("hot: lru "),
        "{}",
        status(&mut c)
    );

    // The same file again: only the warm policy is still to do, and it
    // still fails; the hot tier is not swapped a second time.
    let err = err_text(cmd(&mut c, &["GOLDYLOX", "RELOAD"]));
    assert!(err.contains("running configuration kept"), "{err}");
    assert!(err.contains("swapping the warm policy"), "{err}");
    assert_eq!(hot_swaps(&mut c), 1, "the hot policy was not swapped again");
}
