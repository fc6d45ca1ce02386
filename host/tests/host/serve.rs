//! `goldylox serve` over real TCP with a real Redis client library (the
//! `redis` crate): commands and their Redis replies, pipelining, protocol
//! errors, limits and hostile clients; and, when Debian's `redis-server` is
//! installed, the same random command sequence against both.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use goldylox_host::server::{self, config::Config};
use goldylox_sandbox::Runtime;
use redis::{Commands, Value};

/// A server on an ephemeral port, on its own runtime; stopped on drop.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) metrics: Option<SocketAddr>,
    pub(crate) tls: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub(crate) fn start(edit: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_from(None, edit)
    }

    /// Starts from `file` (which reloads read) when given.
    pub(crate) fn start_from(
        file: Option<std::path::PathBuf>,
        edit: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut config = match &file {
            Some(path) => Config::load(path).unwrap(),
            None => {
                // The hot tier alone unless the test asks for more: the
                // embedded default's cold tier would share a directory.
                let mut config = Config::embedded();
                config.cache.warm_bytes = 0;
                config.cache.cold = None;
                config
            }
        };
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.cache.memory_bytes = 64 << 20;
        edit(&mut config);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let running = server::start(config, file, Runtime::shared().unwrap())
                    .await
                    .unwrap();
                addr_tx
                    .send((running.addr, running.metrics_addr, running.tls_addr))
                    .unwrap();
                let _ = stopped.await;
                running.shutdown().await;
            });
        });
        let (addr, metrics, tls) = addr_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        TestServer {
            addr,
            metrics,
            tls,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub(crate) fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub(crate) fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<Value> {
    let mut command = redis::cmd(args[0]);
    for a in &args[1..] {
        command.arg(*a);
    }
    command.query(c)
}

pub(crate) fn err_text(r: redis::RedisResult<Value>) -> String {
    let e = r.expect_err("expected an error reply");
    // "ERR syntax error" style: code then detail.
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
        .trim()
        .to_owned()
}

#[test]
fn strings_keys_and_their_redis_replies() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    assert_eq!(
        cmd(&mut c, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
    assert_eq!(
        cmd(&mut c, &["ECHO", "hi"]).unwrap(),
        Value::BulkString(b"hi".to_vec())
    );
    let () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(c.get::<_, Option<String>>("nope").unwrap(), None);
    // SET options.
    assert_eq!(cmd(&mut c, &["SET", "k", "w", "NX"]).unwrap(), Value::Nil);
    assert_eq!(cmd(&mut c, &["SET", "k2", "w", "XX"]).unwrap(), Value::Nil);
    assert_eq!(
        cmd(&mut c, &["SET", "k", "w", "GET"]).unwrap(),
        Value::BulkString(b"v".to_vec())
    );
    assert_eq!(
        cmd(&mut c, &["SET", "t", "1", "EX", "100"]).unwrap(),
        Value::Okay
    );
    let ttl: i64 = c.ttl("t").unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(
        cmd(&mut c, &["SET", "t", "2", "KEEPTTL"]).unwrap(),
        Value::Okay
    );
    assert!(c.ttl::<_, i64>("t").unwrap() > 0);
    assert_eq!(cmd(&mut c, &["SET", "t", "3"]).unwrap(), Value::Okay);
    assert_eq!(
        c.ttl::<_, i64>("t").unwrap(),
        -1,
        "a plain SET clears the TTL"
    );
    assert_eq!(c.ttl::<_, i64>("missing").unwrap(), -2);
    assert_eq!(
        err_text(cmd(&mut c, &["SET", "x", "1", "EX", "0"])),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["SET", "x", "1", "EX", "abc"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["SET", "x", "1", "NX", "XX"])),
        "ERR syntax error"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["SET", "x", "1", "EX", "5", "PX", "5"])),
        "ERR syntax error"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["GET"])),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["NOSUCH", "a"])),
        "ERR unknown command 'NOSUCH', with args beginning with: 'a'"
    );
    // Counters.
    assert_eq!(c.incr::<_, _, i64>("n", 1).unwrap(), 1);
    assert_eq!(cmd(&mut c, &["INCRBY", "n", "41"]).unwrap(), Value::Int(42));
    assert_eq!(cmd(&mut c, &["DECR", "n"]).unwrap(), Value::Int(41));
    assert_eq!(cmd(&mut c, &["DECRBY", "n", "50"]).unwrap(), Value::Int(-9));
    assert_eq!(
        err_text(cmd(&mut c, &["INCR", "k"])),
        "ERR value is not an integer or out of range"
    );
    let () = c.set("big", i64::MAX.to_string()).unwrap();
    assert_eq!(
        err_text(cmd(&mut c, &["INCR", "big"])),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["INCRBY", "n", "1x"])),
        "ERR value is not an integer or out of range"
    );
    // APPEND, STRLEN, GETDEL, GETEX, MGET, MSET, EXISTS, DEL, UNLINK.
    assert_eq!(cmd(&mut c, &["APPEND", "a", "xy"]).unwrap(), Value::Int(2));
    assert_eq!(cmd(&mut c, &["APPEND", "a", "z"]).unwrap(), Value::Int(3));
    assert_eq!(cmd(&mut c, &["STRLEN", "a"]).unwrap(), Value::Int(3));
    assert_eq!(cmd(&mut c, &["STRLEN", "none"]).unwrap(), Value::Int(0));
    assert_eq!(
        cmd(&mut c, &["GETDEL", "a"]).unwrap(),
        Value::BulkString(b"xyz".to_vec())
    );
    assert_eq!(cmd(&mut c, &["GETDEL", "a"]).unwrap(), Value::Nil);
    let () = c.set("g", "1").unwrap();
    assert_eq!(
        cmd(&mut c, &["GETEX", "g", "PX", "50000"]).unwrap(),
        Value::BulkString(b"1".to_vec())
    );
    let pttl: i64 = c.pttl("g").unwrap();
    assert!((49_000..=50_000).contains(&pttl), "{pttl}");
    assert_eq!(
        cmd(&mut c, &["GETEX", "g", "PERSIST"]).unwrap(),
        Value::BulkString(b"1".to_vec())
    );
    assert_eq!(c.ttl::<_, i64>("g").unwrap(), -1);
    assert_eq!(
        cmd(&mut c, &["MSET", "m1", "a", "m2", "b"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        err_text(cmd(&mut c, &["MSET", "m1", "a", "m2"])),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        cmd(&mut c, &["MGET", "m1", "zz", "m2"]).unwrap(),
        Value::Array(vec![
            Value::BulkString(b"a".to_vec()),
            Value::Nil,
            Value::BulkString(b"b".to_vec())
        ])
    );
    assert_eq!(
        cmd(&mut c, &["EXISTS", "m1", "m1", "zz"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(cmd(&mut c, &["DEL", "m1", "zz"]).unwrap(), Value::Int(1));
    assert_eq!(cmd(&mut c, &["UNLINK", "m2"]).unwrap(), Value::Int(1));
    // Expiry commands.
    let () = c.set("e", "1").unwrap();
    assert_eq!(cmd(&mut c, &["EXPIRE", "e", "100"]).unwrap(), Value::Int(1));
    assert_eq!(
        cmd(&mut c, &["EXPIRE", "e", "50", "GT"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        cmd(&mut c, &["EXPIRE", "e", "50", "LT"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        cmd(&mut c, &["EXPIRE", "e", "500", "NX"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(cmd(&mut c, &["PERSIST", "e"]).unwrap(), Value::Int(1));
    assert_eq!(cmd(&mut c, &["PERSIST", "e"]).unwrap(), Value::Int(0));
    assert_eq!(
        cmd(&mut c, &["EXPIRE", "missing", "10"]).unwrap(),
        Value::Int(0)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        cmd(&mut c, &["EXPIREAT", "e", &(now + 1000).to_string()]).unwrap(),
        Value::Int(1)
    );
    assert!((998..=1000).contains(&c.ttl::<_, i64>("e").unwrap()));
    assert_eq!(cmd(&mut c, &["PEXPIRE", "e", "-1"]).unwrap(), Value::Int(1));
    assert_eq!(
        c.exists::<_, i64>("e").unwrap(),
        0,
        "a past expire time deletes"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["EXPIRE", "k", "9223372036854775807"])),
        "ERR invalid expire time in 'expire' command"
    );
    // Keyspace and server commands.
    assert_eq!(cmd(&mut c, &["SELECT", "0"]).unwrap(), Value::Okay);
    assert_eq!(
        err_text(cmd(&mut c, &["SELECT", "1"])),
        "ERR DB index is out of range"
    );
    assert!(matches!(cmd(&mut c, &["DBSIZE"]).unwrap(), Value::Int(n) if n > 0));
    assert_eq!(
        cmd(&mut c, &["CLIENT", "SETNAME", "me"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        cmd(&mut c, &["CLIENT", "GETNAME"]).unwrap(),
        Value::BulkString(b"me".to_vec())
    );
    assert!(matches!(
        cmd(&mut c, &["CLIENT", "ID"]).unwrap(),
        Value::Int(_)
    ));
    // CLIENT SETINFO is kept and shown; a value that would break CLIENT
    // LIST's format is refused and changes nothing.
    for (attr, value) in [("lib-name", "test"), ("LIB-VER", "1.2.3")] {
        assert_eq!(
            cmd(&mut c, &["CLIENT", "SETINFO", attr, value]).unwrap(),
            Value::Okay
        );
    }
    assert_eq!(
        err_text(cmd(&mut c, &["CLIENT", "SETINFO", "lib-name", "two words"])),
        "ERR lib-name cannot contain spaces, newlines or special characters."
    );
    assert_eq!(
        err_text(cmd(&mut c, &["CLIENT", "SETINFO", "badger", "x"])),
        "ERR Unrecognized option 'badger'"
    );
    let me: String = redis::cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
    assert!(
        me.contains(" name=me ") && me.contains(" lib-name=test lib-ver=1.2.3"),
        "{me}"
    );
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(info.contains(section), "{info}");
    }
    let maxclients: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        maxclients,
        vec!["maxclients".to_owned(), "10000".to_owned()]
    );
    assert_eq!(cmd(&mut c, &["FLUSHALL"]).unwrap(), Value::Okay);
    assert_eq!(cmd(&mut c, &["DBSIZE"]).unwrap(), Value::Int(0));
    // Admin: policy status and a live swap.
    let status: Vec<String> = redis::cmd("GOLDYLOX")
        .arg("POLICY")
        .arg("STATUS")
        .query(&mut c)
        .unwrap();
    assert!(status[0].starts_with("hot: s3fifo active"), "{status:?}");
    let swapped: Vec<String> = redis::cmd("GOLDYLOX")
        .arg("POLICY")
        .arg("SWAP")
        .arg("hot")
        .arg("wasm:arc")
        .query(&mut c)
        .unwrap();
    assert!(swapped[0].contains("s3fifo -> arc"), "{swapped:?}");
    assert!(
        err_text(cmd(
            &mut c,
            &["GOLDYLOX", "POLICY", "SWAP", "hot", "wasm:nope"]
        ))
        .contains("no component")
    );
    // Each swap drops the instance it replaces: one lives at any time,
    // whether the new policy is built in or a file (the faulty example).
    let faulty = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/faulty/evict-traps.wat"
    );
    for spec in [faulty, "wasm:s3fifo", faulty, "wasm:arc"] {
        let swapped: Vec<String> = redis::cmd("GOLDYLOX")
            .arg("POLICY")
            .arg("SWAP")
            .arg("hot")
            .arg(spec)
            .query(&mut c)
            .unwrap();
        assert!(swapped[0].starts_with("hot:"), "{swapped:?}");
        // The replaced instance is dropped by the thread that ran it, a
        // moment after the swap answers (a trapping one may be rebuilt
        // once meanwhile): one lives once that is done.
        let mut info = String::new();
        for _ in 0..100 {
            info = redis::cmd("INFO").arg("policies").query(&mut c).unwrap();
            if info.contains("policy_instances_live:1\r\n") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            info.contains("policy_instances_live:1\r\n"),
            "after swapping to {spec}: {info}"
        );
    }
    assert_eq!(cmd(&mut c, &["QUIT"]).unwrap(), Value::Okay);
}

#[test]
fn pipelining_and_protocol_errors() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    let mut pipe = redis::pipe();
    for i in 0..1_000 {
        pipe.set(format!("p{i}"), i).ignore();
    }
    for i in 0..1_000 {
        pipe.get(format!("p{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(values, (0..1_000).collect::<Vec<_>>());

    // A protocol error closes that connection only.
    let mut raw = server.raw();
    raw.write_all(b"*1\r\n$4\r\nPING\r\n*1\r\n:5\r\n").unwrap();
    let mut got = String::new();
    raw.read_to_string(&mut got).unwrap();
    assert_eq!(
        got,
        "+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"
    );
    let mut raw = server.raw();
    raw.write_all(b"*3000000\r\n").unwrap();
    got.clear();
    raw.read_to_string(&mut got).unwrap();
    assert_eq!(got, "-ERR Protocol error: invalid multibulk length\r\n");
    // Inline commands, as redis-cli and telnet send them.
    let mut raw = server.raw();
    raw.write_all(b"SET inline \"a b\"\r\nGET inline\r\nQUIT\r\n")
        .unwrap();
    got.clear();
    raw.read_to_string(&mut got).unwrap();
    assert_eq!(got, "+OK\r\n$3\r\na b\r\n+OK\r\n");
    assert_eq!(
        cmd(&mut c, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
}

#[test]
fn auth_when_a_password_is_configured() {
    let server = TestServer::start(|c| c.server.password = Some("s3cret".into()));
    let mut raw = server.raw();
    raw.write_all(b"GET k\r\nAUTH nope\r\nAUTH s3cret\r\nGET k\r\nQUIT\r\n")
        .unwrap();
    let mut got = String::new();
    raw.read_to_string(&mut got).unwrap();
    assert_eq!(
        got,
        "-NOAUTH Authentication required.\r\n\
         -WRONGPASS invalid username-password pair or user is disabled.\r\n\
         +OK\r\n$-1\r\n+OK\r\n"
    );
}

#[test]
fn hostile_clients_do_not_hurt_the_others() {
    // The binary in a process of its own, so that its RSS is its own and
    // not the other tests' running beside this one.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hostile.toml"),
        "[server]\nmaxclients = 30\noutput_stall_ms = 1000\noutput_buffer_bytes = \"64kb\"\n\
         [cache]\nmemory_bytes = \"64mb\"\nwarm_bytes = 0\n[cache.cold]\nenabled = false\n",
    )
    .unwrap();
    let port = crate::serve_default::free_port();
    let mut server = crate::serve_default::serve(dir.path(), port, &["--config", "hostile.toml"]);
    let pid = server.child.id();
    let rss_bytes = || crate::serve_default::rss_of(pid);
    let before = rss_bytes();
    // Twenty clients each declare a 512 MB bulk and send ten bytes.
    let liars: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = raw_to(port);
            s.write_all(b"*2\r\n$3\r\nSET\r\n$536870912\r\n0123456789")
                .unwrap();
            s
        })
        .collect();
    let good = &mut server.client;
    assert_eq!(
        cmd(good, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
    std::thread::sleep(Duration::from_millis(200));
    let growth = rss_bytes().saturating_sub(before);
    println!(
        "20 clients declaring 512 MB bulks and sending 10 bytes: RSS +{} KiB",
        growth >> 10
    );
    assert!(growth < 8 << 20, "RSS grew {} KiB", growth >> 10);
    // Counts past the limit are refused at once.
    for _ in 0..50 {
        let mut s = raw_to(port);
        s.write_all(b"*2147483647\r\n").unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert_eq!(got, "-ERR Protocol error: invalid multibulk length\r\n");
    }
    // maxclients: 1 + 20 + this one fit; then refuse.
    let extra: Vec<TcpStream> = (0..9).map(|_| raw_to(port)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut refused = raw_to(port);
    refused.write_all(b"PING\r\n").unwrap();
    let mut got = String::new();
    let _ = refused.read_to_string(&mut got);
    assert_eq!(got, "-ERR max number of clients reached\r\n");
    drop(extra);
    // A pipeliner that never reads: it is disconnected once it stalls, and
    // the others keep being served meanwhile.
    let () = good.set("big", vec![b'x'; 1 << 20]).unwrap();
    let mut greedy = raw_to(port);
    let mut burst = Vec::new();
    for _ in 0..2_000 {
        burst.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    }
    greedy.write_all(&burst).unwrap();
    assert_eq!(
        cmd(good, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
    std::thread::sleep(Duration::from_millis(1_500));
    let info: String = redis::cmd("INFO").arg("clients").query(good).unwrap();
    assert!(info.contains("connected_clients:"), "{info}");
    assert_eq!(
        cmd(good, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
    drop(liars);
}

/// A raw connection to a server on loopback `port`.
fn raw_to(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}
