//! Cluster mode and proxies with unchanged clients: three goldylox nodes
//! sharing the slots by a static map, driven by the `redis` crate's
//! cluster client, `redis-cli -c`, `redis-benchmark --cluster` and redis-py's
//! `RedisCluster`; a reshard by reload; and twemproxy (`nutcracker`) in
//! front of three plain nodes. Tools that CI installs (`.ci/run`) fail the
//! test when missing there, and skip it with a reason elsewhere.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use goldylox_host::server::config::{Config, Overrides};
use redis::Value;

use crate::serve::{TestServer, cmd, err_text};
use crate::serve_default::free_port;

/// Whether `tool` runs; outside CI a missing tool skips the test.
pub(crate) fn have(tool: &str, args: &[&str], install: &str) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        crate::skip(&format!("{tool} ({install})"));
    }
    ok
}

/// The `[cluster]` text of three nodes on `ports`, with `ranges` each.
fn cluster_toml(ports: &[u16], ranges: &[&str]) -> String {
    let mut text = String::from("[cluster]\n");
    for (i, (port, range)) in ports.iter().zip(ranges).enumerate() {
        text.push_str(&format!(
            "[[cluster.nodes]]\nname = \"n{i}\"\naddress = \"127.0.0.1:{port}\"\nslots = [{range}]\n"
        ));
    }
    text
}

const THIRDS: [&str; 3] = ["\"0-5460\"", "\"5461-10922\"", "\"10923-16383\""];

/// Three in-process nodes of one cluster.
struct Cluster {
    nodes: Vec<TestServer>,
}

impl Cluster {
    fn start(ports: &[u16], ranges: &[&str]) -> Cluster {
        let text = cluster_toml(ports, ranges);
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, &port)| {
                let overrides = Overrides {
                    node: Some(format!("n{i}")),
                    ..Overrides::default()
                };
                let parsed = Config::parse_with(&text, "cluster", &overrides).unwrap();
                TestServer::start(move |c| {
                    c.cluster = parsed.cluster;
                    c.server.listen = SocketAddr::from(([127, 0, 0, 1], port));
                })
            })
            .collect();
        Cluster { nodes }
    }

    fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://{}/", n.addr))
            .collect()
    }
}

fn ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

#[test]
fn a_cluster_redirects_and_answers_the_cluster_commands() {
    let p = ports(3);
    let cluster = Cluster::start(&p, &THIRDS);
    let mut a = cluster.nodes[0].client();
    // foo is slot 12182 (the third node), bar 5061 (the first).
    assert_eq!(
        err_text(cmd(&mut a, &["GET", "foo"])),
        format!("MOVED 12182 127.0.0.1:{}", p[2])
    );
    assert_eq!(cmd(&mut a, &["SET", "bar", "1"]).unwrap(), Value::Okay);
    assert_eq!(
        err_text(cmd(&mut a, &["MGET", "bar", "foo"])),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    assert_eq!(
        cmd(&mut a, &["MSET", "{bar}1", "x", "{bar}2", "y"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        err_text(cmd(&mut a, &["OBJECT", "ENCODING", "foo"])),
        format!("MOVED 12182 127.0.0.1:{}", p[2])
    );
    assert_eq!(
        cmd(&mut a, &["CLUSTER", "KEYSLOT", "{user1000}.following"]).unwrap(),
        cmd(&mut a, &["CLUSTER", "KEYSLOT", "user1000"]).unwrap()
    );
    let slot = cmd(&mut a, &["CLUSTER", "KEYSLOT", "bar"]).unwrap();
    assert_eq!(slot, Value::Int(5061));
    // bar, {bar}1 and {bar}2.
    assert_eq!(
        cmd(&mut a, &["CLUSTER", "COUNTKEYSINSLOT", "5061"]).unwrap(),
        Value::Int(3)
    );
    let mut keys: Vec<String> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(5061)
        .arg(10)
        .query(&mut a)
        .unwrap();
    keys.sort();
    assert_eq!(keys, ["bar", "{bar}1", "{bar}2"]);
    let two: Vec<String> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(5061)
        .arg(2)
        .query(&mut a)
        .unwrap();
    assert_eq!(two.len(), 2);
    // The three views agree on the map, from any node.
    let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut a).unwrap();
    assert!(info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3"));
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut a).unwrap();
    let myid: String = redis::cmd("CLUSTER").arg("MYID").query(&mut a).unwrap();
    assert_eq!(nodes.lines().count(), 3);
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with(&myid) && l.contains("myself,master"))
    );
    assert!(nodes.contains(&format!(
        "127.0.0.1:{}@0 master - 0 0 1 connected 5461-10922",
        p[1]
    )));
    let slots: Vec<(i64, i64, (String, u16, String))> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query::<Vec<Value>>(&mut a)
        .unwrap()
        .into_iter()
        .map(|v| {
            let Value::Array(items) = v else {
                panic!("{v:?}")
            };
            let Value::Array(node) = &items[2] else {
                panic!()
            };
            let node = (
                redis::from_redis_value(&node[0]).unwrap(),
                redis::from_redis_value(&node[1]).unwrap(),
                redis::from_redis_value(&node[2]).unwrap(),
            );
            let range = redis::from_redis_value(&items[0]).unwrap();
            (range, redis::from_redis_value(&items[1]).unwrap(), node)
        })
        .collect();
    assert_eq!(slots.len(), 3);
    assert_eq!(slots[2].0, 10923);
    assert_eq!(slots[2].2.1, p[2]);
    let shards = cmd(&mut a, &["CLUSTER", "SHARDS"]).unwrap();
    assert!(
        matches!(&shards, Value::Array(s) if s.len() == 3),
        "{shards:?}"
    );
    let info: String = redis::cmd("INFO").arg("cluster").query(&mut a).unwrap();
    assert!(info.contains("cluster_enabled:1"), "{info}");
    assert_eq!(cmd(&mut a, &["READONLY"]).unwrap(), Value::Okay);
    assert_eq!(cmd(&mut a, &["ASKING"]).unwrap(), Value::Okay);
    assert_eq!(
        err_text(cmd(&mut a, &["SELECT", "1"])),
        "ERR SELECT is not allowed in cluster mode"
    );
    assert!(err_text(cmd(&mut a, &["CLUSTER", "ADDSLOTS", "1"])).contains("static"));

    // Without cluster mode: Redis's refusal.
    let plain = TestServer::start(|_| {});
    let mut c = plain.client();
    assert_eq!(
        err_text(cmd(&mut c, &["CLUSTER", "INFO"])),
        "ERR This instance has cluster support disabled"
    );
    assert_eq!(cmd(&mut c, &["GET", "foo"]).unwrap(), Value::Nil);
}

