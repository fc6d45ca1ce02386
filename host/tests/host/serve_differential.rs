//! The same random command sequence against goldylox and Debian's
//! `redis-server`, reply by reply: strings, hashes on the same keys (so
//! WRONGTYPE comes up both ways), expiry, and the multi-key commands.

use std::time::Duration;

use redis::Value;

use crate::serve::TestServer;

/// Runs the same random command sequence against goldylox and a real
/// `redis-server` (when installed) and compares the replies.
#[test]
fn replies_equal_redis_server_on_random_commands() {
    differential(false);
}

/// The same in cluster mode: a one-node goldylox cluster against a
/// redis-server with cluster mode on and every slot its own. Keys carry one
/// of two hash tags, so a multi-key command either stays in one slot (and
/// runs) or spans two (and both answer CROSSSLOT).
#[test]
fn replies_equal_redis_server_in_cluster_mode() {
    differential(true);
}

fn differential(cluster: bool) {
    let Ok(status) = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
    else {
        // CI installs it (.ci/run): there, its absence is a failure.
        crate::skip("redis-server (apt-get install redis-server)");
        return;
    };
    assert!(status.status.success());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster_args = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ];
    let mut redis_server = std::process::Command::new("redis-server")
        .current_dir(dir.path())
        .args(if cluster { &cluster_args[..] } else { &[] })
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reference = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut theirs = None;
    for _ in 0..100 {
        if let Ok(c) = reference.get_connection() {
            theirs = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut theirs = theirs.expect("redis-server did not start");
    let server = TestServer::start(|c| {
        if cluster {
            c.cluster = one_node_cluster();
        }
    });
    if cluster {
        let _: () = redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(0)
            .arg(16383)
            .query(&mut theirs)
            .unwrap();
        let ready = (0..200).any(|_| {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut theirs)
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
            info.contains("cluster_state:ok")
        });
        assert!(ready, "redis-server's cluster did not become ok");
    }
    let mut ours = server.client();
    let mut x = 0x1234_5678_u64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let verbs = [
        "GET",
        "SET",
        "SETNX",
        "SETXX",
        "SETGET",
        "SETEX",
        "DEL",
        "EXISTS",
        "INCR",
        "INCRBY",
        "DECR",
        "APPEND",
        "STRLEN",
        "GETDEL",
        "MGET",
        "MSET",
        "TTL",
        "EXPIRE",
        "PERSIST",
        "GETEX",
        "SETNX_CMD",
        "SETEX_CMD",
        "PSETEX",
        "GETSET",
        "GETRANGE",
        "SUBSTR",
        "SETRANGE",
        "INCRBYFLOAT",
        "TYPE",
        "TOUCH",
        "EXPIRETIME",
        "DECRBY",
        "UNLINK",
        "HSET",
        "HSETNX",
        "HGET",
        "HMGET",
        "HDEL",
        "HGETALL",
        "HKEYS",
        "HVALS",
        "HLEN",
        "HEXISTS",
        "HSTRLEN",
        "HINCRBY",
        "HINCRBYFLOAT",
        "RENAME",
        "RENAMENX",
        "COPY",
        "MSETNX",
        "LCS",
        "SETBIT",
        "GETBIT",
        "KEYS",
    ];
    let mut compared = 0;
    let mut crossslot = 0;
    let tags = if cluster { ["{a}", "{b}"] } else { ["", ""] };
    let k = |n: u64| format!("{}k{n}", tags[(n % 2) as usize]);
    for _ in 0..20_000 {
        let key = k(next(40));
        let val = match next(4) {
            0 => next(1000).to_string(),
            1 => format!("-{}", next(50)),
            2 => "abc".to_owned(),
            _ => "9223372036854775806".to_owned(),
        };
        let verb = verbs[next(verbs.len() as u64) as usize];
        let args: Vec<String> = match verb {
            "SETNX" => vec!["SET".into(), key, val, "NX".into()],
            "SETXX" => vec!["SET".into(), key, val, "XX".into()],
            "SETGET" => vec!["SET".into(), key, val, "GET".into()],
            "SETEX" => vec![
                "SET".into(),
                key,
                val,
                "EX".into(),
                (next(200) as i64 - 5).to_string(),
            ],
            "SET" | "APPEND" => vec![verb.into(), key, val],
            "INCRBY" => vec!["INCRBY".into(), key, val],
            "EXPIRE" => vec!["EXPIRE".into(), key, (next(300) as i64 - 10).to_string()],
            "GETEX" => vec![
                "GETEX".into(),
                key,
                "EX".into(),
                (next(100) + 1).to_string(),
            ],
            "MGET" => vec!["MGET".into(), key, k(next(40))],
            "SETNX_CMD" => vec!["SETNX".into(), key, val],
            "SETEX_CMD" => vec!["SETEX".into(), key, (next(200) as i64 - 5).to_string(), val],
            "PSETEX" => vec![
                "PSETEX".into(),
                key,
                (next(200_000) as i64 - 5).to_string(),
                val,
            ],
            "GETSET" | "DECRBY" => vec![verb.into(), key, val],
            "GETRANGE" | "SUBSTR" => vec![
                verb.into(),
                key,
                (next(12) as i64 - 6).to_string(),
                (next(12) as i64 - 6).to_string(),
            ],
            "SETRANGE" => vec![
                "SETRANGE".into(),
                key,
                (next(12) as i64 - 1).to_string(),
                if next(5) == 0 { String::new() } else { val },
            ],
            // Keys of their own, small values: Redis adds in x87 long double,
            // goldylox in f64; both print these sums exactly.
            "INCRBYFLOAT" => vec![
                "INCRBYFLOAT".into(),
                format!("f{}", next(5)),
                match next(4) {
                    0 => "0.5".into(),
                    1 => "-1.25".into(),
                    2 => "abc".into(),
                    _ => next(100).to_string(),
                },
            ],
            "TOUCH" | "UNLINK" => vec![verb.into(), key, k(next(40))],
            "HSET" => {
                let mut a = vec!["HSET".into(), key, format!("f{}", next(6)), val];
                if next(2) == 0 {
                    a.extend([format!("f{}", next(6)), next(100).to_string()]);
                }
                a
            }
            "HSETNX" => vec!["HSETNX".into(), key, format!("f{}", next(6)), val],
            "HGET" | "HDEL" | "HEXISTS" | "HSTRLEN" => {
                vec![verb.into(), key, format!("f{}", next(6))]
            }
            "HMGET" => vec![
                "HMGET".into(),
                key,
                format!("f{}", next(6)),
                format!("f{}", next(6)),
            ],
            "HINCRBY" => vec!["HINCRBY".into(), key, format!("f{}", next(6)), val],
            // Small sums on fields of their own, as for INCRBYFLOAT.
            "HINCRBYFLOAT" => vec![
                "HINCRBYFLOAT".into(),
                format!("h{}", next(3)),
                format!("g{}", next(3)),
                match next(3) {
                    0 => "0.25".into(),
                    1 => "-3".into(),
                    _ => "x".into(),
                },
            ],
            "RENAME" | "RENAMENX" | "LCS" => vec![verb.into(), key, k(next(40))],
            "COPY" => {
                let mut a = vec!["COPY".into(), key, k(next(40))];
                if next(2) == 0 {
                    a.push("REPLACE".into());
                }
                a
            }
            "MSETNX" => vec!["MSETNX".into(), key, val, k(next(40)), "y".into()],
            "SETBIT" => vec![
                "SETBIT".into(),
                key,
                next(40).to_string(),
                next(2).to_string(),
            ],
            "GETBIT" => vec!["GETBIT".into(), key, next(48).to_string()],
            "KEYS" => vec!["KEYS".into(), format!("*k{}*", next(4))],
            "MSET" => vec!["MSET".into(), key, val, k(next(40)), "x".into()],
            _ => vec![verb.into(), key],
        };
        let mut c1 = redis::cmd(&args[0]);
        let mut c2 = redis::cmd(&args[0]);
        for a in &args[1..] {
            c1.arg(a);
            c2.arg(a);
        }
        let a: redis::RedisResult<Value> = c1.query(&mut ours);
        let b: redis::RedisResult<Value> = c2.query(&mut theirs);
        let same = match (&a, &b) {
            // TTLs may differ by the second that passes between the two.
            (Ok(Value::Int(x)), Ok(Value::Int(y)))
                if args[0] == "TTL" || args[0] == "EXPIRETIME" =>
            {
                (x - y).abs() <= 1
            }
            // KEYS answers in no particular order.
            (Ok(x), Ok(y)) if args[0] == "KEYS" => sorted(x) == sorted(y),
            (Ok(x), Ok(y)) => x == y,
            (Err(x), Err(y)) => x.code() == y.code() && x.detail() == y.detail(),
            _ => false,
        };
        assert!(same, "{args:?}: goldylox {a:?} vs redis-server {b:?}");
        compared += 1;
        crossslot += usize::from(matches!(&a, Err(e) if e.code() == Some("CROSSSLOT")));
    }
    let _ = redis_server.kill();
    let _ = redis_server.wait();
    let mode = if cluster { "cluster" } else { "standalone" };
    println!(
        "{mode}: {compared} random commands ({crossslot} CROSSSLOT): 0 mismatches with redis-server"
    );
    if cluster {
        assert!(
            crossslot > 100,
            "too few commands spanned slots: {crossslot}"
        );
    }
}

/// `[cluster]` with one node owning every slot.
fn one_node_cluster() -> Option<goldylox_host::server::cluster::ClusterConfig> {
    let text = "[cluster]\nmyself = \"solo\"\n[[cluster.nodes]]\nname = \"solo\"\n\
                address = \"127.0.0.1:1\"\nslots = [\"0-16383\"]\n";
    goldylox_host::server::config::Config::parse(text, "test")
        .unwrap()
        .cluster
}

/// The strings of an array reply, sorted.
fn sorted(v: &Value) -> Vec<String> {
    let mut items: Vec<String> = redis::from_redis_value(v).expect("an array of strings");
    items.sort();
    items
}
