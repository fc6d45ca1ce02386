//! The same random command sequence against goldylox and Debian's
//! `redis-server`, reply by reply: strings, hashes on the same keys (so
//! WRONGTYPE comes up both ways), expiry, the multi-key commands,
//! transactions (MULTI/EXEC/DISCARD/WATCH, with commands refused while
//! queueing), Lua scripts from a corpus that calls the supported commands,
//! and the keyspace notifications all of it raises.

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
    let Some(reference) = Reference::start(cluster) else {
        return;
    };
    let mut theirs = reference.connection();
    let server = TestServer::start(|c| {
        if cluster {
            c.cluster = one_node_cluster();
        }
    });
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
    // Keyspace notifications on both, read by a subscriber on each and
    // compared at the end (not `x`/`e`: when an expiry or eviction is
    // noticed differs by design).
    for c in [&mut ours, &mut theirs] {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg("KEg$hn")
            .query(c)
            .unwrap();
    }
    let mut listeners: Vec<redis::Connection> = vec![server.client(), reference.connection()];
    for l in &mut listeners {
        let _: () = redis::cmd("PSUBSCRIBE").arg("__key*__:*").query(l).unwrap();
    }
    let mut compared = 0;
    let mut crossslot = 0;
    let mut scripted = 0;
    let mut transactions = 0;
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
        // One in ten rounds is a transaction or a script instead.
        match next(20) {
            0 => {
                let round = transaction(&mut next, &k);
                transactions += 1;
                // Shown if a reply differs (the test's output is kept then).
                println!("transaction {round:?}");
                for args in round {
                    let _agreed = compare(&args, &mut ours, &mut theirs);
                    compared += 1;
                }
                continue;
            }
            1 => {
                let args = script(&mut next, &k);
                scripted += 1;
                let _agreed = compare(&args, &mut ours, &mut theirs);
                compared += 1;
                continue;
            }
            _ => {}
        }
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
        let a = compare(&args, &mut ours, &mut theirs);
        compared += 1;
        crossslot += usize::from(matches!(&a, Err(e) if e.code() == Some("CROSSSLOT")));
    }
    // Every keyspace event either raised, in the same order.
    let [ours_events, theirs_events] = [0, 1].map(|i| drain_events(&mut listeners[i]));
    assert!(ours_events.len() > 1_000, "{} events", ours_events.len());
    if let Some(at) = (0..ours_events.len().max(theirs_events.len()))
        .find(|&i| ours_events.get(i) != theirs_events.get(i))
    {
        panic!(
            "keyspace events differ at {at} of {}: goldylox {:?} vs redis-server {:?}",
            ours_events.len(),
            &ours_events[at.saturating_sub(3)..(at + 3).min(ours_events.len())],
            &theirs_events[at.saturating_sub(3)..(at + 3).min(theirs_events.len())]
        );
    }
    println!(
        "{} keyspace events, {transactions} transactions, {scripted} scripts",
        ours_events.len()
    );
    drop(reference);
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

/// A redis-server to compare with, stopped when dropped.
pub(crate) struct Reference {
    child: std::process::Child,
    client: redis::Client,
    /// Where it listens, HOST:PORT.
    pub(crate) addr: String,
    _dir: tempfile::TempDir,
}