#[test]
fn cluster_clients_run_a_mixed_workload_without_errors() {
    let p = ports(3);
    let cluster = Cluster::start(&p, &THIRDS);
    // The redis crate's cluster client.
    let client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
    let mut conn = client.get_connection().unwrap();
    for i in 0..3_000 {
        let key = format!("key:{i}");
        let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut conn).unwrap();
        let back: i64 = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
        assert_eq!(back, i);
        let _: i64 = redis::cmd("HSET")
            .arg(format!("h:{i}"))
            .arg("f")
            .arg(i)
            .query(&mut conn)
            .unwrap();
        let _: i64 = redis::cmd("INCR")
            .arg(format!("{{c}}{}", i % 7))
            .query(&mut conn)
            .unwrap();
        let _: i64 = redis::cmd("EXPIRE")
            .arg(&key)
            .arg(600)
            .query(&mut conn)
            .unwrap();
    }
    let tagged: Vec<i64> = redis::cmd("MGET")
        .arg("{c}0")
        .arg("{c}1")
        .query(&mut conn)
        .unwrap();
    assert_eq!(tagged.iter().sum::<i64>(), 429 + 429);
    // Every node holds about a third, and only keys of its own slots.
    let mut per_node = Vec::new();
    for node in &cluster.nodes {
        let mut c = node.client();
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("key:*").query(&mut c).unwrap();
        for k in keys.iter().take(50) {
            assert_eq!(cmd(&mut c, &["EXISTS", k]).unwrap(), Value::Int(1));
        }
        per_node.push(n);
    }
    assert_eq!(per_node.iter().sum::<i64>(), 3_000 * 2 + 7);
    assert!(per_node.iter().all(|&n| n > 1_500), "{per_node:?}");

    // The operator's view, from any one node: a row per node, and totals.
    let out = Command::new(env!("CARGO_BIN_EXE_goldylox"))
        .args(["cluster", "info", &format!("127.0.0.1:{}", p[1])])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    for (port, keys) in p.iter().zip(&per_node) {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("127.0.0.1:{port} ")))
            .unwrap_or_else(|| panic!("no row for {port}:\n{table}"));
        assert!(
            row.split_whitespace().any(|f| f == keys.to_string()),
            "{row}"
        );
    }
    let total = table.lines().last().unwrap();
    assert!(
        total.starts_with("total") && total.contains(" 6007 "),
        "{table}"
    );
    assert!(total.contains("3 of 3 nodes answered"), "{table}");

    // redis-py's RedisCluster, a separate process.
    if have(
        "python3",
        &["-c", "import redis.cluster"],
        "pip install redis",
    ) {
        let script = format!(
            "import redis\nfrom redis.cluster import RedisCluster\n\
             rc = RedisCluster(host='127.0.0.1', port={})\n\
             for i in range(2000):\n\
             \x20   k = f'py:{{i}}'\n\
             \x20   rc.set(k, i)\n\
             \x20   assert int(rc.get(k)) == i, k\n\
             \x20   rc.hset(f'pyh:{{i}}', mapping={{'a': i, 'b': 2 * i}})\n\
             \x20   assert rc.hgetall(f'pyh:{{i}}')[b'b'] == str(2 * i).encode()\n\
             \x20   rc.incr('{{py}}counter')\n\
             assert int(rc.get('{{py}}counter')) == 2000\n\
             assert rc.mget_nonatomic(['py:1', 'py:2']) == [b'1', b'2']\n\
             print('redis-py: 2000 rounds, 0 errors')\n",
            p[1]
        );
        python(&script);
    }
}

