//! Transactions and scripts through the server: MULTI/EXEC is all or
//! nothing and never interleaved with other clients, WATCH fails on a
//! change, an expiry or a flush but not on a key moving between tiers, and
//! a script is atomic, sandboxed, bounded in memory and stoppable.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::Value;

use crate::serve::{TestServer, cmd, err_text};

fn int(v: redis::RedisResult<Value>) -> i64 {
    match v.unwrap() {
        Value::Int(n) => n,
        Value::BulkString(b) => String::from_utf8(b).unwrap().parse().unwrap(),
        other => panic!("not an integer: {other:?}"),
    }
}

/// Whether `command` gets `BUSY` within 5 s (a script is stuck).
fn answered_busy(c: &mut redis::Connection, command: &[&str]) -> bool {
    (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        matches!(cmd(c, command), Err(e) if e.code() == Some("BUSY"))
    })
}

#[test]
fn a_transaction_applies_all_or_nothing() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    let replies: Vec<Value> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("a")
        .arg(1)
        .cmd("INCR")
        .arg("a")
        .cmd("GET")
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(replies[2], Value::BulkString(b"2".to_vec()));
    // A command refused while queueing aborts the whole transaction.
    assert_eq!(cmd(&mut c, &["MULTI"]).unwrap(), Value::Okay);
    assert_eq!(
        cmd(&mut c, &["SET", "b", "1"]).unwrap(),
        Value::SimpleString("QUEUED".into())
    );
    assert!(err_text(cmd(&mut c, &["NOSUCHCOMMAND"])).contains("unknown command"));
    assert!(err_text(cmd(&mut c, &["GET"])).contains("wrong number of arguments"));
    assert!(err_text(cmd(&mut c, &["EXEC"])).starts_with("EXECABORT"));
    assert_eq!(
        cmd(&mut c, &["EXISTS", "b"]).unwrap(),
        Value::Int(0),
        "nothing applied"
    );
    // A command that fails while running does not stop the others.
    cmd(&mut c, &["SET", "s", "text"]).unwrap();
    cmd(&mut c, &["MULTI"]).unwrap();
    cmd(&mut c, &["INCR", "s"]).unwrap();
    cmd(&mut c, &["SET", "t", "1"]).unwrap();
    // (The client library turns an error inside EXEC's array into an
    // error of the whole reply.)
    assert!(err_text(cmd(&mut c, &["EXEC"])).contains("not an integer"));
    assert_eq!(int(cmd(&mut c, &["GET", "t"])), 1, "the next command ran");
    // Malformed sequences get Redis's errors and leave the connection usable.
    assert!(err_text(cmd(&mut c, &["EXEC"])).contains("EXEC without MULTI"));
    assert!(err_text(cmd(&mut c, &["DISCARD"])).contains("DISCARD without MULTI"));
    cmd(&mut c, &["MULTI"]).unwrap();
    assert!(err_text(cmd(&mut c, &["MULTI"])).contains("can not be nested"));
    assert!(err_text(cmd(&mut c, &["WATCH", "x"])).contains("WATCH inside MULTI"));
    assert_eq!(cmd(&mut c, &["DISCARD"]).unwrap(), Value::Okay);
    assert_eq!(
        cmd(&mut c, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
}

#[test]
fn watch_fails_on_a_change_an_expiry_or_a_flush() {
    let server = TestServer::start(|_| {});
    let (mut c, mut other) = (server.client(), server.client());
    let exec_after = |c: &mut redis::Connection, change: &mut dyn FnMut()| {
        change();
        cmd(c, &["MULTI"]).unwrap();
        cmd(c, &["PING"]).unwrap();
        cmd(c, &["EXEC"]).unwrap()
    };
    cmd(&mut c, &["SET", "k", "1"]).unwrap();
    cmd(&mut c, &["WATCH", "k"]).unwrap();
    let nil = exec_after(&mut c, &mut || {
        cmd(&mut other, &["SET", "k", "2"]).unwrap();
    });
    assert_eq!(nil, Value::Nil, "another client changed k");
    cmd(&mut c, &["WATCH", "k"]).unwrap();
    let ran = exec_after(&mut c, &mut || {
        cmd(&mut other, &["GET", "k"]).unwrap();
    });
    assert!(
        matches!(ran, Value::Array(_)),
        "a read changes nothing: {ran:?}"
    );
    cmd(&mut c, &["SET", "e", "1", "PX", "50"]).unwrap();
    cmd(&mut c, &["WATCH", "e"]).unwrap();
    let nil = exec_after(&mut c, &mut || {
        std::thread::sleep(Duration::from_millis(120))
    });
    assert_eq!(nil, Value::Nil, "a watched key that expired fails EXEC");
    cmd(&mut c, &["WATCH", "k"]).unwrap();
    let nil = exec_after(&mut c, &mut || {
        cmd(&mut other, &["FLUSHALL"]).unwrap();
    });
    assert_eq!(nil, Value::Nil, "a flushed watched key fails EXEC");
    cmd(&mut c, &["WATCH", "absent"]).unwrap();
    let ran = exec_after(&mut c, &mut || {
        cmd(&mut other, &["FLUSHALL"]).unwrap();
    });
    assert!(
        matches!(ran, Value::Array(_)),
        "a flush touches no absent key: {ran:?}"
    );
}

#[test]
fn watch_survives_a_key_moving_between_tiers() {
    let server = TestServer::start(|config| {
        config.cache.memory_bytes = 1 << 20;
        config.cache.warm_bytes = 4 << 20;
    });
    let mut c = server.client();
    cmd(&mut c, &["SET", "watched", "value"]).unwrap();
    cmd(&mut c, &["WATCH", "watched"]).unwrap();
    // Push it down: three times the hot tier's bytes of other keys.
    let filler = "x".repeat(1000);
    for i in 0..3_000 {
        cmd(&mut c, &["SET", &format!("filler:{i}"), &filler]).unwrap();
    }
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    let warm_entries: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("warm_entries:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    assert!(warm_entries > 0, "keys were demoted to warm");
    cmd(&mut c, &["MULTI"]).unwrap();
    cmd(&mut c, &["GET", "watched"]).unwrap();
    let reply = cmd(&mut c, &["EXEC"]).unwrap();
    assert_eq!(
        reply,
        Value::Array(vec![Value::BulkString(b"value".to_vec())]),
        "moving between tiers is not a change"
    );
}

/// Two counters that every transaction and script bumps together: no
/// reader ever sees them differ.
#[test]
fn transactions_and_scripts_are_never_seen_half_done() {
    let server = TestServer::start(|_| {});
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut c = server.client();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut rounds = 0;
                while !stop.load(Ordering::Relaxed) {
                    if w == 0 {
                        let _: () = redis::pipe()
                            .atomic()
                            .cmd("INCR")
                            .arg("a")
                            .ignore()
                            .cmd("INCR")
                            .arg("b")
                            .ignore()
                            .query(&mut c)
                            .unwrap();
                    } else {
                        cmd(
                            &mut c,
                            &[
                                "EVAL",
                                "redis.call('INCR', KEYS[1]); return redis.call('INCR', KEYS[2])",
                                "2",
                                "a",
                                "b",
                            ],
                        )
                        .unwrap();
                    }
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let mut reader = server.client();
    for _ in 0..2_000 {
        let (a, b): (Option<i64>, Option<i64>) = redis::cmd("MGET")
            .arg("a")
            .arg("b")
            .query(&mut reader)
            .unwrap();
        assert_eq!(a, b, "a reader saw half a transaction or script");
    }
    stop.store(true, Ordering::Relaxed);
    let rounds: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(rounds > 0);
    assert_eq!(int(cmd(&mut reader, &["GET", "a"])), rounds as i64);
}

#[test]
fn scripts_follow_redis_rules_and_bad_ones_leave_the_server_serving() {
    let server = TestServer::start(|config| {
        config.server.busy_reply_threshold_ms = 100;
        config.server.script_memory_bytes = 8 << 20;
    });
    let mut c = server.client();
    let sha = match cmd(
        &mut c,
        &["SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"],
    )
    .unwrap()
    {
        Value::BulkString(s) => String::from_utf8(s).unwrap(),
        other => panic!("{other:?}"),
    };
    cmd(&mut c, &["SET", "k", "v"]).unwrap();
    assert_eq!(
        cmd(&mut c, &["EVALSHA", &sha.to_uppercase(), "1", "k"]).unwrap(),
        Value::BulkString(b"v".to_vec())
    );
    assert!(
        err_text(cmd(
            &mut c,
            &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"]
        ))
        .starts_with("NOSCRIPT")
    );
    assert!(err_text(cmd(&mut c, &["EVAL", "return", "x"])).contains("not an integer"));
    assert!(
        err_text(cmd(&mut c, &["EVAL", "return 1", "5", "a"]))
            .contains("greater than number of args")
    );
    assert!(err_text(cmd(&mut c, &["EVAL", "return (", "0"])).contains("Error compiling script"));
    assert!(
        err_text(cmd(&mut c, &["EVAL", "return undefined_global", "0"]))
            .contains("nonexistent global variable")
    );
    assert!(err_text(cmd(&mut c, &["EVAL", "leak = 1", "0"])).contains("readonly table"));
    assert!(
        err_text(cmd(&mut c, &["EVAL", "return os.execute('true')", "0"]))
            .contains("nonexistent global variable 'os'")
    );
    assert!(
        err_text(cmd(
            &mut c,
            &["EVAL", "return loadfile('/etc/passwd')", "0"]
        ))
        .contains("loadfile")
    );
    assert!(
        err_text(cmd(
            &mut c,
            &["EVAL_RO", "return redis.call('SET', 'k', 'w')", "0"]
        ))
        .contains("Write commands are not allowed")
    );
    assert!(
        err_text(cmd(&mut c, &["EVAL", "return redis.call('MULTI')", "0"]))
            .contains("not allowed from script")
    );
    // A script that wants more than the cap fails; the server goes on.
    let hog = "local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 100) .. i end";
    assert!(err_text(cmd(&mut c, &["EVAL", hog, "0"])).contains("not enough memory"));
    assert_eq!(
        cmd(&mut c, &["GET", "k"]).unwrap(),
        Value::BulkString(b"v".to_vec())
    );
    // A looping script: others are answered BUSY, SCRIPT KILL stops it.
    let looping = std::thread::spawn({
        let mut c = server.client();
        move || err_text(cmd(&mut c, &["EVAL", "while true do end", "0"]))
    });
    let mut other = server.client();
    assert!(answered_busy(&mut other, &["GET", "k"]));
    assert_eq!(cmd(&mut other, &["SCRIPT", "KILL"]).unwrap(), Value::Okay);
    assert!(looping.join().unwrap().contains("killed by user"));
    assert_eq!(
        cmd(&mut other, &["GET", "k"]).unwrap(),
        Value::BulkString(b"v".to_vec())
    );
    assert!(err_text(cmd(&mut other, &["SCRIPT", "KILL"])).starts_with("NOTBUSY"));
    // One that wrote cannot be killed: it runs to its end.
    let writer = std::thread::spawn({
        let mut c = server.client();
        move || {
            cmd(
                &mut c,
                &[
                    "EVAL",
                    "redis.call('SET', 'w', 1) local n = 0 for i = 1, 3e7 do n = n + i end return 1",
                    "0",
                ],
            )
        }
    });
    let unkillable = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(20));
        match cmd(&mut other, &["SCRIPT", "KILL"]) {
            Err(e) if e.code() == Some("UNKILLABLE") => Some(()),
            _ => None,
        }
    });
    assert!(unkillable.is_some(), "a script that wrote is UNKILLABLE");
    assert_eq!(writer.join().unwrap().unwrap(), Value::Int(1));
}