impl Reference {
    /// Starts redis-server (with one node owning every slot when
    /// `cluster`); `None`, with the skip reported, if it is not installed.
    pub(crate) fn start(cluster: bool) -> Option<Reference> {
        let Ok(status) = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
        else {
            // CI installs it (.ci/run): there, its absence is a failure.
            crate::skip("redis-server (apt-get install redis-server)");
            return None;
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
        let child = std::process::Command::new("redis-server")
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
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let reference = Reference {
            child,
            client,
            addr: format!("127.0.0.1:{port}"),
            _dir: dir,
        };
        let mut c = reference.connection();
        if cluster {
            let _: () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(0)
                .arg(16383)
                .query(&mut c)
                .unwrap();
            let ready = (0..200).any(|_| {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                info.contains("cluster_state:ok")
            });
            assert!(ready, "redis-server's cluster did not become ok");
        }
        Some(reference)
    }

    /// A new connection, once the server answers.
    pub(crate) fn connection(&self) -> redis::Connection {
        for _ in 0..100 {
            if let Ok(c) = self.client.get_connection() {
                return c;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start");
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `args` to both and checks the replies agree; goldylox's reply.
/// Replies Redis gives in no particular order (set members) are compared
/// sorted; random draws by their length.
pub(crate) fn compare(
    args: &[String],
    ours: &mut redis::Connection,
    theirs: &mut redis::Connection,
) -> redis::RedisResult<Value> {
    let mut c1 = redis::cmd(&args[0]);
    let mut c2 = redis::cmd(&args[0]);
    for a in &args[1..] {
        c1.arg(a);
        c2.arg(a);
    }
    let a: redis::RedisResult<Value> = c1.query(ours);
    let b: redis::RedisResult<Value> = c2.query(theirs);
    let same = match (&a, &b) {
        // TTLs may differ by the second that passes between the two.
        (Ok(Value::Int(x)), Ok(Value::Int(y))) if args[0] == "TTL" || args[0] == "EXPIRETIME" => {
            (x - y).abs() <= 1
        }
        // KEYS and set members come in no particular order.
        (Ok(x), Ok(y))
            if matches!(
                args[0].as_str(),
                "KEYS" | "SMEMBERS" | "SINTER" | "SUNION" | "SDIFF" | "SPOP"
            ) =>
        {
            sorted(x) == sorted(y)
        }
        (Ok(Value::Array(x)), Ok(Value::Array(y)))
            if matches!(
                args[0].as_str(),
                "SRANDMEMBER" | "ZRANDMEMBER" | "HRANDFIELD"
            ) =>
        {
            x.len() == y.len()
        }
        (Ok(x), Ok(y)) => x == y,
        (Err(x), Err(y)) => x.code() == y.code() && x.detail() == y.detail(),
        _ => false,
    };
    assert!(same, "{args:?}: goldylox {a:?} vs redis-server {b:?}");
    a
}

/// A transaction: MULTI, a few commands (now and then one refused while
/// queueing, or a WATCH made dirty first), then EXEC or DISCARD.
fn transaction(next: &mut impl FnMut(u64) -> u64, k: &impl Fn(u64) -> String) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    let key = k(next(40));
    let mut round = Vec::new();
    if next(3) == 0 {
        round.push(s(&["WATCH", &key]));
        if next(2) == 0 {
            round.push(s(&["SET", &key, "watched"]));
        }
    }
    round.push(s(&["MULTI"]));
    for _ in 0..1 + next(3) {
        let other = k(next(40));
        round.push(match next(9) {
            0 => s(&["SET", &other, &next(100).to_string()]),
            1 => s(&["INCR", &other]),
            2 => s(&["GET", &other]),
            3 => s(&["DEL", &other]),
            4 => s(&["APPEND", &other, "x"]),
            5 => s(&["HSET", &other, "f", "1"]),
            6 => s(&["EXPIRE", &other, &next(100).to_string()]),
            7 => s(&["NOSUCHCOMMAND", &other]),
            _ => s(&["GET"]),
        });
    }
    round.push(s(&[if next(8) == 0 { "DISCARD" } else { "EXEC" }]));
    round
}

/// A script from the corpus, on a random key and argument.
fn script(next: &mut impl FnMut(u64) -> u64, k: &impl Fn(u64) -> String) -> Vec<String> {
    const CORPUS: [&str; 22] = [
        "return redis.call('GET', KEYS[1])",
        "return redis.call('INCRBY', KEYS[1], ARGV[1])",
        "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('STRLEN', KEYS[1])",
        "return redis.pcall('INCR', KEYS[1])",
        "return {redis.call('EXISTS', KEYS[1]), redis.call('TYPE', KEYS[1])}",
        "return #redis.call('HGETALL', KEYS[1])",
        "return redis.call('HSET', KEYS[1], 'f', ARGV[1])",
        "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DEL', KEYS[1]) \
         else return redis.call('SET', KEYS[1], ARGV[1]) end",
        "return cjson.encode({redis.call('GET', KEYS[1])})",
        "return tonumber(redis.call('GET', KEYS[1])) * 2",
        "return redis.call('EXPIRE', KEYS[1], ARGV[1])",
        "return bit.band(tonumber(ARGV[1]) or 0, 255)",
        "local ok, e = pcall(redis.call, 'INCR', KEYS[1]) return {tostring(ok), e}",
        "return redis.call('GETEX', KEYS[1], 'EX', ARGV[1])",
        // The bundled libraries, checked byte for byte against Redis's.
        "return cjson.encode({1, ARGV[1], {x = tonumber(ARGV[1])}, 0.1, 1/3, 'a/b'})",
        "return cjson.encode(cjson.decode('[1,\"a/b\",null,true,{\"k\":[2.5e3]}]'))",
        "local ok, e = pcall(cjson.decode, ARGV[1]) return {tostring(ok), tostring(e)}",
        "return struct.pack('>i2Hbs', tonumber(ARGV[1]) or 7, 513, -1, ARGV[1])",
        "return {struct.unpack('<i4dc0', struct.pack('<i4dc0', tonumber(ARGV[1]) or 1, 0.5, ARGV[1]))}",
        "return cmsgpack.pack({ARGV[1], 1, -1, 0.5, true, {a = 1}})",
        "return cmsgpack.unpack(cmsgpack.pack(ARGV[1], tonumber(ARGV[1])))",
        "return redis.call('SET', KEYS[1], (tonumber(ARGV[1]) or 1) / 3)",
    ];
    let body = CORPUS[next(CORPUS.len() as u64) as usize];
    let arg = match next(3) {
        0 => "abc".to_owned(),
        1 => format!("-{}", next(20)),
        _ => (next(1000) + 1).to_string(),
    };
    let verb = if next(4) == 0 { "EVAL_RO" } else { "EVAL" };
    vec![verb.into(), body.into(), "1".into(), k(next(40)), arg]
}

/// The keyspace events a subscriber received: (channel, payload) pairs.
pub(crate) fn drain_events(listener: &mut redis::Connection) -> Vec<(String, String)> {
    listener
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut events = Vec::new();
    while let Ok(Value::Array(items)) = listener.recv_response() {
        let text = |v: &Value| match v {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        };
        if items.len() == 4 {
            events.push((text(&items[2]), text(&items[3])));
        }
    }
    events
}

/// `[cluster]` with one node owning every slot.
pub(crate) fn one_node_cluster() -> Option<goldylox_host::server::cluster::ClusterConfig> {
    let text = "[cluster]\nmyself = \"solo\"\n[[cluster.nodes]]\nname = \"solo\"\n\
                address = \"127.0.0.1:1\"\nslots = [\"0-16383\"]\n";
    goldylox_host::server::config::Config::parse(text, "test")
        .unwrap()
        .cluster
}

/// The strings of an array reply, sorted.
pub(crate) fn sorted(v: &Value) -> Vec<String> {
    let mut items: Vec<String> = redis::from_redis_value(v).expect("an array of strings");
    items.sort();
    items
}