/// Runs a Python script (a redis-py client); fails with its stderr.
pub(crate) fn python(script: &str) {
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn redis_cli_follows_redirects_and_redis_benchmark_runs_in_cluster_mode() {
    if !have("redis-cli", &["--version"], "apt-get install redis-tools") {
        return;
    }
    let p = ports(3);
    let _cluster = Cluster::start(&p, &THIRDS);
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-c", "-p", &p[0].to_string()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    // foo lives on the third node, baz (4813) on the first, hello (866) too.
    assert_eq!(cli(&["SET", "foo", "from-cli"]), "OK");
    assert_eq!(cli(&["GET", "foo"]), "from-cli");
    let direct = Command::new("redis-cli")
        .args(["-p", &p[2].to_string(), "GET", "foo"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&direct.stdout).trim(), "from-cli");
    let out = Command::new("redis-benchmark")
        .args(["--cluster", "-p", &p[0].to_string()])
        .args(["-t", "set,get", "-n", "20000", "-c", "10", "-P", "4", "-q"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for t in ["SET", "GET"] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("{t}: ")) && l.contains("requests per second")),
            "{text}"
        );
    }
    assert!(!text.contains("Error") && !text.contains("ERR"), "{text}");
}

#[test]
fn a_reshard_by_reload_moves_slots_and_the_old_owner_forgets_them() {
    let p = ports(2);
    let halves = ["\"0-8191\"", "\"8192-16383\""];
    let text = cluster_toml(&p, &halves);
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = (0..2)
        .map(|i| {
            let path = dir.path().join(format!("n{i}.toml"));
            let body = format!(
                "[server]\nlisten = \"127.0.0.1:{}\"\n[cache]\nwarm_bytes = 0\n\
                 [cache.cold]\nenabled = false\n{text}",
                p[i]
            )
            .replace("[cluster]\n", &format!("[cluster]\nmyself = \"n{i}\"\n"));
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect();
    let nodes: Vec<TestServer> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let port = p[i];
            TestServer::start_from(Some(f.clone()), move |c| {
                c.server.listen = SocketAddr::from(([127, 0, 0, 1], port));
            })
        })
        .collect();
    let client = redis::cluster::ClusterClient::new(
        nodes
            .iter()
            .map(|n| format!("redis://{}/", n.addr))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut conn = client.get_connection().unwrap();
    for i in 0..1_000 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut conn)
            .unwrap();
    }
    let sizes = |nodes: &[TestServer]| -> Vec<i64> {
        nodes
            .iter()
            .map(|n| redis::cmd("DBSIZE").query(&mut n.client()).unwrap())
            .collect()
    };
    let before = sizes(&nodes);
    assert_eq!(before.iter().sum::<i64>(), 1_000);
    // Every slot to n0: rewrite both files and reload both nodes.
    let moved = cluster_toml(&p, &["\"0-16383\"", ""]);
    for (i, f) in files.iter().enumerate() {
        let body = std::fs::read_to_string(f).unwrap();
        let head = &body[..body.find("[cluster]").unwrap()];
        let new = format!("{head}{moved}")
            .replace("[cluster]\n", &format!("[cluster]\nmyself = \"n{i}\"\n"));
        std::fs::write(f, new).unwrap();
        let lines: Vec<String> = redis::cmd("GOLDYLOX")
            .arg("RELOAD")
            .query(&mut nodes[i].client())
            .unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("cluster: a new slot map")),
            "{lines:?}"
        );
    }
    // n1 forgets its keys in the background; n0 answers for every slot.
    let mut forgotten = false;
    for _ in 0..200 {
        if sizes(&nodes)[1] == 0 {
            forgotten = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(forgotten, "the old owner still holds {:?}", sizes(&nodes));
    let mut n1 = nodes[1].client();
    assert_eq!(
        err_text(cmd(&mut n1, &["GET", "k1"])),
        format!("MOVED {} 127.0.0.1:{}", slot_of(&mut n1, "k1"), p[0])
    );
    // The keys that moved are misses at their new owner; the others stay.
    let mut n0 = nodes[0].client();
    let mut hits = HashMap::new();
    for i in 0..1_000 {
        let v: Option<i64> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut n0)
            .unwrap();
        *hits.entry(v.is_some()).or_insert(0) += 1;
    }
    assert_eq!(hits.get(&true).copied().unwrap_or(0), before[0]);
}

