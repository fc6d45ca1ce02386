//! The operator's diagnostics over real TCP: the slow log (what it keeps,
//! what it leaves out, what it redacts), error statistics by code, and
//! `CONFIG RESETSTAT`, with the `redis` crate as the client.

use std::time::Duration;

use redis::Value;

use super::serve::{TestServer, cmd, err_text};

/// `SLOWLOG GET count`: each entry's arguments, newest first, as text.
fn slow_args(c: &mut redis::Connection, count: i64) -> Vec<Vec<String>> {
    let entries: Vec<Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(count)
        .query(c)
        .unwrap();
    entries
        .into_iter()
        .map(|e| {
            let Value::Array(fields) = e else {
                panic!("an entry is an array: {e:?}")
            };
            assert_eq!(fields.len(), 6, "{fields:?}");
            redis::from_redis_value(&fields[3]).unwrap()
        })
        .collect()
}

/// `INFO section` as name → value pairs.
fn info(c: &mut redis::Connection, section: &str) -> Vec<(String, String)> {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn figure(c: &mut redis::Connection, section: &str, name: &str) -> Option<String> {
    info(c, section)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn the_slow_log_keeps_what_redis_keeps() {
    let server = TestServer::start(|config| config.server.slowlog_max_len = 5);
    let mut c = server.client();
    // Off at the default threshold (10 ms) for commands this quick.
    cmd(&mut c, &["SET", "k", "v"]).unwrap();
    assert_eq!(cmd(&mut c, &["SLOWLOG", "LEN"]).unwrap(), Value::Int(0));
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("slowlog-*")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        got,
        words(&["slowlog-log-slower-than", "10000", "slowlog-max-len", "5"])
    );

    cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]).unwrap();
    cmd(&mut c, &["SLOWLOG", "RESET"]).unwrap();
    cmd(&mut c, &["CLIENT", "SETNAME", "dash"]).unwrap();
    // A transaction logs its commands, not EXEC; a script logs itself, not
    // its calls; secrets are redacted.
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("SET")
        .arg("a")
        .arg("1")
        .cmd("INCR")
        .arg("a");
    let _: Value = pipe.query(&mut c).unwrap();
    cmd(&mut c, &["EVAL", "return redis.call('GET', 'a')", "0"]).unwrap();
    let _ = cmd(&mut c, &["AUTH", "nobody", "secret"]);
    let newest = slow_args(&mut c, -1);
    assert_eq!(
        newest,
        vec![
            words(&["AUTH", "(redacted)", "(redacted)"]),
            words(&["EVAL", "return redis.call('GET', 'a')", "0"]),
            words(&["INCR", "a"]),
            words(&["SET", "a", "1"]),
            words(&["MULTI"]),
        ],
        "the newest five, the log's length"
    );
    // Each entry names its client.
    let entries: Vec<Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let Value::Array(fields) = &entries[0] else {
        panic!()
    };
    let name: String = redis::from_redis_value(&fields[5]).unwrap();
    assert_eq!(name, "dash");
    assert_eq!(slow_args(&mut c, 2).len(), 2);
    assert_eq!(slow_args(&mut c, 0).len(), 0);
    assert_eq!(
        err_text(cmd(&mut c, &["SLOWLOG", "GET", "-2"])),
        "ERR count should be greater than or equal to -1"
    );

    // Off again: nothing more is kept, the command that turned it off
    // included (the threshold after a command decides, as in Redis);
    // RESET empties it.
    cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]).unwrap();
    cmd(&mut c, &["PING"]).unwrap();
    assert_eq!(slow_args(&mut c, 1)[0], words(&["SLOWLOG", "GET", "-2"]));
    cmd(&mut c, &["SLOWLOG", "RESET"]).unwrap();
    cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]).unwrap();
    assert_eq!(
        slow_args(&mut c, -1),
        vec![words(&["CONFIG", "SET", "slowlog-log-slower-than", "0"])],
        "the command that turned it on is logged"
    );
    cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]).unwrap();
    cmd(&mut c, &["SLOWLOG", "RESET"]).unwrap();
    assert_eq!(cmd(&mut c, &["SLOWLOG", "LEN"]).unwrap(), Value::Int(0));
}