#[test]
fn the_sandbox_holds_against_tricks_and_a_stop_cannot_be_caught() {
    let server = TestServer::start(|config| {
        config.server.busy_reply_threshold_ms = 100;
    });
    let mut c = server.client();
    // Every way Redis's tests try to reach past the read-only globals.
    for trick in [
        "setmetatable(_G, {})",
        "local g = getmetatable(_G) g.__index = {}",
        "_G = {}",
        "redis = function() return 1 end",
        "rawset(_G, 'x', 1)",
        "redis.call = function() return 1 end",
        "cjson.encode = function() return 1 end",
        "struct.pack = function() return 1 end",
    ] {
        let e = err_text(cmd(&mut c, &["EVAL", trick, "0"]));
        assert!(
            e.contains("Attempt to modify a readonly table"),
            "{trick}: {e}"
        );
    }
    let e = err_text(cmd(
        &mut c,
        &[
            "EVAL",
            "return loadstring(string.dump(function() return 1 end))()",
            "0",
        ],
    ));
    assert!(e.contains("attempt to call a nil value"), "bytecode: {e}");
    // A result nested past the limit is an error reply at its bottom, not
    // a crash (read raw: the client library refuses replies that deep).
    let mut raw = server.raw();
    let body = "local a = {} local b = {a} a[1] = b return a";
    let request = format!(
        "*3\r\n$4\r\nEVAL\r\n${}\r\n{body}\r\n$1\r\n0\r\n",
        body.len()
    );
    raw.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.ends_with(b"reached lua stack limit\r\n") {
        let n = raw.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed the connection");
        reply.extend_from_slice(&buf[..n]);
    }
    assert!(reply.starts_with(b"*1\r\n*1\r\n"));
    assert_eq!(
        cmd(&mut c, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
    // A script that catches every error with pcall is still stopped.
    let looping = std::thread::spawn({
        let mut c = server.client();
        move || {
            let body = "local f = function() while 1 do redis.call('ping') end end \
                        while 1 do pcall(f) end";
            err_text(cmd(&mut c, &["EVAL", body, "0"]))
        }
    });
    let mut other = server.client();
    assert!(answered_busy(&mut other, &["PING"]));
    assert_eq!(cmd(&mut other, &["SCRIPT", "KILL"]).unwrap(), Value::Okay);
    assert!(looping.join().unwrap().contains("killed by user"));
    assert_eq!(
        cmd(&mut other, &["PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
}
