//! `COMMAND` against redis-server 7.0: the subcommands of every container
//! both implement, with their arity, flags, key positions and ACL
//! categories, and `COMMAND LIST`'s filters.

use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

use super::serve::TestServer;

/// The flags goldylox reports (Redis's others — `loading`, `stale`,
/// `no_async_loading`, `pubsub` — describe states and machinery it has not).
const REPORTED_FLAGS: [&str; 10] = [
    "write",
    "readonly",
    "fast",
    "no_auth",
    "admin",
    "denyoom",
    "no_multi",
    "noscript",
    "allow_busy",
    "may_replicate",
];

fn list(c: &mut redis::Connection, filter: &[&str]) -> BTreeSet<String> {
    let names: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .arg(filter)
        .query(c)
        .unwrap();
    names.into_iter().collect()
}

/// `COMMAND INFO name` as (arity, reported flags, first, last, step).
fn info(c: &mut redis::Connection, name: &str) -> (i64, BTreeSet<String>, i64, i64, i64) {
    let reply: Vec<Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg(name)
        .query(c)
        .unwrap();
    let Some(Value::Array(fields)) = reply.into_iter().next() else {
        panic!("COMMAND INFO {name}: not described");
    };
    let int = |v: &Value| -> i64 { redis::from_redis_value(v).unwrap() };
    let flags: Vec<String> = match &fields[2] {
        Value::Array(v) | Value::Set(v) => v
            .iter()
            .map(|f| redis::from_redis_value(f).unwrap())
            .collect(),
        other => panic!("flags: {other:?}"),
    };
    let flags = flags
        .into_iter()
        .filter(|f| REPORTED_FLAGS.contains(&f.as_str()))
        .collect();
    (
        int(&fields[1]),
        flags,
        int(&fields[3]),
        int(&fields[4]),
        int(&fields[5]),
    )
}

#[test]
fn subcommands_are_described_and_categorised_as_redis_server_does() {
    let Some(reference) = crate::serve_differential::Reference::start(false) else {
        return;
    };
    let server = TestServer::start(|_| {});
    let (mut ours, mut theirs) = (server.client(), reference.connection());
    let subs = |names: BTreeSet<String>| -> BTreeSet<String> {
        names.into_iter().filter(|n| n.contains('|')).collect()
    };
    let (our_subs, their_subs) = (subs(list(&mut ours, &[])), subs(list(&mut theirs, &[])));
    // MODULE is not supported; CLIENT SETINFO is Redis 7.2's.
    let missing: Vec<&String> = their_subs
        .difference(&our_subs)
        .filter(|n| !n.starts_with("module|"))
        .collect();
    let extra: Vec<&String> = our_subs.difference(&their_subs).collect();
    assert!(
        missing.is_empty(),
        "Redis's subcommands missing: {missing:?}"
    );
    assert_eq!(
        extra,
        [&"client|setinfo".to_owned()],
        "subcommands Redis 7.0 lacks"
    );
    let shared: Vec<&String> = our_subs.intersection(&their_subs).collect();
    for name in &shared {
        assert_eq!(
            info(&mut ours, name),
            info(&mut theirs, name),
            "COMMAND INFO {name}"
        );
    }
    let categories: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut theirs).unwrap();
    let mut pairs = 0;
    let mut differ = BTreeMap::new();
    for category in &categories {
        let filter = ["FILTERBY", "ACLCAT", category.as_str()];
        let (a, b) = (
            subs(list(&mut ours, &filter)),
            subs(list(&mut theirs, &filter)),
        );
        for name in &shared {
            pairs += 1;
            if a.contains(*name) != b.contains(*name) {
                differ.insert(format!("@{category} {name}"), a.contains(*name));
            }
        }
    }
    assert!(differ.is_empty(), "ours differ: {differ:#?}");
    println!(
        "{} subcommands described as redis-server does; {pairs} (category, subcommand) pairs equal",
        shared.len()
    );
}

#[test]
fn command_list_filters_and_command_getkeys_reads_subcommands() {
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    let all = list(&mut c, &[]);
    assert!(all.len() > 300 && all.contains("set") && all.contains("client|list"));
    let scripting = list(&mut c, &["FILTERBY", "ACLCAT", "scripting"]);
    assert!(scripting.contains("eval") && scripting.contains("script|kill"));
    assert!(!scripting.contains("set"));
    assert!(list(&mut c, &["FILTERBY", "ACLCAT", "no-such-category"]).is_empty());
    assert!(list(&mut c, &["FILTERBY", "MODULE", "any"]).is_empty());
    let config: Vec<String> = list(&mut c, &["FILTERBY", "PATTERN", "CONFIG|*RE*"])
        .into_iter()
        .collect();
    assert_eq!(config, ["config|resetstat", "config|rewrite"]);
    for bad in [
        &["bad"][..],
        &["FILTERBY", "bad"],
        &["FILTERBY", "bad", "x"],
    ] {
        let refused = redis::cmd("COMMAND")
            .arg("LIST")
            .arg(bad)
            .query::<Value>(&mut c)
            .unwrap_err();
        assert!(
            refused.to_string().contains("syntax error"),
            "{bad:?}: {refused}"
        );
    }
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "MEMORY", "USAGE", "k"])
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["k"]);
    let undescribed: Vec<Value> = redis::cmd("COMMAND")
        .arg(&["INFO", "get|key", "config|get|key"])
        .query(&mut c)
        .unwrap();
    assert_eq!(undescribed, [Value::Nil, Value::Nil]);
}

#[test]
fn getkeysandflags_answers_as_redis_server_does() {
    let Some(reference) = crate::serve_differential::Reference::start(false) else {
        return;
    };
    let server = TestServer::start(|_| {});
    let (mut ours, mut theirs) = (server.client(), reference.connection());
    let requests: &[&[&str]] = &[
        &["set", "k", "v"],
        &["set", "k", "v", "GET"],
        &["get", "k"],
        &["mset", "a", "1", "b", "2"],
        &["del", "a", "b", "c"],
        &["lmove", "a", "b", "left", "right"],
        &["rpoplpush", "a", "b"],
        &["smove", "a", "b", "m"],
        &["sort", "k", "BY", "w*", "STORE", "d"],
        &["sort_ro", "k"],
        &["sdiffstore", "d", "a", "b"],
        &["zunionstore", "d", "2", "a", "b"],
        &["zinter", "2", "a", "b"],
        &["bitop", "AND", "d", "a", "b"],
        &["bitfield", "k", "GET", "u8", "0"],
        &["bitfield", "k", "SET", "u8", "0", "1"],
        &["copy", "a", "b"],
        &["rename", "a", "b"],
        &["renamenx", "a", "b"],
        &["incr", "k"],
        &["hset", "h", "f", "v"],
        &["exists", "a", "b"],
        &["expire", "k", "10"],
        &["eval", "return 1", "2", "a", "b"],
        &["blmpop", "0", "2", "a", "b", "LEFT"],
        &["memory", "usage", "k"],
        &["object", "encoding", "k"],
        &["unlink", "a"],
        &["getdel", "k"],
        &["append", "k", "v"],
    ];
    for request in requests {
        let ask = |c: &mut redis::Connection| -> Value {
            redis::cmd("COMMAND")
                .arg("GETKEYSANDFLAGS")
                .arg(*request)
                .query(c)
                .unwrap()
        };
        assert_eq!(ask(&mut ours), ask(&mut theirs), "{request:?}");
    }
    println!(
        "{} requests' keys and flags equal redis-server's",
        requests.len()
    );
}