#[test]
fn a_blocked_command_is_logged_as_sent_when_served() {
    let server = TestServer::start(|config| config.server.slowlog_slower_than_us = 0);
    let mut c = server.client();
    let mut blocked = server.client();
    let waiter = std::thread::spawn(move || {
        let got: Vec<String> = redis::cmd("BLPOP")
            .arg("l")
            .arg(0)
            .query(&mut blocked)
            .unwrap();
        got
    });
    // Wait until it blocks.
    for _ in 0..500 {
        if figure(&mut c, "clients", "blocked_clients").as_deref() == Some("1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cmd(&mut c, &["SLOWLOG", "RESET"]).unwrap();
    cmd(&mut c, &["LPUSH", "l", "x"]).unwrap();
    assert_eq!(waiter.join().unwrap(), words(&["l", "x"]));
    let logged = slow_args(&mut c, -1);
    assert_eq!(
        logged,
        vec![
            words(&["BLPOP", "l", "0"]),
            words(&["LPUSH", "l", "x"]),
            words(&["SLOWLOG", "RESET"]),
        ]
    );
}

#[test]
fn errors_are_counted_by_code_and_resetstat_zeroes_the_statistics() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    cmd(&mut c, &["SET", "s", "v"]).unwrap();
    cmd(&mut c, &["GET", "s"]).unwrap();
    cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    assert_eq!(figure(&mut c, "stats", "total_error_replies").unwrap(), "0");
    assert_eq!(figure(&mut c, "stats", "keyspace_hits").unwrap(), "0");
    assert_eq!(figure(&mut c, "commandstats", "cmdstat_get"), None);
    cmd(&mut c, &["GET", "s"]).unwrap();
    assert_eq!(figure(&mut c, "stats", "keyspace_hits").unwrap(), "1");
    cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();

    let _ = cmd(&mut c, &["NOSUCHCOMMAND"]);
    let _ = cmd(&mut c, &["GET"]);
    let _ = cmd(&mut c, &["LPUSH", "s", "x"]);
    let _ = cmd(
        &mut c,
        &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
    );
    let _ = cmd(
        &mut c,
        &["EVAL", "return redis.error_reply('MY_CODE made up')", "0"],
    );
    // An error a script's call raised is counted once, where it happened.
    let _ = cmd(
        &mut c,
        &["EVAL", "return redis.call('LPUSH', 's', 'x')", "0"],
    );
    // … and one it caught is counted too.
    cmd(
        &mut c,
        &["EVAL", "redis.pcall('LPUSH', 's', 'x') return 1", "0"],
    )
    .unwrap();
    let errors = info(&mut c, "errorstats");
    assert_eq!(
        errors,
        vec![
            ("errorstat_ERR".to_owned(), "count=2".to_owned()),
            ("errorstat_MY_CODE".to_owned(), "count=1".to_owned()),
            ("errorstat_NOSCRIPT".to_owned(), "count=1".to_owned()),
            ("errorstat_WRONGTYPE".to_owned(), "count=3".to_owned()),
        ]
    );
    assert_eq!(figure(&mut c, "stats", "total_error_replies").unwrap(), "7");
    let get = figure(&mut c, "commandstats", "cmdstat_get").unwrap();
    assert!(
        get.contains("calls=0,") && get.contains("rejected_calls=1,"),
        "{get}"
    );
    let lpush = figure(&mut c, "commandstats", "cmdstat_lpush").unwrap();
    assert!(
        lpush.starts_with("calls=3,") && lpush.ends_with("failed_calls=3"),
        "{lpush}"
    );

    cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    assert!(info(&mut c, "errorstats").is_empty());
    assert_eq!(figure(&mut c, "stats", "total_error_replies").unwrap(), "0");
    assert_eq!(figure(&mut c, "stats", "keyspace_hits").unwrap(), "0");
    assert_eq!(figure(&mut c, "commandstats", "cmdstat_lpush"), None);
    // The four INFOs since, and the one that reads the figure.
    assert_eq!(
        figure(&mut c, "stats", "total_commands_processed").unwrap(),
        "5"
    );
}

#[test]
fn config_rewrite_is_refused_with_its_reason() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    let refused = err_text(cmd(&mut c, &["CONFIG", "REWRITE"]));
    assert!(
        refused.contains("CONFIG REWRITE is not supported"),
        "{refused}"
    );
}