fn slot_of(c: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(c)
        .unwrap()
}

#[test]
fn twemproxy_shards_three_plain_nodes() {
    if !have("nutcracker", &["--version"], "apt-get install nutcracker") {
        return;
    }
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(|_| {})).collect();
    let proxy_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nutcracker.yml");
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("   - {}:1 n{i}\n", n.addr))
        .collect();
    std::fs::write(
        &conf,
        format!(
            "goldylox:\n  listen: 127.0.0.1:{proxy_port}\n  hash: fnv1a_64\n  \
             distribution: ketama\n  redis: true\n  auto_eject_hosts: false\n  servers:\n{servers}"
        ),
    )
    .unwrap();
    let mut proxy = Command::new("nutcracker")
        .args(["-c", conf.to_str().unwrap(), "-s", &free_port().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Plain RESP on a socket: client libraries open with commands (CLIENT
    // SETINFO) that twemproxy does not forward.
    let mut c = (0..100)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", proxy_port)).ok()
        })
        .expect("nutcracker did not start");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut replies = std::io::BufReader::new(c.try_clone().unwrap());
    let mut ask = |args: &[&str]| -> String {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        c.write_all(req.as_bytes()).unwrap();
        let mut line = String::new();
        replies.read_line(&mut line).unwrap();
        if let Some(len) = line
            .strip_prefix('$')
            .and_then(|l| l.trim().parse::<usize>().ok())
        {
            let mut body = vec![0; len + 2];
            replies.read_exact(&mut body).unwrap();
            return String::from_utf8_lossy(&body[..len]).into_owned();
        }
        line.trim().to_owned()
    };
    for i in 0..3_000 {
        assert_eq!(ask(&["SET", &format!("t:{i}"), &i.to_string()]), "+OK");
    }
    for i in 0..3_000 {
        assert_eq!(ask(&["GET", &format!("t:{i}")]), i.to_string());
    }
    assert_eq!(ask(&["HSET", "th", "f", "v"]), ":1");
    let per_node: Vec<i64> = nodes
        .iter()
        .map(|n| redis::cmd("DBSIZE").query(&mut n.client()).unwrap())
        .collect();
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_eq!(per_node.iter().sum::<i64>(), 3_001);
    assert!(per_node.iter().all(|&n| n > 500), "{per_node:?}");
}

#[test]
fn goldylox_bench_sends_each_key_to_its_owner() {
    let cluster = Cluster::start(&ports(3), &THIRDS);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.txt");
    let keys: String = (0..3_000).map(|i| format!("{}\n", i % 500)).collect();
    std::fs::write(&trace, keys).unwrap();
    let args = goldylox_host::bench::RunArgs {
        cluster: true,
        format: Some("plain".to_owned()),
        value_size: 64,
        connections: 3,
        pipeline: 8,
        flush: true,
        ..goldylox_host::bench::RunArgs::new(cluster.nodes[1].addr.to_string(), trace)
    };
    // A key sent to a node that does not own it would answer MOVED and
    // stop the run.
    let run = goldylox_host::bench::run(&args).unwrap();
    let counts = &run.outcome.counts;
    assert_eq!(
        (counts.requests, counts.wrong, counts.refused),
        (3_000, 0, 0)
    );
    assert!(counts.hits >= 2_400, "{} hits", counts.hits);
    for node in &cluster.nodes {
        let mut c = redis::Client::open(format!("redis://{}/", node.addr))
            .unwrap()
            .get_connection()
            .unwrap();
        let keys: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert!((100..=250).contains(&keys), "{}: {keys} keys", node.addr);
    }
}