/// `LATENCY HISTOGRAM names…` as name → calls.
fn histogram_calls(c: &mut redis::Connection, names: &[&str]) -> Vec<(String, i64)> {
    let mut command = redis::cmd("LATENCY");
    command.arg("HISTOGRAM");
    for n in names {
        command.arg(*n);
    }
    let flat: Vec<Value> = command.query(c).unwrap();
    flat.chunks(2)
        .map(|pair| {
            let name: String = redis::from_redis_value(&pair[0]).unwrap();
            let fields: Vec<Value> = redis::from_redis_value(&pair[1]).unwrap();
            let calls: i64 = redis::from_redis_value(&fields[1]).unwrap();
            let buckets: Vec<i64> = redis::from_redis_value(&fields[3]).unwrap();
            // Cumulative: the last bucket holds every call.
            assert_eq!(buckets.last(), Some(&calls), "{name}: {buckets:?}");
            (name, calls)
        })
        .collect()
}

#[test]
fn latency_histograms_count_commands_and_subcommands_since_resetstat() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    assert_eq!(
        histogram_calls(&mut c, &[]),
        vec![("config|resetstat".to_owned(), 1)]
    );
    cmd(&mut c, &["SET", "a", "1"]).unwrap();
    cmd(&mut c, &["SET", "b", "2"]).unwrap();
    cmd(&mut c, &["GET", "a"]).unwrap();
    cmd(&mut c, &["CLIENT", "ID"]).unwrap();
    cmd(&mut c, &["CLIENT", "GETNAME"]).unwrap();
    assert_eq!(
        histogram_calls(&mut c, &["set", "get", "nosuch"]),
        vec![("get".to_owned(), 1), ("set".to_owned(), 2)]
    );
    assert_eq!(
        histogram_calls(&mut c, &["client"]),
        vec![
            ("client|getname".to_owned(), 1),
            ("client|id".to_owned(), 1)
        ]
    );
    assert_eq!(
        histogram_calls(&mut c, &["client|id"]),
        vec![("client|id".to_owned(), 1)]
    );
}

#[test]
fn latency_events_are_sampled_over_the_threshold() {
    let server = TestServer::start(|config| config.server.latency_monitor_threshold_ms = 10);
    let mut c = server.client();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("latency-monitor-threshold")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, words(&["latency-monitor-threshold", "10"]));
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut c).unwrap();
    assert!(doctor.contains("No latency event"), "{doctor}");
    // A script that runs at least 20 ms by the server's clock.
    let busy = "local s = redis.call('TIME') \
                repeat local n = redis.call('TIME') \
                until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) >= 20000 return 1";
    cmd(&mut c, &["EVAL", busy, "0"]).unwrap();
    let latest: Vec<(String, u64, u64, u64)> =
        redis::cmd("LATENCY").arg("LATEST").query(&mut c).unwrap();
    let command = latest
        .iter()
        .find(|l| l.0 == "command")
        .unwrap_or_else(|| panic!("a command event: {latest:?}"));
    assert!(command.2 >= 20 && command.3 >= command.2, "{command:?}");
    let history: Vec<(u64, u64)> = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("command")
        .query(&mut c)
        .unwrap();
    assert_eq!(history.last().map(|s| s.1), Some(command.2));
    let graph: String = redis::cmd("LATENCY")
        .arg("GRAPH")
        .arg("command")
        .query(&mut c)
        .unwrap();
    assert!(graph.starts_with("command - high"), "{graph}");
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut c).unwrap();
    assert!(
        doctor.contains("command:") && doctor.contains("SLOWLOG"),
        "{doctor}"
    );
    assert!(
        err_text(cmd(&mut c, &["LATENCY", "GRAPH", "nosuch"])).contains("No samples"),
        "an event without samples"
    );
    assert_eq!(
        cmd(&mut c, &["LATENCY", "RESET", "nosuch"]).unwrap(),
        Value::Int(0)
    );
    // Off (first, so that no engine event lands after the reset), then
    // reset: nothing is sampled any more.
    cmd(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]).unwrap();
    let reset = cmd(&mut c, &["LATENCY", "RESET"]).unwrap();
    assert!(matches!(reset, Value::Int(n) if n >= 1), "{reset:?}");
    cmd(&mut c, &["EVAL", busy, "0"]).unwrap();
    let latest: Vec<Value> = redis::cmd("LATENCY").arg("LATEST").query(&mut c).unwrap();
    assert!(latest.is_empty(), "{latest:?}");
}

#[test]
fn memory_stats_and_the_doctor_read_the_tiers() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    for i in 0..2_000 {
        cmd(&mut c, &["SET", &format!("k{i}"), &"x".repeat(500)]).unwrap();
    }
    let stats: Vec<Value> = redis::cmd("MEMORY").arg("STATS").query(&mut c).unwrap();
    let figures: Vec<(String, Value)> = stats
        .chunks(2)
        .map(|kv| (redis::from_redis_value(&kv[0]).unwrap(), kv[1].clone()))
        .collect();
    let int = |name: &str| match figures.iter().find(|(k, _)| k == name) {
        Some((_, Value::Int(n))) => *n,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(int("keys.count"), 2_000);
    assert!(
        int("hot.bytes") >= 2_000 * 500,
        "the hot tier holds the values"
    );
    assert!(int("dataset.bytes") >= int("hot.bytes"));
    assert!(int("peak.allocated") >= int("total.allocated"));
    assert!(int("total.allocated") > int("startup.allocated"));
    for ratio in ["dataset.percentage", "peak.percentage"] {
        let Some((_, Value::BulkString(text))) = figures.iter().find(|(k, _)| k == ratio) else {
            panic!("{ratio} is a double (a bulk string in RESP2)");
        };
        let x: f64 = String::from_utf8_lossy(text).parse().unwrap();
        assert!((0.0..=100.0).contains(&x), "{ratio} = {x}");
    }
    let doctor: String = redis::cmd("MEMORY").arg("DOCTOR").query(&mut c).unwrap();
    assert!(doctor.starts_with("No memory problem found"), "{doctor}");
    let malloc: String = redis::cmd("MEMORY")
        .arg("MALLOC-STATS")
        .query(&mut c)
        .unwrap();
    assert!(!malloc.is_empty());
    let err = err_text(cmd(&mut c, &["MEMORY", "STATS", "extra"]));
    assert!(err.contains("unknown subcommand"), "{err}");
}

#[test]
fn config_set_of_several_parameters_applies_all_or_none() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    let get = |c: &mut redis::Connection, name: &str| -> String {
        let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(c).unwrap();
        pair[1].clone()
    };
    cmd(
        &mut c,
        &["CONFIG", "SET", "slowlog-max-len", "7", "maxclients", "99"],
    )
    .unwrap();
    assert_eq!(get(&mut c, "slowlog-max-len"), "7");
    assert_eq!(get(&mut c, "maxclients"), "99");
    let err = err_text(cmd(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "slowlog-max-len",
            "3",
            "maxclients",
            "lots",
        ],
    ));
    assert!(err.contains("'maxclients'"), "{err}");
    assert_eq!(get(&mut c, "slowlog-max-len"), "7", "nothing applied");
    let err = err_text(cmd(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "slowlog-max-len",
            "3",
            "slowlog-max-len",
            "4",
        ],
    ));
    assert!(err.contains("duplicate parameter"), "{err}");
    assert_eq!(get(&mut c, "slowlog-max-len"), "7");
}
